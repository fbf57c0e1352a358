//! Runtime of [secure-api](https://docs.rs/secure-api): the configuration, JWT
//! authentication, role hierarchy, throttling, validation wrappers, the refusal type and
//! the tower layer that `#[secure]` handlers rely on.
//!
//! Applications depend on the `secure-api` crate, which re-exports everything here next
//! to the `#[secure]` attribute. One module per concern:
//!
//! - [`config`](crate::Security): [`Security`] and its builder; mistakes are [`ConfigError`]s.
//! - [`jwt`](crate::JwtKey): keys and the algorithm allow-list; [`issuer`](crate::TrustedIssuer):
//!   several issuers, rotating HMAC secrets; `jwks` and `introspection` (features `oidc`,
//!   `introspection`): OAuth2 / OpenID Connect keys and opaque tokens.
//! - [`rbac`](crate::RoleHierarchy): roles and their hierarchy.
//! - [`guard`](crate::Guard): the extractor injected by `#[secure]`.
//! - [`api_key`](crate::ApiKey): API keys (format, generator, records, stores) and
//!   [`AuthSchemes`], the schemes a route accepts.
//! - [`limiter`](crate::ManualClock): rate keys and the injectable clock.
//! - [`store`](crate::RateLimitStore): where rate-limit state lives; [`MemoryStore`] is
//!   bounded; `RedisStore` (feature `redis`) is shared by every instance.
//! - [`client_ip`](crate::TrustedProxies): the client address behind trusted proxies.
//! - [`throttle`](crate::GlobalRateLimit): global limits, route limits, store failures.
//! - [`ratelimit_headers`](crate::RateLimitHeaders): which `RateLimit` fields to emit.
//! - [`validation`](crate::Valid): validated extractors.
//! - [`error`](crate::SecurityError): RFC 9457 problem details for every refusal.
//! - [`layer`](crate::SecurityLayer): installs the configuration, caps bodies, sets headers,
//!   assigns request ids.
//! - [`audit`](crate::AUDIT_TARGET): one audit event per decision, per-client counts, metrics.
//! - [`redact`](crate::RedactedHeaders): request logging with credentials redacted.
//! - [`registry`](crate::policies): the compile-time inventory of policies, route coverage.
//! - `openapi` (feature `openapi`): security schemes and responses for utoipa documents.
//! - [`extend`](crate::RequestGuard): custom guards and ownership checks; [`guards`]: the
//!   built-in ones.
//! - [`output`](crate::AuthorizedOutput): fields of a response shown per principal.
//! - [`signature`]: HTTP Message Signatures (RFC 9421) of `signed` routes, and a signer
//!   for clients.
//! - [`versions`]: `/v1`, `/v2` routers whose handlers share a body with a policy per
//!   version.
//! - [`routing`]: deny by default, a router that mounts only `#[secure]` handlers.
//! - [`transport`](crate::HttpsSettings): HTTPS and HSTS, CORS, single-use tokens,
//!   `Idempotency-Key`, deprecation and sunset; `tls` (feature `tls`): rustls serving.
//!
//! ```
//! use secure_api_runtime::Security;
//!
//! let security = Security::builder()
//!     .hmac_secret(vec![7u8; 32])
//!     .issuer("customer-api")
//!     .audience("customer-api")
//!     .role_hierarchy("admin > editor > viewer")
//!     .build()?;
//! # Ok::<(), secure_api_runtime::ConfigError>(())
//! ```

mod api_key;
mod audit;
mod authn;
mod client_ip;
mod config;
mod cors;
mod error;
mod extend;
#[cfg(feature = "oidc")]
mod fetch;
mod guard;
pub mod guards;
mod https;
#[cfg(feature = "introspection")]
mod introspection;
mod issuer;
#[cfg(feature = "oidc")]
mod jwks;
mod jws;
mod jwt;
mod layer;
mod limiter;
#[cfg(feature = "openapi")]
pub mod openapi;
mod output;
mod policy;
mod principal;
mod profile;
mod ratelimit_headers;
mod rbac;
mod redact;
mod registry;
mod replay;
mod revocation;
pub mod routing;
pub mod signature;
mod store;
mod text;
mod throttle;
mod token_cache;
mod transport;
pub mod versions;

#[cfg(feature = "redis")]
mod redis_store;
#[cfg(feature = "tls")]
pub mod tls;
mod validation;

pub use api_key::{
    ApiKey, ApiKeyDigest, ApiKeyError, ApiKeyRecord, ApiKeyStore, DEFAULT_API_KEY_HEADER,
    DEFAULT_API_KEY_PREFIX, FileApiKeyStore, MemoryApiKeyStore, NewApiKey, generate_api_key,
};
pub use audit::{
    AUDIT_TARGET, DEFAULT_AUDIT_WINDOW, DEFAULT_BURST_THRESHOLD, DEFAULT_TRACKED_CLIENTS,
    MAX_REQUEST_ID_LEN, RequestId,
};
pub use authn::{AuthScheme, AuthSchemes};
pub use client_ip::{Cidr, CidrParseError, ForwardedHeader, TrustedProxies};
pub use config::{
    ConfigError, DEFAULT_BODY_LIMIT, DEFAULT_CLEANUP_INTERVAL, DEFAULT_LEEWAY,
    DEFAULT_REPLAY_MAX_LIFETIME, Security, SecurityBuilder,
};
pub use cors::CorsPolicy;
pub use error::{ErrorKind, FieldError, SecurityError};
pub use extend::{
    GuardRequest, OwnerCheck, OwnerDecision, OwnerRefusal, RequestGuard, WallClock, check_owner,
    run_guard,
};
#[cfg(feature = "oidc")]
pub use fetch::{
    DEFAULT_FETCH_CONNECT_TIMEOUT, DEFAULT_FETCH_MAX_BYTES, DEFAULT_FETCH_TIMEOUT, FetchSettings,
};
pub use guard::{ClientIp, Guard};
pub use https::{HttpsSettings, RequestScheme};
#[cfg(feature = "introspection")]
pub use introspection::{
    DEFAULT_INTROSPECTION_CACHE_ENTRIES, DEFAULT_INTROSPECTION_CACHE_TTL, Introspection,
};
pub use issuer::TrustedIssuer;
#[cfg(feature = "oidc")]
pub use jwks::{DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_REFRESH};
pub use jwt::{JwtKey, MIN_HMAC_SECRET_LEN};
pub use layer::{ResponseFuture, SecurityLayer, SecurityService};
pub use limiter::ManualClock;
#[doc(hidden)]
pub use output::RestrictedFieldsMustNotBeSerializeDirectly;
pub use output::{AuthorizedOutput, Filtered, View, filtered_json, visible_to};
pub use policy::{
    Access, Policy, PolicySource, Rate, RateKeyFn, RateKeySource, RateParseError, StoreFailure,
};
pub use principal::Principal;
pub use ratelimit_headers::RateLimitHeaders;
pub use rbac::{RoleHierarchy, RoleHierarchyError};
pub use redact::{REQUEST_LOG_TARGET, RedactedHeaders, redact_query};
#[cfg(feature = "redis")]
pub use redis_store::RedisRevocationStore;
#[cfg(feature = "redis")]
pub use redis_store::{
    DEFAULT_REDIS_TIMEOUT, RedisIdempotencyStore, RedisNonceStore, RedisStore, RedisStoreBuilder,
};
pub use registry::{
    PolicyInventory, PolicyRegistration, RouteCoverage, assert_routes_covered, policies, policy_of,
    route_paths,
};
pub use replay::{
    IdempotencyBegin, IdempotencyStore, MemoryIdempotencyStore, MemoryNonceStore, NonceStore,
    StoreResult, StoredResponse,
};
pub use revocation::{MemoryRevocationStore, RevocationStore};
pub use routing::{SecureRouter, SecuredHandler};
#[doc(hidden)]
pub use serde as __serde;
pub use store::{
    DEFAULT_MAX_TRACKED_KEYS, MemoryStore, RateCheck, RateDecision, RateLimitStore, StoreError,
    StoreFuture,
};
pub use throttle::{DEFAULT_IPV6_PREFIX, GlobalRateLimit, StoreErrorCounts};
pub use token_cache::DEFAULT_VERIFIED_TOKEN_CACHE;

/// Single guard stages for the fuzz targets and benches. Not a public API.
#[doc(hidden)]
pub mod __entry;

/// Crates the code generated by `#[secure]` names. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
pub use validation::{Decoded, Valid, Validatable, ValidatedExtractor, assert_validatable};

/// The JWT types users name in configuration and tests.
pub use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
