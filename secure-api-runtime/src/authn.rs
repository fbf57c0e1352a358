//! Which credential a request presents, whether the route accepts it, and API-key
//! verification.
//!
//! A route accepts the schemes of its `auth` key, or the configured default
//! ([`SecurityBuilder::default_auth`](crate::SecurityBuilder::default_auth), bearer JWTs
//! unless changed). A request presents at most one credential: an `Authorization` header
//! and an API-key header together are a 400. A credential of a scheme the route does not
//! accept is a 401 whose challenge names the schemes it does.
//!
//! ```
//! use secure_api_runtime::{AuthScheme, AuthSchemes};
//!
//! const BOTH: AuthSchemes = AuthSchemes::JWT.and(AuthSchemes::API_KEY);
//! assert!(BOTH.accepts(AuthScheme::ApiKey));
//! assert_eq!(BOTH.iter().map(AuthScheme::name).collect::<Vec<_>>(), ["jwt", "api_key"]);
//! ```

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use http::header::AUTHORIZATION;
use http::request::Parts;

use crate::api_key::ApiKey;
use crate::audit::AuditContext;
use crate::config::Security;
use crate::error::SecurityError;
use crate::policy::Policy;
use crate::principal::Principal;

/// An authentication scheme a route can accept.
///
/// ```
/// assert_eq!(secure_api_runtime::AuthScheme::ApiKey.name(), "api_key");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthScheme {
    /// A JWT in `Authorization: Bearer`.
    Jwt,
    /// An API key in the configured header (`X-API-Key` by default).
    ApiKey,
}

impl AuthScheme {
    /// The scheme's name in the attribute (`auth = "jwt"`) and in logs.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::AuthScheme::Jwt.name(), "jwt");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            AuthScheme::Jwt => "jwt",
            AuthScheme::ApiKey => "api_key",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            AuthScheme::Jwt => 1,
            AuthScheme::ApiKey => 2,
        }
    }
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`AuthScheme`]s, usable in a `const` policy.
///
/// ```
/// use secure_api_runtime::{AuthScheme, AuthSchemes};
/// assert!(!AuthSchemes::JWT.accepts(AuthScheme::ApiKey));
/// assert_eq!(AuthSchemes::JWT.and(AuthSchemes::JWT), AuthSchemes::JWT);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthSchemes(u8);

impl AuthSchemes {
    /// Bearer JWTs only.
    pub const JWT: AuthSchemes = AuthSchemes(1);
    /// API keys only.
    pub const API_KEY: AuthSchemes = AuthSchemes(2);

    /// The union of two sets.
    ///
    /// ```
    /// use secure_api_runtime::{AuthScheme, AuthSchemes};
    /// assert!(AuthSchemes::API_KEY.and(AuthSchemes::JWT).accepts(AuthScheme::Jwt));
    /// ```
    pub const fn and(self, other: AuthSchemes) -> AuthSchemes {
        AuthSchemes(self.0 | other.0)
    }

    /// Whether `scheme` is in the set.
    ///
    /// ```
    /// use secure_api_runtime::{AuthScheme, AuthSchemes};
    /// assert!(AuthSchemes::API_KEY.accepts(AuthScheme::ApiKey));
    /// ```
    pub const fn accepts(self, scheme: AuthScheme) -> bool {
        self.0 & scheme.bit() != 0
    }

    /// The schemes, JWT first.
    ///
    /// ```
    /// let names: Vec<_> = secure_api_runtime::AuthSchemes::API_KEY.iter().map(|s| s.name()).collect();
    /// assert_eq!(names, ["api_key"]);
    /// ```
    pub fn iter(self) -> impl Iterator<Item = AuthScheme> {
        [AuthScheme::Jwt, AuthScheme::ApiKey]
            .into_iter()
            .filter(move |s| self.accepts(*s))
    }
}

impl fmt::Debug for AuthSchemes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Default for AuthSchemes {
    /// Bearer JWTs only.
    fn default() -> Self {
        AuthSchemes::JWT
    }
}

/// The credential a request presents, once the route has been found to accept it.
pub(crate) enum Presented<'a> {
    /// `Authorization` is present: the bearer path (which judges its syntax).
    Bearer,
    /// The API-key header's value.
    ApiKey(&'a str),
}

/// The schemes `policy` accepts under this configuration.
pub(crate) fn accepted(security: &Security, policy: &Policy) -> AuthSchemes {
    policy
        .auth_schemes()
        .unwrap_or(security.0.api_keys.default_auth)
}

/// Which credential the request presents, refusing two at once (400), none (401) and one
/// the route does not accept (401 naming the schemes it does).
pub(crate) fn presented<'a>(
    security: &Security,
    policy: &Policy,
    parts: &'a Parts,
) -> Result<Presented<'a>, SecurityError> {
    let accepted = accepted(security, policy);
    let header = &security.0.api_keys.header;
    let has_authorization = parts.headers.contains_key(AUTHORIZATION);
    let mut keys = parts.headers.get_all(header).iter();
    let key = keys.next();
    let challenge =
        |e: SecurityError| e.with_challenge_schemes(accepted, header.as_str().to_owned());
    match (has_authorization, key) {
        (true, Some(_)) => {
            tracing::info!(target: "secure_api::auth", handler = policy.handler(), "request refused: both an API key and an Authorization header");
            Err(challenge(SecurityError::invalid_request(
                "Send either an API key or an Authorization header, not both.",
            )))
        }
        (false, Some(value)) => {
            if !accepted.accepts(AuthScheme::ApiKey) {
                tracing::info!(target: "secure_api::auth", handler = policy.handler(), "request refused: this route does not accept API keys");
                return Err(challenge(SecurityError::unauthorized()));
            }
            if keys.next().is_some() {
                return Err(challenge(SecurityError::invalid_request(
                    "Send exactly one API key.",
                )));
            }
            let Ok(value) = value.to_str() else {
                return Err(challenge(invalid_key()));
            };
            Ok(Presented::ApiKey(value))
        }
        (true, None) => {
            if !accepted.accepts(AuthScheme::Jwt) {
                tracing::info!(target: "secure_api::auth", handler = policy.handler(), "request refused: this route does not accept bearer tokens");
                return Err(challenge(SecurityError::unauthorized()));
            }
            Ok(Presented::Bearer)
        }
        (false, None) => Err(challenge(SecurityError::unauthorized())),
    }
}

fn invalid_key() -> SecurityError {
    SecurityError::invalid_token().with_detail("The API key is invalid, expired or revoked.")
}

/// Verifies an API key: format and checksum, then the store lookup by digest, a
/// constant-time comparison, expiry and revocation. The key itself is never logged.
pub(crate) async fn verify_api_key(
    security: &Security,
    value: &str,
    ctx: &mut AuditContext,
) -> Result<Principal, SecurityError> {
    let settings = &security.0.api_keys;
    let refuse = |why: &'static str| {
        tracing::info!(target: "secure_api::auth", reason = why, "request refused: API key not accepted");
        invalid_key()
            .with_challenge_schemes(AuthSchemes::API_KEY, settings.header.as_str().to_owned())
    };
    ctx.auth_scheme = "api_key";
    let key = match ApiKey::parse(value.trim_matches(' ')) {
        Ok(key) => key,
        Err(error) => return Err(refuse(error.reason())),
    };
    let Some(store) = &settings.store else {
        tracing::error!(target: "secure_api::auth", "an API key was presented on a route that accepts them, and no API key store is configured (SecurityBuilder::api_key_store); refusing");
        return Err(SecurityError::misconfigured());
    };
    let digest = key.digest();
    let record = match store.find(&digest).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(refuse("unknown key")),
        Err(error) => {
            tracing::error!(target: "secure_api::auth", %error, "the API key store cannot answer; refusing (fail closed)");
            return Err(SecurityError::unavailable());
        }
    };
    if verify_slices_are_equal(record.digest().as_bytes(), digest.as_bytes()).is_err()
        || record.id() != key.id()
    {
        return Err(refuse("unknown key"));
    }
    ctx.api_key_id = Some(Arc::from(record.id()));
    if record.is_revoked() {
        return Err(refuse("revoked key"));
    }
    if !record.is_active_at(security.0.wall_clock.now()) {
        return Err(refuse("expired key"));
    }
    Ok(Principal::from_api_key(&record, &security.0.hierarchy))
}

/// The API-key settings of a [`Security`].
pub(crate) struct ApiKeySettings {
    pub(crate) store: Option<Arc<dyn crate::api_key::ApiKeyStore>>,
    pub(crate) header: http::HeaderName,
    pub(crate) default_auth: AuthSchemes,
}

impl ApiKeySettings {
    /// Checks the builder's settings.
    pub(crate) fn new(
        store: Option<Arc<dyn crate::api_key::ApiKeyStore>>,
        header: Option<String>,
        default_auth: Option<AuthSchemes>,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let header = match header {
            None => http::HeaderName::from_static(crate::api_key::DEFAULT_API_KEY_HEADER),
            Some(name) => {
                let parsed = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    ConfigError::new(
                        "api_keys.header",
                        format!("{name:?} is not a valid header name"),
                    )
                })?;
                if matches!(
                    parsed.as_str(),
                    "authorization" | "cookie" | "proxy-authorization" | "host"
                ) {
                    return Err(ConfigError::new(
                        "api_keys.header",
                        format!(
                            "{name:?} already has a meaning; use a header of its own such as \"x-api-key\""
                        ),
                    ));
                }
                if !crate::redact::credential_like(parsed.as_str()) {
                    return Err(ConfigError::new(
                        "api_keys.header",
                        format!(
                            "{name:?} does not look like a credential header, so request logs would show its value; use a name with `key`, `token` or `secret` in it, such as \"x-service-key\""
                        ),
                    ));
                }
                parsed
            }
        };
        let default_auth = default_auth.unwrap_or_default();
        if default_auth.accepts(AuthScheme::ApiKey) && store.is_none() {
            return Err(ConfigError::new(
                "default_auth",
                "routes accept API keys by default, and no API key store is configured: set one with .api_key_store(...)",
            ));
        }
        Ok(ApiKeySettings {
            store,
            header,
            default_auth,
        })
    }
}

/// A refusal of the bearer path: the challenge names every scheme the route accepts when
/// it accepts more than JWTs.
pub(crate) fn bearer_challenge(
    security: &Security,
    policy: &Policy,
    error: SecurityError,
) -> SecurityError {
    let accepted = accepted(security, policy);
    if accepted == AuthSchemes::JWT {
        error
    } else {
        error.with_challenge_schemes(accepted, security.0.api_keys.header.as_str().to_owned())
    }
}

/// A refusal after authentication (403): the challenge names the principal's scheme.
pub(crate) fn principal_challenge(
    security: &Security,
    principal: &Principal,
    error: SecurityError,
) -> SecurityError {
    match principal.auth_scheme() {
        Some(AuthScheme::ApiKey) => error.with_challenge_schemes(
            AuthSchemes::API_KEY,
            security.0.api_keys.header.as_str().to_owned(),
        ),
        _ => error,
    }
}
