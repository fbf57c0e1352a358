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
//! - [`limiter`](crate::ManualClock): keyed GCRA limiters with bounded memory.
//! - [`validation`](crate::Valid): validated extractors.
//! - [`error`](crate::SecurityError): RFC 9457 problem details for every refusal.
//! - [`layer`](crate::SecurityLayer): installs the configuration, caps bodies, sets headers.
//! - [`extend`](crate::RequestGuard): custom guards and ownership checks; [`guards`]: the
//!   built-in ones.
//! - [`output`](crate::AuthorizedOutput): fields of a response shown per principal.
//! - [`routing`]: deny by default, a router that mounts only `#[secure]` handlers.
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

mod config;
mod error;
mod extend;
mod guard;
pub mod guards;
mod jwt;
mod layer;
mod limiter;
mod output;
mod policy;
mod principal;
mod rbac;
pub mod routing;
mod validation;

pub use config::{
    ConfigError, DEFAULT_BODY_LIMIT, DEFAULT_CLEANUP_INTERVAL, DEFAULT_LEEWAY, Security,
    SecurityBuilder,
};
pub use error::{ErrorKind, FieldError, SecurityError};
pub use extend::{
    GuardRequest, OwnerCheck, OwnerDecision, OwnerRefusal, RequestGuard, WallClock, check_owner,
    run_guard,
};
pub use guard::{ClientIp, Guard};
pub use jwt::{JwtKey, MIN_HMAC_SECRET_LEN};
pub use layer::{ResponseFuture, SecurityLayer, SecurityService};
pub use limiter::ManualClock;
#[doc(hidden)]
pub use output::RestrictedFieldsMustNotBeSerializeDirectly;
pub use output::{AuthorizedOutput, Filtered, View, filtered_json, visible_to};
pub use policy::{Access, Policy, PolicySource, Rate, RateParseError};
pub use principal::Principal;
pub use rbac::{RoleHierarchy, RoleHierarchyError};
pub use routing::{SecureRouter, SecuredHandler};
#[doc(hidden)]
pub use serde as __serde;
pub use validation::{Decoded, Valid, Validatable, ValidatedExtractor, assert_validatable};

/// The JWT types users name in configuration and tests.
pub use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
