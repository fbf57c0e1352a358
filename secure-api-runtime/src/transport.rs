//! Per-route behaviour that spans the request and its response: sunset (410), single-use
//! tokens (`replay`), `Idempotency-Key`, and the response headers a route's policy adds
//! (deprecation, header profile, its own CSP).
//!
//! The layer puts a [`RouteSlot`] in every request; the guard records the route's policy
//! (and an idempotency ticket) in it, and the layer reads it back when the response passes,
//! so that headers are set on every response of the route, refusals included.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use http::header::{CONTENT_SECURITY_POLICY, HeaderValue, LINK};
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use serde_json::Value;

use crate::audit::{AuditContext, RequestId, RouteKeys};
use crate::config::Security;
use crate::error::SecurityError;
use crate::layer::Served;
use crate::policy::Policy;
use crate::principal::Principal;
use crate::ratelimit_headers::RateLimitSlot;
use crate::redact::RequestLog;
use crate::replay::{IdempotencyBegin, IdempotencyStore, now_secs};

pub(crate) static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
static DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
static SUNSET: HeaderName = HeaderName::from_static("sunset");
pub(crate) static CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");
pub(crate) static CROSS_ORIGIN_RESOURCE_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-resource-policy");
pub(crate) static SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
static RELAXED_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
);

/// A digest of the request (method, target, body), computed by the layer when the request
/// carries an `Idempotency-Key`; `None` when the body was over the limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFingerprint(pub(crate) Option<[u8; 32]>);

/// An idempotency key this request started; abandoned on drop unless completed, so a
/// request that dies never leaves its key stuck "in flight".
pub(crate) struct Ticket {
    pub(crate) store: Arc<dyn IdempotencyStore>,
    pub(crate) key: Box<str>,
    pub(crate) done: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let store = self.store.clone();
        let key = std::mem::take(&mut self.key);
        let release = async move {
            if let Err(error) = store.abandon(&key).await {
                tracing::warn!(target: "secure_api", %error, "could not release an idempotency key");
            }
        };
        // Drop cannot wait; the release runs on the runtime that served the request. Without
        // one (the runtime is shutting down), the key expires with its in-flight timeout.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release);
        }
    }
}

/// What the guard of one request leaves for the layer and the extractors after it, in
/// one allocation and one request extension.
pub(crate) struct RouteState {
    pub(crate) policy: OnceLock<&'static Policy>,
    /// The principal the guard authenticated, for the `Principal` extractor and the custom
    /// guards. Kept here rather than in the request extensions, whose table would grow
    /// (a second allocation) for the one more entry.
    pub(crate) principal: OnceLock<Principal>,
    pub(crate) ticket: Mutex<Option<Ticket>>,
    /// The tightest quota of an allowed request, for the `RateLimit` fields; `None` when
    /// the fields are off.
    pub(crate) rate_limit: Option<RateLimitSlot>,
    /// The guard's audit context once it has allowed the request, for the validated
    /// extractors' refusals.
    pub(crate) audit: Mutex<Option<AuditContext>>,
    /// The layer's service that serves the request: its configuration and route.
    served: Arc<Served>,
    /// The request's id, as the layer assigned it.
    pub(crate) request_id: RequestId,
    route: RouteOf,
    /// The request's log line, written when its response passes the layer (when
    /// requests are logged).
    pub(crate) log: Option<Box<RequestLog>>,
}

/// Which route keys a request's slot has.
pub(crate) enum RouteOf {
    /// The router matched no route.
    None,
    /// The route of the service that serves the request (the usual case).
    Served,
    /// Another route, when one service is in front of several.
    Own(Arc<RouteKeys>),
}

impl RouteState {
    /// The configuration the layer serves the request with.
    pub(crate) fn security(&self) -> &Security {
        &self.served.security
    }

    /// The route's matched path and metric keys, when the router matched one.
    pub(crate) fn route(&self) -> Option<&Arc<RouteKeys>> {
        match &self.route {
            RouteOf::None => None,
            RouteOf::Served => self.served.route.get(),
            RouteOf::Own(keys) => Some(keys),
        }
    }
}

/// Shared by the layer and the guard of one request.
#[derive(Clone)]
pub(crate) struct RouteSlot(pub(crate) Arc<RouteState>);

impl RouteSlot {
    /// The slot of a request to `route` served by `served` under `request_id`.
    pub(crate) fn new(
        served: &Arc<Served>,
        request_id: RequestId,
        route: RouteOf,
        log: Option<Box<RequestLog>>,
    ) -> Self {
        RouteSlot(Arc::new(RouteState {
            policy: OnceLock::new(),
            principal: OnceLock::new(),
            ticket: Mutex::new(None),
            rate_limit: RateLimitSlot::new(served.security.rate_limit_headers()),
            audit: Mutex::new(None),
            served: served.clone(),
            request_id,
            route,
            log,
        }))
    }

    /// The slot the layer put in `extensions`.
    pub(crate) fn of(extensions: &http::Extensions) -> Option<&RouteState> {
        extensions.get::<RouteSlot>().map(|slot| &*slot.0)
    }

    /// The principal the guard authenticated (in the slot behind the layer), else one the
    /// application put in `extensions` itself.
    pub(crate) fn principal_of(extensions: &http::Extensions) -> Option<&Principal> {
        Self::of(extensions)
            .and_then(|state| state.principal.get())
            .or_else(|| extensions.get::<Principal>())
    }

    /// The audit context the guard left, if it allowed the request.
    pub(crate) fn audit_context(&self) -> Option<AuditContext> {
        self.0
            .audit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// 410 once the sunset date has passed.
pub(crate) fn check_sunset(policy: &Policy) -> Result<(), SecurityError> {
    match policy.sunset() {
        Some(at) if i64::try_from(now_secs()).unwrap_or(i64::MAX) >= at => {
            Err(SecurityError::gone())
        }
        _ => Ok(()),
    }
}

/// `replay`: the token must carry a `jti` and a bounded lifetime, and its `jti` is spent.
pub(crate) async fn check_single_use(
    security: &Security,
    principal: &Principal,
) -> Result<(), SecurityError> {
    let inner = &security.0;
    let refuse = |reason: &'static str| {
        tracing::info!(target: "secure_api::auth", reason, subject = principal.subject(), "single-use token refused");
        SecurityError::invalid_token().with_realm(inner.realm.clone())
    };
    let jti = match principal.claim("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= 256 => jti,
        _ => {
            return Err(refuse(
                "token without a usable jti on a replay-protected route",
            ));
        }
    };
    let Some(exp) = principal.claim("exp").and_then(Value::as_u64) else {
        return Err(refuse("token without an integer exp"));
    };
    let now = now_secs();
    let start = principal
        .claim("iat")
        .and_then(Value::as_u64)
        .map_or(now, |iat| iat.min(now));
    if exp.saturating_sub(start) > inner.replay_max_lifetime.as_secs() {
        return Err(refuse(
            "token lifetime above the maximum for replay-protected routes",
        ));
    }
    let issuer = principal
        .claim("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = format!("jti\u{0}{issuer}\u{0}{jti}");
    let until = exp.saturating_add(inner.leeway_secs);
    match inner.nonces.insert_once(&key, until).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refuse("token already used")),
        Err(error) => {
            tracing::error!(target: "secure_api", %error, "nonce store failed; refusing (fail closed)");
            Err(SecurityError::unavailable())
        }
    }
}

/// `idempotent`: starts the key, or answers with the outcome of its earlier use.
pub(crate) async fn begin_idempotent(
    security: &Security,
    policy: &Policy,
    principal: Option<&Principal>,
    client: Option<std::net::IpAddr>,
    parts: &Parts,
) -> Result<Option<Ticket>, SecurityError> {
    let key = parts
        .headers
        .get(&IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|k| {
            !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        });
    let Some(key) = key else {
        return Err(SecurityError::idempotency_key_missing());
    };
    if parts.headers.get_all(&IDEMPOTENCY_KEY).iter().count() > 1 {
        return Err(SecurityError::idempotency_key_missing());
    }
    let Some(RequestFingerprint(fingerprint)) = parts.extensions.get::<RequestFingerprint>() else {
        tracing::error!(target: "secure_api", "idempotent route reached without the Security layer's fingerprint");
        return Err(SecurityError::misconfigured());
    };
    let Some(fingerprint) = fingerprint else {
        return Err(SecurityError::bad_request(
            http::StatusCode::PAYLOAD_TOO_LARGE,
        ));
    };
    // Keys are scoped to the caller, so one client can never read another's response.
    let scope = match (principal, client) {
        (Some(p), _) => format!("sub\u{0}{}", p.subject()),
        (None, Some(ip)) => format!("ip\u{0}{ip}"),
        // One shared scope for every unknown client would hand one client's recorded
        // response to another: refuse instead.
        (None, None) => {
            tracing::error!(
                target: "secure_api",
                handler = policy.handler(),
                "the client address is unknown, so an idempotency key on this public route \
                 cannot be scoped to its caller; serve the router with \
                 `into_make_service_with_connect_info::<SocketAddr>()`"
            );
            return Err(SecurityError::misconfigured());
        }
    };
    let store_key = format!("idem\u{0}{}\u{0}{scope}\u{0}{key}", policy.handler());
    let store = security.0.idempotency.clone();
    let fingerprint = *fingerprint;
    let begun = store.begin(&store_key, fingerprint).await;
    match begun {
        Ok(IdempotencyBegin::Started) => Ok(Some(Ticket {
            store,
            key: store_key.into_boxed_str(),
            done: false,
        })),
        Ok(IdempotencyBegin::InFlight) => Err(SecurityError::idempotency_conflict()),
        Ok(IdempotencyBegin::Mismatch) => Err(SecurityError::idempotency_mismatch()),
        Ok(IdempotencyBegin::Completed(stored)) => Err(SecurityError::replayed(stored)),
        Err(error) => {
            tracing::error!(target: "secure_api", %error, "idempotency store failed; refusing (fail closed)");
            Err(SecurityError::unavailable())
        }
    }
}

/// Adds what the route's policy says to a response, over the header profile and the
/// handler's headers: its CSP (or the relaxed profile's), and `Deprecation` / `Sunset` /
/// `Link`.
pub(crate) fn apply_route_headers(headers: &mut HeaderMap, policy: &Policy) {
    if let Some(csp) = policy.csp() {
        if let Ok(value) = HeaderValue::from_str(csp) {
            headers.insert(CONTENT_SECURITY_POLICY, value);
        }
    } else if policy.has_relaxed_headers() {
        headers.insert(CONTENT_SECURITY_POLICY, RELAXED_CSP.clone());
    }
    if let Some(at) = policy.deprecation()
        && let Ok(value) = HeaderValue::from_str(&format!("@{at}"))
    {
        headers.insert(&DEPRECATION, value);
    }
    if let Some(at) = policy.sunset()
        && let Some(value) = http_date(at)
    {
        headers.insert(&SUNSET, value);
    }
    if let Some(link) = policy.link()
        && let Ok(value) = HeaderValue::from_str(&format!("<{link}>; rel=\"deprecation\""))
    {
        headers.append(LINK, value);
    }
}

fn http_date(epoch_secs: i64) -> Option<HeaderValue> {
    let secs = u64::try_from(epoch_secs).ok()?;
    let time = SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))?;
    HeaderValue::from_str(&httpdate::fmt_http_date(time)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sunset_is_an_http_date() {
        assert_eq!(
            http_date(1_814_313_600).unwrap(),
            "Wed, 30 Jun 2027 00:00:00 GMT"
        );
    }
}
