//! The authenticated caller, available to handlers as an extractor.
//!
//! ```
//! use secure_api_runtime::Principal;
//!
//! async fn me(principal: Principal) -> String {
//!     format!("hello {}", principal.subject())
//! }
//! ```

use std::fmt;
use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde_json::{Map, Value};

use crate::api_key::ApiKeyRecord;
use crate::authn::AuthScheme;
use crate::error::SecurityError;
use crate::rbac::{EffectiveRoles, RoleHierarchy};
use crate::transport::RouteSlot;

/// Who is calling: subject, roles (as granted and as held through the hierarchy), scopes
/// and the verified claims.
///
/// Inside a `#[secure]` handler it is always present: the guard has authenticated the
/// request before any other extractor runs. Elsewhere, extracting it without a
/// principal is a 401.
///
/// ```
/// use secure_api_runtime::Principal;
///
/// let p = Principal::new("alice", ["editor"], ["customers:read"]);
/// assert_eq!(p.subject(), "alice");
/// assert!(p.has_role("editor"));
/// assert!(p.has_scope("customers:read"));
/// ```
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

struct Inner {
    subject: String,
    roles: Vec<String>,
    effective_roles: EffectiveRoles,
    scopes: Vec<String>,
    claims: ClaimSet,
    scheme: Option<AuthScheme>,
    api_key_id: Option<String>,
}

/// The verified claims: a map, or the verified payload of a JWT, read into a map the
/// first time a handler asks for its claims (most requests never do).
pub(crate) enum ClaimSet {
    Map(Map<String, Value>),
    Payload {
        json: Vec<u8>,
        /// The `jti` claim when it is a string (read with the other registered claims).
        jti: Option<String>,
        map: OnceLock<Map<String, Value>>,
    },
}

impl ClaimSet {
    fn empty() -> Self {
        ClaimSet::Map(Map::new())
    }

    /// A verified JWT payload; `jti` as read from it.
    pub(crate) fn payload(json: Vec<u8>, jti: Option<String>) -> Self {
        ClaimSet::Payload {
            json,
            jti,
            map: OnceLock::new(),
        }
    }

    fn map(&self) -> &Map<String, Value> {
        match self {
            ClaimSet::Map(map) => map,
            ClaimSet::Payload { json, map, .. } => map.get_or_init(|| {
                // The payload was read in full when the token was verified, held to the
                // same recursion limit, so it is a JSON object; should it ever not be,
                // the handler sees no claims rather than a wrong one.
                serde_json::from_slice(json).unwrap_or_else(|error| {
                    tracing::error!(target: "secure_api", %error, "verified claims could not be read again");
                    Map::new()
                })
            }),
        }
    }

    fn jti(&self) -> Option<&str> {
        match self {
            ClaimSet::Map(map) => map.get("jti").and_then(Value::as_str),
            ClaimSet::Payload { jti, .. } => jti.as_deref(),
        }
    }
}

impl Principal {
    /// A principal with the given subject, roles and scopes and no other claims; the roles
    /// are taken as held, without hierarchy.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("svc", ["viewer"], [] as [&str; 0]);
    /// assert_eq!(p.roles(), ["viewer"]);
    /// ```
    pub fn new<R, S>(
        subject: impl Into<String>,
        roles: impl IntoIterator<Item = R>,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self
    where
        R: Into<String>,
        S: Into<String>,
    {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        let mut effective: Vec<Arc<str>> = roles.iter().map(|r| Arc::from(&**r)).collect();
        effective.sort();
        effective.dedup();
        let effective_roles = EffectiveRoles::Owned(effective);
        Principal(Arc::new(Inner {
            subject: subject.into(),
            roles,
            effective_roles,
            scopes: scopes.into_iter().map(Into::into).collect(),
            claims: ClaimSet::empty(),
            scheme: None,
            api_key_id: None,
        }))
    }

    pub(crate) fn from_verified(
        subject: String,
        roles: Vec<String>,
        effective_roles: EffectiveRoles,
        scopes: Vec<String>,
        claims: ClaimSet,
    ) -> Self {
        Principal(Arc::new(Inner {
            subject,
            roles,
            effective_roles,
            scopes,
            claims,
            scheme: Some(AuthScheme::Jwt),
            api_key_id: None,
        }))
    }

    /// The principal of a verified API key: its owner, roles (expanded through the
    /// hierarchy) and scopes; no claims.
    pub(crate) fn from_api_key(record: &ApiKeyRecord, hierarchy: &RoleHierarchy) -> Self {
        let roles = record.roles().to_vec();
        let effective_roles = hierarchy.effective(&roles);
        Principal(Arc::new(Inner {
            subject: record.owner().to_owned(),
            roles,
            effective_roles,
            scopes: record.scopes().to_vec(),
            claims: ClaimSet::empty(),
            scheme: Some(AuthScheme::ApiKey),
            api_key_id: Some(record.id().to_owned()),
        }))
    }

    /// How the principal authenticated: [`AuthScheme::Jwt`] or [`AuthScheme::ApiKey`];
    /// `None` for a principal built with [`Principal::new`].
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", [] as [&str; 0], [] as [&str; 0]);
    /// assert_eq!(p.auth_scheme(), None);
    /// ```
    pub fn auth_scheme(&self) -> Option<AuthScheme> {
        self.0.scheme
    }

    /// The id of the API key that authenticated the principal (the public part of the
    /// key, safe to log), when it was one.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", [] as [&str; 0], [] as [&str; 0]);
    /// assert_eq!(p.api_key_id(), None);
    /// ```
    pub fn api_key_id(&self) -> Option<&str> {
        self.0.api_key_id.as_deref()
    }

    /// The subject (`sub` claim).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Principal::new("bob", [] as [&str; 0], [] as [&str; 0]).subject(), "bob");
    /// ```
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The roles as granted by the credential.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", ["admin"], [] as [&str; 0]);
    /// assert_eq!(p.roles(), ["admin"]);
    /// ```
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }

    /// Whether the principal holds `role`, directly or through the role hierarchy.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", ["admin"], [] as [&str; 0]);
    /// assert!(p.has_role("admin"));
    /// assert!(!p.has_role("root"));
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        self.0
            .effective_roles
            .as_slice()
            .binary_search_by(|r| (**r).cmp(role))
            .is_ok()
    }

    /// Every role held, including those implied by the hierarchy, sorted.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", ["b", "a"], [] as [&str; 0]);
    /// assert_eq!(p.effective_roles().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn effective_roles(&self) -> impl Iterator<Item = &str> {
        self.0.effective_roles.as_slice().iter().map(|r| &**r)
    }

    /// The scopes granted (`scope`, space-separated, or `scp`, an array).
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", [] as [&str; 0], ["read"]);
    /// assert_eq!(p.scopes(), ["read"]);
    /// ```
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Whether the scope was granted.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", [] as [&str; 0], ["read"]);
    /// assert!(p.has_scope("read") && !p.has_scope("write"));
    /// ```
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// Every verified claim of the token.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", [] as [&str; 0], [] as [&str; 0]);
    /// assert!(p.claims().is_empty());
    /// ```
    pub fn claims(&self) -> &Map<String, Value> {
        self.0.claims.map()
    }

    /// One verified claim.
    ///
    /// ```
    /// let p = secure_api_runtime::Principal::new("a", [] as [&str; 0], [] as [&str; 0]);
    /// assert!(p.claim("tenant").is_none());
    /// ```
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.0.claims.map().get(name)
    }

    /// The token id (`jti`) when the token has one that is a string.
    pub(crate) fn token_id(&self) -> Option<&str> {
        self.0.claims.jti()
    }
}

impl fmt::Debug for Principal {
    // Claims may carry personal data; only the identity and grants are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.0.subject)
            .field("roles", &self.0.roles)
            .field("scopes", &self.0.scopes)
            .field("auth_scheme", &self.0.scheme)
            .field("api_key_id", &self.0.api_key_id)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = SecurityError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        RouteSlot::principal_of(&parts.extensions)
            .cloned()
            .ok_or_else(SecurityError::unauthorized)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(RouteSlot::principal_of(&parts.extensions).cloned())
    }
}
