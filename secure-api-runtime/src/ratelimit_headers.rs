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
        let mut set = |name: &HeaderName, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name.clone(), value);
            }
        };
        match self {
            RateLimitHeaders::Draft10 => {
                let name = &state.policy;
                set(
                    &RATELIMIT_POLICY,
                    format!("\"{name}\";q={};w={}", state.limit, state.window_secs),
                );
                set(
                    &RATELIMIT,
                    format!("\"{name}\";r={};t={}", state.remaining, state.reset_secs),
                );
            }
            RateLimitHeaders::Draft06 => {
                set(&RATELIMIT_LIMIT, state.limit.to_string());
                set(&RATELIMIT_REMAINING, state.remaining.to_string());
                set(&RATELIMIT_RESET, state.reset_secs.to_string());
                set(
                    &RATELIMIT_POLICY,
                    format!("{};w={}", state.limit, state.window_secs),
                );
            }
            RateLimitHeaders::Off => {}
        }
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
