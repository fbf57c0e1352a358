//! JWT bearer tokens: the key, the algorithm allow-list and the claim checks.
//!
//! The verifier never trusts the token's header to choose anything: the key is the one
//! configured, the algorithm must be on the configured allow-list (all of one key family),
//! and `jwk`, `jku`, `x5u`, `x5c` and `kid` in the header are ignored. `exp` is required,
//! `nbf` is checked, issuer and audience are required unless explicitly waived.
//!
//! ```
//! use secure_api_runtime::{Algorithm, JwtKey};
//!
//! let key = JwtKey::hmac(b"0123456789abcdef0123456789abcdef".to_vec());
//! assert_eq!(key.default_algorithms(), &[Algorithm::HS256]);
//! ```

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::error::SecurityError;
use crate::principal::Principal;
use crate::rbac::RoleHierarchy;

/// Longest bearer token accepted; anything longer is refused before any parsing.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Shortest HMAC secret accepted (RFC 7518 3.2: at least the hash output size).
pub const MIN_HMAC_SECRET_LEN: usize = 32;

#[derive(Clone)]
enum KeyMaterial {
    Hmac(Vec<u8>),
    RsaPem(Vec<u8>),
    EcPem(Vec<u8>),
    EdPem(Vec<u8>),
    Decoding(DecodingKey, AlgorithmFamily),
}

/// The key that verifies tokens. Secrets are never printed (`Debug` is redacted).
///
/// ```
/// use secure_api_runtime::JwtKey;
/// let key = JwtKey::hmac(vec![7u8; 32]);
/// assert_eq!(format!("{key:?}"), "JwtKey(Hmac, <redacted>)");
/// ```
#[derive(Clone)]
pub struct JwtKey(KeyMaterial);

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwtKey({:?}, <redacted>)", self.family())
    }
}

impl JwtKey {
    /// An HMAC shared secret (HS256/384/512). At least 32 bytes.
    ///
    /// ```
    /// let key = secure_api_runtime::JwtKey::hmac(b"a shared secret of 32 bytes or more".to_vec());
    /// ```
    pub fn hmac(secret: impl Into<Vec<u8>>) -> Self {
        JwtKey(KeyMaterial::Hmac(secret.into()))
    }

    /// An RSA public key in PEM (RS256/384/512, PS256/384/512).
    ///
    /// ```
    /// let key = secure_api_runtime::JwtKey::rsa_pem(b"-----BEGIN PUBLIC KEY-----...".to_vec());
    /// ```
    pub fn rsa_pem(pem: impl Into<Vec<u8>>) -> Self {
        JwtKey(KeyMaterial::RsaPem(pem.into()))
    }

    /// An ECDSA public key in PEM (ES256, ES384).
    ///
    /// ```
    /// let key = secure_api_runtime::JwtKey::ec_pem(b"-----BEGIN PUBLIC KEY-----...".to_vec());
    /// ```
    pub fn ec_pem(pem: impl Into<Vec<u8>>) -> Self {
        JwtKey(KeyMaterial::EcPem(pem.into()))
    }

    /// An Ed25519 public key in PEM (EdDSA).
    ///
    /// ```
    /// let key = secure_api_runtime::JwtKey::ed_pem(b"-----BEGIN PUBLIC KEY-----...".to_vec());
    /// ```
    pub fn ed_pem(pem: impl Into<Vec<u8>>) -> Self {
        JwtKey(KeyMaterial::EdPem(pem.into()))
    }

    /// A ready [`DecodingKey`] of an asymmetric family (for keys built from components or
    /// a JWK). HMAC keys must go through [`JwtKey::hmac`] so their length is checked.
    ///
    /// ```
    /// use secure_api_runtime::{AlgorithmFamily, DecodingKey, JwtKey};
    /// let key = JwtKey::decoding_key(
    ///     DecodingKey::from_ed_components("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap(),
    ///     AlgorithmFamily::Ed,
    /// );
    /// ```
    pub fn decoding_key(key: DecodingKey, family: AlgorithmFamily) -> Self {
        JwtKey(KeyMaterial::Decoding(key, family))
    }

    /// The key's family.
    ///
    /// ```
    /// use secure_api_runtime::{AlgorithmFamily, JwtKey};
    /// assert_eq!(JwtKey::hmac(vec![0; 32]).family(), AlgorithmFamily::Hmac);
    /// ```
    pub fn family(&self) -> AlgorithmFamily {
        match &self.0 {
            KeyMaterial::Hmac(_) => AlgorithmFamily::Hmac,
            KeyMaterial::RsaPem(_) => AlgorithmFamily::Rsa,
            KeyMaterial::EcPem(_) => AlgorithmFamily::Ec,
            KeyMaterial::EdPem(_) => AlgorithmFamily::Ed,
            KeyMaterial::Decoding(_, family) => *family,
        }
    }

    /// The algorithms allowed when none are configured: the single most common one of the
    /// key's family.
    ///
    /// ```
    /// use secure_api_runtime::{Algorithm, JwtKey};
    /// assert_eq!(JwtKey::rsa_pem(vec![]).default_algorithms(), &[Algorithm::RS256]);
    /// ```
    pub fn default_algorithms(&self) -> &'static [Algorithm] {
        match self.family() {
            AlgorithmFamily::Hmac => &[Algorithm::HS256],
            AlgorithmFamily::Rsa => &[Algorithm::RS256],
            AlgorithmFamily::Ec => &[Algorithm::ES256],
            AlgorithmFamily::Ed => &[Algorithm::EdDSA],
        }
    }

    fn into_decoding_key(self) -> Result<DecodingKey, ConfigError> {
        let bad_pem = |what: &str| {
            ConfigError::new(
                "jwt.key",
                format!("the {what} public key is not a valid PEM key"),
            )
        };
        match self.0 {
            KeyMaterial::Hmac(secret) => {
                if secret.len() < MIN_HMAC_SECRET_LEN {
                    return Err(ConfigError::new(
                        "jwt.key",
                        format!(
                            "the HMAC secret is {} bytes; at least {MIN_HMAC_SECRET_LEN} are required",
                            secret.len()
                        ),
                    ));
                }
                DecodingKey::from_secret(&secret)
                    .map_err(|_| ConfigError::new("jwt.key", "the HMAC secret is not usable"))
            }
            KeyMaterial::RsaPem(pem) => DecodingKey::from_rsa_pem(&pem).map_err(|_| bad_pem("RSA")),
            KeyMaterial::EcPem(pem) => DecodingKey::from_ec_pem(&pem).map_err(|_| bad_pem("EC")),
            KeyMaterial::EdPem(pem) => {
                DecodingKey::from_ed_pem(&pem).map_err(|_| bad_pem("Ed25519"))
            }
            KeyMaterial::Decoding(key, family) => {
                if family == AlgorithmFamily::Hmac || key.family() != family {
                    return Err(ConfigError::new(
                        "jwt.key",
                        "a DecodingKey must be asymmetric and of the family given with it; \
                         use JwtKey::hmac for shared secrets",
                    ));
                }
                Ok(key)
            }
        }
    }
}

/// Everything needed to verify a token, built once by the configuration.
pub(crate) struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    roles_claim: Arc<str>,
}

pub(crate) struct JwtSettings {
    pub(crate) key: JwtKey,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) issuers: Option<Vec<String>>,
    pub(crate) audiences: Option<Vec<String>>,
    pub(crate) leeway_secs: u64,
    pub(crate) roles_claim: String,
}

impl JwtVerifier {
    pub(crate) fn new(settings: JwtSettings) -> Result<Self, ConfigError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(ConfigError::new(
                "jwt (crypto backend)",
                "jsonwebtoken has no crypto backend: exactly one of its `aws_lc_rs` and \
                 `rust_crypto` features must be enabled in the dependency tree",
            ));
        }
        let family = settings.key.family();
        let algorithms = match settings.algorithms {
            Some(algs) => algs,
            None => settings.key.default_algorithms().to_vec(),
        };
        if algorithms.is_empty() {
            return Err(ConfigError::new(
                "jwt.algorithms",
                "the algorithm allow-list is empty",
            ));
        }
        if algorithms
            .iter()
            .any(|a| a.family() == AlgorithmFamily::Hmac)
            && algorithms
                .iter()
                .any(|a| a.family() != AlgorithmFamily::Hmac)
        {
            return Err(ConfigError::new(
                "jwt.algorithms",
                "HMAC and asymmetric algorithms must not be allowed together \
                 (the public key would become an HMAC secret)",
            ));
        }
        if let Some(alg) = algorithms.iter().find(|a| a.family() != family) {
            return Err(ConfigError::new(
                "jwt.algorithms",
                format!("{alg:?} does not belong to the configured key's family ({family:?})"),
            ));
        }
        let key = settings.key.into_decoding_key()?;

        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match settings.issuers {
            Some(issuers) if issuers.iter().all(|i| !i.is_empty()) && !issuers.is_empty() => {
                validation.set_issuer(&issuers);
                required.push("iss");
            }
            Some(_) => return Err(ConfigError::new("jwt.issuer", "the issuer is empty")),
            None => {}
        }
        match settings.audiences {
            Some(auds) if auds.iter().all(|a| !a.is_empty()) && !auds.is_empty() => {
                validation.set_audience(&auds);
                required.push("aud");
            }
            Some(_) => return Err(ConfigError::new("jwt.audience", "the audience is empty")),
            None => {
                validation.validate_aud = false;
            }
        }
        validation.set_required_spec_claims(&required);
        if settings.roles_claim.is_empty() {
            return Err(ConfigError::new(
                "jwt.roles_claim",
                "the roles claim name is empty",
            ));
        }
        Ok(JwtVerifier {
            key,
            validation,
            roles_claim: Arc::from(settings.roles_claim),
        })
    }

    /// Verifies `token` and builds the principal. Every failure is the same 401.
    pub(crate) fn verify(
        &self,
        token: &str,
        hierarchy: &RoleHierarchy,
    ) -> Result<Principal, SecurityError> {
        let invalid = |reason: &'static str| {
            tracing::debug!(target: "secure_api::auth", reason, "bearer token refused");
            SecurityError::invalid_token()
        };
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("token too long"));
        }
        if !is_compact_jws(token) {
            return Err(invalid("not a compact JWS"));
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| {
            tracing::debug!(target: "secure_api::auth", error = ?e.kind(), "bearer token refused");
            SecurityError::invalid_token()
        })?;
        if data.header.crit.as_ref().is_some_and(|c| !c.is_empty()) {
            // RFC 7515 4.1.11: extensions we do not understand must be refused.
            return Err(invalid("unsupported crit header"));
        }
        let claims = data.claims;
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(invalid("sub missing or not a non-empty string")),
        };
        let roles = match claims.get(&*self.roles_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut roles = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => roles.push(s.clone()),
                        _ => return Err(invalid("roles claim holds a non-string")),
                    }
                }
                roles
            }
            Some(_) => return Err(invalid("roles claim is not an array of strings")),
        };
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => s.split_ascii_whitespace().map(str::to_owned).collect(),
            (Some(_), _) => return Err(invalid("scope claim is not a string")),
            (None, Some(Value::Array(items))) => {
                let mut scopes = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => scopes.push(s.clone()),
                        _ => return Err(invalid("scp claim holds a non-string")),
                    }
                }
                scopes
            }
            (None, Some(Value::String(s))) => {
                s.split_ascii_whitespace().map(str::to_owned).collect()
            }
            (None, Some(_)) => return Err(invalid("scp claim is not an array")),
            (None, None) => Vec::new(),
        };
        let effective = hierarchy.expand(roles.iter().map(String::as_str));
        Ok(Principal::from_verified(
            subject, roles, effective, scopes, claims,
        ))
    }
}

/// Three non-empty base64url segments (the signature may not be empty either: an empty
/// signature is the "alg: none" shape).
fn is_compact_jws(token: &str) -> bool {
    let mut parts = 0;
    for segment in token.split('.') {
        parts += 1;
        if segment.is_empty()
            || !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return false;
        }
    }
    parts == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_shape_is_required() {
        assert!(is_compact_jws("a.b.c"));
        assert!(!is_compact_jws("a.b."));
        assert!(!is_compact_jws("a.b"));
        assert!(!is_compact_jws("a.b.c.d"));
        assert!(!is_compact_jws("a.b=.c"));
        assert!(!is_compact_jws("a.b.c "));
    }
}
