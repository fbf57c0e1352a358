//! Throttling at scale through a real Router: client IPs behind trusted proxies, rate
//! keys, stacked and global limits, the RateLimit fields, the memory cap, and GCRA
//! semantics against a reference model (proptest, injected clock, no sleeping).

use std::time::Duration;

use axum::Router;
use axum::http::request::Parts;
use axum::routing::get;
use proptest::prelude::*;
use secure_api::prelude::*;
use secure_api::{
    GlobalRateLimit, ManualClock, MemoryStore, Rate, RateCheck, RateLimitHeaders, SecurityBuilder,
    StoreFailure, TrustedProxies,
};
use tower::{Service, ServiceExt};

use crate::support::*;

#[secure(public, rate = "2/1s; 3/1h", rate_key = "ip")]
pub(crate) async fn stacked() -> &'static str {
    "ok"
}

#[secure(public, rate = "2/1m", rate_key = "api_key")]
pub(crate) async fn by_api_key() -> &'static str {
    "ok"
}

#[secure(rate = "2/1m", rate_key = "header:X-Tenant")]
pub(crate) async fn by_tenant() -> &'static str {
    "ok"
}

pub(crate) fn tenant_of(parts: &Parts, principal: Option<&Principal>) -> Option<String> {
    let tenant = parts.headers.get("x-tenant")?.to_str().ok()?;
    Some(format!("{tenant}/{}", principal?.subject()))
}

#[secure(rate = "2/1m", rate_key = tenant_of)]
pub(crate) async fn by_function() -> &'static str {
    "ok"
}

#[secure(rate = "2/1m", rate_key = "ip")]
pub(crate) async fn by_ip_when_authenticated() -> &'static str {
    "ok"
}

#[secure(public, rate = "3/1m", on_store_error = "open")]
pub(crate) async fn fails_open() -> &'static str {
    "ok"
}

#[secure(public, rate = "3/1m")]
pub(crate) async fn fails_closed() -> &'static str {
    "ok"
}

#[secure(public)]
pub(crate) async fn unthrottled() -> &'static str {
    "ok"
}

/// The routes of these tests, next to the shared test app's.
pub(crate) fn throttle_routes() -> Router {
    routes()
        .route("/t/stacked", get(stacked))
        .route("/t/api-key", get(by_api_key))
        .route("/t/tenant", get(by_tenant))
        .route("/t/fn", get(by_function))
        .route("/t/ip", get(by_ip_when_authenticated))
        .route("/t/open", get(fails_open))
        .route("/t/closed", get(fails_closed))
        .route("/t/none", get(unthrottled))
}

fn clocked(builder: SecurityBuilder) -> (Router, Security, ManualClock) {
    let clock = ManualClock::new();
    let security = builder
        .rate_limit_clock(clock.clone())
        .rate_limit_cleanup_interval(Duration::from_secs(24 * 3600))
        .build()
        .unwrap();
    (throttle_routes().layer(security.layer()), security, clock)
}

async fn status(app: &Router, req: Req) -> u16 {
    req.send(app).await.status.as_u16()
}

// ---------------------------------------------------------------------------------------
// Client IP

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() {
    let (app, _, _) = clocked(builder().trusted_proxy_networks("10.0.0.0/8"));
    let via_proxy = |xff: &str| {
        Req::get("/v1/ping")
            .connect_info("10.1.2.3:5000")
            .header("x-forwarded-for", xff)
    };
    // The client forges the left-most entries; the proxy appends the real address.
    for forged in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
        let xff = format!("{forged}, 198.51.100.9, 10.0.0.7");
        assert_eq!(status(&app, via_proxy(&xff)).await, 200);
    }
    let res = via_proxy("4.4.4.4, 198.51.100.9, 10.0.0.7")
        .send(&app)
        .await;
    res.problem(429, "rate_limited");
    // Another client behind the same proxy has its own bucket.
    assert_eq!(status(&app, via_proxy("198.51.100.10")).await, 200);
}

#[tokio::test]
async fn an_untrusted_peer_rotating_forwarding_headers_gets_no_new_bucket() {
    let (app, _, _) = clocked(builder().trusted_proxy_networks("10.0.0.0/8"));
    for i in 0..6 {
        let res = Req::get("/v1/ping")
            .connect_info("192.0.2.44:5000")
            .header("x-forwarded-for", &format!("10.0.0.{i}, 203.0.113.{i}"))
            .header("forwarded", &format!("for=203.0.113.{i}"))
            .send(&app)
            .await;
        assert_eq!(res.status, if i < 3 { 200 } else { 429 }, "request {i}");
    }
}

#[tokio::test]
async fn a_malformed_header_from_a_trusted_proxy_keys_by_the_proxy() {
    let (app, _, _) = clocked(builder().trusted_proxy_networks("10.0.0.0/8"));
    // All of these fall back to the proxy's own address: one shared bucket of 3.
    let bad = ["unknown", "1.2.3.4, junk", "", "1.2.3.4,,5.6.7.8"];
    let mut statuses = Vec::new();
    for value in bad {
        let res = Req::get("/v1/ping")
            .connect_info("10.9.9.9:1")
            .header("x-forwarded-for", value)
            .send(&app)
            .await;
        statuses.push(res.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[tokio::test]
async fn hop_count_and_rfc7239_forwarded_are_honoured() {
    let (app, _, _) =
        clocked(builder().trusted_proxies(
            TrustedProxies::hops(2).header(secure_api::ForwardedHeader::Forwarded),
        ));
    let req = |value: &str| {
        Req::get("/v1/ping")
            .connect_info("172.16.0.2:1")
            .header("forwarded", value)
    };
    for forged in ["for=6.6.6.6", "for=7.7.7.7"] {
        let value = format!("{forged}, for=\"[2001:db8:aa::1]:443\";proto=https, for=172.16.0.1");
        assert_eq!(status(&app, req(&value)).await, 200);
    }
    // The same /64, another host: the same client.
    let value = "for=\"[2001:db8:aa::2]\", for=172.16.0.1";
    assert_eq!(status(&app, req(value)).await, 200);
    let value = "for=\"[2001:db8:aa::3]\", for=172.16.0.1";
    assert_eq!(status(&app, req(value)).await, 429);
}

#[tokio::test]
async fn the_ipv6_bucket_prefix_is_configurable() {
    let (app, _, _) = clocked(builder().ipv6_rate_limit_prefix(48));
    for host in ["2001:db8:1:1::1", "2001:db8:1:2::1", "2001:db8:1:ffff::1"] {
        assert_eq!(
            status(&app, Req::get("/v1/ping").client_ip(host)).await,
            200
        );
    }
    assert_eq!(
        status(&app, Req::get("/v1/ping").client_ip("2001:db8:1:3::9")).await,
        429,
        "the whole /48 is one client"
    );
    assert_eq!(
        status(&app, Req::get("/v1/ping").client_ip("2001:db8:2::1")).await,
        200
    );
}

#[test]
fn proxy_settings_are_checked_at_startup() {
    let err = builder()
        .trusted_proxy_networks("10.0.0.0/8, 300.0.0.0/8")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "trusted_proxies");
    assert!(err.message().contains("300.0.0.0/8"), "{err}");
    for bits in [0, 129] {
        let err = builder().ipv6_rate_limit_prefix(bits).build().unwrap_err();
        assert_eq!(err.setting(), "ipv6_rate_limit_prefix");
    }
}

// ---------------------------------------------------------------------------------------
// Rate keys

#[tokio::test]
async fn stacked_rates_each_apply_and_the_refusal_names_the_exhausted_one() {
    let (app, _, clock) = clocked(builder());
    let req = || Req::get("/t/stacked").client_ip("192.0.2.1");
    assert_eq!(status(&app, req()).await, 200);
    assert_eq!(status(&app, req()).await, 200);
    let res = req().send(&app).await;
    res.problem(429, "rate_limited");
    assert_eq!(res.header("ratelimit-policy"), Some("\"default\";q=2;w=1"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(status(&app, req()).await, 200);
    clock.advance(Duration::from_secs(1));
    let res = req().send(&app).await;
    res.problem(429, "rate_limited");
    assert_eq!(
        res.header("ratelimit-policy"),
        Some("\"default-2\";q=3;w=3600")
    );
    assert_eq!(res.header("retry-after"), Some("1198"));
}

#[tokio::test]
async fn api_key_and_header_keys_separate_clients_and_fall_back_to_the_ip() {
    let (app, _, _) = clocked(builder());
    let with_key = |k: &str| {
        Req::get("/t/api-key")
            .client_ip("192.0.2.1")
            .header("x-api-key", k)
    };
    for _ in 0..2 {
        assert_eq!(status(&app, with_key("key-a")).await, 200);
    }
    assert_eq!(status(&app, with_key("key-a")).await, 429);
    assert_eq!(status(&app, with_key("key-b")).await, 200);
    // No key: keyed by the client IP, in its own bucket.
    let no_key = || Req::get("/t/api-key").client_ip("192.0.2.1");
    assert_eq!(status(&app, no_key()).await, 200);
    assert_eq!(status(&app, no_key()).await, 200);
    assert_eq!(status(&app, no_key()).await, 429);
    let res = with_key("key-a").send(&app).await;
    assert!(!res.everything().contains("key-a"));

    let ed = token("ed", ["viewer"]);
    let tenant = |t: &str| {
        Req::get("/t/tenant")
            .bearer(&ed)
            .client_ip("192.0.2.2")
            .header("x-tenant", t)
    };
    assert_eq!(status(&app, tenant("acme")).await, 200);
    assert_eq!(status(&app, tenant("acme")).await, 200);
    assert_eq!(status(&app, tenant("acme")).await, 429);
    assert_eq!(status(&app, tenant("globex")).await, 200);
}

#[tokio::test]
async fn a_user_function_keys_the_route_with_the_principal_at_hand() {
    let (app, _, _) = clocked(builder());
    let req = |sub: &str, tenant: &str| {
        Req::get("/t/fn")
            .bearer(&token(sub, ["viewer"]))
            .client_ip("192.0.2.3")
            .header("x-tenant", tenant)
    };
    assert_eq!(status(&app, req("ann", "acme")).await, 200);
    assert_eq!(status(&app, req("ann", "acme")).await, 200);
    assert_eq!(status(&app, req("ann", "acme")).await, 429);
    assert_eq!(status(&app, req("bob", "acme")).await, 200);
    assert_eq!(status(&app, req("ann", "globex")).await, 200);
}

#[tokio::test]
async fn an_authenticated_route_keyed_by_ip_shares_the_bucket_across_principals() {
    let (app, _, _) = clocked(builder());
    let req = |sub: &str| {
        Req::get("/t/ip")
            .bearer(&token(sub, ["viewer"]))
            .client_ip("192.0.2.4")
    };
    assert_eq!(status(&app, req("ann")).await, 200);
    assert_eq!(status(&app, req("bob")).await, 200);
    assert_eq!(status(&app, req("cat")).await, 429);
}

// ---------------------------------------------------------------------------------------
// Global limits

#[tokio::test]
async fn a_global_limit_applies_before_authentication_on_every_route() {
    let (app, _, _) =
        clocked(builder().global_rate_limit(GlobalRateLimit::per_ip("per-ip", "4/1m")));
    let ip = "192.0.2.80";
    // Invalid tokens are refused (401) but still count: verification is what it protects.
    for _ in 0..2 {
        let res = Req::get("/v1/me")
            .bearer("not.a.token")
            .client_ip(ip)
            .send(&app)
            .await;
        assert_eq!(res.status, 401);
    }
    assert_eq!(status(&app, Req::get("/health").client_ip(ip)).await, 200);
    let viewer = token("vera", ["viewer"]);
    assert_eq!(
        status(
            &app,
            Req::get("/v1/customers").bearer(&viewer).client_ip(ip)
        )
        .await,
        200
    );
    // Exhausted: refused before the token is even looked at.
    let res = Req::get("/v1/me")
        .bearer("not.a.token")
        .client_ip(ip)
        .send(&app)
        .await;
    res.problem(429, "rate_limited");
    assert_eq!(res.header("ratelimit-policy"), Some("\"per-ip\";q=4;w=60"));
    assert!(res.header("www-authenticate").is_none());
    assert_eq!(
        status(&app, Req::get("/health").client_ip("192.0.2.81")).await,
        200
    );
}

#[test]
fn global_limits_are_checked_at_startup() {
    for (name, rates) in [
        ("per-ip", "0/1m"),
        ("per-ip", "10/1m;"),
        ("", "10/1m"),
        ("per ip", "10/1m"),
    ] {
        let err = builder()
            .global_rate_limit(GlobalRateLimit::per_ip(name, rates))
            .build()
            .unwrap_err();
        assert!(
            err.setting().starts_with("global_rate_limit"),
            "{name:?} {rates:?}: {err}"
        );
    }
    let err = builder()
        .global_rate_limit(GlobalRateLimit::per_ip("a", "1/s"))
        .global_rate_limit(GlobalRateLimit::per_ip("a", "2/s"))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "global_rate_limit.a");
}

// ---------------------------------------------------------------------------------------
// RateLimit fields

#[tokio::test]
async fn the_ratelimit_fields_follow_the_configured_draft_or_are_off() {
    let exhaust = |app: Router| async move {
        for _ in 0..3 {
            Req::get("/v1/ping").client_ip("192.0.2.9").send(&app).await;
        }
        Req::get("/v1/ping").client_ip("192.0.2.9").send(&app).await
    };
    let (app, _, _) = clocked(builder().rate_limit_headers(RateLimitHeaders::Draft06));
    let res = exhaust(app).await;
    res.problem(429, "rate_limited");
    assert_eq!(res.header("ratelimit-limit"), Some("3"));
    assert_eq!(res.header("ratelimit-remaining"), Some("0"));
    assert_eq!(res.header("ratelimit-reset"), Some("20"));
    assert_eq!(res.header("retry-after"), Some("20"));
    assert!(res.header("ratelimit").is_none());

    let (app, _, _) = clocked(builder().rate_limit_headers(RateLimitHeaders::Off));
    let res = exhaust(app).await;
    res.problem(429, "rate_limited");
    assert_eq!(res.header("retry-after"), Some("20"));
    for name in ["ratelimit", "ratelimit-policy", "ratelimit-limit"] {
        assert!(res.header(name).is_none(), "{name}");
    }
}

#[tokio::test]
async fn allowed_responses_carry_the_tightest_quota_left() {
    let (app, _, clock) =
        clocked(builder().global_rate_limit(GlobalRateLimit::per_ip("per-ip", "100/1m")));
    let req = || Req::get("/v1/ping").client_ip("192.0.2.30");
    let res = req().send(&app).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("ratelimit-policy"), Some("\"default\";q=3;w=60"));
    assert_eq!(res.header("ratelimit"), Some("\"default\";r=2;t=20"));
    clock.advance(Duration::from_secs(5));
    let res = req().send(&app).await;
    // Whole again in 35 s, reported in whole emission intervals (20 s each), rounded up.
    assert_eq!(res.header("ratelimit"), Some("\"default\";r=1;t=40"));
    // A route without its own rate reports the global limit: 100 a minute, two of the
    // three requests so far already replenished (one every 0.6 s) after 5 s.
    let res = Req::get("/health").client_ip("192.0.2.30").send(&app).await;
    assert_eq!(
        res.header("ratelimit-policy"),
        Some("\"per-ip\";q=100;w=60")
    );
    assert_eq!(res.header("ratelimit"), Some("\"per-ip\";r=98;t=2"));

    let (app, _, _) = clocked(builder().rate_limit_headers(RateLimitHeaders::Draft06));
    let res = req().send(&app).await;
    assert_eq!(res.header("ratelimit-limit"), Some("3"));
    assert_eq!(res.header("ratelimit-remaining"), Some("2"));
    assert_eq!(res.header("ratelimit-reset"), Some("20"));

    let (app, _, _) = clocked(builder().rate_limit_headers(RateLimitHeaders::Off));
    let res = req().send(&app).await;
    assert!(res.header("ratelimit").is_none() && res.header("ratelimit-limit").is_none());
    let (app, _, _) = clocked(builder());
    let res = Req::get("/t/none").client_ip("192.0.2.30").send(&app).await;
    assert!(res.header("ratelimit").is_none(), "no quota, no fields");
}

// ---------------------------------------------------------------------------------------
// Bounded memory

#[tokio::test]
async fn a_million_distinct_clients_never_grow_the_store_past_its_cap() {
    const CAP: usize = 50_000;
    const CLIENTS: u32 = 1_000_000;
    let clock = ManualClock::new();
    let security = builder()
        .rate_limit_clock(clock.clone())
        .max_tracked_rate_limit_keys(CAP)
        .build()
        .unwrap();
    let mut app = throttle_routes().layer(security.layer());
    let mut peak = 0;
    for i in 0..CLIENTS {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        let mut request = Req::get("/v1/burst").build();
        request.extensions_mut().insert(ClientIp(ip.into()));
        let service = ServiceExt::<axum::extract::Request>::ready(&mut app)
            .await
            .unwrap();
        let response = service.call(request).await.unwrap();
        assert_eq!(response.status(), 200);
        if i % 1000 == 0 {
            clock.advance(Duration::from_millis(1));
            peak = peak.max(security.tracked_rate_limit_keys());
        }
    }
    peak = peak.max(security.tracked_rate_limit_keys());
    assert!(peak <= CAP, "{peak} keys tracked, cap {CAP}");
    assert!(
        peak >= CAP * 7 / 8,
        "the store is used up to its cap ({peak})"
    );
}

#[test]
fn the_store_cap_is_checked_at_startup() {
    let err = builder()
        .max_tracked_rate_limit_keys(0)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "max_tracked_rate_limit_keys");
    let err = builder()
        .max_tracked_rate_limit_keys(10)
        .rate_limit_store(MemoryStore::new(10))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "max_tracked_rate_limit_keys");
}

// ---------------------------------------------------------------------------------------
// GCRA semantics: a reference model

/// GCRA as specified: emission interval `t`, tolerance `tau = t * (burst - 1)`, one TAT
/// per key. Kept deliberately naive.
pub(crate) struct Model {
    t: u64,
    tau: u64,
    tat: Option<u64>,
}

impl Model {
    pub(crate) fn new(count: u32, period: u64) -> Self {
        let t = period / u64::from(count);
        Model {
            t,
            tau: t * u64::from(count - 1),
            tat: None,
        }
    }

    /// Whether a request at `now` passes, and its retry delay when not.
    pub(crate) fn arrive(&mut self, now: u64) -> Result<(), u64> {
        let tat = self.tat.unwrap_or(now).max(now);
        if now + self.tau < tat {
            return Err(tat - self.tau - now);
        }
        self.tat = Some(tat + self.t);
        Ok(())
    }
}

/// Arrival times (non-decreasing), as gaps in milliseconds.
pub(crate) fn arrivals() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![Just(0u64), 0u64..50, 0u64..3_000], 1..120).prop_map(|gaps| {
        gaps.into_iter()
            .scan(0, |t, g| {
                *t += g;
                Some(*t)
            })
            .collect()
    })
}

/// A rate whose interval is a whole number of milliseconds.
pub(crate) fn rates() -> impl Strategy<Value = Rate> {
    prop_oneof![
        Just(Rate::new(1, 1)),
        Just(Rate::new(5, 1)),
        Just(Rate::new(4, 2)),
        Just(Rate::new(10, 10)),
        Just(Rate::new(3, 60)),
    ]
}

/// Never more than `burst + window / t` in any window of `window` (here: the period).
pub(crate) fn assert_window_bound(rate: Rate, allowed_at: &[u64]) {
    let period = rate.period_secs() * 1000;
    let bound = 2 * rate.count() as usize;
    for (i, start) in allowed_at.iter().enumerate() {
        let within = allowed_at[i..]
            .iter()
            .take_while(|t| **t < start + period)
            .count();
        assert!(within <= bound, "{within} allowed in one period of {rate}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_in_memory_store_decides_exactly_as_the_model(rate in rates(), times in arrivals()) {
        let clock = ManualClock::new();
        let store = MemoryStore::with_clock(1_000, clock.clone());
        let mut model = Model::new(rate.count(), rate.period_secs() * 1_000_000_000);
        let rates = [rate];
        let mut allowed_at = Vec::new();
        let mut now_ms = 0;
        for t in times {
            clock.advance(Duration::from_millis(t - now_ms));
            now_ms = t;
            let decision = store.check_now(&RateCheck::new("prop", "k", &rates));
            let expected = model.arrive(t * 1_000_000);
            prop_assert_eq!(decision.allowed(), expected.is_ok(), "at {} ms", t);
            if let Err(retry) = expected {
                prop_assert_eq!(decision.reset(), Duration::from_nanos(retry));
            } else {
                allowed_at.push(t);
            }
        }
        assert_window_bound(rate, &allowed_at);
    }
}

#[tokio::test]
async fn the_store_failure_policy_is_part_of_the_const_policy() {
    assert_eq!(
        <__secure_api_policy_fails_open as secure_api::PolicySource>::POLICY.store_failure(),
        StoreFailure::Open
    );
    assert_eq!(
        <__secure_api_policy_fails_closed as secure_api::PolicySource>::POLICY.store_failure(),
        StoreFailure::Closed
    );
}
