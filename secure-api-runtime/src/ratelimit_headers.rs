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

use std::sync::{Arc, Mutex};

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

static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The state of one quota, as the fields report it.
#[derive(Debug, Clone)]
pub(crate) struct QuotaState {
    /// A structured-field token or string content: only `[A-Za-z0-9._:/-]`.
    pub(crate) policy: String,
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

impl RateLimitHeaders {
    pub(crate) fn apply(self, headers: &mut HeaderMap, state: &QuotaState) {
        // Values are assembled from pieces into one buffer each (no `format!`) and handed
        // to the header map without another copy; they are still validated as header text.
        let mut set = |name: &HeaderName, value: FieldText| {
            if let Ok(value) = HeaderValue::try_from(value.0) {
                headers.insert(name.clone(), value);
            }
        };
        match self {
            RateLimitHeaders::Draft10 => {
                let name = &state.policy;
                set(
                    &RATELIMIT_POLICY,
                    FieldText::new(name.len() + 32)
                        .str("\"")
                        .str(name)
                        .str("\";q=")
                        .int(u64::from(state.limit))
                        .str(";w=")
                        .int(state.window_secs),
                );
                set(
                    &RATELIMIT,
                    FieldText::new(name.len() + 32)
                        .str("\"")
                        .str(name)
                        .str("\";r=")
                        .int(u64::from(state.remaining))
                        .str(";t=")
                        .int(state.reset_secs),
                );
            }
            RateLimitHeaders::Draft06 => {
                set(
                    &RATELIMIT_LIMIT,
                    FieldText::new(10).int(u64::from(state.limit)),
                );
                set(
                    &RATELIMIT_REMAINING,
                    FieldText::new(10).int(u64::from(state.remaining)),
                );
                set(&RATELIMIT_RESET, FieldText::new(20).int(state.reset_secs));
                set(
                    &RATELIMIT_POLICY,
                    FieldText::new(32)
                        .int(u64::from(state.limit))
                        .str(";w=")
                        .int(state.window_secs),
                );
            }
            RateLimitHeaders::Off => {}
        }
    }
}

/// The text of one field value, built piece by piece.
struct FieldText(String);

impl FieldText {
    fn new(capacity: usize) -> Self {
        FieldText(String::with_capacity(capacity))
    }

    fn str(mut self, piece: &str) -> Self {
        self.0.push_str(piece);
        self
    }

    /// `n` in decimal, through a stack buffer.
    fn int(mut self, mut n: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[at..] {
            self.0.push(char::from(d));
        }
        self
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: std::time::Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// Where the guard leaves the state of the tightest quota of an allowed request, for the
/// layer to put on the response (the guard runs inside the handler and cannot).
#[derive(Debug, Clone)]
pub(crate) struct RateLimitSlot {
    format: RateLimitHeaders,
    state: Arc<Mutex<Option<QuotaState>>>,
}

impl RateLimitSlot {
    pub(crate) fn new(format: RateLimitHeaders) -> Self {
        RateLimitSlot {
            format,
            state: Arc::default(),
        }
    }

    /// Keeps `state` if it has fewer requests left than what is already there.
    pub(crate) fn offer(&self, state: QuotaState) {
        let mut slot = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(|s| state.remaining < s.remaining) {
            *slot = Some(state);
        }
    }

    /// Sets the fields on a response that has none yet (a 429 carries its own).
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        if headers.contains_key(&RATELIMIT) || headers.contains_key(&RATELIMIT_LIMIT) {
            return;
        }
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(state) = state {
            self.format.apply(headers, &state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn fields_are_written_as_the_drafts_say() {
        let state = QuotaState {
            policy: "route:/a".into(),
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
}
