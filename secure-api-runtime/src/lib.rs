//! Runtime of [secure-api](https://docs.rs/secure-api): the configuration, JWT
//! authentication, role hierarchy, throttling, validation wrappers, the refusal type and
//! the tower layer that `#[secure]` handlers rely on.
//!
//! Applications depend on the `secure-api` crate, which re-exports everything here next
//! to the `#[secure]` attribute. One module per concern:
//!
//! - [`config`](crate::Security): [`Security`] and its builder; mistakes are [`ConfigError`]s.
//! - [`jwt`](crate::JwtKey): keys and the algorithm allow-list.
//! - [`rbac`](crate::RoleHierarchy): roles and their hierarchy.
//! - [`guard`](crate::Guard): the extractor injected by `#[secure]`.
//! - [`limiter`](crate::ManualClock): rate keys and the injectable clock.
//! - [`store`](crate::RateLimitStore): where rate-limit state lives; [`MemoryStore`] is
//!   bounded; `RedisStore` (feature `redis`) is shared by every instance.
//! - [`client_ip`](crate::TrustedProxies): the client address behind trusted proxies.
//! - [`throttle`](crate::GlobalRateLimit): global limits, route limits, store failures.
//! - [`ratelimit_headers`](crate::RateLimitHeaders): which `RateLimit` fields to emit.
//! - [`validation`](crate::Valid): validated extractors.
//! - [`error`](crate::SecurityError): RFC 9457 problem details for every refusal.
//! - [`layer`](crate::SecurityLayer): installs the configuration, caps bodies, sets headers.
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

mod client_ip;
mod config;
mod error;
mod guard;
mod jwt;
mod layer;
mod limiter;
mod policy;
mod principal;
mod ratelimit_headers;
mod rbac;
#[cfg(feature = "redis")]
mod redis_store;
mod store;
mod throttle;
mod validation;

pub use client_ip::{Cidr, CidrParseError, ForwardedHeader, TrustedProxies};
pub use config::{
    ConfigError, DEFAULT_BODY_LIMIT, DEFAULT_CLEANUP_INTERVAL, DEFAULT_LEEWAY, Security,
    SecurityBuilder,
};
pub use error::{ErrorKind, FieldError, SecurityError};
pub use guard::{ClientIp, Guard};
pub use jwt::{JwtKey, MIN_HMAC_SECRET_LEN};
pub use layer::{ResponseFuture, SecurityLayer, SecurityService};
pub use limiter::ManualClock;
pub use policy::{
    Access, Policy, PolicySource, Rate, RateKeyFn, RateKeySource, RateParseError, StoreFailure,
};
pub use principal::Principal;
pub use ratelimit_headers::RateLimitHeaders;
pub use rbac::{RoleHierarchy, RoleHierarchyError};
#[cfg(feature = "redis")]
pub use redis_store::{DEFAULT_REDIS_TIMEOUT, RedisStore, RedisStoreBuilder};
pub use store::{
    DEFAULT_MAX_TRACKED_KEYS, MemoryStore, RateCheck, RateDecision, RateLimitStore, StoreError,
    StoreFuture,
};
pub use throttle::{DEFAULT_IPV6_PREFIX, GlobalRateLimit, StoreErrorCounts};
pub use validation::{Decoded, Valid, Validatable, ValidatedExtractor, assert_validatable};

/// The JWT types users name in configuration and tests.
pub use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
