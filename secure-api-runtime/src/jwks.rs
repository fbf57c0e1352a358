//! Keys from a JWKS URL (or found through OpenID Connect discovery), cached and refreshed.
//!
//! - The set is fetched at first use (or by [`Security::prefetch_keys`](crate::Security::prefetch_keys)),
//!   then refreshed in the background once it is older than the refresh interval; a request
//!   never waits for a routine refresh.
//! - A token naming a `kid` the cache does not hold triggers one refetch, at most once per
//!   cooldown for the whole set: a flood of random `kid`s costs the identity provider one
//!   request per cooldown, and every such token is refused (401) meanwhile.
//! - When the identity provider is unreachable the cached keys keep verifying; a failed
//!   fetch never adds or removes a key.
//! - Symmetric keys (`kty` `oct`), keys whose `use` is not `sig`, keys whose `key_ops` do not
//!   include `verify`, and keys the library cannot read are ignored. A key's `alg`, when
//!   present, must equal the token's; otherwise the token's algorithm must belong to the
//!   key's family (and, for EC keys, to its curve).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use crate::config::ConfigError;
use crate::fetch::{FetchError, FetchSettings, FetchUrl, Fetcher};

/// Default age after which a JWKS is refreshed in the background.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// Default shortest interval between two refetches triggered by unknown `kid`s.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// Shortest cooldown accepted.
pub(crate) const MIN_JWKS_COOLDOWN: Duration = Duration::from_millis(100);
/// Most keys kept from one JWKS; the rest are ignored.
pub(crate) const MAX_JWKS_KEYS: usize = 64;

/// One usable verification key of a JWKS.
pub(crate) struct JwkKey {
    pub(crate) key: DecodingKey,
    /// SHA-256 of the JWK's key parameters: tells a key replaced under the same `kid`
    /// from the one it replaced.
    pub(crate) fingerprint: [u8; 32],
    /// The key's own `alg`, if it names one.
    alg: Option<Algorithm>,
    /// For EC keys: the one algorithm the curve allows.
    curve_alg: Option<Algorithm>,
}

impl JwkKey {
    /// Whether a token signed with `alg` may be verified with this key.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        if self.key.family() != alg.family() || alg.family() == AlgorithmFamily::Hmac {
            return false;
        }
        if self.curve_alg.is_some_and(|c| c != alg) {
            return false;
        }
        self.alg.is_none_or(|a| a == alg)
    }
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<JwkKey>>,
    /// Keys without a `kid`.
    anonymous: Vec<Arc<JwkKey>>,
}

impl KeySet {
    fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }
}

#[derive(Default)]
struct State {
    keys: Arc<KeySet>,
    /// When the current set was fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last started (successful or not).
    attempted_at: Option<Instant>,
    /// The `jwks_uri` found through discovery.
    discovered: Option<FetchUrl>,
}

/// Where the set comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksLocation {
    Url(FetchUrl),
    /// OpenID Connect discovery from this issuer (exact string of the `iss` claim).
    Discover {
        issuer: String,
        config: FetchUrl,
    },
}

/// A cached, refreshed JWKS.
pub(crate) struct JwksSource {
    location: JwksLocation,
    fetcher: Fetcher,
    refresh: Duration,
    cooldown: Duration,
    state: RwLock<State>,
    refetch: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
    /// How many fetches of the JWKS document were attempted.
    pub(crate) fetches: std::sync::atomic::AtomicU64,
}

/// Outcome of looking a key up.
pub(crate) enum Lookup {
    Found(Arc<JwkKey>),
    Unknown,
}

impl JwksSource {
    pub(crate) fn new(
        location: JwksLocation,
        fetch: FetchSettings,
        refresh: Duration,
        cooldown: Duration,
        setting: &'static str,
    ) -> Result<Self, ConfigError> {
        if refresh.is_zero() {
            return Err(ConfigError::new(
                setting,
                "the JWKS refresh interval must be positive",
            ));
        }
        if cooldown < MIN_JWKS_COOLDOWN {
            return Err(ConfigError::new(
                setting,
                "the JWKS cooldown must be at least 100 ms, or unknown kids could make every \
                 request fetch the set",
            ));
        }
        Ok(JwksSource {
            location,
            fetcher: Fetcher::new(fetch, setting)?,
            refresh,
            cooldown,
            state: RwLock::new(State::default()),
            refetch: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            fetches: Default::default(),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the cached set still holds `kid` (no fetch).
    pub(crate) fn holds(&self, kid: Option<&str>, fingerprint: [u8; 32]) -> bool {
        let state = self.read();
        let current = match kid {
            Some(kid) => state.keys.by_kid.get(kid),
            None if state.keys.len() == 1 => state
                .keys
                .by_kid
                .values()
                .next()
                .or_else(|| state.keys.anonymous.first()),
            None => None,
        };
        current.is_some_and(|key| key.fingerprint == fingerprint)
    }

    fn find(keys: &KeySet, kid: Option<&str>, alg: Algorithm) -> Option<Arc<JwkKey>> {
        let key = match kid {
            Some(kid) => keys.by_kid.get(kid).cloned(),
            // Without a `kid`, only a set of exactly one key is unambiguous.
            None if keys.len() == 1 => keys
                .by_kid
                .values()
                .next()
                .or_else(|| keys.anonymous.first())
                .cloned(),
            None => None,
        }?;
        key.accepts(alg).then_some(key)
    }

    /// The key for a token's `kid` and `alg`, fetching the set when it is unknown (at most
    /// once per cooldown).
    pub(crate) async fn key(self: &Arc<Self>, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let (keys, stale, known) = {
            let state = self.read();
            let stale = state
                .fetched_at
                .is_none_or(|at| at.elapsed() >= self.refresh);
            let known = kid.is_some_and(|k| state.keys.by_kid.contains_key(k));
            (state.keys.clone(), stale, known)
        };
        if known || (kid.is_none() && keys.len() > 0) {
            if stale {
                self.refresh_in_background();
            }
            return match Self::find(&keys, kid, alg) {
                Some(key) => Lookup::Found(key),
                None => Lookup::Unknown,
            };
        }
        // Unknown kid (or nothing cached yet): one refetch per cooldown for everyone.
        if !self.may_refetch() {
            return Lookup::Unknown;
        }
        let _one_at_a_time = self.refetch.lock().await;
        {
            // Another request may have refetched while this one waited.
            let state = self.read();
            if let Some(key) = Self::find(&state.keys, kid, alg) {
                return Lookup::Found(key);
            }
        }
        if !self.may_refetch() {
            return Lookup::Unknown;
        }
        if let Err(e) = self.fetch_now().await {
            tracing::warn!(target: "secure_api::auth", location = ?self.location, error = %e, "JWKS fetch failed; keeping the cached keys");
        }
        let state = self.read();
        match Self::find(&state.keys, kid, alg) {
            Some(key) => Lookup::Found(key),
            None => Lookup::Unknown,
        }
    }

    fn may_refetch(&self) -> bool {
        self.read()
            .attempted_at
            .is_none_or(|at| at.elapsed() >= self.cooldown)
    }

    fn refresh_in_background(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let source = Arc::clone(self);
        runtime.spawn(async move {
            let _one_at_a_time = source.refetch.lock().await;
            let due = source
                .read()
                .fetched_at
                .is_none_or(|at| at.elapsed() >= source.refresh);
            if due && let Err(e) = source.fetch_now().await {
                tracing::warn!(target: "secure_api::auth", location = ?source.location, error = %e, "JWKS refresh failed; keeping the cached keys");
            }
            source.refreshing.store(false, Ordering::Release);
        });
    }

    /// Fetches the set now (discovery first when configured). Callers hold `refetch`.
    pub(crate) async fn fetch_now(&self) -> Result<(), JwksError> {
        self.write().attempted_at = Some(Instant::now());
        let url = match &self.location {
            JwksLocation::Url(url) => url.clone(),
            JwksLocation::Discover { issuer, config } => {
                let known = self.read().discovered.clone();
                match known {
                    Some(url) => url,
                    None => {
                        let url = self.discover(issuer, config).await?;
                        self.write().discovered = Some(url.clone());
                        url
                    }
                }
            }
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let body = self.fetcher.get(&url).await.map_err(JwksError::Fetch)?;
        let keys = parse_jwks(&body)?;
        let mut state = self.write();
        state.keys = Arc::new(keys);
        state.fetched_at = Some(Instant::now());
        Ok(())
    }

    async fn discover(&self, issuer: &str, config: &FetchUrl) -> Result<FetchUrl, JwksError> {
        let body = self.fetcher.get(config).await.map_err(JwksError::Fetch)?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|_| JwksError::Invalid("the discovery document is not JSON"))?;
        match doc.get("issuer") {
            Some(Value::String(found)) if found == issuer => {}
            _ => return Err(JwksError::IssuerMismatch),
        }
        let Some(Value::String(jwks_uri)) = doc.get("jwks_uri") else {
            return Err(JwksError::Invalid("the discovery document has no jwks_uri"));
        };
        FetchUrl::parse("oidc.jwks_uri", jwks_uri).map_err(JwksError::Config)
    }

    /// How many JWKS documents were requested so far.
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

/// Why the set could not be (re)loaded.
#[derive(Debug)]
pub(crate) enum JwksError {
    Fetch(FetchError),
    Invalid(&'static str),
    IssuerMismatch,
    Config(ConfigError),
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksError::Fetch(e) => write!(f, "{e}"),
            JwksError::Invalid(why) => f.write_str(why),
            JwksError::IssuerMismatch => f.write_str(
                "the discovery document's `issuer` is not exactly the configured issuer",
            ),
            JwksError::Config(e) => write!(f, "{e}"),
        }
    }
}

fn key_algorithm(alg: &KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The usable keys of a JWKS document; the document itself must be a JSON object with a
/// `keys` array.
fn parse_jwks(body: &[u8]) -> Result<KeySet, JwksError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| JwksError::Invalid("the JWKS is not JSON"))?;
    let Some(Value::Array(entries)) = doc.get("keys") else {
        return Err(JwksError::Invalid("the JWKS has no `keys` array"));
    };
    let mut set = KeySet::default();
    for entry in entries {
        if set.len() >= MAX_JWKS_KEYS {
            break;
        }
        // Only public signature keys; `oct` keys would turn a published value into an
        // HMAC secret.
        if entry.get("kty").and_then(Value::as_str) != Some("RSA")
            && entry.get("kty").and_then(Value::as_str) != Some("EC")
            && entry.get("kty").and_then(Value::as_str) != Some("OKP")
        {
            continue;
        }
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            continue;
        }
        if jwk
            .common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
        {
            continue;
        }
        let alg = match &jwk.common.key_algorithm {
            None => None,
            Some(a) => match key_algorithm(a) {
                Some(a) => Some(a),
                None => continue,
            },
        };
        let curve_alg = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => Some(Algorithm::ES256),
                EllipticCurve::P384 => Some(Algorithm::ES384),
                _ => continue,
            },
            AlgorithmParameters::OctetKeyPair(p) => match p.curve {
                EllipticCurve::Ed25519 => Some(Algorithm::EdDSA),
                _ => continue,
            },
            AlgorithmParameters::RSA(_) => None,
            _ => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let Ok(params) = serde_json::to_vec(&jwk.algorithm) else {
            continue;
        };
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &params).as_ref(),
        );
        if key.family() == AlgorithmFamily::Hmac {
            continue;
        }
        let entry = Arc::new(JwkKey {
            key,
            fingerprint,
            alg,
            curve_alg,
        });
        match jwk.common.key_id {
            Some(kid) => {
                set.by_kid.entry(kid).or_insert(entry);
            }
            None => set.anonymous.push(entry),
        }
    }
    Ok(set)
}

impl crate::config::Security {
    /// Fetches every trusted issuer's JWKS now (after discovery, when configured), so that
    /// a wrong URL or a discovery document naming another issuer stops the service at
    /// start-up instead of refusing the first requests. Without it the keys are fetched at
    /// first use.
    ///
    /// ```no_run
    /// # async fn start() -> Result<(), secure_api_runtime::ConfigError> {
    /// use secure_api_runtime::{Security, TrustedIssuer};
    /// let security = Security::builder()
    ///     .trusted_issuer(TrustedIssuer::new("https://idp.example").audience("orders").discover())
    ///     .build()?;
    /// security.prefetch_keys().await?;
    /// # Ok(()) }
    /// ```
    pub async fn prefetch_keys(&self) -> Result<(), ConfigError> {
        for (issuer, source) in self.0.jwt.jwks_sources() {
            let _one_at_a_time = source.refetch.lock().await;
            source.fetch_now().await.map_err(|e| {
                ConfigError::new(
                    "jwt.trusted_issuer.jwks_url",
                    format!("issuer {issuer:?}: cannot load its keys: {e}"),
                )
            })?;
        }
        Ok(())
    }

    /// How many JWKS documents have been requested so far, over every trusted issuer.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// assert_eq!(security.jwks_fetches(), 0);
    /// ```
    pub fn jwks_fetches(&self) -> u64 {
        self.0
            .jwt
            .jwks_sources()
            .iter()
            .map(|(_, source)| source.fetch_count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_encryption_keys_are_ignored() {
        let doc = br#"{"keys":[
            {"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
            {"kty":"OKP","kid":"enc","use":"enc","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","kid":"ed","use":"sig","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"weird","kid":"w"}
        ]}"#;
        let set = parse_jwks(doc).unwrap();
        assert_eq!(set.len(), 1);
        let ed = set.by_kid.get("ed").unwrap();
        assert!(ed.accepts(Algorithm::EdDSA));
        assert!(!ed.accepts(Algorithm::HS256));
        assert!(!ed.accepts(Algorithm::ES256));
    }

    #[test]
    fn a_document_without_keys_is_refused() {
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"not json").is_err());
    }
}
