//! The rate-limit fields of responses: which draft of the IETF `RateLimit` fields to emit.
//!
//! The default follows the current draft (draft-ietf-httpapi-ratelimit-headers-09/-10):
//!
//! ```text
//! RateLimit-Policy: "default";q=5;w=60
//! RateLimit: "default";r=0;t=12
//! ```
//!
//! where `q` is the quota, `w` the window in seconds, `r` the requests left and `t` the
//! seconds until the quota is whole again, rounded up to whole emission intervals
//! (on a 429: until a retry can pass). Allowed responses carry the quota with the fewest
//! requests left among the route's rates and the global limits. Clients
//! written against draft-06 read `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` instead. `Retry-After` is sent on every 429 whatever the choice.
//!
//! ```
//! use secure_api_runtime::{RateLimitHeaders, Security};
//! let security = Security::builder()
//!     .hmac_secret(vec![1; 32]).issuer("i").audience("a")
//!     .rate_limit_headers(RateLimitHeaders::Draft06)
//!     .build()
//!     .unwrap();
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

/// Which rate-limit fields responses carry.
///
/// ```
/// assert_eq!(secure_api_runtime::RateLimitHeaders::default(), secure_api_runtime::RateLimitHeaders::Draft10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum RateLimitHeaders {
    /// `RateLimit-Policy` and `RateLimit` as structured fields (drafts 09 and 10).
    #[default]
    Draft10,
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (draft 06).
    Draft06,
    /// No rate-limit fields (`Retry-After` is still sent on 429).
    Off,
}

pub(crate) static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub(crate) static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub(crate) static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The name of a quota in the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QuotaName {
    /// A route's rate, by its index among the route's rates: `default` for the first,
    /// `default-2`... for the next.
    Route(usize),
    /// A structured-field token or string content: only `[A-Za-z0-9._:/-]`.
    Named(String),
}

/// The state of one quota, as the fields report it.
#[derive(Debug, Clone)]
pub(crate) struct QuotaState {
    pub(crate) policy: QuotaName,
    pub(crate) limit: u32,
    pub(crate) window_secs: u64,
    pub(crate) remaining: u32,
    pub(crate) reset_secs: u64,
}

/// Keeps a policy name inside a structured-field string whatever it is made of.
pub(crate) fn policy_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-'))
        .collect()
}

/// One piece of a field value.
#[derive(Clone, Copy)]
enum Piece<'a> {
    Str(&'a str),
    /// A number, already in decimal.
    Int(Decimal),
}

impl Piece<'_> {
    fn int(n: u64) -> Self {
        Piece::Int(Decimal::of(n))
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Piece::Str(s) => s.as_bytes(),
            Piece::Int(d) => d.as_bytes(),
        }
    }
}

/// A number in decimal, right-aligned in a stack buffer.
#[derive(Clone, Copy)]
struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    fn of(mut n: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

impl QuotaName {
    /// The name as pieces of a field value (two for `default-N`).
    fn pieces(&self) -> [Piece<'_>; 2] {
        match self {
            QuotaName::Route(0) => [Piece::Str("default"), Piece::Str("")],
            QuotaName::Route(index) => [
                Piece::Str("default-"),
                Piece::int((*index as u64).saturating_add(1)),
            ],
            QuotaName::Named(name) => [Piece::Str(name), Piece::Str("")],
        }
    }
}

impl RateLimitHeaders {
    pub(crate) fn apply(self, headers: &mut HeaderMap, state: &QuotaState) {
        let set = |headers: &mut HeaderMap, name: &HeaderName, pieces: &[Piece<'_>]| {
            if let Some(value) = field_value(pieces) {
                headers.insert(name.clone(), value);
            }
        };
        match self {
            RateLimitHeaders::Draft10 => {
                let [policy, fields] = draft10_values(state);
                if let Some(value) = policy {
                    headers.insert(RATELIMIT_POLICY.clone(), value);
                }
                if let Some(value) = fields {
                    headers.insert(RATELIMIT.clone(), value);
                }
            }
            RateLimitHeaders::Draft06 => {
                set(
                    headers,
                    &RATELIMIT_LIMIT,
                    &[Piece::int(u64::from(state.limit))],
                );
                set(
                    headers,
                    &RATELIMIT_REMAINING,
                    &[Piece::int(u64::from(state.remaining))],
                );
                set(headers, &RATELIMIT_RESET, &[Piece::int(state.reset_secs)]);
                set(
                    headers,
                    &RATELIMIT_POLICY,
                    &[
                        Piece::int(u64::from(state.limit)),
                        Piece::Str(";w="),
                        Piece::int(state.window_secs),
                    ],
                );
            }
            RateLimitHeaders::Off => {}
        }
    }
}

/// The values of the draft-10 fields for `state`: `RateLimit-Policy` and `RateLimit`.
pub(crate) fn draft10_values(state: &QuotaState) -> [Option<HeaderValue>; 2] {
    let [a, b] = state.policy.pieces();
    // The policy field is the same on every response of a quota: each thread keeps the
    // last one it wrote and shares it.
    let policy = LAST_POLICY.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((name, limit, window, value)) = &*last
            && (name, *limit, *window) == (&state.policy, state.limit, state.window_secs)
        {
            return Some(value.clone());
        }
        let value = field_value(&[
            Piece::Str("\""),
            a,
            b,
            Piece::Str("\";q="),
            Piece::int(u64::from(state.limit)),
            Piece::Str(";w="),
            Piece::int(state.window_secs),
        ])?;
        *last = Some((
            state.policy.clone(),
            state.limit,
            state.window_secs,
            value.clone(),
        ));
        Some(value)
    });
    let fields = field_value(&[
        Piece::Str("\""),
        a,
        b,
        Piece::Str("\";r="),
        Piece::int(u64::from(state.remaining)),
        Piece::Str(";t="),
        Piece::int(state.reset_secs),
    ]);
    [policy, fields]
}

thread_local! {
    /// The `RateLimit-Policy` value this thread wrote last, with its quota name, limit and
    /// window.
    static LAST_POLICY: std::cell::RefCell<Option<(QuotaName, u32, u64, HeaderValue)>> =
        const { std::cell::RefCell::new(None) };
}

/// The pieces as one header value, still validated as header text. The text is written
/// into a buffer of exactly its length, which the value then owns without another copy
/// or allocation.
fn field_value(pieces: &[Piece<'_>]) -> Option<HeaderValue> {
    let len = pieces.iter().map(|piece| piece.as_bytes().len()).sum();
    let mut text = Vec::with_capacity(len);
    for piece in pieces {
        text.extend_from_slice(piece.as_bytes());
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).ok()
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// Where the guard leaves the state of the tightest quota of an allowed request, for the
/// layer to put on the response (the guard runs inside the handler and cannot). It lives
/// in the request's [`RouteSlot`](crate::transport::RouteSlot).
///
/// One request's guard offers and then its layer takes, one after the other in the same
/// task, so the state is kept in atomics written and read with plain loads and stores (a
/// lock would cost four atomic read-modify-write operations per request); they only make
/// the slot shareable. A global quota's name, rarer, is kept behind a lock.
#[derive(Debug)]
pub(crate) struct RateLimitSlot {
    format: RateLimitHeaders,
    /// Whether a quota was offered and not taken yet; written last by `offer`.
    present: AtomicBool,
    /// The route rate's index, or [`NAMED`] for a global quota.
    route: AtomicUsize,
    named: Mutex<Option<String>>,
    limit: AtomicU32,
    window_secs: AtomicU64,
    remaining: AtomicU32,
    reset_secs: AtomicU64,
}

/// [`RateLimitSlot::route`] of a global quota, whose name is in `named`.
const NAMED: usize = usize::MAX;

impl RateLimitSlot {
    /// A slot for `format`; `None` when the fields are off.
    pub(crate) fn new(format: RateLimitHeaders) -> Option<Self> {
        match format {
            RateLimitHeaders::Off => None,
            format => Some(RateLimitSlot {
                format,
                present: AtomicBool::new(false),
                route: AtomicUsize::new(0),
                named: Mutex::new(None),
                limit: AtomicU32::new(0),
                window_secs: AtomicU64::new(0),
                remaining: AtomicU32::new(0),
                reset_secs: AtomicU64::new(0),
            }),
        }
    }

    /// Keeps `state` if it has fewer requests left than what is already there.
    pub(crate) fn offer(&self, state: QuotaState) {
        if self.present.load(Ordering::Acquire)
            && state.remaining >= self.remaining.load(Ordering::Relaxed)
        {
            return;
        }
        match state.policy {
            QuotaName::Route(index) => self.route.store(index, Ordering::Relaxed),
            QuotaName::Named(name) => {
                *self.named.lock().unwrap_or_else(|e| e.into_inner()) = Some(name);
                self.route.store(NAMED, Ordering::Relaxed);
            }
        }
        self.limit.store(state.limit, Ordering::Relaxed);
        self.window_secs.store(state.window_secs, Ordering::Relaxed);
        self.remaining.store(state.remaining, Ordering::Relaxed);
        self.reset_secs.store(state.reset_secs, Ordering::Relaxed);
        self.present.store(true, Ordering::Release);
    }

    /// The format and the tightest quota offered, taken out of the slot (for a response
    /// that carries no fields yet: a 429 has its own).
    pub(crate) fn take(&self) -> Option<(RateLimitHeaders, QuotaState)> {
        if !self.present.load(Ordering::Acquire) {
            return None;
        }
        self.present.store(false, Ordering::Release);
        let policy = match self.route.load(Ordering::Relaxed) {
            NAMED => QuotaName::Named(
                self.named
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .unwrap_or_default(),
            ),
            index => QuotaName::Route(index),
        };
        let state = QuotaState {
            policy,
            limit: self.limit.load(Ordering::Relaxed),
            window_secs: self.window_secs.load(Ordering::Relaxed),
            remaining: self.remaining.load(Ordering::Relaxed),
            reset_secs: self.reset_secs.load(Ordering::Relaxed),
        };
        Some((self.format, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(policy: QuotaName, remaining: u32) -> QuotaState {
        QuotaState {
            policy,
            limit: 100,
            window_secs: 60,
            remaining,
            reset_secs: u64::from(remaining) + 1,
        }
    }

    #[test]
    fn the_slot_keeps_the_tightest_quota_offered_until_taken() {
        let slot = RateLimitSlot::new(RateLimitHeaders::Draft10).unwrap();
        assert!(slot.take().is_none());
        // Every order of three offers: the one with the fewest requests left is kept,
        // the first of equals wins, whatever its name.
        let offers = [
            quota(QuotaName::Route(0), 7),
            quota(QuotaName::Named("per-ip".into()), 3),
            quota(QuotaName::Route(1), 3),
        ];
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            for &i in &order {
                slot.offer(offers[i].clone());
            }
            let (format, kept) = slot.take().unwrap();
            assert_eq!(format, RateLimitHeaders::Draft10);
            let first_of_three = order.iter().find(|&&i| i != 0).copied().unwrap();
            assert_eq!(kept.policy, offers[first_of_three].policy, "{order:?}");
            assert_eq!(kept.remaining, 3);
            assert_eq!(kept.reset_secs, 4);
            assert_eq!((kept.limit, kept.window_secs), (100, 60));
            assert!(slot.take().is_none(), "taken once");
        }
        assert!(RateLimitSlot::new(RateLimitHeaders::Off).is_none());
    }

    fn fields(format: RateLimitHeaders, state: &QuotaState) -> Vec<(String, String)> {
        let mut headers = HeaderMap::new();
        format.apply(&mut headers, state);
        let mut out: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn each_quota_gets_its_own_policy_field_on_one_thread() {
        let state = |policy: QuotaName, limit: u32, window_secs: u64| QuotaState {
            policy,
            limit,
            window_secs,
            remaining: 1,
            reset_secs: 2,
        };
        let policy_of = |s: &QuotaState| {
            fields(RateLimitHeaders::Draft10, s)
                .into_iter()
                .find(|(name, _)| name == "ratelimit-policy")
                .map(|(_, value)| value)
        };
        let a = state(QuotaName::Route(0), 5, 60);
        let cases = [
            (a.clone(), "\"default\";q=5;w=60"),
            (state(QuotaName::Route(1), 5, 60), "\"default-2\";q=5;w=60"),
            (state(QuotaName::Route(0), 6, 60), "\"default\";q=6;w=60"),
            (state(QuotaName::Route(0), 5, 61), "\"default\";q=5;w=61"),
            (
                state(QuotaName::Named("ip".into()), 5, 60),
                "\"ip\";q=5;w=60",
            ),
            (a, "\"default\";q=5;w=60"),
        ];
        for _ in 0..2 {
            for (s, want) in &cases {
                assert_eq!(policy_of(s).as_deref(), Some(*want));
            }
        }
    }

    #[test]
    fn fields_are_written_as_the_drafts_say() {
        let state = QuotaState {
            policy: QuotaName::Named("route:/a".into()),
            limit: 4_294_967_295,
            window_secs: 0,
            remaining: 10,
            reset_secs: u64::MAX,
        };
        assert_eq!(
            fields(RateLimitHeaders::Draft10, &state),
            [
                (
                    "ratelimit".into(),
                    "\"route:/a\";r=10;t=18446744073709551615".into()
                ),
                (
                    "ratelimit-policy".into(),
                    "\"route:/a\";q=4294967295;w=0".into()
                ),
            ]
        );
        assert_eq!(
            fields(RateLimitHeaders::Draft06, &state),
            [
                ("ratelimit-limit".into(), "4294967295".into()),
                ("ratelimit-policy".into(), "4294967295;w=0".into()),
                ("ratelimit-remaining".into(), "10".into()),
                ("ratelimit-reset".into(), "18446744073709551615".into()),
            ]
        );
        assert!(fields(RateLimitHeaders::Off, &state).is_empty());
    }

    #[test]
    fn route_quotas_are_named_by_their_place() {
        let state = |index| QuotaState {
            policy: QuotaName::Route(index),
            limit: 5,
            window_secs: 60,
            remaining: 0,
            reset_secs: 12,
        };
        assert_eq!(
            fields(RateLimitHeaders::Draft10, &state(0)),
            [
                ("ratelimit".into(), "\"default\";r=0;t=12".into()),
                ("ratelimit-policy".into(), "\"default\";q=5;w=60".into()),
            ]
        );
        assert_eq!(
            fields(RateLimitHeaders::Draft10, &state(1)),
            [
                ("ratelimit".into(), "\"default-2\";r=0;t=12".into()),
                ("ratelimit-policy".into(), "\"default-2\";q=5;w=60".into()),
            ]
        );
    }
}
