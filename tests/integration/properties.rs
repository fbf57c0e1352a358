//! Properties over generated inputs: the rate grammar round-trips through `Display`, the
//! role hierarchy is a transitive order that never lets a lower role hold more than a
//! higher one, and throttling through a real Router (stacked rates, injected clock) never
//! admits more than GCRA's quota in any window.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::http::Method;
use axum::routing::get;
use proptest::prelude::*;
use secure_api::prelude::*;
use secure_api::{Rate, RoleHierarchy};

use crate::support::*;
use crate::throttling_scale::arrivals;

// ---------------------------------------------------------------------------------------
// The rate grammar

/// A unit of the grammar and its length in seconds.
fn unit() -> impl Strategy<Value = (char, u64)> {
    prop_oneof![
        Just(('s', 1)),
        Just(('m', 60)),
        Just(('h', 3_600)),
        Just(('d', 86_400))
    ]
}

/// One rate as a user may write it: count, optional multiplier, unit; with the rate it
/// means.
fn written_rate() -> impl Strategy<Value = (String, Rate)> {
    (1u32..=u32::MAX, prop::option::of(1u64..=1_000_000), unit()).prop_map(
        |(count, multiplier, (unit, secs))| {
            let text = match multiplier {
                Some(m) => format!("{count}/{m}{unit}"),
                None => format!("{count}/{unit}"),
            };
            (text, Rate::new(count, multiplier.unwrap_or(1) * secs))
        },
    )
}

/// The grammar's refusals, written as a reference: a count and multiplier of ASCII digits
/// that are not zero (the count within u32), one of the four units, nothing else.
fn reference_parse(part: &str) -> Option<Rate> {
    let (count, period) = part.split_once('/')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(count) {
        return None;
    }
    let count: u32 = count.parse().ok().filter(|c| *c > 0)?;
    let unit = period.chars().last()?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let multiplier = &period[..period.len() - 1];
    let multiplier: u64 = if multiplier.is_empty() {
        1
    } else if digits(multiplier) {
        multiplier.parse().ok().filter(|m| *m > 0)?
    } else {
        return None;
    };
    Some(Rate::new(count, multiplier.checked_mul(secs)?))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn a_written_rate_list_parses_to_what_it_says(
        rates in prop::collection::vec(written_rate(), 1..5),
        spaces in prop::collection::vec(0usize..3, 8),
    ) {
        let pad = |i: usize| " ".repeat(spaces[i % spaces.len()]);
        let text = rates
            .iter()
            .enumerate()
            .map(|(i, (text, _))| format!("{}{text}{}", pad(2 * i), pad(2 * i + 1)))
            .collect::<Vec<_>>()
            .join(";");
        let expected: Vec<Rate> = rates.iter().map(|(_, rate)| *rate).collect();
        prop_assert_eq!(Rate::parse_list(&text).unwrap(), expected);
    }

    #[test]
    fn every_rate_prints_to_a_string_that_parses_back_to_it(
        count in 1u32..=u32::MAX,
        secs in 1u64..=u64::MAX,
    ) {
        let rate = Rate::new(count, secs);
        let printed = rate.to_string();
        prop_assert_eq!(printed.parse::<Rate>().unwrap(), rate);
        prop_assert_eq!(Rate::parse_list(&printed).unwrap(), vec![rate]);
    }

    #[test]
    fn the_parser_accepts_exactly_the_grammar(
        text in prop::collection::vec(
            prop_oneof![
                Just('0'), Just('1'), Just('7'), Just('9'), Just('/'), Just('s'), Just('m'),
                Just('h'), Just('d'), Just('x'), Just('+'), Just('-'), Just(' '), Just('.'),
                Just('٣'),
            ],
            0..10,
        ).prop_map(|chars| chars.into_iter().collect::<String>()),
    ) {
        let ours = text.parse::<Rate>().ok();
        prop_assert_eq!(ours, reference_parse(&text), "{:?}", text);
    }
}

#[test]
fn a_rate_ending_in_a_multibyte_character_is_refused_not_a_panic() {
    // Found by the grammar property above: the unit used to be split off at a byte offset.
    for text in ["1/٣", "1/1٣", "٣/s", "1/é", "1/s٣", "5/1m; 1/٣"] {
        assert!(Rate::parse_list(text).is_err(), "{text:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The role hierarchy

const ROLES: [&str; 7] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6"];

/// A hierarchy from arbitrary `higher > lower` declarations (those that would form a cycle
/// are refused by `with` and left out), with the reachability the accepted edges mean.
fn hierarchy(edges: &[(usize, usize)]) -> (RoleHierarchy, [[bool; 7]; 7]) {
    let mut h = RoleHierarchy::new();
    let mut reach = [[false; 7]; 7];
    for (i, row) in reach.iter_mut().enumerate() {
        row[i] = true;
    }
    for &(hi, lo) in edges {
        match h.clone().with(ROLES[hi], ROLES[lo]) {
            Ok(next) => {
                h = next;
                // Everything reaching `hi` now reaches everything `lo` reaches.
                let below = reach[lo];
                for row in reach.iter_mut() {
                    if row[hi] {
                        for (k, b) in below.iter().enumerate() {
                            row[k] |= *b;
                        }
                    }
                }
            }
            Err(_) => assert!(
                hi == lo || reach[lo][hi],
                "{} > {} refused without a cycle",
                ROLES[hi],
                ROLES[lo]
            ),
        }
    }
    (h, reach)
}

fn held(h: &RoleHierarchy, role: &str) -> BTreeSet<String> {
    h.expand([role]).iter().map(|r| r.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_role_hierarchy_is_a_transitive_order(
        edges in prop::collection::vec((0usize..7, 0usize..7), 0..16),
    ) {
        let (h, reach) = hierarchy(&edges);
        for a in 0..7 {
            for b in 0..7 {
                // Exactly what the declarations imply, transitively.
                prop_assert_eq!(h.grants(ROLES[a], ROLES[b]), reach[a][b], "{} -> {}", a, b);
                // Never both ways between two roles.
                if a != b && h.grants(ROLES[a], ROLES[b]) {
                    prop_assert!(!h.grants(ROLES[b], ROLES[a]));
                }
                for c in ROLES {
                    if h.grants(ROLES[a], ROLES[b]) && h.grants(ROLES[b], c) {
                        prop_assert!(h.grants(ROLES[a], c), "{} {} {}", a, b, c);
                    }
                }
            }
        }
    }

    #[test]
    fn a_lower_role_never_holds_more_than_a_higher_one(
        edges in prop::collection::vec((0usize..7, 0usize..7), 0..16),
    ) {
        let (h, _) = hierarchy(&edges);
        for hi in ROLES {
            for lo in ROLES {
                if h.grants(hi, lo) {
                    let (higher, lower) = (held(&h, hi), held(&h, lo));
                    prop_assert!(lower.is_subset(&higher), "{lo} holds {lower:?}, {hi} holds {higher:?}");
                }
            }
        }
    }
}

#[tokio::test]
async fn through_the_router_a_higher_role_passes_wherever_a_lower_one_does() {
    // The example hierarchy admin > editor > viewer, on every role-guarded test route.
    let app = app();
    let routes = [
        (Method::GET, "/v1/customers"),
        (Method::GET, "/v1/customers/1"),
        (Method::DELETE, "/v1/customers/1"),
        (Method::GET, "/v1/reports"),
    ];
    let order = ["viewer", "editor", "admin"];
    for (method, path) in routes {
        let mut passed_lower = false;
        for role in order {
            let res = Req::new(method.clone(), path)
                .bearer(&token("alice", [role]))
                .send(&app)
                .await;
            let passed = res.status != 403 && res.status != 401;
            assert!(
                passed || !passed_lower,
                "{method} {path}: {role} refused ({}) where a lower role passed",
                res.status
            );
            passed_lower |= passed;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Throttling through a real Router

#[secure(rate = "2/1s; 5/10s")]
pub(crate) async fn stacked_quota() -> &'static str {
    "ok"
}

const STACKED: [(u64, u64); 2] = [(2, 1_000), (5, 10_000)];

/// GCRA's bound for a rate of `count` per `period_ms`: any `k` admitted requests, the first
/// and last `d` ms apart, satisfy `k <= count + d * count / period`.
fn assert_quota(count: u64, period_ms: u64, admitted: &[u64]) -> Result<(), TestCaseError> {
    for i in 0..admitted.len() {
        for j in i..admitted.len() {
            let k = (j - i + 1) as u64;
            let d = admitted[j] - admitted[i];
            prop_assert!(
                k.saturating_sub(count) * period_ms <= d * count,
                "{} admitted within {} ms under {}/{} ms",
                k,
                d,
                count,
                period_ms
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn stacked_rates_never_admit_more_than_either_quota_in_any_window(times in arrivals()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (security, clock) = security_with_clock();
        let app: Router = Router::new()
            .route("/quota", get(stacked_quota))
            .layer(security.layer());
        let bearer = token("alice", ["viewer"]);
        let mut admitted = Vec::new();
        let mut now = 0;
        for t in times {
            clock.advance(Duration::from_millis(t - now));
            now = t;
            let status = runtime.block_on(Req::get("/quota").bearer(&bearer).send(&app)).status;
            match status.as_u16() {
                200 => admitted.push(t),
                429 => {}
                other => prop_assert!(false, "status {} at {} ms", other, t),
            }
        }
        for (count, period_ms) in STACKED {
            assert_quota(count, period_ms, &admitted)?;
        }
    }
}
