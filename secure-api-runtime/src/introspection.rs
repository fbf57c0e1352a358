//! RFC 7662 token introspection for opaque (non-JWT) bearer tokens.
//!
//! A bearer token that is not a compact JWS is sent to the introspection endpoint (POST,
//! `token=...&token_type_hint=access_token`, HTTP Basic client authentication as RFC 6749
//! 2.3.1 describes). `active: true` with a non-empty `sub` authenticates; anything else is
//! 401. When the endpoint cannot answer (unreachable, timeout, non-200, unreadable body)
//! the request fails closed with **503**: the token was not judged, so it is neither
//! accepted nor reported as invalid.
//!
//! Answers are cached by the token's SHA-256 for a short time (default 30 s), never beyond
//! the token's `exp`; inactive answers are cached as well, so replaying a dead token does
//! not reach the endpoint on every request. The cache holds a bounded number of entries.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::error::SecurityError;
use crate::fetch::{FetchSettings, FetchUrl, Fetcher};
use crate::replay::now_secs;
use crate::token_cache::{Digest, token_digest};

/// Default time an introspection answer is reused.
pub const DEFAULT_INTROSPECTION_CACHE_TTL: Duration = Duration::from_secs(30);
/// Default number of introspection answers kept.
pub const DEFAULT_INTROSPECTION_CACHE_ENTRIES: usize = 10_000;

/// Where and how opaque tokens are introspected. Added with
/// [`SecurityBuilder::introspection`](crate::SecurityBuilder::introspection).
/// The client secret is never printed (`Debug` is redacted).
///
/// ```
/// use std::time::Duration;
/// use secure_api_runtime::Introspection;
///
/// let introspection = Introspection::new("https://idp.example/oauth2/introspect", "orders-api", "s3cret")
///     .issuer("https://idp.example")
///     .audience("orders")
///     .cache_ttl(Duration::from_secs(10));
/// assert!(!format!("{introspection:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct Introspection {
    endpoint: String,
    client_id: String,
    client_secret: String,
    issuer: Option<String>,
    audience: Option<String>,
    cache_ttl: Duration,
    cache_entries: usize,
    fetch: FetchSettings,
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl Introspection {
    /// The endpoint (`https://`, or `http://` on loopback) and this API's client
    /// credentials at the authorization server.
    ///
    /// ```
    /// let i = secure_api_runtime::Introspection::new("https://idp.example/introspect", "api", "secret");
    /// ```
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Introspection {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            issuer: None,
            audience: None,
            cache_ttl: DEFAULT_INTROSPECTION_CACHE_TTL,
            cache_entries: DEFAULT_INTROSPECTION_CACHE_ENTRIES,
            fetch: FetchSettings::default(),
        }
    }

    /// Require this `iss` in the answer.
    ///
    /// ```
    /// let i = secure_api_runtime::Introspection::new("https://idp.example/i", "api", "s").issuer("https://idp.example");
    /// ```
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Require this audience in the answer's `aud` (a string or an array).
    ///
    /// ```
    /// let i = secure_api_runtime::Introspection::new("https://idp.example/i", "api", "s").audience("orders");
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long an answer is reused (default 30 s; never beyond the token's `exp`;
    /// zero disables the cache).
    ///
    /// ```
    /// let i = secure_api_runtime::Introspection::new("https://idp.example/i", "api", "s").cache_ttl(std::time::Duration::ZERO);
    /// ```
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many answers are kept (default 10,000).
    ///
    /// ```
    /// let i = secure_api_runtime::Introspection::new("https://idp.example/i", "api", "s").cache_entries(1_000);
    /// ```
    pub fn cache_entries(mut self, entries: usize) -> Self {
        self.cache_entries = entries;
        self
    }

    /// Timeouts and size cap of introspection requests.
    ///
    /// ```
    /// use secure_api_runtime::{FetchSettings, Introspection};
    /// let i = Introspection::new("https://idp.example/i", "api", "s")
    ///     .fetch_settings(FetchSettings::default().timeout(std::time::Duration::from_secs(1)));
    /// ```
    pub fn fetch_settings(mut self, settings: FetchSettings) -> Self {
        self.fetch = settings;
        self
    }

    pub(crate) fn build(self) -> Result<Introspector, ConfigError> {
        let setting = "introspection.endpoint";
        let url = FetchUrl::parse(setting, &self.endpoint)?;
        if self.client_id.is_empty() {
            return Err(ConfigError::new(
                "introspection.client_id",
                "the client id is empty",
            ));
        }
        if self.client_secret.is_empty() {
            return Err(ConfigError::new(
                "introspection.client_secret",
                "the client secret is empty",
            ));
        }
        if self.cache_ttl > Duration::from_secs(300) {
            return Err(ConfigError::new(
                "introspection.cache_ttl",
                "answers cached beyond 5 minutes would outlive revocations",
            ));
        }
        let credentials = format!(
            "{}:{}",
            form_encode(&self.client_id),
            form_encode(&self.client_secret)
        );
        let authorization =
            http::HeaderValue::from_str(&format!("Basic {}", base64(credentials.as_bytes())))
                .map_err(|_| {
                    ConfigError::new(
                        "introspection.client_secret",
                        "the client credentials cannot be sent",
                    )
                })?;
        let mut authorization = authorization;
        authorization.set_sensitive(true);
        Ok(Introspector {
            url,
            fetcher: Fetcher::new(self.fetch, setting)?,
            authorization,
            issuer: self.issuer,
            audience: self.audience,
            cache_ttl: self.cache_ttl,
            cache_entries: self.cache_entries,
            cache: Mutex::new(HashMap::new()),
            calls: Default::default(),
        })
    }
}

struct Answer {
    claims: Option<Arc<Map<String, Value>>>,
    until: u64,
}

pub(crate) struct Introspector {
    url: FetchUrl,
    fetcher: Fetcher,
    authorization: http::HeaderValue,
    issuer: Option<String>,
    audience: Option<String>,
    cache_ttl: Duration,
    cache_entries: usize,
    cache: Mutex<HashMap<Digest, Answer>>,
    pub(crate) calls: std::sync::atomic::AtomicU64,
}

impl Introspector {
    /// The claims of an active token; 401 when inactive or refused, 503 when the endpoint
    /// cannot answer.
    pub(crate) async fn introspect(
        &self,
        token: &str,
    ) -> Result<Arc<Map<String, Value>>, SecurityError> {
        let digest = token_digest(token);
        let now = now_secs();
        if let Some(answer) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .filter(|a| a.until > now)
        {
            return answer.claims.clone().ok_or_else(inactive);
        }
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let form = format!("token={}&token_type_hint=access_token", form_encode(token));
        let body = self
            .fetcher
            .post_form(&self.url, Some(&self.authorization), form)
            .await
            .map_err(|e| {
                tracing::warn!(target: "secure_api::auth", endpoint = %self.url, error = %e, "token introspection failed; refusing with 503");
                SecurityError::unavailable()
            })?;
        let answer: Map<String, Value> = serde_json::from_slice(&body).map_err(|_| {
            tracing::warn!(target: "secure_api::auth", endpoint = %self.url, "introspection answer is not a JSON object; refusing with 503");
            SecurityError::unavailable()
        })?;
        let (claims, until) = self.judge(answer, now);
        if self.cache_entries > 0 && until > now {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= self.cache_entries {
                cache.retain(|_, a| a.until > now);
            }
            if cache.len() >= self.cache_entries {
                cache.clear();
            }
            cache.insert(
                digest,
                Answer {
                    claims: claims.clone(),
                    until,
                },
            );
        }
        claims.ok_or_else(inactive)
    }

    /// The claims when the answer says active (and matches issuer and audience), and
    /// until when the verdict may be reused.
    fn judge(
        &self,
        answer: Map<String, Value>,
        now: u64,
    ) -> (Option<Arc<Map<String, Value>>>, u64) {
        let ttl_until = now.saturating_add(self.cache_ttl.as_secs());
        let reason = if answer.get("active") != Some(&Value::Bool(true)) {
            Some("inactive")
        } else {
            None
        };
        let exp = answer.get("exp").map(Value::as_u64);
        let reason = reason.or(match exp {
            Some(None) => Some("exp is not a number"),
            Some(Some(exp)) if exp <= now => Some("expired"),
            _ => None,
        });
        let reason = reason.or_else(|| match &self.issuer {
            Some(iss) if answer.get("iss").and_then(Value::as_str) != Some(iss) => {
                Some("issuer mismatch")
            }
            _ => None,
        });
        let reason = reason.or_else(|| match &self.audience {
            Some(aud) => {
                let ok = match answer.get("aud") {
                    Some(Value::String(s)) => s == aud,
                    Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(aud)),
                    _ => false,
                };
                (!ok).then_some("audience mismatch")
            }
            None => None,
        });
        if let Some(reason) = reason {
            tracing::debug!(target: "secure_api::auth", reason, "introspected token refused");
            return (None, ttl_until);
        }
        let until = match exp {
            Some(Some(exp)) => ttl_until.min(exp),
            _ => ttl_until,
        };
        (Some(Arc::new(answer)), until)
    }
}

fn inactive() -> SecurityError {
    SecurityError::invalid_token()
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 with padding (HTTP Basic credentials).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_encoded() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
