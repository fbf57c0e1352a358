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

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::error::SecurityError;
use crate::jws::{self, Claim, HmacKeys};
use crate::principal::{ClaimSet, Principal};
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

    fn into_verifying(self) -> Result<Verifying, ConfigError> {
        let bad_pem = |what: &str| {
            ConfigError::new(
                "jwt.key",
                format!("the {what} public key is not a valid PEM key"),
            )
        };
        match self.0 {
            KeyMaterial::Hmac(secret) => hmac_keys(&secret).map(Verifying::Hmac),
            KeyMaterial::RsaPem(pem) => DecodingKey::from_rsa_pem(&pem)
                .map(Verifying::Public)
                .map_err(|_| bad_pem("RSA")),
            KeyMaterial::EcPem(pem) => DecodingKey::from_ec_pem(&pem)
                .map(Verifying::Public)
                .map_err(|_| bad_pem("EC")),
            KeyMaterial::EdPem(pem) => DecodingKey::from_ed_pem(&pem)
                .map(Verifying::Public)
                .map_err(|_| bad_pem("Ed25519")),
            KeyMaterial::Decoding(key, family) => {
                if family == AlgorithmFamily::Hmac || key.family() != family {
                    return Err(ConfigError::new(
                        "jwt.key",
                        "a DecodingKey must be asymmetric and of the family given with it; \
                         use JwtKey::hmac for shared secrets",
                    ));
                }
                Ok(Verifying::Public(key))
            }
        }
    }
}

/// The HMAC keys of a shared secret of at least [`MIN_HMAC_SECRET_LEN`] bytes.
fn hmac_keys(secret: &[u8]) -> Result<HmacKeys, ConfigError> {
    if secret.len() < MIN_HMAC_SECRET_LEN {
        return Err(ConfigError::new(
            "jwt.key",
            format!(
                "the HMAC secret is {} bytes; at least {MIN_HMAC_SECRET_LEN} are required",
                secret.len()
            ),
        ));
    }
    Ok(HmacKeys::new(secret))
}

/// A configured key, ready to verify: HMAC keys prepared once, or a public key.
enum Verifying {
    Hmac(HmacKeys),
    Public(DecodingKey),
}

/// How one issuer's tokens are checked: its keys, the algorithms allowed (each token is
/// verified with the single algorithm its header names, which must be on this list, so
/// keys of several families can live in one JWKS without ever verifying another
/// family's algorithm) and the claim rules.
pub(crate) struct IssuerTrust {
    keys: TrustKeys,
    algorithms: Vec<Algorithm>,
    rules: ClaimRules,
    require_typ: bool,
}

/// The claim checks of one issuer: `exp` (required) and `nbf` against the clock with the
/// leeway, `sub` required, `iss` and `aud` required and matched when configured.
struct ClaimRules {
    issuers: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
    leeway_secs: u64,
}

enum TrustKeys {
    /// A public key (RSA, EC, Ed25519).
    One(DecodingKey),
    /// One shared secret; any `kid` is ignored.
    HmacOne(HmacKeys),
    /// Shared secrets chosen by `kid`, each possibly retired after a time.
    Hmac(Vec<(String, HmacKeys, Option<std::time::SystemTime>)>),
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
    /// The principals of HMAC-signed tokens seen before.
    principals: Option<crate::token_cache::PrincipalCache>,
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

/// The claim rules of an issuer, refusing empty issuer or audience settings.
fn rules(
    issuers: Option<&[String]>,
    audiences: Option<&[String]>,
    leeway_secs: u64,
    setting: &str,
) -> Result<ClaimRules, ConfigError> {
    // A configured list must name at least one value, and none of them empty.
    let list = |values: Option<&[String]>, name: &str, message: &'static str| match values {
        Some(list) if !list.is_empty() && list.iter().all(|v| !v.is_empty()) => {
            Ok(Some(list.to_vec()))
        }
        Some(_) => Err(ConfigError::new(format!("{setting}.{name}"), message)),
        None => Ok(None),
    };
    let issuers = list(issuers, "issuer", "the issuer is empty")?;
    let audiences = list(audiences, "audience", "the audience is missing or empty")?;
    Ok(ClaimRules {
        issuers,
        audiences,
        leeway_secs,
    })
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
        let keys = match settings.key.into_verifying()? {
            Verifying::Hmac(keys) => TrustKeys::HmacOne(keys),
            Verifying::Public(key) => TrustKeys::One(key),
        };
        Ok(IssuerTrust {
            keys,
            rules: rules(
                settings.issuers.as_deref(),
                settings.audiences.as_deref(),
                settings.leeway_secs,
                "jwt",
            )?,
            algorithms,
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
                let keys = match key.into_verifying()? {
                    Verifying::Hmac(keys) => TrustKeys::HmacOne(keys),
                    Verifying::Public(key) => TrustKeys::One(key),
                };
                (keys, algs)
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
                    let key = hmac_keys(&secret.secret)?;
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
            TrustKeys::HmacOne(_) | TrustKeys::Hmac(_) => Some(AlgorithmFamily::Hmac),
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
            rules: rules(
                Some(std::slice::from_ref(&trusted.issuer)),
                Some(&trusted.audiences),
                leeway_secs,
                "jwt.trusted_issuer",
            )?,
            algorithms,
            require_typ: trusted.require_typ,
        })
    }

    /// The key that verifies a token with this `kid` and algorithm, fetching a JWKS if
    /// needed.
    async fn key_for<'a>(
        &'a self,
        kid: Option<&str>,
        _alg: Algorithm,
    ) -> Result<KeyRef<'a>, &'static str> {
        match &self.keys {
            TrustKeys::One(key) => Ok(KeyRef::Public(key)),
            TrustKeys::HmacOne(keys) => Ok(KeyRef::Hmac(keys)),
            TrustKeys::Hmac(secrets) => {
                let chosen = match kid {
                    Some(kid) => secrets.iter().find(|(k, _, _)| k == kid),
                    None if secrets.len() == 1 => secrets.first(),
                    None => return Err("no kid, and several HMAC secrets are configured"),
                };
                let Some((_, keys, not_after)) = chosen else {
                    return Err("unknown kid");
                };
                if not_after.is_some_and(|t| std::time::SystemTime::now() >= t) {
                    return Err("the HMAC secret of this kid is retired");
                }
                Ok(KeyRef::Hmac(keys))
            }
            #[cfg(feature = "oidc")]
            // Boxed: a fetch's state is large, and tokens verified with configured keys
            // should not carry (and move) room for it.
            TrustKeys::Jwks(source) => match Box::pin(source.key(kid, _alg)).await {
                crate::jwks::Lookup::Found(key) => Ok(KeyRef::Jwk(key)),
                crate::jwks::Lookup::Unknown => Err("no JWKS key for this kid and algorithm"),
            },
        }
    }

    /// Whether a cached verification is still backed by the key that made it: a JWKS key
    /// that left the set, or was replaced under the same `kid`, voids the tokens it
    /// verified.
    fn still_trusted(&self, _kid: Option<&str>, _key: Option<[u8; 32]>) -> bool {
        match &self.keys {
            TrustKeys::One(_) | TrustKeys::HmacOne(_) | TrustKeys::Hmac(_) => true,
            #[cfg(feature = "oidc")]
            TrustKeys::Jwks(source) => _key.is_some_and(|key| source.holds(_kid, key)),
        }
    }
}

impl ClaimRules {
    /// Checks the time, issuer and audience claims; the token's `exp` when they pass.
    fn check(&self, claims: &jws::Claims<'_>) -> Result<u64, &'static str> {
        let now = crate::replay::now_secs();
        let exp = match &claims.exp {
            None | Some(Claim::Null) => return Err("exp missing"),
            Some(exp) => jws::numeric_date(exp).ok_or("exp is not a NumericDate")?,
        };
        if exp < now.saturating_sub(self.leeway_secs) {
            return Err("expired");
        }
        match &claims.nbf {
            None | Some(Claim::Null) => {}
            Some(nbf) => {
                let nbf = jws::numeric_date(nbf).ok_or("nbf is not a NumericDate")?;
                if nbf > now.saturating_add(self.leeway_secs) {
                    return Err("not valid yet (nbf)");
                }
            }
        }
        if let Some(issuers) = &self.issuers {
            match &claims.iss {
                Some(Claim::Str(iss)) if issuers.iter().any(|i| i == iss) => {}
                _ => return Err("iss missing, not a string or not trusted"),
            }
        }
        if let Some(audiences) = &self.audiences {
            let ours = |aud: &str| audiences.iter().any(|a| a == aud);
            match &claims.aud {
                Some(Claim::Str(aud)) if ours(aud) => {}
                Some(Claim::Strings(auds)) if auds.iter().any(|aud| ours(aud)) => {}
                _ => return Err("aud missing, malformed or not ours"),
            }
        }
        Ok(exp)
    }
}

enum KeyRef<'a> {
    Public(&'a DecodingKey),
    Hmac(&'a HmacKeys),
    #[cfg(feature = "oidc")]
    Jwk(Arc<crate::jwks::JwkKey>),
}

impl KeyRef<'_> {
    /// The fingerprint of a JWKS key; keys configured in the application have none.
    fn fingerprint(&self) -> Option<[u8; 32]> {
        match self {
            KeyRef::Public(_) | KeyRef::Hmac(_) => None,
            #[cfg(feature = "oidc")]
            KeyRef::Jwk(jwk) => Some(jwk.fingerprint),
        }
    }

    /// Whether `signature` (base64url) signs `message` under `alg` with this key.
    fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        match self {
            KeyRef::Hmac(keys) => keys.verify(alg, message, signature),
            KeyRef::Public(key) => verify_public(key, alg, message, signature),
            #[cfg(feature = "oidc")]
            KeyRef::Jwk(jwk) => verify_public(&jwk.key, alg, message, signature),
        }
    }
}

/// A public-key signature check; the key's family must be the algorithm's (a public key
/// never becomes an HMAC secret).
fn verify_public(key: &DecodingKey, alg: Algorithm, message: &[u8], signature: &str) -> bool {
    alg.family() != AlgorithmFamily::Hmac
        && key.family() == alg.family()
        && matches!(
            jsonwebtoken::crypto::verify(signature, message, key, alg),
            Ok(true)
        )
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
            principals: None,
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
            principals: None,
            #[cfg(feature = "introspection")]
            introspection: None,
        })
    }

    /// Remembers verified asymmetric tokens, and the principals of HMAC-signed ones
    /// (0 entries: neither).
    pub(crate) fn set_cache(&mut self, entries: usize) {
        self.cache = (entries > 0).then(|| crate::token_cache::VerifiedCache::new(entries));
        self.principals = (entries > 0).then(|| crate::token_cache::PrincipalCache::new(entries));
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
        if token.len() > MAX_TOKEN_LEN {
            return Err(refused("token too long"));
        }
        let segments = match jws::Segments::compact(token) {
            Some(segments) => segments,
            _ => {
                #[cfg(feature = "introspection")]
                if let Some(introspector) = &self.introspection {
                    let claims = Box::pin(introspector.introspect(token)).await?;
                    return self.principal(&claims, hierarchy);
                }
                return Err(refused("not a compact JWS"));
            }
        };
        let trust = match &self.trusts {
            Trusts::Single(trust) => trust.as_ref(),
            Trusts::ByIssuer(list) => {
                // Read before the signature is checked, only to choose whose keys check it.
                let payload = jws::decode_segment(segments.payload)
                    .ok_or_else(|| refused("payload is not base64url"))?;
                let claims = jws::Claims::parse(&payload, &self.roles_claim).map_err(refused)?;
                let Some(Claim::Str(iss)) = &claims.iss else {
                    return Err(refused("no iss to choose the issuer by"));
                };
                match list.iter().find(|(name, _)| name == iss) {
                    Some((_, trust)) => trust,
                    None => return Err(refused("untrusted issuer")),
                }
            }
            Trusts::None => {
                #[cfg(feature = "introspection")]
                if let Some(introspector) = &self.introspection {
                    let claims = Box::pin(introspector.introspect(token)).await?;
                    return self.principal(&claims, hierarchy);
                }
                return Err(refused("no JWT issuer is trusted"));
            }
        };
        let header = jws::Header::parse(segments.header).map_err(refused)?;
        if !trust.algorithms.contains(&header.alg) {
            return Err(refused("algorithm not allowed"));
        }
        if trust.require_typ && !header.access_token_typ {
            return Err(refused("typ is not at+jwt"));
        }
        let cache = self
            .cache
            .as_ref()
            .filter(|_| header.alg.family() != AlgorithmFamily::Hmac);
        let digest = cache.map(|_| crate::token_cache::token_digest(token));
        if let (Some(cache), Some(digest)) = (cache, &digest)
            && let Some((payload, verified_with)) = cache.get(digest)
            && trust.still_trusted(header.kid.as_deref(), verified_with)
        {
            // The signature was checked before; every claim rule runs again.
            return self
                .principal_of_payload(payload.to_vec(), trust, hierarchy)
                .map(|(principal, _)| principal);
        }
        let key = trust
            .key_for(header.kid.as_deref(), header.alg)
            .await
            .map_err(refused)?;
        // An HMAC-signed token that verified before, byte for byte: its MAC verifies under
        // the same key, which follows from its header (and was refused just above if it is
        // retired), and its principal is the one built then.
        let reuse = self
            .principals
            .as_ref()
            .filter(|_| header.alg.family() == AlgorithmFamily::Hmac);
        if let Some(reuse) = reuse
            && let Some(principal) = reuse.get(segments.signing_input, segments.signature)
        {
            return Ok(principal);
        }
        if !key.verify(
            header.alg,
            segments.signing_input.as_bytes(),
            segments.signature,
        ) {
            return Err(refused("signature does not verify"));
        }
        let payload = jws::decode_segment(segments.payload)
            .ok_or_else(|| refused("payload is not base64url"))?;
        let (Some(cache), Some(digest)) = (cache, digest) else {
            let (principal, exp) = self.principal_of_payload(payload, trust, hierarchy)?;
            if let Some(reuse) = reuse {
                reuse.insert(
                    segments.signing_input,
                    segments.signature,
                    &principal,
                    exp.saturating_add(trust.rules.leeway_secs),
                );
            }
            return Ok(principal);
        };
        let shared: Arc<[u8]> = Arc::from(payload.as_slice());
        let (principal, exp) = self.principal_of_payload(payload, trust, hierarchy)?;
        cache.insert(digest, shared, exp, key.fingerprint());
        Ok(principal)
    }

    /// The principal of a payload whose signature verified: the claim rules of `trust`,
    /// then subject, roles and scopes; the claims stay in their JSON form until a handler
    /// reads them. Also returns the token's `exp`.
    fn principal_of_payload(
        &self,
        payload: Vec<u8>,
        trust: &IssuerTrust,
        hierarchy: &RoleHierarchy,
    ) -> Result<(Principal, u64), SecurityError> {
        let mut claims = jws::Claims::default();
        claims.read(&payload, &self.roles_claim).map_err(refused)?;
        let exp = trust.rules.check(&claims).map_err(refused)?;
        let jws::Claims {
            sub,
            roles,
            scope,
            scp,
            jti,
            ..
        } = claims;
        let subject = match sub {
            Some(Claim::Str(s)) if !s.is_empty() => s.into_owned(),
            _ => return Err(refused("sub missing or not a non-empty string")),
        };
        let roles: Vec<String> = match roles {
            None | Some(Claim::Null) => Vec::new(),
            Some(Claim::Strings(items)) => items.into_iter().map(Cow::into_owned).collect(),
            Some(_) => return Err(refused("roles claim is not an array of strings")),
        };
        let split = |s: &str| s.split_ascii_whitespace().map(str::to_owned).collect();
        let scopes: Vec<String> = match (scope, scp) {
            (Some(Claim::Str(s)), _) => split(&s),
            (Some(_), _) => return Err(refused("scope claim is not a string")),
            (None, Some(Claim::Strings(items))) => items.into_iter().map(Cow::into_owned).collect(),
            (None, Some(Claim::Str(s))) => split(&s),
            (None, Some(_)) => return Err(refused("scp claim is not an array")),
            (None, None) => Vec::new(),
        };
        let jti = match jti {
            Some(Claim::Str(jti)) => Some(jti.into_owned()),
            _ => None,
        };
        let effective = hierarchy.effective(&roles);
        let principal = Principal::from_verified(
            subject,
            roles,
            effective,
            scopes,
            ClaimSet::payload(payload, jti),
        );
        Ok((principal, exp))
    }

    /// The principal of verified claims given as a map (token introspection).
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn principal(
        &self,
        claims: &Map<String, Value>,
        hierarchy: &RoleHierarchy,
    ) -> Result<Principal, SecurityError> {
        let subject = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(refused("sub missing or not a non-empty string")),
        };
        let strings = |items: &[Value], what: &'static str| {
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(refused(what)),
                })
                .collect::<Result<Vec<String>, SecurityError>>()
        };
        let roles = match claims.get(&*self.roles_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => strings(items, "roles claim holds a non-string")?,
            Some(_) => return Err(refused("roles claim is not an array of strings")),
        };
        let split = |s: &str| s.split_ascii_whitespace().map(str::to_owned).collect();
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => split(s),
            (Some(_), _) => return Err(refused("scope claim is not a string")),
            (None, Some(Value::Array(items))) => strings(items, "scp claim holds a non-string")?,
            (None, Some(Value::String(s))) => split(s),
            (None, Some(_)) => return Err(refused("scp claim is not an array")),
            (None, None) => Vec::new(),
        };
        let effective = hierarchy.effective(&roles);
        Ok(Principal::from_verified(
            subject,
            roles,
            effective,
            scopes,
            ClaimSet::Map(claims.clone()),
        ))
    }
}

/// The refusal of a bearer token; the reason goes to the debug log only.
fn refused(reason: &'static str) -> SecurityError {
    tracing::debug!(target: "secure_api::auth", reason, "bearer token refused");
    SecurityError::invalid_token()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(token: &str) -> bool {
        jws::Segments::compact(token).is_some()
    }

    #[test]
    fn compact_shape_is_required() {
        assert!(compact("a.b.c"));
        assert!(!compact("a.b."));
        assert!(!compact("a.b"));
        assert!(!compact("a.b.c.d"));
        assert!(!compact("a.b=.c"));
        assert!(!compact("a.b.c "));
        assert!(!compact(".b.c"));
        assert!(!compact("a..c"));
        assert!(!compact(""));
        assert!(!compact(".."));
        assert!(!compact("a.b+.c"));
        assert!(compact("A-z_0.9.x"));
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            let token = format!("a{}.b.c", char::from(b));
            assert_eq!(compact(&token), allowed, "{b}");
        }
    }
}
