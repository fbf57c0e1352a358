//! The `Security` configuration, built once at start-up.
//!
//! Every setting is checked when [`SecurityBuilder::build`] runs; a mistake is a
//! [`ConfigError`] naming the setting, so a misconfigured service refuses to start instead
//! of running with a weaker policy.
//!
//! ```
//! use secure_api_runtime::Security;
//!
//! let security = Security::builder()
//!     .hmac_secret(b"a secret of at least thirty-two bytes!".to_vec())
//!     .issuer("customer-api")
//!     .audience("customer-api")
//!     .role_hierarchy("admin > editor > viewer")
//!     .build()
//!     .expect("valid configuration");
//! let layer = security.layer();
//! # let _ = layer;
//!
//! let err = Security::builder().hmac_secret(b"short".to_vec()).issuer("i").audience("a").build().unwrap_err();
//! assert_eq!(err.setting(), "jwt.key");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::audit::{
    ClientCounters, DEFAULT_AUDIT_WINDOW, DEFAULT_BURST_THRESHOLD, DEFAULT_TRACKED_CLIENTS,
};
use crate::client_ip::TrustedProxies;
use crate::https::{HttpsPolicy, HttpsSettings};
use crate::jwt::{JwtKey, JwtSettings, JwtVerifier};
use crate::layer::SecurityLayer;
use crate::limiter::{LimiterClock, ManualClock, RateLimiters, Store};
use crate::ratelimit_headers::RateLimitHeaders;
use crate::rbac::RoleHierarchy;
use crate::replay::{IdempotencyStore, MemoryIdempotencyStore, MemoryNonceStore, NonceStore};
use crate::store::{DEFAULT_MAX_TRACKED_KEYS, MemoryStore, RateLimitStore};
use crate::throttle::{
    DEFAULT_IPV6_PREFIX, GlobalRateLimit, ThrottleSettings, check_global_limits,
};

/// Default cap on request bodies (1 MiB), applied to every route behind the layer.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Default clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default longest lifetime (`exp` - `iat`) of a token on `replay` routes.
pub const DEFAULT_REPLAY_MAX_LIFETIME: Duration = Duration::from_secs(3600);
/// Default interval of the background purge of idle rate-limit keys.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// A configuration mistake, naming the setting at fault.
///
/// ```
/// let err = secure_api_runtime::ConfigError::new("jwt.issuer", "the issuer is empty");
/// assert_eq!(err.to_string(), "invalid security setting `jwt.issuer`: the issuer is empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: Cow<'static, str>,
    message: String,
}

impl ConfigError {
    /// A mistake in `setting`.
    ///
    /// ```
    /// let err = secure_api_runtime::ConfigError::new("body_limit", "must be positive");
    /// assert_eq!(err.setting(), "body_limit");
    /// ```
    pub fn new(setting: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ConfigError {
            setting: setting.into(),
            message: message.into(),
        }
    }

    /// The name of the setting at fault.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::ConfigError::new("a", "b").setting(), "a");
    /// ```
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What is wrong with it.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::ConfigError::new("a", "b").message(), "b");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid security setting `{}`: {}",
            self.setting, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// The application's security configuration: how to authenticate, the role hierarchy,
/// the throttling state and the response profile. Cheap to clone (shared state).
///
/// Install it in front of the router with [`Security::layer`]; `#[secure]` handlers find it
/// there. A secured handler reached without it refuses every request (fail closed).
///
/// ```
/// use axum::{routing::get, Router};
/// use secure_api_runtime::Security;
///
/// let security = Security::builder()
///     .hmac_secret(vec![42u8; 32])
///     .issuer("me")
///     .audience("my-api")
///     .build()
///     .unwrap();
/// let app: Router = Router::new().route("/", get(|| async { "ok" })).layer(security.layer());
/// ```
#[derive(Clone)]
pub struct Security(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) jwt: JwtVerifier,
    pub(crate) hierarchy: RoleHierarchy,
    pub(crate) realm: Cow<'static, str>,
    pub(crate) body_limit: usize,
    pub(crate) limiters: RateLimiters,
    pub(crate) throttle: ThrottleSettings,
    pub(crate) request_id_header: Option<http::HeaderName>,
    pub(crate) counters: ClientCounters,
    pub(crate) log_requests: bool,
    pub(crate) nonces: Arc<dyn NonceStore>,
    pub(crate) idempotency: Arc<dyn IdempotencyStore>,
    pub(crate) replay_max_lifetime: Duration,
    pub(crate) leeway_secs: u64,
    pub(crate) https: Option<HttpsPolicy>,
    /// The response header profile, made once for this configuration.
    pub(crate) profile: crate::profile::HeaderProfile,
    pub(crate) wall_clock: crate::extend::WallClock,
    pub(crate) revocations: Arc<dyn crate::revocation::RevocationStore>,
    pub(crate) api_keys: crate::authn::ApiKeySettings,
    pub(crate) signatures: Option<crate::signature::SignatureSettings>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("realm", &self.0.realm)
            .field("hierarchy", &self.0.hierarchy)
            .field("body_limit", &self.0.body_limit)
            .finish_non_exhaustive()
    }
}

impl Security {
    /// Starts a configuration.
    ///
    /// ```
    /// let builder = secure_api_runtime::Security::builder();
    /// assert!(builder.build().is_err(), "no key configured");
    /// ```
    pub fn builder() -> SecurityBuilder {
        SecurityBuilder::default()
    }

    /// The tower layer that installs this configuration in front of a router: it makes it
    /// available to `#[secure]` handlers, caps request bodies and sets the API header
    /// profile on every response, errors included.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// let app: axum::Router = axum::Router::new().layer(security.layer());
    /// ```
    pub fn layer(&self) -> SecurityLayer {
        SecurityLayer::new(self.clone())
    }

    /// The role hierarchy.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").role_hierarchy("admin > viewer").build().unwrap();
    /// assert!(security.role_hierarchy().grants("admin", "viewer"));
    /// ```
    pub fn role_hierarchy(&self) -> &RoleHierarchy {
        &self.0.hierarchy
    }

    /// The request body cap in bytes.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// assert_eq!(security.body_limit(), secure_api_runtime::DEFAULT_BODY_LIMIT);
    /// ```
    pub fn body_limit(&self) -> usize {
        self.0.body_limit
    }

    /// How many client keys the rate limiters are tracking right now (in the in-memory
    /// store; 0 for stores that do not say, such as Redis).
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// assert_eq!(security.tracked_rate_limit_keys(), 0);
    /// ```
    pub fn tracked_rate_limit_keys(&self) -> usize {
        self.0.limiters.tracked_keys()
    }

    /// Drops rate-limit keys whose bucket is full again and returns their memory (Redis
    /// expires them by itself). The layer runs this in the background every cleanup
    /// interval; call it to force one.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// security.purge_idle_rate_limits();
    /// ```
    pub fn purge_idle_rate_limits(&self) {
        self.0.limiters.purge();
    }

    /// How many client addresses have their refusals counted right now.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// assert_eq!(security.audited_clients(), 0);
    /// ```
    pub fn audited_clients(&self) -> usize {
        self.0.counters.tracked()
    }

    pub(crate) fn ensure_background_tasks(&self) {
        self.0
            .limiters
            .ensure_cleanup(&self.0, |inner: &Inner| inner.limiters.purge());
    }
}

/// Builder of [`Security`]; see [`Security::builder`].
///
/// ```
/// use std::time::Duration;
/// use secure_api_runtime::{Algorithm, JwtKey, Security};
///
/// let security = Security::builder()
///     .jwt_key(JwtKey::hmac(vec![9u8; 64]))
///     .algorithms([Algorithm::HS256, Algorithm::HS512])
///     .issuer("https://idp.example")
///     .audience("orders")
///     .leeway(Duration::from_secs(10))
///     .roles_claim("groups")
///     .realm("orders")
///     .body_limit(64 * 1024)
///     .build()
///     .unwrap();
/// ```
#[derive(Default)]
pub struct SecurityBuilder {
    key: Option<JwtKey>,
    algorithms: Option<Vec<Algorithm>>,
    issuers: Option<Vec<String>>,
    any_issuer: bool,
    audiences: Option<Vec<String>>,
    any_audience: bool,
    leeway: Option<Duration>,
    roles_claim: Option<String>,
    hierarchy: Option<Result<RoleHierarchy, String>>,
    realm: Option<String>,
    body_limit: Option<usize>,
    cleanup_interval: Option<Duration>,
    clock: Option<ManualClock>,
    trusted_proxies: Option<TrustedProxies>,
    trusted_proxy_networks: Option<String>,
    ipv6_prefix: Option<u8>,
    global_limits: Vec<GlobalRateLimit>,
    rate_limit_headers: Option<RateLimitHeaders>,
    store: Option<Arc<dyn RateLimitStore>>,
    max_tracked_keys: Option<usize>,
    request_id_header: Option<String>,
    audit_window: Option<Duration>,
    burst_threshold: Option<u32>,
    tracked_clients: Option<usize>,
    log_requests: bool,
    nonces: Option<Arc<dyn NonceStore>>,
    idempotency: Option<Arc<dyn IdempotencyStore>>,
    replay_max_lifetime: Option<Duration>,
    https: Option<HttpsSettings>,
    wall_clock: Option<crate::extend::WallClock>,
    trusted_issuers: Vec<crate::issuer::TrustedIssuer>,
    require_typ: bool,
    verified_token_cache: Option<usize>,
    #[cfg(feature = "introspection")]
    introspection: Option<crate::introspection::Introspection>,
    revocations: Option<Arc<dyn crate::revocation::RevocationStore>>,
    api_key_store: Option<Arc<dyn crate::api_key::ApiKeyStore>>,
    api_key_header: Option<String>,
    default_auth: Option<crate::authn::AuthSchemes>,
    signatures: Option<crate::signature::SignatureSettings>,
}

impl fmt::Debug for SecurityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityBuilder")
            .field("key", &self.key)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl SecurityBuilder {
    /// The key that verifies bearer tokens.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().jwt_key(secure_api_runtime::JwtKey::hmac(vec![0; 32]));
    /// ```
    pub fn jwt_key(mut self, key: JwtKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Shorthand for an HMAC secret (HS256 unless [`algorithms`](Self::algorithms) says
    /// otherwise). Secrets shorter than 32 bytes are refused by `build`.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().hmac_secret(b"0123456789abcdef0123456789abcdef".to_vec());
    /// ```
    pub fn hmac_secret(self, secret: impl Into<Vec<u8>>) -> Self {
        self.jwt_key(JwtKey::hmac(secret))
    }

    /// The algorithm allow-list. All must belong to the key's family; HMAC and asymmetric
    /// algorithms are never mixed. Default: HS256, RS256, ES256 or EdDSA by key family.
    ///
    /// ```
    /// use secure_api_runtime::{Algorithm, Security};
    /// let b = Security::builder().algorithms([Algorithm::PS256, Algorithm::RS256]);
    /// ```
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// An accepted issuer (`iss`); call again to accept several. Required unless
    /// [`allow_any_issuer`](Self::allow_any_issuer) is called.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().issuer("https://idp.example");
    /// ```
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers
            .get_or_insert_with(Vec::new)
            .push(issuer.into());
        self
    }

    /// An accepted audience (`aud`); call again to accept several. Required unless
    /// [`allow_any_audience`](Self::allow_any_audience) is called.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().audience("orders");
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences
            .get_or_insert_with(Vec::new)
            .push(audience.into());
        self
    }

    /// Waives the issuer check, explicitly.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().allow_any_issuer();
    /// ```
    pub fn allow_any_issuer(mut self) -> Self {
        self.any_issuer = true;
        self
    }

    /// Waives the audience check, explicitly.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().allow_any_audience();
    /// ```
    pub fn allow_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 30 s, at most 5 minutes).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().leeway(std::time::Duration::from_secs(5));
    /// ```
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }

    /// The claim holding the roles, an array of strings (default `roles`).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().roles_claim("groups");
    /// ```
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.roles_claim = Some(claim.into());
        self
    }

    /// The role hierarchy, as chains like `"admin > editor > viewer"` separated by `;`.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().role_hierarchy("admin > editor > viewer; auditor > viewer");
    /// ```
    pub fn role_hierarchy(mut self, chains: &str) -> Self {
        self.hierarchy = Some(
            chains
                .parse()
                .map_err(|e: crate::RoleHierarchyError| e.to_string()),
        );
        self
    }

    /// The role hierarchy, built in code.
    ///
    /// ```
    /// use secure_api_runtime::{RoleHierarchy, Security};
    /// let h = RoleHierarchy::new().with("admin", "viewer").unwrap();
    /// let b = Security::builder().role_hierarchy_from(h);
    /// ```
    pub fn role_hierarchy_from(mut self, hierarchy: RoleHierarchy) -> Self {
        self.hierarchy = Some(Ok(hierarchy));
        self
    }

    /// The realm named in `WWW-Authenticate` challenges (default `api`).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().realm("customer-api");
    /// ```
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The request body cap in bytes for every route (default 1 MiB).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().body_limit(16 * 1024);
    /// ```
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// How often idle rate-limit keys are purged (default 60 s).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().rate_limit_cleanup_interval(std::time::Duration::from_secs(10));
    /// ```
    pub fn rate_limit_cleanup_interval(mut self, every: Duration) -> Self {
        self.cleanup_interval = Some(every);
        self
    }

    /// Drives the rate limiters from a [`ManualClock`] instead of real time (for tests).
    ///
    /// ```
    /// let clock = secure_api_runtime::ManualClock::new();
    /// let b = secure_api_runtime::Security::builder().rate_limit_clock(clock.clone());
    /// ```
    pub fn rate_limit_clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Trusts the request id in this inbound header (for example `x-request-id` set by
    /// your gateway). Without it, every request gets a generated id; an inbound value that
    /// is not 1 to 128 characters of `A-Z a-z 0-9 - _ . : /` is replaced by a generated one.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().trust_request_id_header("x-request-id");
    /// ```
    pub fn trust_request_id_header(mut self, name: impl Into<String>) -> Self {
        self.request_id_header = Some(name.into());
        self
    }

    /// The window in which a client's failed authentications and throttled requests are
    /// counted (default 60 s).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().audit_window(std::time::Duration::from_secs(300));
    /// ```
    pub fn audit_window(mut self, window: Duration) -> Self {
        self.audit_window = Some(window);
        self
    }

    /// The count of refusals in one window at which a client is reported with a `WARN`
    /// audit event (default 20).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().audit_burst_threshold(50);
    /// ```
    pub fn audit_burst_threshold(mut self, refusals: u32) -> Self {
        self.burst_threshold = Some(refusals);
        self
    }

    /// How many client addresses are counted at once (default 10,000): the bound on the
    /// memory of the counts. When the table is full of live windows, new clients are not
    /// counted (and `secure_api_untracked_client_refusals_total` says so).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().audit_tracked_clients(1_000);
    /// ```
    pub fn audit_tracked_clients(mut self, clients: usize) -> Self {
        self.tracked_clients = Some(clients);
        self
    }

    /// Logs one event per request on the target `secure_api::request` (method, route,
    /// path, query, headers, status, latency, request id) with `Authorization`, `Cookie`,
    /// `Set-Cookie`, `X-API-Key`, proxy credentials and credential-like query parameters
    /// redacted. Off by default.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().log_requests(true);
    /// ```
    pub fn log_requests(mut self, on: bool) -> Self {
        self.log_requests = on;
        self
    }

    /// Where `replay` routes record spent token ids (default: in memory, one million
    /// entries).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let b = secure_api_runtime::Security::builder()
    ///     .nonce_store(Arc::new(secure_api_runtime::MemoryNonceStore::new(10_000)));
    /// ```
    pub fn nonce_store(mut self, store: Arc<dyn NonceStore>) -> Self {
        self.nonces = Some(store);
        self
    }

    /// Where revoked token ids are kept (default: in memory, 100,000 entries); see
    /// [`Security::revoke`]. Share one store between instances (Redis) so that a
    /// revocation applies everywhere.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let b = secure_api_runtime::Security::builder()
    ///     .revocation_store(Arc::new(secure_api_runtime::MemoryRevocationStore::new(10_000)));
    /// ```
    pub fn revocation_store(mut self, store: Arc<dyn crate::revocation::RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// The signing keys and freshness window of `signed` routes (HTTP Message
    /// Signatures); without them a `signed` route refuses every request with 500.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use secure_api_runtime::signature::{MemorySigningKeys, SignatureSettings, SigningKey};
    /// let keys = MemorySigningKeys::new().with_key("client-1", SigningKey::new("alice", vec![7u8; 32]));
    /// let b = secure_api_runtime::Security::builder()
    ///     .http_signatures(SignatureSettings::new(Arc::new(keys)));
    /// ```
    pub fn http_signatures(mut self, settings: crate::signature::SignatureSettings) -> Self {
        self.signatures = Some(settings);
        self
    }

    /// Where `idempotent` routes record keys and responses (default: in memory, 10,000
    /// keys kept 24 hours).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// let b = secure_api_runtime::Security::builder().idempotency_store(Arc::new(
    ///     secure_api_runtime::MemoryIdempotencyStore::new(1_000, Duration::from_secs(3600)),
    /// ));
    /// ```
    pub fn idempotency_store(mut self, store: Arc<dyn IdempotencyStore>) -> Self {
        self.idempotency = Some(store);
        self
    }

    /// The longest token lifetime (`exp` - `iat`) accepted on `replay` routes (default one
    /// hour): the spent `jti` must be remembered that long.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().replay_max_token_lifetime(std::time::Duration::from_secs(900));
    /// ```
    pub fn replay_max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.replay_max_lifetime = Some(lifetime);
        self
    }

    /// Requires HTTPS: plain-HTTP requests are redirected (browser-style GET/HEAD) or
    /// refused (everything else, above all requests with credentials), and HTTPS responses
    /// carry `Strict-Transport-Security`.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().require_https(secure_api_runtime::HttpsSettings::new());
    /// ```
    pub fn require_https(mut self, settings: HttpsSettings) -> Self {
        self.https = Some(settings);
        self
    }

    /// The clock that time-based guards (`time_window`) read; the system clock by default.
    ///
    /// ```
    /// use secure_api_runtime::{Security, WallClock};
    /// let b = Security::builder().wall_clock(WallClock::manual(std::time::UNIX_EPOCH));
    /// ```
    pub fn wall_clock(mut self, clock: crate::extend::WallClock) -> Self {
        self.wall_clock = Some(clock);
        self
    }

    /// Which peers may say who the client is (default: none, the client is the socket
    /// peer). See [`TrustedProxies`].
    ///
    /// ```
    /// use secure_api_runtime::{Security, TrustedProxies};
    /// let b = Security::builder().trusted_proxies(TrustedProxies::hops(1));
    /// ```
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = Some(proxies);
        self
    }

    /// Trusted proxies as comma-separated CIDRs (`"10.0.0.0/8, 2001:db8::/32"`, the
    /// format of `SECURE_API_TRUSTED_PROXIES`), their `X-Forwarded-For` believed. A
    /// mistake is reported by `build` under `trusted_proxies`.
    ///
    /// ```
    /// let err = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a")
    ///     .trusted_proxy_networks("10.0.0.0/8, 10.0.0.1/8").build().unwrap_err();
    /// assert_eq!(err.setting(), "trusted_proxies");
    /// ```
    pub fn trusted_proxy_networks(mut self, cidrs: impl Into<String>) -> Self {
        self.trusted_proxy_networks = Some(cidrs.into());
        self
    }

    /// The prefix length by which IPv6 clients share a bucket (default 64; 1 to 128).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().ipv6_rate_limit_prefix(56);
    /// ```
    pub fn ipv6_rate_limit_prefix(mut self, bits: u8) -> Self {
        self.ipv6_prefix = Some(bits);
        self
    }

    /// Adds a limit applied to every `#[secure]` route before authentication.
    ///
    /// ```
    /// use secure_api_runtime::{GlobalRateLimit, Security};
    /// let b = Security::builder().global_rate_limit(GlobalRateLimit::per_ip("per-ip", "3000/1m"));
    /// ```
    pub fn global_rate_limit(mut self, limit: GlobalRateLimit) -> Self {
        self.global_limits.push(limit);
        self
    }

    /// Which rate-limit fields responses carry (default: the current IETF draft).
    ///
    /// ```
    /// use secure_api_runtime::{RateLimitHeaders, Security};
    /// let b = Security::builder().rate_limit_headers(RateLimitHeaders::Off);
    /// ```
    pub fn rate_limit_headers(mut self, headers: RateLimitHeaders) -> Self {
        self.rate_limit_headers = Some(headers);
        self
    }

    /// Keeps rate-limit state in `store` instead of the in-memory default (for example a
    /// `RedisStore` shared by every instance).
    ///
    /// ```
    /// use secure_api_runtime::{MemoryStore, Security};
    /// let b = Security::builder().rate_limit_store(MemoryStore::new(1_000));
    /// ```
    pub fn rate_limit_store(mut self, store: impl RateLimitStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The hard cap on keys the in-memory store tracks (default 100,000).
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().max_tracked_rate_limit_keys(1_000_000);
    /// ```
    pub fn max_tracked_rate_limit_keys(mut self, keys: usize) -> Self {
        self.max_tracked_keys = Some(keys);
        self
    }

    /// Trusts tokens of another issuer, with its own audience, algorithms and keys; call
    /// again for each issuer (for example a staging and a production identity provider).
    /// A token is routed by its (unverified) `iss` to that issuer's settings and verified
    /// with its keys only; an `iss` not configured is refused without any fetch. Replaces
    /// the single-key settings: with trusted issuers, `jwt_key`, `issuer`, `audience` and
    /// `algorithms` must not be set on the builder.
    ///
    /// ```
    /// use secure_api_runtime::{Security, TrustedIssuer};
    /// let security = Security::builder()
    ///     .trusted_issuer(TrustedIssuer::new("batch").audience("orders").hmac_secret("k1", vec![3u8; 32]))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn trusted_issuer(mut self, issuer: crate::issuer::TrustedIssuer) -> Self {
        self.trusted_issuers.push(issuer);
        self
    }

    /// Accept only RFC 9068 access tokens (`typ` header `at+jwt` or `application/at+jwt`),
    /// so that ID tokens are refused. Applies to every trusted issuer too.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().require_access_token_typ();
    /// ```
    pub fn require_access_token_typ(mut self) -> Self {
        self.require_typ = true;
        self
    }

    /// How many verified tokens are remembered, in each of two tables (default 10,000 each;
    /// 0 disables both). Tokens signed with asymmetric algorithms (RS, PS, ES, EdDSA) are
    /// remembered by their SHA-256, so that a token seen again skips the signature check; a
    /// JWKS key that disappears voids the entries it verified. Tokens signed with a shared
    /// secret (HS256/384/512) that come again, byte for byte (the signature compared by its
    /// SHA-256), reuse the principal built the first time without their MAC being checked
    /// again; a secret past its `not_after` still refuses them. An entry never outlives the
    /// token's `exp` (plus the leeway) nor 5 minutes, and roles, revocation, replay and
    /// every later check still run on each request.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().verified_token_cache(0);
    /// ```
    pub fn verified_token_cache(mut self, entries: usize) -> Self {
        self.verified_token_cache = Some(entries);
        self
    }

    /// Introspects opaque (non-JWT) bearer tokens at an RFC 7662 endpoint. May be the only
    /// authentication, or sit next to JWT keys (compact JWS tokens are verified locally).
    ///
    /// ```
    /// use secure_api_runtime::{Introspection, Security};
    /// let security = Security::builder()
    ///     .introspection(Introspection::new("https://idp.example/introspect", "orders-api", "secret"))
    ///     .build()
    ///     .unwrap();
    /// ```
    #[cfg(feature = "introspection")]
    pub fn introspection(mut self, introspection: crate::introspection::Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Where API key records are looked up (see [`MemoryApiKeyStore`](crate::MemoryApiKeyStore)
    /// and [`FileApiKeyStore`](crate::FileApiKeyStore)). Without one, API keys are refused.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder()
    ///     .api_key_store(secure_api_runtime::MemoryApiKeyStore::new());
    /// ```
    pub fn api_key_store(mut self, store: impl crate::api_key::ApiKeyStore) -> Self {
        self.api_key_store = Some(Arc::new(store));
        self
    }

    /// The header that carries API keys (default `X-API-Key`). A mistake is reported by
    /// `build` under `api_keys.header`.
    ///
    /// ```
    /// let b = secure_api_runtime::Security::builder().api_key_header("x-service-key");
    /// ```
    pub fn api_key_header(mut self, name: impl Into<String>) -> Self {
        self.api_key_header = Some(name.into());
        self
    }

    /// The schemes accepted by routes whose attribute has no `auth` key (default: bearer
    /// JWTs only). Accepting API keys needs an [`api_key_store`](Self::api_key_store).
    ///
    /// ```
    /// use secure_api_runtime::{AuthSchemes, MemoryApiKeyStore, Security};
    /// let security = Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a")
    ///     .api_key_store(MemoryApiKeyStore::new())
    ///     .default_auth(AuthSchemes::JWT.and(AuthSchemes::API_KEY))
    ///     .build();
    /// assert!(security.is_ok());
    /// ```
    pub fn default_auth(mut self, schemes: crate::authn::AuthSchemes) -> Self {
        self.default_auth = Some(schemes);
        self
    }

    /// Checks every setting and builds the configuration.
    ///
    /// ```
    /// let err = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).audience("a").build().unwrap_err();
    /// assert_eq!(err.setting(), "jwt.issuer");
    /// ```
    pub fn build(self) -> Result<Security, ConfigError> {
        let leeway = self.leeway.unwrap_or(DEFAULT_LEEWAY);
        if leeway > Duration::from_secs(300) {
            return Err(ConfigError::new(
                "jwt.leeway",
                "a leeway above 5 minutes lets expired tokens through",
            ));
        }
        let roles_claim = self.roles_claim.unwrap_or_else(|| "roles".to_owned());
        #[cfg(feature = "introspection")]
        let introspection = self
            .introspection
            .map(crate::introspection::Introspection::build)
            .transpose()?;
        #[cfg(feature = "introspection")]
        let has_introspection = introspection.is_some();
        #[cfg(not(feature = "introspection"))]
        let has_introspection = false;
        let single_key_settings = self.key.is_some()
            || self.issuers.is_some()
            || self.audiences.is_some()
            || self.algorithms.is_some()
            || self.any_issuer
            || self.any_audience;
        #[allow(unused_mut)]
        let mut jwt = if !self.trusted_issuers.is_empty() {
            if single_key_settings {
                return Err(ConfigError::new(
                    "jwt.trusted_issuer",
                    "with trusted issuers, set the key, issuer, audience and algorithms on \
                     each TrustedIssuer, not on the builder",
                ));
            }
            let mut issuers = self.trusted_issuers;
            for issuer in &mut issuers {
                issuer.require_typ |= self.require_typ;
            }
            JwtVerifier::with_issuers(issuers, leeway.as_secs(), roles_claim)?
        } else if self.key.is_none() && has_introspection && !single_key_settings {
            JwtVerifier::with_issuers(Vec::new(), leeway.as_secs(), roles_claim)?
        } else {
            let key = self.key.ok_or_else(|| {
                ConfigError::new(
                    "jwt.key",
                    "no key to verify tokens: set one with .hmac_secret(...) or .jwt_key(...)",
                )
            })?;
            let issuers = match (self.issuers, self.any_issuer) {
                (Some(_), true) => {
                    return Err(ConfigError::new(
                        "jwt.issuer",
                        "both an issuer and allow_any_issuer() are set",
                    ));
                }
                (Some(list), false) => Some(list),
                (None, true) => None,
                (None, false) => {
                    return Err(ConfigError::new(
                        "jwt.issuer",
                        "the expected issuer is required: set .issuer(...) \
                         (or waive the check with .allow_any_issuer())",
                    ));
                }
            };
            let audiences = match (self.audiences, self.any_audience) {
                (Some(_), true) => {
                    return Err(ConfigError::new(
                        "jwt.audience",
                        "both an audience and allow_any_audience() are set",
                    ));
                }
                (Some(list), false) => Some(list),
                (None, true) => None,
                (None, false) => {
                    return Err(ConfigError::new(
                        "jwt.audience",
                        "the expected audience is required: set .audience(...) \
                         (or waive the check with .allow_any_audience())",
                    ));
                }
            };
            JwtVerifier::new(JwtSettings {
                key,
                algorithms: self.algorithms,
                issuers,
                audiences,
                leeway_secs: leeway.as_secs(),
                roles_claim,
                require_typ: self.require_typ,
            })?
        };
        jwt.set_cache(
            self.verified_token_cache
                .unwrap_or(crate::token_cache::DEFAULT_VERIFIED_TOKEN_CACHE),
        );
        #[cfg(feature = "introspection")]
        {
            jwt.introspection = introspection;
        }
        let hierarchy = match self.hierarchy {
            None => RoleHierarchy::new(),
            Some(Ok(h)) => h,
            Some(Err(message)) => return Err(ConfigError::new("role_hierarchy", message)),
        };
        let realm = self
            .realm
            .unwrap_or_else(|| crate::error::DEFAULT_REALM.to_owned());
        if realm.is_empty()
            || !realm
                .chars()
                .all(|c| (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\')
        {
            return Err(ConfigError::new(
                "realm",
                "the realm must be non-empty visible ASCII without quotes or backslashes",
            ));
        }
        let body_limit = self.body_limit.unwrap_or(DEFAULT_BODY_LIMIT);
        if body_limit == 0 {
            return Err(ConfigError::new(
                "body_limit",
                "the body limit must be positive",
            ));
        }
        let cleanup_interval = self.cleanup_interval.unwrap_or(DEFAULT_CLEANUP_INTERVAL);
        if cleanup_interval.is_zero() {
            return Err(ConfigError::new(
                "rate_limit_cleanup_interval",
                "the cleanup interval must be positive",
            ));
        }
        let replay_max_lifetime = self
            .replay_max_lifetime
            .unwrap_or(DEFAULT_REPLAY_MAX_LIFETIME);
        if replay_max_lifetime.is_zero() {
            return Err(ConfigError::new(
                "replay_max_token_lifetime",
                "the maximum token lifetime must be positive",
            ));
        }
        let https = self.https.as_ref().map(HttpsPolicy::new).transpose()?;
        let clock = match self.clock {
            Some(clock) => LimiterClock::Manual(clock),
            None => LimiterClock::default(),
        };
        let trusted_proxies = match (self.trusted_proxies, self.trusted_proxy_networks) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "trusted_proxies",
                    "both trusted_proxies(...) and trusted_proxy_networks(...) are set",
                ));
            }
            (Some(proxies), None) => proxies,
            (None, Some(list)) => list.parse().map_err(|e: crate::CidrParseError| {
                ConfigError::new("trusted_proxies", e.to_string())
            })?,
            (None, None) => TrustedProxies::none(),
        };
        let ipv6_prefix = self.ipv6_prefix.unwrap_or(DEFAULT_IPV6_PREFIX);
        if !(1..=128).contains(&ipv6_prefix) {
            return Err(ConfigError::new(
                "ipv6_rate_limit_prefix",
                "the IPv6 prefix must be between 1 and 128 bits",
            ));
        }
        let global_limits = check_global_limits(self.global_limits)?;
        let store = match (self.store, self.max_tracked_keys) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "max_tracked_rate_limit_keys",
                    "the cap applies to the in-memory store, and another store is configured",
                ));
            }
            (Some(store), None) => Store::External(store),
            (None, Some(0)) => {
                return Err(ConfigError::new(
                    "max_tracked_rate_limit_keys",
                    "the cap must be at least one key",
                ));
            }
            (None, cap) => Store::Memory(MemoryStore::with_limiter_clock(
                cap.unwrap_or(DEFAULT_MAX_TRACKED_KEYS),
                clock.clone(),
            )),
        };
        let request_id_header = match self.request_id_header {
            None => None,
            Some(name) => Some(http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::new(
                    "request_id.header",
                    format!("{name:?} is not a valid header name"),
                )
            })?),
        };
        let audit_window = self.audit_window.unwrap_or(DEFAULT_AUDIT_WINDOW);
        if audit_window.is_zero() {
            return Err(ConfigError::new(
                "audit.window",
                "the audit window must be positive",
            ));
        }
        let burst_threshold = self.burst_threshold.unwrap_or(DEFAULT_BURST_THRESHOLD);
        if burst_threshold == 0 {
            return Err(ConfigError::new(
                "audit.burst_threshold",
                "the burst threshold must be positive",
            ));
        }
        let tracked_clients = self.tracked_clients.unwrap_or(DEFAULT_TRACKED_CLIENTS);
        if tracked_clients == 0 {
            return Err(ConfigError::new(
                "audit.tracked_clients",
                "at least one client must be tracked",
            ));
        }
        let api_keys = crate::authn::ApiKeySettings::new(
            self.api_key_store,
            self.api_key_header,
            self.default_auth,
        )?;
        let counters = ClientCounters::new(
            clock.clone(),
            audit_window,
            tracked_clients,
            burst_threshold,
        );
        Ok(Security(Arc::new(Inner {
            jwt,
            hierarchy,
            realm: Cow::Owned(realm),
            body_limit,
            limiters: RateLimiters::new(store, cleanup_interval),
            throttle: ThrottleSettings {
                trusted_proxies,
                ipv6_prefix,
                global_limits,
                headers: self.rate_limit_headers.unwrap_or_default(),
                refused_on_store_error: Default::default(),
                allowed_on_store_error: Default::default(),
            },
            request_id_header,
            counters,
            log_requests: self.log_requests,
            nonces: self
                .nonces
                .unwrap_or_else(|| Arc::new(MemoryNonceStore::new(1_000_000))),
            idempotency: self.idempotency.unwrap_or_else(|| {
                Arc::new(MemoryIdempotencyStore::new(
                    10_000,
                    Duration::from_secs(24 * 3600),
                ))
            }),
            replay_max_lifetime,
            leeway_secs: leeway.as_secs(),
            profile: crate::profile::HeaderProfile::new(https.as_ref().map(|h| &h.hsts)),
            https,
            wall_clock: self.wall_clock.unwrap_or_default(),
            revocations: self.revocations.unwrap_or_else(|| {
                Arc::new(crate::revocation::MemoryRevocationStore::new(
                    crate::revocation::DEFAULT_REVOCATION_CAPACITY,
                ))
            }),
            api_keys,
            signatures: self
                .signatures
                .map(crate::signature::SignatureSettings::check)
                .transpose()?,
        })))
    }
}
