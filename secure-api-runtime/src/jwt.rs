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

use std::borrow::Cow;
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

/// How one issuer's tokens are checked: its keys and, per allowed algorithm, the
/// claim validation (each with that single algorithm, so that keys of several families
/// can live in one JWKS without ever verifying another family's algorithm).
pub(crate) struct IssuerTrust {
    keys: TrustKeys,
    validations: Vec<(Algorithm, Validation)>,
    require_typ: bool,
}

enum TrustKeys {
    One(DecodingKey),
    Hmac(Vec<(String, DecodingKey, Option<std::time::SystemTime>)>),
    #[cfg(feature = "oidc")]
    Jwks(Arc<crate::jwks::JwksSource>),
}

/// Which trust a token falls under.
enum Trusts {
    /// Introspection only: no JWT is accepted.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    None,
    /// The single-key configuration (`jwt_key`, `issuer`, `audience`).
    Single(Box<IssuerTrust>),
    /// Several issuers, chosen by the token's unverified `iss`.
    ByIssuer(Vec<(String, IssuerTrust)>),
}

/// Everything needed to verify a token, built once by the configuration.
pub(crate) struct JwtVerifier {
    trusts: Trusts,
    roles_claim: Arc<str>,
    cache: Option<crate::token_cache::VerifiedCache>,
    #[cfg(feature = "introspection")]
    pub(crate) introspection: Option<crate::introspection::Introspector>,
}

pub(crate) struct JwtSettings {
    pub(crate) key: JwtKey,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) issuers: Option<Vec<String>>,
    pub(crate) audiences: Option<Vec<String>>,
    pub(crate) leeway_secs: u64,
    pub(crate) roles_claim: String,
    pub(crate) require_typ: bool,
}

fn check_backend() -> Result<(), ConfigError> {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        return Err(ConfigError::new(
            "jwt (crypto backend)",
            "jsonwebtoken has no crypto backend: exactly one of its `aws_lc_rs` and \
             `rust_crypto` features must be enabled in the dependency tree",
        ));
    }
    Ok(())
}

fn check_algorithms(setting: &'static str, algorithms: &[Algorithm]) -> Result<(), ConfigError> {
    if algorithms.is_empty() {
        return Err(ConfigError::new(
            setting,
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
            setting,
            "HMAC and asymmetric algorithms must not be allowed together \
             (the public key would become an HMAC secret)",
        ));
    }
    Ok(())
}

/// One validation per algorithm, with the issuer and audience checks.
fn validations(
    algorithms: &[Algorithm],
    issuers: Option<&[String]>,
    audiences: Option<&[String]>,
    leeway_secs: u64,
    setting: &str,
) -> Result<Vec<(Algorithm, Validation)>, ConfigError> {
    let issuer_setting = format!("{setting}.issuer");
    let audience_setting = format!("{setting}.audience");
    let mut out = Vec::with_capacity(algorithms.len());
    for &alg in algorithms {
        let mut validation = Validation::new(alg);
        validation.leeway = leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match issuers {
            Some(issuers) if issuers.iter().all(|i| !i.is_empty()) && !issuers.is_empty() => {
                validation.set_issuer(issuers);
                required.push("iss");
            }
            Some(_) => return Err(ConfigError::new(issuer_setting, "the issuer is empty")),
            None => {}
        }
        match audiences {
            Some(auds) if auds.iter().all(|a| !a.is_empty()) && !auds.is_empty() => {
                validation.set_audience(auds);
                required.push("aud");
            }
            Some(_) => {
                return Err(ConfigError::new(
                    audience_setting,
                    "the audience is missing or empty",
                ));
            }
            None => {
                validation.validate_aud = false;
            }
        }
        validation.set_required_spec_claims(&required);
        out.push((alg, validation));
    }
    Ok(out)
}

impl IssuerTrust {
    fn single(settings: JwtSettings) -> Result<Self, ConfigError> {
        let family = settings.key.family();
        let algorithms = match settings.algorithms {
            Some(algs) => algs,
            None => settings.key.default_algorithms().to_vec(),
        };
        check_algorithms("jwt.algorithms", &algorithms)?;
        if let Some(alg) = algorithms.iter().find(|a| a.family() != family) {
            return Err(ConfigError::new(
                "jwt.algorithms",
                format!("{alg:?} does not belong to the configured key's family ({family:?})"),
            ));
        }
        let key = settings.key.into_decoding_key()?;
        Ok(IssuerTrust {
            keys: TrustKeys::One(key),
            validations: validations(
                &algorithms,
                settings.issuers.as_deref(),
                settings.audiences.as_deref(),
                settings.leeway_secs,
                "jwt",
            )?,
            require_typ: settings.require_typ,
        })
    }

    fn issuer(
        trusted: crate::issuer::TrustedIssuer,
        leeway_secs: u64,
    ) -> Result<Self, ConfigError> {
        use crate::issuer::IssuerKeys;
        let setting = "jwt.trusted_issuer";
        if trusted.issuer.is_empty() {
            return Err(ConfigError::new(setting, "the issuer is empty"));
        }
        let name = &trusted.issuer;
        let (keys, default_algs): (TrustKeys, Vec<Algorithm>) = match trusted.keys {
            IssuerKeys::None => {
                return Err(ConfigError::new(
                    setting,
                    format!(
                        "issuer {name:?} has no key: set jwt_key, hmac_secret, jwks_url or discover"
                    ),
                ));
            }
            IssuerKeys::Conflict => {
                return Err(ConfigError::new(
                    setting,
                    format!("issuer {name:?} has more than one kind of key source"),
                ));
            }
            IssuerKeys::Static(key) => {
                let algs = key.default_algorithms().to_vec();
                (TrustKeys::One(key.into_decoding_key()?), algs)
            }
            IssuerKeys::Hmac(secrets) => {
                let mut keys = Vec::with_capacity(secrets.len());
                for secret in secrets {
                    if secret.kid.is_empty() {
                        return Err(ConfigError::new(
                            setting,
                            format!("issuer {name:?}: an HMAC secret has an empty kid"),
                        ));
                    }
                    if keys.iter().any(|(kid, _, _)| *kid == secret.kid) {
                        return Err(ConfigError::new(
                            setting,
                            format!(
                                "issuer {name:?}: two HMAC secrets share the kid {:?}",
                                secret.kid
                            ),
                        ));
                    }
                    let key = JwtKey::hmac(secret.secret).into_decoding_key()?;
                    keys.push((secret.kid, key, secret.not_after));
                }
                (TrustKeys::Hmac(keys), vec![Algorithm::HS256])
            }
            #[cfg(feature = "oidc")]
            IssuerKeys::JwksUrl(url) => {
                let url = crate::fetch::FetchUrl::parse("jwt.trusted_issuer.jwks_url", &url)?;
                let source = crate::jwks::JwksSource::new(
                    crate::jwks::JwksLocation::Url(url),
                    trusted.fetch,
                    trusted.refresh,
                    trusted.cooldown,
                    "jwt.trusted_issuer.jwks_url",
                )?;
                (TrustKeys::Jwks(Arc::new(source)), vec![Algorithm::RS256])
            }
            #[cfg(feature = "oidc")]
            IssuerKeys::Discover => {
                let base = crate::fetch::FetchUrl::parse("jwt.trusted_issuer.discover", name)?;
                let config = base.with_path("/.well-known/openid-configuration")?;
                let source = crate::jwks::JwksSource::new(
                    crate::jwks::JwksLocation::Discover {
                        issuer: name.clone(),
                        config,
                    },
                    trusted.fetch,
                    trusted.refresh,
                    trusted.cooldown,
                    "jwt.trusted_issuer.discover",
                )?;
                (TrustKeys::Jwks(Arc::new(source)), vec![Algorithm::RS256])
            }
        };
        let algorithms = trusted.algorithms.unwrap_or(default_algs);
        check_algorithms("jwt.trusted_issuer.algorithms", &algorithms)?;
        let key_family = match &keys {
            TrustKeys::One(key) => Some(key.family()),
            TrustKeys::Hmac(_) => Some(AlgorithmFamily::Hmac),
            #[cfg(feature = "oidc")]
            TrustKeys::Jwks(_) => None,
        };
        match key_family {
            Some(family) => {
                if let Some(alg) = algorithms.iter().find(|a| a.family() != family) {
                    return Err(ConfigError::new(
                        "jwt.trusted_issuer.algorithms",
                        format!(
                            "issuer {name:?}: {alg:?} does not belong to its key's family ({family:?})"
                        ),
                    ));
                }
            }
            None => {
                if algorithms
                    .iter()
                    .any(|a| a.family() == AlgorithmFamily::Hmac)
                {
                    return Err(ConfigError::new(
                        "jwt.trusted_issuer.algorithms",
                        format!(
                            "issuer {name:?}: a JWKS only provides public keys; HMAC algorithms cannot be allowed"
                        ),
                    ));
                }
            }
        }
        if trusted.audiences.is_empty() {
            return Err(ConfigError::new(
                "jwt.trusted_issuer.audience",
                format!("issuer {name:?} has no audience: set .audience(...)"),
            ));
        }
        Ok(IssuerTrust {
            keys,
            validations: validations(
                &algorithms,
                Some(std::slice::from_ref(&trusted.issuer)),
                Some(&trusted.audiences),
                leeway_secs,
                "jwt.trusted_issuer",
            )?,
            require_typ: trusted.require_typ,
        })
    }

    fn validation(&self, alg: Algorithm) -> Option<&Validation> {
        self.validations
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v)
    }

    /// The key that verifies a token with this header, fetching a JWKS if needed.
    async fn key_for<'a>(
        &'a self,
        header: &jsonwebtoken::Header,
    ) -> Result<KeyRef<'a>, &'static str> {
        match &self.keys {
            TrustKeys::One(key) => Ok(KeyRef::Borrowed(key)),
            TrustKeys::Hmac(secrets) => {
                let chosen = match header.kid.as_deref() {
                    Some(kid) => secrets.iter().find(|(k, _, _)| k == kid),
                    None if secrets.len() == 1 => secrets.first(),
                    None => return Err("no kid, and several HMAC secrets are configured"),
                };
                let Some((_, key, not_after)) = chosen else {
                    return Err("unknown kid");
                };
                if not_after.is_some_and(|t| std::time::SystemTime::now() >= t) {
                    return Err("the HMAC secret of this kid is retired");
                }
                Ok(KeyRef::Borrowed(key))
            }
            #[cfg(feature = "oidc")]
            TrustKeys::Jwks(source) => match source.key(header.kid.as_deref(), header.alg).await {
                crate::jwks::Lookup::Found(key) => Ok(KeyRef::Jwk(key)),
                crate::jwks::Lookup::Unknown => Err("no JWKS key for this kid and algorithm"),
            },
        }
    }

    /// Whether a cached verification is still backed by the key that made it: a JWKS key
    /// that left the set, or was replaced under the same `kid`, voids the tokens it
    /// verified.
    fn still_trusted(&self, _header: &jsonwebtoken::Header, _key: Option<[u8; 32]>) -> bool {
        match &self.keys {
            TrustKeys::One(_) | TrustKeys::Hmac(_) => true,
            #[cfg(feature = "oidc")]
            TrustKeys::Jwks(source) => {
                _key.is_some_and(|key| source.holds(_header.kid.as_deref(), key))
            }
        }
    }
}

enum KeyRef<'a> {
    Borrowed(&'a DecodingKey),
    #[cfg(feature = "oidc")]
    Jwk(Arc<crate::jwks::JwkKey>),
}

impl KeyRef<'_> {
    /// The fingerprint of a JWKS key; keys configured in the application have none.
    fn fingerprint(&self) -> Option<[u8; 32]> {
        match self {
            KeyRef::Borrowed(_) => None,
            #[cfg(feature = "oidc")]
            KeyRef::Jwk(jwk) => Some(jwk.fingerprint),
        }
    }

    fn key(&self) -> &DecodingKey {
        match self {
            KeyRef::Borrowed(key) => key,
            #[cfg(feature = "oidc")]
            KeyRef::Jwk(jwk) => &jwk.key,
        }
    }
}

#[derive(serde::Deserialize)]
struct UnverifiedIssuer {
    iss: Option<Value>,
}

/// RFC 9068 access token types.
fn is_access_token_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
    })
}

impl JwtVerifier {
    pub(crate) fn new(settings: JwtSettings) -> Result<Self, ConfigError> {
        check_backend()?;
        if settings.roles_claim.is_empty() {
            return Err(ConfigError::new(
                "jwt.roles_claim",
                "the roles claim name is empty",
            ));
        }
        let roles_claim = Arc::from(settings.roles_claim.as_str());
        Ok(JwtVerifier {
            trusts: Trusts::Single(Box::new(IssuerTrust::single(settings)?)),
            roles_claim,
            cache: None,
            #[cfg(feature = "introspection")]
            introspection: None,
        })
    }

    /// Several issuers, each with its own keys and checks (none: introspection only).
    pub(crate) fn with_issuers(
        issuers: Vec<crate::issuer::TrustedIssuer>,
        leeway_secs: u64,
        roles_claim: String,
    ) -> Result<Self, ConfigError> {
        check_backend()?;
        if roles_claim.is_empty() {
            return Err(ConfigError::new(
                "jwt.roles_claim",
                "the roles claim name is empty",
            ));
        }
        let trusts = if issuers.is_empty() {
            Trusts::None
        } else {
            let mut list: Vec<(String, IssuerTrust)> = Vec::with_capacity(issuers.len());
            for issuer in issuers {
                if list.iter().any(|(name, _)| *name == issuer.issuer) {
                    return Err(ConfigError::new(
                        "jwt.trusted_issuer",
                        format!("the issuer {:?} is configured twice", issuer.issuer),
                    ));
                }
                let name = issuer.issuer.clone();
                list.push((name, IssuerTrust::issuer(issuer, leeway_secs)?));
            }
            Trusts::ByIssuer(list)
        };
        Ok(JwtVerifier {
            trusts,
            roles_claim: Arc::from(roles_claim),
            cache: None,
            #[cfg(feature = "introspection")]
            introspection: None,
        })
    }

    /// Remembers verified asymmetric tokens (0 entries: no cache).
    pub(crate) fn set_cache(&mut self, entries: usize) {
        self.cache = (entries > 0).then(|| crate::token_cache::VerifiedCache::new(entries));
    }

    /// The JWKS sources, for prefetching and for tests.
    #[cfg(feature = "oidc")]
    pub(crate) fn jwks_sources(&self) -> Vec<(&str, &Arc<crate::jwks::JwksSource>)> {
        let mut out = Vec::new();
        if let Trusts::ByIssuer(list) = &self.trusts {
            for (name, trust) in list {
                if let TrustKeys::Jwks(source) = &trust.keys {
                    out.push((name.as_str(), source));
                }
            }
        }
        out
    }

    /// Verifies `token` and builds the principal. Every failure is the same 401 (503 when
    /// an introspection endpoint cannot answer).
    pub(crate) async fn verify(
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
            #[cfg(feature = "introspection")]
            if let Some(introspector) = &self.introspection {
                let claims = introspector.introspect(token).await?;
                return self.principal(&claims, hierarchy);
            }
            return Err(invalid("not a compact JWS"));
        }
        let trust = match &self.trusts {
            Trusts::Single(trust) => trust.as_ref(),
            Trusts::ByIssuer(list) => {
                let unverified =
                    jsonwebtoken::dangerous::insecure_decode_claims::<UnverifiedIssuer>(token)
                        .map_err(|_| invalid("unreadable claims"))?;
                let Some(Value::String(iss)) = unverified.iss else {
                    return Err(invalid("no iss to choose the issuer by"));
                };
                match list.iter().find(|(name, _)| *name == iss) {
                    Some((_, trust)) => trust,
                    None => return Err(invalid("untrusted issuer")),
                }
            }
            Trusts::None => {
                #[cfg(feature = "introspection")]
                if let Some(introspector) = &self.introspection {
                    let claims = introspector.introspect(token).await?;
                    return self.principal(&claims, hierarchy);
                }
                return Err(invalid("no JWT issuer is trusted"));
            }
        };
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("unreadable header"))?;
        if header.crit.as_ref().is_some_and(|c| !c.is_empty()) {
            // RFC 7515 4.1.11: extensions we do not understand must be refused.
            return Err(invalid("unsupported crit header"));
        }
        let Some(validation) = trust.validation(header.alg) else {
            return Err(invalid("algorithm not allowed"));
        };
        if trust.require_typ && !is_access_token_typ(header.typ.as_deref()) {
            return Err(invalid("typ is not at+jwt"));
        }
        let cache = self
            .cache
            .as_ref()
            .filter(|_| header.alg.family() != AlgorithmFamily::Hmac);
        let digest = cache.map(|_| crate::token_cache::token_digest(token));
        if let (Some(cache), Some(digest)) = (cache, &digest)
            && let Some((claims, verified_with)) = cache.get(digest)
            && trust.still_trusted(&header, verified_with)
        {
            return self.principal(&claims, hierarchy);
        }
        let key = trust.key_for(&header).await.map_err(invalid)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key.key(), validation)
            .map_err(|e| {
                tracing::debug!(target: "secure_api::auth", error = ?e.kind(), "bearer token refused");
                SecurityError::invalid_token()
            })?;
        let (Some(cache), Some(digest)) = (cache, digest) else {
            // Nothing keeps the claims but the principal: they move into it.
            return self.principal_of(Cow::Owned(data.claims), hierarchy);
        };
        let claims = Arc::new(data.claims);
        let principal = self.principal(&claims, hierarchy)?;
        cache.insert(digest, claims, key.fingerprint());
        Ok(principal)
    }

    /// The principal of verified claims.
    pub(crate) fn principal(
        &self,
        claims: &Map<String, Value>,
        hierarchy: &RoleHierarchy,
    ) -> Result<Principal, SecurityError> {
        self.principal_of(Cow::Borrowed(claims), hierarchy)
    }

    /// The principal of verified claims, which it keeps (copied only when borrowed).
    fn principal_of(
        &self,
        claims: Cow<'_, Map<String, Value>>,
        hierarchy: &RoleHierarchy,
    ) -> Result<Principal, SecurityError> {
        let invalid = |reason: &'static str| {
            tracing::debug!(target: "secure_api::auth", reason, "bearer token refused");
            SecurityError::invalid_token()
        };
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
            subject,
            roles,
            effective,
            scopes,
            claims.into_owned(),
        ))
    }
}

/// Three non-empty base64url segments (the signature may not be empty either: an empty
/// signature is the "alg: none" shape).
fn is_compact_jws(token: &str) -> bool {
    // One pass over the bytes: base64url characters, exactly two dots, no empty segment.
    let mut dots = 0;
    let mut segment_len = 0usize;
    for b in token.bytes() {
        if b == b'.' {
            if segment_len == 0 || dots == 2 {
                return false;
            }
            dots += 1;
            segment_len = 0;
        } else if BASE64URL[usize::from(b)] {
            segment_len += 1;
        } else {
            return false;
        }
    }
    dots == 2 && segment_len > 0
}

/// The base64url alphabet, as a table: the check runs over every byte of every token.
static BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

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
        assert!(!is_compact_jws(".b.c"));
        assert!(!is_compact_jws("a..c"));
        assert!(!is_compact_jws(""));
        assert!(!is_compact_jws(".."));
        assert!(!is_compact_jws("a.b+.c"));
        assert!(is_compact_jws("A-z_0.9.x"));
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert_eq!(BASE64URL[usize::from(b)], allowed, "{b}");
        }
    }
}
