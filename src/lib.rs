//! # secure-api
//!
//! Declarative REST API security for axum. A handler says what it needs and the
//! [`secure`] attribute expands, at compile time, into authentication, role-based access
//! control, input validation and throttling around it:
//!
//! ```
//! use axum::{Json, Router, response::IntoResponse, routing::post};
//! use secure_api::prelude::*;
//! use serde::Deserialize;
//! use validator::Validate;
//!
//! #[derive(Deserialize, Validate)]
//! struct NewCustomer {
//!     #[validate(length(min = 1, max = 100))]
//!     name: String,
//!     #[validate(email)]
//!     email: String,
//! }
//!
//! #[secure(role = "admin", rate = "100/15m", validate)]
//! async fn create_customer(Json(c): Json<NewCustomer>) -> impl IntoResponse {
//!     format!("created {}", c.name)
//! }
//!
//! let security = Security::builder()
//!     .hmac_secret(b"a shared secret of at least 32 bytes".to_vec())
//!     .issuer("customer-api")
//!     .audience("customer-api")
//!     .role_hierarchy("admin > editor > viewer")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/v1/customers", post(create_customer))
//!     .layer(security.layer());
//! # Ok::<(), secure_api::ConfigError>(())
//! ```
//!
//! The guard the attribute injects runs before any body is read and applies the policy
//! in a fixed order: credentials in the URL are refused, the bearer token is verified,
//! roles are checked through the hierarchy, then the rate limits. Every refusal is a
//! [`SecurityError`] rendered as RFC 9457 `application/problem+json`. A secured handler
//! reached without [`Security::layer`] in front of it refuses every request.
//!
//! # Deny by default
//!
//! A [`SecureRouter`] mounts only handlers that carry the attribute (`#[secure(public)]`
//! for open ones), with the method routers of [`routing`]:
//!
//! ```
//! use secure_api::prelude::*;
//! use secure_api::routing::{SecureRouter, get};
//!
//! #[secure(public)]
//! async fn health() -> &'static str { "ok" }
//!
//! #[secure(role = "viewer")]
//! async fn list() -> &'static str { "[]" }
//!
//! let app: axum::Router = SecureRouter::new()
//!     .route("/health", get(health))
//!     .nest("/v1", SecureRouter::new().route("/customers", get(list)))
//!     .into_router();
//! ```
//!
//! # Extending
//!
//! Named policies ([`policy!`]), guards of your own ([`RequestGuard`], used as
//! `#[secure(name(arg = value))]`), the built-in `ip_allow`, `time_window` and
//! `maintenance` guards, ownership checks (`owner = check`), declared roles
//! (`secure-api.roles`, [`declared_roles!`]) and field-level output authorization
//! ([`AuthorizedOutput`], [`Filtered`]). `examples/extending.rs` shows them together.
//!
//! ```
//! use axum::extract::Path;
//! use secure_api::prelude::*;
//!
//! policy!(ADMIN_WRITE: role = "admin", rate = "10/1m");
//!
//! async fn owns(principal: Principal, Path(id): Path<u64>) -> bool {
//!     principal.subject() == format!("user-{id}")
//! }
//!
//! #[secure(policy = ADMIN_WRITE)]
//! async fn purge() {}
//!
//! #[secure(role = "viewer", owner = owns, ip_allow(from = ["10.0.0.0/8"]))]
//! async fn account(Path(id): Path<u64>) -> String { id.to_string() }
//! ```
//!
//! # Mistakes that do not compile
//!
//! A handler without the attribute, on a secured router:
//!
//! ```compile_fail,E0277
//! use secure_api::routing::{SecureRouter, get};
//! async fn list() -> &'static str { "[]" }
//! let app: axum::Router = SecureRouter::new().route("/customers", get(list)).into_router();
//! ```
//!
//! An unknown key (the error suggests `role`):
//!
//! ```compile_fail
//! use secure_api::secure;
//! #[secure(roles = "admin")]
//! async fn delete() {}
//! ```
//!
//! A malformed rate:
//!
//! ```compile_fail
//! use secure_api::secure;
//! #[secure(role = "editor", rate = "100 per minute")]
//! async fn create() {}
//! ```
//!
//! Contradictory keys:
//!
//! ```compile_fail
//! use secure_api::secure;
//! #[secure(public, role = "admin")]
//! async fn delete() {}
//! ```
//!
//! A key that contradicts the named policy:
//!
//! ```compile_fail
//! use secure_api::{policy, secure};
//! policy!(ADMIN_WRITE: role = "admin");
//! #[secure(policy = ADMIN_WRITE, public)]
//! async fn delete() {}
//! ```
//!
//! `validate` with nothing to validate:
//!
//! ```compile_fail
//! use secure_api::secure;
//! #[secure(role = "admin", validate)]
//! async fn delete() {}
//! ```
//!
//! A guard argument that is not a time:
//!
//! ```compile_fail
//! use secure_api::secure;
//! #[secure(public, time_window(from = 8, to = 18))]
//! async fn office() {}
//! ```
//!
//! An ownership check on a public handler:
//!
//! ```compile_fail
//! use secure_api::prelude::*;
//! async fn owns(_: Principal) -> bool { true }
//! #[secure(public, owner = owns)]
//! async fn show() {}
//! ```
//!
//! A response type that could leak its restricted fields through `Serialize`:
//!
//! ```compile_fail,E0119
//! #[derive(serde::Serialize, secure_api::AuthorizedOutput)]
//! struct CustomerView {
//!     #[visible(role = "admin")]
//!     email: String,
//! }
//! ```

pub use secure_api_macros::{AuthorizedOutput, declared_roles, policy, secure, secure_versions};
pub use secure_api_runtime::*;

/// The names most applications need: the attribute, the configuration, the principal
/// and the refusal type.
///
/// ```
/// use secure_api::prelude::*;
/// fn takes(_: Option<Principal>, _: Option<SecurityError>, _: Option<Security>) {}
/// ```
pub mod prelude {
    pub use secure_api_macros::{AuthorizedOutput, policy, secure, secure_versions};
    pub use secure_api_runtime::routing::SecureRouter;
    pub use secure_api_runtime::{
        AuthorizedOutput, ClientIp, ConfigError, Filtered, GuardRequest, JwtKey, Principal,
        RequestGuard, RoleHierarchy, Security, SecurityError,
    };
}

/// Items the code generated by `#[secure]` names. Not a public API: may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use secure_api_runtime::__private::inventory;
    pub use secure_api_runtime::__serde as serde;
    pub use secure_api_runtime::RestrictedFieldsMustNotBeSerializeDirectly;
    pub use secure_api_runtime::{
        AuthSchemes, Decoded, Guard, GuardRequest, OwnerRefusal, Policy, PolicyRegistration,
        PolicySource, Rate, RateKeySource, SecurityError, StoreFailure, Valid, Validatable,
        assert_validatable, check_owner, run_guard,
    };
}
