//! Trusted issuers: several identity providers at once, each with its own audience,
//! algorithms and keys (a static key, rotating HMAC secrets, or a JWKS).
//!
//! The token's `iss` is read, unverified, only to choose the issuer's settings; the token
//! is then verified with that issuer's keys and the `iss` claim checked again. A token
//! whose `iss` is not configured is refused (401) before any key is fetched.
//!
//! ```
//! use secure_api_runtime::{Algorithm, AlgorithmFamily, DecodingKey, JwtKey, Security, TrustedIssuer};
//!
//! let staging_key = DecodingKey::from_ed_components("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
//! let security = Security::builder()
//!     .trusted_issuer(
//!         TrustedIssuer::new("https://staging.idp.example")
//!             .audience("orders")
//!             .jwt_key(JwtKey::decoding_key(staging_key, AlgorithmFamily::Ed))
//!             .algorithms([Algorithm::EdDSA]),
//!     )
//!     .trusted_issuer(
//!         TrustedIssuer::new("internal-batch")
//!             .audience("orders")
//!             .hmac_secret("2026-11", vec![7u8; 32])
//!             .require_access_token_typ(),
//!     )
//!     .build()
//!     .unwrap();
//! # let _ = security;
//! ```

use std::fmt;
#[cfg(feature = "oidc")]
use std::time::Duration;
use std::time::SystemTime;

use jsonwebtoken::Algorithm;

#[cfg(feature = "oidc")]
use crate::fetch::FetchSettings;
use crate::jwt::JwtKey;

/// An HMAC secret of a rotation: its `kid`, and optionally when it stops verifying.
#[derive(Clone)]
pub(crate) struct RotatingSecret {
    pub(crate) kid: String,
    pub(crate) secret: Vec<u8>,
    pub(crate) not_after: Option<SystemTime>,
}

#[derive(Clone)]
pub(crate) enum IssuerKeys {
    None,
    Static(JwtKey),
    Hmac(Vec<RotatingSecret>),
    #[cfg(feature = "oidc")]
    JwksUrl(String),
    #[cfg(feature = "oidc")]
    Discover,
    /// More than one kind of source was set: refused by `build`.
    Conflict,
}

/// One trusted token issuer and how to verify its tokens. Added to the configuration
/// with [`SecurityBuilder::trusted_issuer`](crate::SecurityBuilder::trusted_issuer).
///
/// Exactly one key source is set: [`jwt_key`](Self::jwt_key), one or more
/// [`hmac_secret`](Self::hmac_secret)s, [`jwks_url`](Self::jwks_url) or
/// [`discover`](Self::discover) (the last two with feature `oidc`).
///
/// ```
/// use secure_api_runtime::{JwtKey, TrustedIssuer};
/// let issuer = TrustedIssuer::new("https://idp.example")
///     .audience("orders")
///     .jwt_key(JwtKey::rsa_pem(b"-----BEGIN PUBLIC KEY-----...".to_vec()));
/// assert_eq!(issuer.issuer(), "https://idp.example");
/// ```
#[derive(Clone)]
pub struct TrustedIssuer {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Option<Vec<Algorithm>>,
    pub(crate) keys: IssuerKeys,
    pub(crate) require_typ: bool,
    #[cfg(feature = "oidc")]
    pub(crate) fetch: FetchSettings,
    #[cfg(feature = "oidc")]
    pub(crate) refresh: Duration,
    #[cfg(feature = "oidc")]
    pub(crate) cooldown: Duration,
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("require_typ", &self.require_typ)
            .finish_non_exhaustive()
    }
}

impl TrustedIssuer {
    /// Trust tokens whose `iss` is exactly `issuer`.
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("https://idp.example");
    /// ```
    pub fn new(issuer: impl Into<String>) -> Self {
        TrustedIssuer {
            issuer: issuer.into(),
            audiences: Vec::new(),
            algorithms: None,
            keys: IssuerKeys::None,
            require_typ: false,
            #[cfg(feature = "oidc")]
            fetch: FetchSettings::default(),
            #[cfg(feature = "oidc")]
            refresh: crate::jwks::DEFAULT_JWKS_REFRESH,
            #[cfg(feature = "oidc")]
            cooldown: crate::jwks::DEFAULT_JWKS_COOLDOWN,
        }
    }

    /// The issuer string.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::TrustedIssuer::new("a").issuer(), "a");
    /// ```
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// An accepted audience (`aud`) of this issuer's tokens; call again for several.
    /// At least one is required.
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("a").audience("orders");
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The algorithm allow-list of this issuer. Default: the key's usual algorithm for a
    /// static key, HS256 for HMAC secrets, RS256 for a JWKS. HMAC and asymmetric
    /// algorithms are never mixed; a JWKS issuer may allow several asymmetric families
    /// (each key is still used only with its own family).
    ///
    /// ```
    /// use secure_api_runtime::{Algorithm, TrustedIssuer};
    /// let issuer = TrustedIssuer::new("a").algorithms([Algorithm::RS256, Algorithm::ES256]);
    /// ```
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    fn set_keys(mut self, keys: IssuerKeys) -> Self {
        self.keys = match (self.keys, keys) {
            (IssuerKeys::None, keys) => keys,
            (IssuerKeys::Hmac(mut old), IssuerKeys::Hmac(new)) => {
                old.extend(new);
                IssuerKeys::Hmac(old)
            }
            _ => IssuerKeys::Conflict,
        };
        self
    }

    /// One static key (see [`JwtKey`]).
    ///
    /// ```
    /// use secure_api_runtime::{JwtKey, TrustedIssuer};
    /// let issuer = TrustedIssuer::new("a").jwt_key(JwtKey::hmac(vec![1; 32]));
    /// ```
    pub fn jwt_key(self, key: JwtKey) -> Self {
        self.set_keys(IssuerKeys::Static(key))
    }

    /// An HMAC secret chosen by the token's `kid`; call again to add secrets during a
    /// rotation. With a single secret a token may omit `kid`; with several, a token
    /// without `kid` is refused (trying each secret would let a retired one keep working
    /// unnoticed).
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("a")
    ///     .hmac_secret("2026-10", vec![1; 32])
    ///     .hmac_secret("2026-11", vec![2; 32]);
    /// ```
    pub fn hmac_secret(self, kid: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        self.set_keys(IssuerKeys::Hmac(vec![RotatingSecret {
            kid: kid.into(),
            secret: secret.into(),
            not_after: None,
        }]))
    }

    /// An HMAC secret that stops verifying at `not_after` (tokens signed with it are
    /// refused afterwards, whatever their `exp`).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let retiring = SystemTime::now() + Duration::from_secs(7 * 24 * 3600);
    /// let issuer = secure_api_runtime::TrustedIssuer::new("a")
    ///     .hmac_secret_until("2026-10", vec![1; 32], retiring)
    ///     .hmac_secret("2026-11", vec![2; 32]);
    /// ```
    pub fn hmac_secret_until(
        self,
        kid: impl Into<String>,
        secret: impl Into<Vec<u8>>,
        not_after: SystemTime,
    ) -> Self {
        self.set_keys(IssuerKeys::Hmac(vec![RotatingSecret {
            kid: kid.into(),
            secret: secret.into(),
            not_after: Some(not_after),
        }]))
    }

    /// Keys from this JWKS URL (`https://`, or `http://` on loopback only).
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("https://idp.example")
    ///     .jwks_url("https://idp.example/.well-known/jwks.json");
    /// ```
    #[cfg(feature = "oidc")]
    pub fn jwks_url(self, url: impl Into<String>) -> Self {
        self.set_keys(IssuerKeys::JwksUrl(url.into()))
    }

    /// Keys found through OpenID Connect discovery: `<issuer>/.well-known/openid-configuration`
    /// is fetched, its `issuer` must equal this issuer exactly, and its `jwks_uri` is used.
    /// The issuer must then be an `https://` URL (or loopback `http://`).
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("https://idp.example").discover();
    /// ```
    #[cfg(feature = "oidc")]
    pub fn discover(self) -> Self {
        self.set_keys(IssuerKeys::Discover)
    }

    /// Timeouts and size cap of JWKS and discovery fetches.
    ///
    /// ```
    /// use secure_api_runtime::{FetchSettings, TrustedIssuer};
    /// let issuer = TrustedIssuer::new("a").fetch_settings(FetchSettings::default().max_bytes(64 * 1024));
    /// ```
    #[cfg(feature = "oidc")]
    pub fn fetch_settings(mut self, settings: FetchSettings) -> Self {
        self.fetch = settings;
        self
    }

    /// Age after which the JWKS is refreshed in the background (default 5 minutes).
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("a").jwks_refresh(std::time::Duration::from_secs(60));
    /// ```
    #[cfg(feature = "oidc")]
    pub fn jwks_refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// Shortest interval between two fetches caused by unknown `kid`s (default 30 s).
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("a").jwks_cooldown(std::time::Duration::from_secs(10));
    /// ```
    #[cfg(feature = "oidc")]
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Accept only tokens whose `typ` header is `at+jwt` or `application/at+jwt` (RFC 9068
    /// access tokens), so that ID tokens of the same issuer are refused.
    ///
    /// ```
    /// let issuer = secure_api_runtime::TrustedIssuer::new("a").require_access_token_typ();
    /// ```
    pub fn require_access_token_typ(mut self) -> Self {
        self.require_typ = true;
        self
    }
}
