//! Throttling in the guard: the global limits before authentication, the route's limits
//! after it, and what happens when the store cannot answer.
//!
//! Global limits are configured on [`Security`] and apply to every `#[secure]` route, in
//! front of token verification, keyed by client IP: they bound what one address can make
//! the server verify. The route's own limits (the attribute's `rate`) come after
//! authorization, keyed as the policy says (`rate_key`).
//!
//! ```
//! use secure_api_runtime::{GlobalRateLimit, Security, StoreFailure};
//!
//! let security = Security::builder()
//!     .hmac_secret(vec![1; 32]).issuer("i").audience("a")
//!     .global_rate_limit(GlobalRateLimit::per_ip("per-ip", "50/1s; 3000/1m"))
//!     .global_rate_limit(GlobalRateLimit::per_ip("daily", "100000/1d").on_store_error(StoreFailure::Open))
//!     .build()
//!     .unwrap();
//! assert_eq!(security.rate_limit_store_errors().refused(), 0);
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ConnectInfo;
use http::request::Parts;

use crate::client_ip::TrustedProxies;
use crate::config::{ConfigError, Security};
use crate::error::SecurityError;
use crate::guard::ClientIp;
use crate::limiter::{Checked, RateKey};
use crate::policy::{Policy, Rate, RateKeySource, StoreFailure};
use crate::principal::Principal;
use crate::ratelimit_headers::{QuotaName, QuotaState, RateLimitHeaders, ceil_secs, policy_name};
use crate::store::{RateCheck, RateDecision, StoreError};
use crate::transport::RouteState;

/// Default IPv6 prefix by which clients are bucketed.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// A limit applied to every `#[secure]` route before authentication, keyed by client IP.
///
/// ```
/// use secure_api_runtime::{GlobalRateLimit, StoreFailure};
/// let limit = GlobalRateLimit::per_ip("per-ip", "1000/1m").on_store_error(StoreFailure::Open);
/// ```
#[derive(Debug, Clone)]
pub struct GlobalRateLimit {
    name: String,
    rates: String,
    on_store_error: StoreFailure,
}

impl GlobalRateLimit {
    /// A limit named `name` (letters, digits, `.`, `_`, `-`; it names the quota in the
    /// `RateLimit` fields) of `rates` (`"N/PERIOD"`, several separated by `;`) per client
    /// IP. Checked by [`SecurityBuilder::build`](crate::SecurityBuilder::build).
    ///
    /// ```
    /// let limit = secure_api_runtime::GlobalRateLimit::per_ip("edge", "20/1s; 1000/1m");
    /// ```
    pub fn per_ip(name: impl Into<String>, rates: impl Into<String>) -> Self {
        GlobalRateLimit {
            name: name.into(),
            rates: rates.into(),
            on_store_error: StoreFailure::Closed,
        }
    }

    /// What to do when the store cannot answer (default: 503).
    ///
    /// ```
    /// use secure_api_runtime::{GlobalRateLimit, StoreFailure};
    /// let limit = GlobalRateLimit::per_ip("edge", "20/1s").on_store_error(StoreFailure::Open);
    /// ```
    pub fn on_store_error(mut self, failure: StoreFailure) -> Self {
        self.on_store_error = failure;
        self
    }
}

/// A global limit, checked.
#[derive(Debug)]
pub(crate) struct GlobalLimit {
    name: String,
    scope: String,
    rates: Vec<Rate>,
    on_store_error: StoreFailure,
}

pub(crate) fn check_global_limits(
    limits: Vec<GlobalRateLimit>,
) -> Result<Vec<GlobalLimit>, ConfigError> {
    let mut checked: Vec<GlobalLimit> = Vec::with_capacity(limits.len());
    for limit in limits {
        let setting = format!("global_rate_limit.{}", limit.name);
        if limit.name.is_empty()
            || !limit
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ConfigError::new(
                setting,
                "the name must be non-empty and made of letters, digits, `.`, `_` and `-`",
            ));
        }
        if checked.iter().any(|c| c.name == limit.name) {
            return Err(ConfigError::new(
                setting,
                "two global limits have this name",
            ));
        }
        let rates = Rate::parse_list(&limit.rates)
            .map_err(|e| ConfigError::new(setting.clone(), e.to_string()))?;
        checked.push(GlobalLimit {
            scope: format!("global:{}", limit.name),
            name: limit.name,
            rates,
            on_store_error: limit.on_store_error,
        });
    }
    Ok(checked)
}

/// How many times the rate-limit store could not answer, by what was done about it.
///
/// ```
/// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
/// let counts = security.rate_limit_store_errors();
/// assert_eq!((counts.refused(), counts.allowed()), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreErrorCounts {
    refused: u64,
    allowed: u64,
}

impl StoreErrorCounts {
    /// Requests refused with 503 (policies with `on_store_error = "closed"`).
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// assert_eq!(security.rate_limit_store_errors().refused(), 0);
    /// ```
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Requests let through unthrottled (policies with `on_store_error = "open"`).
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// assert_eq!(security.rate_limit_store_errors().allowed(), 0);
    /// ```
    pub fn allowed(&self) -> u64 {
        self.allowed
    }
}

/// The throttling part of a `Security`.
#[derive(Debug)]
pub(crate) struct ThrottleSettings {
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) ipv6_prefix: u8,
    pub(crate) global_limits: Vec<GlobalLimit>,
    pub(crate) headers: RateLimitHeaders,
    pub(crate) refused_on_store_error: AtomicU64,
    pub(crate) allowed_on_store_error: AtomicU64,
}

/// Why a limit applies: names the quota in the response fields.
enum Quota<'a> {
    Global(&'a str),
    Route,
}

impl Security {
    /// How many times the rate-limit store could not answer, and what was done.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// assert_eq!(security.rate_limit_store_errors().allowed(), 0);
    /// ```
    pub fn rate_limit_store_errors(&self) -> StoreErrorCounts {
        let t = &self.0.throttle;
        StoreErrorCounts {
            refused: t.refused_on_store_error.load(Ordering::Relaxed),
            allowed: t.allowed_on_store_error.load(Ordering::Relaxed),
        }
    }

    /// Which rate-limit fields responses carry.
    pub(crate) fn rate_limit_headers(&self) -> RateLimitHeaders {
        self.0.throttle.headers
    }

    /// The client address: the app's [`ClientIp`] if set, else the socket peer unless the
    /// peer is a trusted proxy (then the forwarding header, see [`TrustedProxies`]).
    pub(crate) fn client_addr(&self, parts: &Parts) -> Option<IpAddr> {
        if let Some(ClientIp(ip)) = parts.extensions.get::<ClientIp>() {
            return Some(*ip);
        }
        let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
        Some(
            self.0
                .throttle
                .trusted_proxies
                .client_ip(peer.ip(), &parts.headers),
        )
    }

    fn ip_key(&self, policy: &Policy, parts: &Parts) -> Result<RateKey, SecurityError> {
        match self.client_addr(parts) {
            Some(ip) => Ok(RateKey::ip(ip, self.0.throttle.ipv6_prefix)),
            None => {
                tracing::error!(
                    target: "secure_api",
                    handler = policy.handler(),
                    "the client address is unknown, so the per-IP rate limit cannot be \
                     applied; serve the router with \
                     `into_make_service_with_connect_info::<SocketAddr>()`"
                );
                Err(SecurityError::misconfigured())
            }
        }
    }

    /// The global limits, before authentication.
    pub(crate) async fn throttle_global(
        &self,
        policy: &Policy,
        state: &RouteState,
        parts: &Parts,
    ) -> Result<(), SecurityError> {
        let limits = &self.0.throttle.global_limits;
        if limits.is_empty() {
            return Ok(());
        }
        let key = self.ip_key(policy, parts)?;
        self.ensure_background_tasks();
        for limit in limits {
            let check = RateCheck::new(&limit.scope, key.as_str(), &limit.rates);
            let decision = match self.0.limiters.check(check) {
                Checked::Now(decision) => decision,
                Checked::Later(future) => future.await,
            };
            self.settle(
                policy,
                state,
                check,
                decision,
                limit.on_store_error,
                Quota::Global(&limit.name),
            )?;
        }
        Ok(())
    }

    /// The route's limits, after authorization.
    pub(crate) async fn throttle_route(
        &self,
        policy: &Policy,
        principal: Option<&Principal>,
        state: &RouteState,
        parts: &Parts,
    ) -> Result<(), SecurityError> {
        if policy.rates().is_empty() {
            return Ok(());
        }
        let key = match policy.rate_key_source() {
            RateKeySource::Default | RateKeySource::Principal => match principal {
                Some(p) => RateKey::principal(p.subject()),
                None => self.ip_key(policy, parts)?,
            },
            RateKeySource::Ip => self.ip_key(policy, parts)?,
            RateKeySource::ApiKey => match (
                principal.and_then(Principal::api_key_id),
                header_value(parts, self.0.api_keys.header.as_str()),
            ) {
                (Some(id), _) => RateKey::api_key_id(id),
                (None, Some(value)) => RateKey::api_key(value),
                (None, None) => self.ip_key(policy, parts)?,
            },
            RateKeySource::Header(name) => match header_value(parts, name) {
                Some(value) => RateKey::header(name, value),
                None => self.ip_key(policy, parts)?,
            },
            RateKeySource::Custom(f) => match f(parts, principal) {
                Some(value) => RateKey::custom(&value),
                None => self.ip_key(policy, parts)?,
            },
        };
        self.ensure_background_tasks();
        let check = RateCheck::new(policy.handler(), key.as_str(), policy.rates());
        let decision = match self.0.limiters.check(check) {
            Checked::Now(decision) => decision,
            Checked::Later(future) => future.await,
        };
        self.settle(
            policy,
            state,
            check,
            decision,
            policy.store_failure(),
            Quota::Route,
        )
    }

    /// What the store's `decision` on `check` means for the request: allowed (offering
    /// its quota to the `RateLimit` fields), 429, or the policy's answer to a failed store.
    fn settle(
        &self,
        policy: &Policy,
        state: &RouteState,
        check: RateCheck<'_>,
        decision: Result<RateDecision, StoreError>,
        on_store_error: StoreFailure,
        quota: Quota<'_>,
    ) -> Result<(), SecurityError> {
        let throttle = &self.0.throttle;
        match decision {
            Ok(decision) if decision.allowed() => {
                if let Some(slot) = &state.rate_limit {
                    let rate = rate_of(check, decision);
                    slot.offer(QuotaState {
                        policy: match quota {
                            Quota::Global(name) => QuotaName::Named(policy_name(name)),
                            Quota::Route => QuotaName::Route(decision.rate()),
                        },
                        limit: rate.count(),
                        window_secs: rate.period_secs(),
                        remaining: decision.remaining(),
                        reset_secs: ceil_secs(decision.reset()),
                    });
                }
                Ok(())
            }
            Ok(decision) => Err(self.refusal(check, decision, quota)),
            Err(error) => match on_store_error {
                StoreFailure::Closed => {
                    throttle
                        .refused_on_store_error
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        target: "secure_api::throttle",
                        handler = policy.handler(),
                        scope = check.scope(),
                        decision = "refused",
                        %error,
                        "rate-limit store unavailable; the policy fails closed (503)"
                    );
                    Err(SecurityError::unavailable())
                }
                StoreFailure::Open => {
                    throttle
                        .allowed_on_store_error
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        target: "secure_api::throttle",
                        handler = policy.handler(),
                        scope = check.scope(),
                        decision = "allowed",
                        %error,
                        "rate-limit store unavailable; the policy fails open (unthrottled)"
                    );
                    Ok(())
                }
            },
        }
    }

    fn refusal(
        &self,
        check: RateCheck<'_>,
        decision: RateDecision,
        quota: Quota<'_>,
    ) -> SecurityError {
        let rate = rate_of(check, decision);
        let name = quota_name(&quota, decision);
        SecurityError::rate_limited(decision.reset(), rate.count(), rate.period_secs())
            .with_rate_limit_policy(name)
            .with_rate_limit_headers(self.0.throttle.headers)
    }
}

fn rate_of(check: RateCheck<'_>, decision: RateDecision) -> Rate {
    check
        .rates()
        .get(decision.rate())
        .copied()
        .unwrap_or(Rate::new(1, 1))
}

/// `default` for a route's first rate, `default-2`... for the next, or the global name.
fn quota_name(quota: &Quota<'_>, decision: RateDecision) -> String {
    match quota {
        Quota::Global(name) => (*name).to_owned(),
        Quota::Route if decision.rate() == 0 => "default".to_owned(),
        Quota::Route => format!("default-{}", decision.rate() + 1),
    }
}

/// The single value of a header, if present and visible ASCII; several values or an
/// unreadable one count as absent (so the request is keyed by IP).
fn header_value<'p>(parts: &'p Parts, name: &str) -> Option<&'p str> {
    let mut values = parts.headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().filter(|v| !v.is_empty())
}
