//! Audit events, request ids and per-client failure counts.
//!
//! Every decision of a `#[secure]` guard — the request allowed, or refused for one reason —
//! is one structured `tracing` event on the target [`AUDIT_TARGET`] (`secure_api::audit`),
//! with these fields:
//!
//! | field | value |
//! | --- | --- |
//! | `time` | UTC, RFC 3339 with milliseconds |
//! | `request_id` | the request's [`RequestId`] |
//! | `route` | the route as mounted (`/v1/customers/{id}`), never the raw URL |
//! | `policy` | the handler's path (`app::delete_customer`) |
//! | `stage` | `guard`, or `input` for a refusal of a validated/decoded argument |
//! | `check` | on a guard's refusal, the check that refused: `sunset`, `query`, `global_rate_limit`, `authentication`, `revocation`, `role`, `scope`, `rate_limit`, `signature`, `guard`, `replay` or `idempotency`; else empty |
//! | `outcome` | `allowed` or `refused` |
//! | `reason` | `ok`, or the problem's `code` (`invalid_token`, `rate_limited`...) |
//! | `status` | the HTTP status of the decision (200 when allowed) |
//! | `principal` | the subject once authenticated, else empty; never a credential |
//! | `client_ip` | the client's address, or `unknown` |
//! | `auth_scheme` | `none`, `bearer`, `basic`, `api_key` or `other`: the scheme word only |
//! | `api_key_id` | the id of the API key presented, once found in the store, else empty; never the key |
//! | `client_failures` | refusals of this client (authentication and throttling) in the current window |
//!
//! Failed authentications and throttled requests are counted per client address in a
//! window (60 s by default) in a table of bounded size; when a client reaches the burst
//! threshold an extra `WARN` event (`outcome = "burst"`) stands out in the log.
//!
//! Subscribe to the target like any other:
//!
//! ```
//! assert_eq!(secure_api_runtime::AUDIT_TARGET, "secure_api::audit");
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, MatchedPath};
use governor::clock::Clock;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{ErrorKind, SecurityError};
use crate::limiter::{LimiterClock, RateKey};
use crate::principal::Principal;
use crate::text::InlineText;
use crate::transport::{RouteSlot, RouteState};

/// The `tracing` target of audit events.
pub const AUDIT_TARGET: &str = "secure_api::audit";

/// Longest request id accepted from a trusted inbound header.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Default window in which a client's refusals are counted.
pub const DEFAULT_AUDIT_WINDOW: Duration = Duration::from_secs(60);
/// Default number of refusals in one window at which a client is reported as a burst.
pub const DEFAULT_BURST_THRESHOLD: u32 = 20;
/// Default number of client addresses whose refusals are counted at once.
pub const DEFAULT_TRACKED_CLIENTS: usize = 10_000;

/// The id of one request: taken from the trusted inbound header when one is configured and
/// its value is acceptable (1 to 128 of `A-Z a-z 0-9 - _ . : /`), generated otherwise.
/// The layer echoes it in `X-Request-Id`, problem+json bodies carry it as `request_id`,
/// audit events as `request_id`. Handlers can take it as an extractor.
///
/// ```
/// use secure_api_runtime::RequestId;
/// assert_eq!(RequestId::parse("abc-123").unwrap().as_str(), "abc-123");
/// assert!(RequestId::parse("has space").is_none());
/// assert!(RequestId::parse(&"x".repeat(129)).is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(InlineText<INLINE_ID_LEN>);

/// Longest id kept in place (an id is cloned several times per request: the audit context,
/// the thread's current id, the response header); generated ids (32 hex digits) always are.
const INLINE_ID_LEN: usize = 32;

impl RequestId {
    /// An id from untrusted text: `None` unless it is 1 to [`MAX_REQUEST_ID_LEN`] characters
    /// of `A-Z a-z 0-9 - _ . : /`, so that it can go into headers, JSON and logs as is.
    ///
    /// ```
    /// assert!(secure_api_runtime::RequestId::parse("req\nforged: 1").is_none());
    /// ```
    pub fn parse(value: &str) -> Option<RequestId> {
        let acceptable = !value.is_empty()
            && value.len() <= MAX_REQUEST_ID_LEN
            && value.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/')
            });
        if !acceptable {
            return None;
        }
        Some(RequestId(InlineText::concat(&[value.as_bytes()])))
    }

    /// A new id: 32 lowercase hex digits, unique within the process and unpredictable
    /// across processes.
    ///
    /// ```
    /// let a = secure_api_runtime::RequestId::generate();
    /// assert_eq!(a.as_str().len(), 32);
    /// assert_ne!(a, secure_api_runtime::RequestId::generate());
    /// ```
    pub fn generate() -> RequestId {
        thread_local! {
            // A random key per thread (from the OS) and that thread's count: ids never
            // repeat and cannot be predicted, with no clock read and no counter shared
            // between cores.
            static SEED: (RandomState, Cell<u64>) = (RandomState::new(), Cell::new(0));
        }
        let (high, low) = SEED.with(|(seed, count)| {
            let n = count.get();
            count.set(n.wrapping_add(1));
            // One keyed hash of the count for the first half, continued with !n for the
            // second: both halves are unpredictable without the thread's key.
            let mut h = seed.build_hasher();
            h.write_u64(n);
            let high = h.finish();
            h.write_u64(!n);
            (high, h.finish())
        });
        // 32 lowercase hex digits written in place (no `format!`, no allocation).
        let mut bytes = [0u8; INLINE_ID_LEN];
        bytes[..16].copy_from_slice(&hex16(high));
        bytes[16..].copy_from_slice(&hex16(low));
        RequestId(InlineText::Inline {
            len: INLINE_ID_LEN as u8,
            bytes,
        })
    }

    /// The id as text.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::RequestId::parse("r1").unwrap().as_str(), "r1");
    /// ```
    pub fn as_str(&self) -> &str {
        // Only ever made of ASCII (checked by `parse`, hex digits from `generate`).
        self.0.as_str()
    }

    /// The id as the value of `X-Request-Id`.
    pub(crate) fn header_value(&self) -> Option<HeaderValue> {
        match &self.0 {
            InlineText::Inline { .. } => HeaderValue::from_bytes(self.0.as_bytes()).ok(),
            InlineText::Shared(bytes) => HeaderValue::from_maybe_shared(bytes.clone()).ok(),
        }
    }
}

/// `x` as 16 lowercase hex digits, most significant first, computed on all of them at once:
/// each nibble is spread into a byte of its own, then turned into its digit.
fn hex16(x: u64) -> [u8; 16] {
    const LOW_NIBBLES: u128 = 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f;
    const EACH_BYTE: u128 = 0x0101_0101_0101_0101_0101_0101_0101_0101;
    let mut v = u128::from(x);
    v = (v | (v << 32)) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    v = (v | (v << 16)) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    v = (v | (v << 4)) & LOW_NIBBLES;
    // Byte i now holds nibble i (0..=15). A nibble of 10 or more carries into bit 4 when 6
    // is added to it; those get the distance from ':' (after '9') to 'a' as well.
    let letters = ((v + 6 * EACH_BYTE) >> 4) & EACH_BYTE;
    (v + u128::from(b'0') * EACH_BYTE + letters * u128::from(b'a' - b'9' - 1)).to_be_bytes()
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    /// The id the layer assigned; a fresh one when the layer is not installed.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RouteSlot::of(&parts.extensions)
            .map_or_else(RequestId::generate, |slot| slot.request_id.clone()))
    }
}

/// An id kept in place, as a plain copy.
type InlineId = (u8, [u8; INLINE_ID_LEN]);

thread_local! {
    /// The id of the request whose future the layer is polling on this thread, so that a
    /// refusal rendered anywhere inside it (guard, extractor, handler) can carry it: here
    /// when it is kept in place (every generated id is), so that setting and restoring it
    /// is a copy, with no borrow flag and no destructor for the thread to register;
    static CURRENT_INLINE_ID: Cell<Option<InlineId>> = const { Cell::new(None) };
    /// and here, a longer id from a trusted header, while the one above is `None`.
    static CURRENT_SHARED_ID: RefCell<Option<RequestId>> = const { RefCell::new(None) };
}

/// Runs `f` with `id` as the current request id of this thread. The previous one is put
/// back however `f` ends, a panic included (a handler's, which the runtime catches), so
/// that no id outlives its request on the thread.
pub(crate) fn with_request_id<R>(id: &RequestId, f: impl FnOnce() -> R) -> R {
    match &id.0 {
        InlineText::Inline { len, bytes } => {
            let _restore = RestoreInline(CURRENT_INLINE_ID.replace(Some((*len, *bytes))));
            f()
        }
        InlineText::Shared(_) => {
            let _restore_inline = RestoreInline(CURRENT_INLINE_ID.take());
            let _restore = RestoreShared(CURRENT_SHARED_ID.with(|c| c.replace(Some(id.clone()))));
            f()
        }
    }
}

/// Puts back the in-place id it holds when dropped.
struct RestoreInline(Option<InlineId>);

impl Drop for RestoreInline {
    fn drop(&mut self) {
        CURRENT_INLINE_ID.set(self.0);
    }
}

/// Puts back the longer id it holds when dropped.
struct RestoreShared(Option<RequestId>);

impl Drop for RestoreShared {
    fn drop(&mut self) {
        // `try_with` and `try_borrow_mut`: never a panic while unwinding, even as the
        // thread ends.
        let previous = self.0.take();
        let _ = CURRENT_SHARED_ID.try_with(|c| {
            if let Ok(mut current) = c.try_borrow_mut() {
                *current = previous;
            }
        });
    }
}

/// The id of the request being polled on this thread, if any.
pub(crate) fn current_request_id() -> Option<RequestId> {
    match CURRENT_INLINE_ID.get() {
        Some((len, bytes)) => Some(RequestId(InlineText::Inline { len, bytes })),
        None => CURRENT_SHARED_ID.with(|c| c.borrow().clone()),
    }
}

/// `time` of audit events: UTC, RFC 3339, milliseconds.
pub(crate) fn utc_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_utc(since)
}

fn format_utc(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// The scheme word of the request's credentials, from a closed list: the credential
/// itself never leaves this function, even when the header has no scheme word at all.
pub(crate) fn auth_scheme(headers: &HeaderMap) -> &'static str {
    static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let word = value
            .as_bytes()
            .split(|b| *b == b' ')
            .next()
            .unwrap_or_default();
        for (known, name) in [
            (&b"bearer"[..], "bearer"),
            (b"basic", "basic"),
            (b"digest", "digest"),
            (b"negotiate", "negotiate"),
            (b"dpop", "dpop"),
        ] {
            if word.eq_ignore_ascii_case(known) {
                return name;
            }
        }
        return "other";
    }
    if headers.contains_key(&X_API_KEY) {
        return "api_key";
    }
    "none"
}

/// Who and what a decision is about; the guard inserts it into the request extensions so
/// that the validated extractors report their refusals with the same context.
#[derive(Clone, Debug)]
pub(crate) struct AuditContext {
    pub(crate) request_id: Option<RequestId>,
    /// The route the events name.
    route: CtxRoute,
    pub(crate) policy: &'static str,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) auth_scheme: &'static str,
    /// The guard's check that refused the request, once one has.
    pub(crate) check: &'static str,
    /// The id of the API key presented, once it is known to exist (never the key).
    pub(crate) api_key_id: Option<Arc<str>>,
}

/// The route an audit event names.
#[derive(Clone, Debug)]
enum CtxRoute {
    /// The route of the layer's slot, whose path and metric keys the events use: the
    /// context holds no reference of its own (each would be two atomic operations).
    Slot,
    /// A route the slot does not name: no layer, or a nested router that matched further.
    Own(Arc<str>),
    /// No route matched: the policy's handler names it.
    Policy,
}

impl AuditContext {
    pub(crate) fn new(policy: &'static str, parts: &Parts, client_ip: Option<IpAddr>) -> Self {
        let slot = RouteSlot::of(&parts.extensions);
        let route = match parts.extensions.get::<MatchedPath>() {
            // The layer's route, unless a nested router matched further since.
            Some(path) => match slot.and_then(|slot| slot.route()) {
                Some(keys) if *keys.path == *path.as_str() => CtxRoute::Slot,
                _ => CtxRoute::Own(Arc::from(path.as_str())),
            },
            None => CtxRoute::Policy,
        };
        AuditContext {
            request_id: slot.map(|slot| slot.request_id.clone()),
            route,
            policy,
            client_ip,
            auth_scheme: auth_scheme(&parts.headers),
            check: "",
            api_key_id: None,
        }
    }

    /// The route's path, and its metric keys when they are the slot's; `slot` is the
    /// request's [`RouteSlot`] if it has one.
    fn route<'a>(&'a self, slot: Option<&'a RouteState>) -> (&'a str, Option<&'a Arc<RouteKeys>>) {
        match &self.route {
            CtxRoute::Slot => match slot.and_then(RouteState::route) {
                Some(keys) => (&keys.path, Some(keys)),
                None => (self.policy, None),
            },
            CtxRoute::Own(path) => (path, None),
            CtxRoute::Policy => (self.policy, None),
        }
    }

    /// The route as a metric label, sharing its text.
    fn route_label(&self, slot: Option<&RouteState>) -> metrics::SharedString {
        match (&self.route, slot.and_then(RouteState::route)) {
            (CtxRoute::Slot, Some(keys)) => metrics::SharedString::from(Arc::clone(&keys.path)),
            (CtxRoute::Own(path), _) => metrics::SharedString::from(Arc::clone(path)),
            _ => metrics::SharedString::from(self.policy),
        }
    }

    /// Notes which check refused, passing the refusal on.
    pub(crate) fn refused_by(
        &mut self,
        check: &'static str,
        error: SecurityError,
    ) -> SecurityError {
        self.check = check;
        error
    }
}

/// Where an extractor that runs after the guard finds the guard's [`AuditContext`]: the
/// request's [`RouteSlot`] (an allowed request always has one: without the layer the guard
/// refuses).
pub(crate) struct AuditSource(Option<RouteSlot>);

impl AuditSource {
    /// Looks in the extensions; the context itself is only read back by [`Self::context`].
    pub(crate) fn of(extensions: &http::Extensions) -> Self {
        AuditSource(extensions.get::<RouteSlot>().cloned())
    }

    /// The context the guard left, if it allowed the request.
    pub(crate) fn context(&self) -> Option<AuditContext> {
        self.0.as_ref().and_then(RouteSlot::audit_context)
    }

    /// The request's slot.
    pub(crate) fn slot(&self) -> Option<&RouteState> {
        self.0.as_ref().map(|slot| &*slot.0)
    }
}

/// What a guard or extractor decided.
pub(crate) enum Outcome<'a> {
    Allowed,
    Refused(&'a SecurityError),
}

/// Emits the audit event of one decision, updates the metrics and, for authentication
/// failures and throttling, the client's count.
pub(crate) fn record(
    ctx: &AuditContext,
    slot: Option<&RouteState>,
    stage: &'static str,
    outcome: Outcome<'_>,
    counters: Option<&ClientCounters>,
) {
    let (outcome, reason, status, kind) = match outcome {
        Outcome::Allowed => ("allowed", "ok", 200u16, None),
        Outcome::Refused(e) => (
            "refused",
            e.kind().code(),
            e.status().as_u16(),
            Some(e.kind()),
        ),
    };
    let counted = matches!(
        kind,
        Some(
            ErrorKind::MissingCredentials
                | ErrorKind::InvalidToken
                | ErrorKind::InvalidRequest
                | ErrorKind::RateLimited
        )
    );
    let failures = match (counted, counters) {
        (true, Some(counters)) => counters.record(ctx),
        _ => None,
    };
    let request_id = ctx.request_id.as_ref().map_or("", RequestId::as_str);
    let (route, keys) = ctx.route(slot);
    // The principal the guard authenticated, kept in the slot (none before authentication).
    let principal = slot
        .and_then(|slot| slot.principal.get())
        .map_or("", Principal::subject);
    let client_ip: &dyn fmt::Display = match &ctx.client_ip {
        Some(ip) => ip,
        None => &"unknown",
    };
    tracing::info!(
        target: "secure_api::audit",
        time = %utc_now(),
        request_id,
        route,
        policy = ctx.policy,
        stage,
        check = ctx.check,
        outcome,
        reason,
        status,
        principal,
        client_ip = %client_ip,
        auth_scheme = ctx.auth_scheme,
        api_key_id = ctx.api_key_id.as_deref().unwrap_or(""),
        client_failures = failures.unwrap_or(0),
        "security decision"
    );
    if let (Some(count), Some(counters)) = (failures, counters)
        && count == counters.burst_threshold
    {
        tracing::warn!(
            target: "secure_api::audit",
            time = %utc_now(),
            request_id,
            route,
            policy = ctx.policy,
            stage,
            outcome = "burst",
            reason,
            status,
            principal,
            client_ip = %client_ip,
            auth_scheme = ctx.auth_scheme,
            client_failures = count,
            window_secs = counters.window.as_secs(),
            "client reached the burst threshold of refused requests"
        );
        metrics::counter!("secure_api_client_bursts_total").increment(1);
    }

    if let (None, Some(keys)) = (kind, keys) {
        // The most frequent decision, under a key built once for the route.
        metrics::with_recorder(|r| r.register_counter(&keys.allowed, &METRICS).increment(1));
        return;
    }
    // The route's text is shared with the labels, not copied.
    let route = ctx.route_label(slot);
    metrics::counter!(
        "secure_api_decisions_total",
        "route" => route.clone(),
        "outcome" => outcome,
        "reason" => reason,
    )
    .increment(1);
    match kind {
        Some(ErrorKind::RateLimited) => {
            metrics::counter!("secure_api_throttled_total", "route" => route).increment(1);
        }
        Some(ErrorKind::Unavailable) => {
            metrics::counter!("secure_api_store_errors_total", "route" => route).increment(1);
        }
        _ => {}
    }
}

/// Records how long authentication took.
pub(crate) fn record_authentication_time(
    ctx: &AuditContext,
    slot: Option<&RouteState>,
    elapsed: Duration,
) {
    match ctx.route(slot) {
        (_, Some(keys)) => metrics::with_recorder(|r| {
            r.register_histogram(&keys.authentication_time, &METRICS)
                .record(elapsed.as_secs_f64());
        }),
        (_, None) => metrics::histogram!(
            "secure_api_authentication_seconds",
            "route" => ctx.route_label(slot),
        )
        .record(elapsed.as_secs_f64()),
    }
}

/// The metadata `metrics::counter!` and `histogram!` give the metrics of this module.
static METRICS: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// A route's matched path with the metric keys of its most frequent events, built once
/// per route by the layer: the same names and labels as the macros would build on every
/// request.
#[derive(Debug)]
pub(crate) struct RouteKeys {
    pub(crate) path: Arc<str>,
    allowed: metrics::Key,
    authentication_time: metrics::Key,
}

impl RouteKeys {
    pub(crate) fn new(path: &str) -> Self {
        let path: Arc<str> = Arc::from(path);
        let route = || metrics::Label::new("route", metrics::SharedString::from(Arc::clone(&path)));
        RouteKeys {
            allowed: metrics::Key::from_parts(
                "secure_api_decisions_total",
                vec![
                    route(),
                    metrics::Label::from_static_parts("outcome", "allowed"),
                    metrics::Label::from_static_parts("reason", "ok"),
                ],
            ),
            authentication_time: metrics::Key::from_parts(
                "secure_api_authentication_seconds",
                vec![route()],
            ),
            path,
        }
    }
}

/// Per-client refusal counts in fixed windows, in a table of bounded size.
pub(crate) struct ClientCounters {
    table: Mutex<HashMap<RateKey, Window>>,
    clock: LimiterClock,
    window: Duration,
    capacity: usize,
    burst_threshold: u32,
}

struct Window {
    started: Duration,
    count: u32,
}

impl ClientCounters {
    pub(crate) fn new(
        clock: LimiterClock,
        window: Duration,
        capacity: usize,
        burst_threshold: u32,
    ) -> Self {
        ClientCounters {
            table: Mutex::new(HashMap::new()),
            clock,
            window,
            capacity,
            burst_threshold,
        }
    }

    /// Counts one refusal of the context's client; the count in the current window, or
    /// `None` when the client is unknown or the table is full of live windows.
    fn record(&self, ctx: &AuditContext) -> Option<u32> {
        let key = RateKey::ip(ctx.client_ip?, crate::throttle::DEFAULT_IPV6_PREFIX);
        let now = Duration::from(self.clock.now());
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if !table.contains_key(&key) && table.len() >= self.capacity {
            let window = self.window;
            table.retain(|_, w| now.saturating_sub(w.started) < window);
            if table.len() >= self.capacity {
                metrics::counter!("secure_api_untracked_client_refusals_total").increment(1);
                return None;
            }
        }
        let entry = table.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.saturating_sub(entry.started) >= self.window {
            *entry = Window {
                started: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
        Some(entry.count)
    }

    /// How many clients are being counted.
    pub(crate) fn tracked(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_request_id_is_the_innermost_one_whichever_way_it_is_kept() {
        let short = RequestId::parse("short-id").unwrap();
        let long = RequestId::parse(&"l".repeat(MAX_REQUEST_ID_LEN)).unwrap();
        let generated = RequestId::generate();
        assert!(matches!(long.0, InlineText::Shared(_)));
        assert!(matches!(short.0, InlineText::Inline { .. }));
        let current = || current_request_id().map(|id| id.as_str().to_owned());
        let text = |id: &RequestId| Some(id.as_str().to_owned());
        assert_eq!(current(), None);
        for (outer, inner) in [
            (&short, &long),
            (&long, &short),
            (&long, &long),
            (&short, &generated),
            (&generated, &long),
        ] {
            with_request_id(outer, || {
                assert_eq!(current(), text(outer));
                with_request_id(inner, || assert_eq!(current(), text(inner)));
                assert_eq!(current(), text(outer), "restored after {inner:?}");
            });
            assert_eq!(current(), None);
        }
    }

    #[test]
    fn a_panic_inside_the_scope_leaves_no_request_id_behind() {
        let long = RequestId::parse(&"l".repeat(MAX_REQUEST_ID_LEN)).unwrap();
        for id in [RequestId::generate(), long] {
            let outer = RequestId::parse("outer").unwrap();
            with_request_id(&outer, || {
                let caught = std::panic::catch_unwind(|| {
                    with_request_id(&id, || panic!("handler panicked"));
                });
                assert!(caught.is_err());
                assert_eq!(current_request_id(), Some(outer.clone()));
            });
            let caught = std::panic::catch_unwind(|| {
                with_request_id(&id, || panic!("handler panicked"));
            });
            assert!(caught.is_err());
            assert_eq!(current_request_id(), None, "{id:?}");
        }
    }

    #[test]
    fn utc_time_is_rfc3339() {
        assert_eq!(format_utc(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_utc(Duration::from_millis(1_709_164_800_123)),
            "2024-02-29T00:00:00.123Z"
        );
        assert_eq!(
            format_utc(Duration::from_secs(4_102_444_799)),
            "2099-12-31T23:59:59.000Z"
        );
    }

    #[test]
    fn scheme_is_a_word_from_a_closed_list() {
        let mut headers = HeaderMap::new();
        assert_eq!(auth_scheme(&headers), "none");
        headers.insert("authorization", "eyJsecret.token.here".parse().unwrap());
        assert_eq!(auth_scheme(&headers), "other");
        headers.insert("authorization", "BEARER abc".parse().unwrap());
        assert_eq!(auth_scheme(&headers), "bearer");
        headers.remove("authorization");
        headers.insert("x-api-key", "k".parse().unwrap());
        assert_eq!(auth_scheme(&headers), "api_key");
    }

    #[test]
    fn ids_of_every_length_keep_their_text_in_headers_and_comparisons() {
        for len in [1, 31, 32, 33, 64, MAX_REQUEST_ID_LEN] {
            let text: String = "abc-_.:/9".chars().cycle().take(len).collect();
            let id = RequestId::parse(&text).unwrap();
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(
                id.header_value().map(|v| v.as_bytes().to_vec()),
                Some(text.clone().into_bytes())
            );
            let copy = id.clone();
            assert_eq!(copy, id);
            let other = RequestId::parse(&format!("{text}x")[1..]).unwrap();
            assert_ne!(other, id, "{len}");
            let state = RandomState::new();
            assert_eq!(state.hash_one(&copy), state.hash_one(&id));
        }
        assert!(RequestId::parse(&"a".repeat(MAX_REQUEST_ID_LEN + 1)).is_none());
    }

    #[test]
    fn generated_ids_never_repeat_across_threads() {
        let ids: Vec<String> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..2_000)
                        .map(|_| RequestId::generate().as_str().to_owned())
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        assert_eq!(ids.len(), 8_000);
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn generated_ids_are_32_lowercase_hex_digits() {
        for _ in 0..64 {
            let id = RequestId::generate();
            assert_eq!(id.as_str().len(), 32);
            assert!(
                id.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        assert_ne!(RequestId::generate(), RequestId::generate());
    }

    #[test]
    fn hex_digits_are_those_of_format() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for edge in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xa,
            0xf0,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
        ] {
            assert_eq!(hex16(edge), *format!("{edge:016x}").as_bytes(), "{edge:#x}");
        }
        for _ in 0..10_000 {
            // xorshift: values with every nibble in every position.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(hex16(x), *format!("{x:016x}").as_bytes(), "{x:#x}");
        }
    }

    #[test]
    fn generated_ids_are_acceptable_ids() {
        let id = RequestId::generate();
        assert_eq!(RequestId::parse(id.as_str()), Some(id));
    }
}
