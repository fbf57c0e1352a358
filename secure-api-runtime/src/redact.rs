//! Request logging with credentials redacted.
//!
//! With [`SecurityBuilder::log_requests`](crate::SecurityBuilder::log_requests), the layer
//! emits one event per request on the target [`REQUEST_LOG_TARGET`] with the method, the
//! route, the path, the query and the headers, where every credential is replaced by
//! `<redacted>`: `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`,
//! `X-API-Key`, any header whose name speaks of a token, secret, password, session, key or
//! signature, and every query parameter whose name does (`access_token`, `api_key`,
//! `client_secret`, `sig`...).
//!
//! ```
//! use secure_api_runtime::RedactedHeaders;
//! let mut headers = http::HeaderMap::new();
//! headers.insert("authorization", "Bearer abc.def.ghi".parse().unwrap());
//! headers.insert("accept", "application/json".parse().unwrap());
//! let shown = format!("{:?}", RedactedHeaders(&headers));
//! assert!(shown.contains("<redacted>") && !shown.contains("abc.def.ghi"));
//! assert!(shown.contains("application/json"));
//! ```

use std::fmt;
use std::time::Instant;

use axum::extract::MatchedPath;
use http::HeaderMap;
use http::request::Parts;

use crate::audit::RequestId;
use crate::guard::percent_decode_lower;

/// The `tracing` target of request log events.
pub const REQUEST_LOG_TARGET: &str = "secure_api::request";

const REDACTED: &str = "<redacted>";

/// Header names that always carry credentials.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Words that make a header or parameter name credential-like.
const CREDENTIAL_WORDS: &[&str] = &[
    "token",
    "secret",
    "passw",
    "session",
    "key",
    "sig",
    "auth",
    "credential",
    "jwt",
    "bearer",
];

pub(crate) fn credential_like(name: &str) -> bool {
    CREDENTIAL_HEADERS.contains(&name) || CREDENTIAL_WORDS.iter().any(|w| name.contains(w))
}

/// `Debug` of a header map with every credential value replaced by `<redacted>`.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("cookie", "session=s3cr3t".parse().unwrap());
/// let shown = format!("{:?}", secure_api_runtime::RedactedHeaders(&headers));
/// assert_eq!(shown, r#"{"cookie": "<redacted>"}"#);
/// ```
pub struct RedactedHeaders<'a>(pub &'a HeaderMap);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0 {
            let name = name.as_str();
            if credential_like(name) {
                map.entry(&name, &REDACTED);
            } else {
                match value.to_str() {
                    Ok(value) => map.entry(&name, &value),
                    Err(_) => map.entry(&name, &"<binary>"),
                };
            }
        }
        map.finish()
    }
}

/// A query string with the value of every credential-like parameter replaced.
///
/// ```
/// use secure_api_runtime::redact_query;
/// assert_eq!(redact_query("page=2&access_token=abc"), "page=2&access_token=<redacted>");
/// assert_eq!(redact_query("API%5FKEY=k&sort=name"), "API%5FKEY=<redacted>&sort=name");
/// ```
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            let decoded = percent_decode_lower(name);
            if credential_like(&decoded) {
                format!("{name}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// What the layer remembers of a request until its response is ready.
pub(crate) struct RequestLog {
    started: Instant,
    method: http::Method,
    route: Option<String>,
    path: String,
    query: String,
    headers: String,
}

impl RequestLog {
    pub(crate) fn start(parts: &Parts) -> Self {
        RequestLog {
            started: Instant::now(),
            method: parts.method.clone(),
            route: parts
                .extensions
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_owned()),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(redact_query).unwrap_or_default(),
            headers: format!("{:?}", RedactedHeaders(&parts.headers)),
        }
    }

    pub(crate) fn finish(&self, status: http::StatusCode, request_id: &RequestId) {
        tracing::info!(
            target: "secure_api::request",
            request_id = request_id.as_str(),
            method = %self.method,
            route = self.route.as_deref().unwrap_or(""),
            path = ?self.path,
            query = ?self.query,
            headers = %self.headers,
            status = status.as_u16(),
            latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_redacted_whatever_their_case() {
        let mut headers = HeaderMap::new();
        headers.insert("Authorization", "Bearer t0ken".parse().unwrap());
        headers.insert("X-API-Key", "k3y".parse().unwrap());
        headers.insert("X-Auth-Token", "t0k".parse().unwrap());
        headers.insert("Cookie", "sid=c00kie".parse().unwrap());
        headers.insert("User-Agent", "curl/8".parse().unwrap());
        let shown = format!("{:?}", RedactedHeaders(&headers));
        for secret in ["t0ken", "k3y", "t0k", "c00kie"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("curl/8"), "{shown}");
    }

    #[test]
    fn credential_parameters_are_redacted() {
        assert_eq!(
            redact_query("a=1&client_secret=s&id_token=t&sig=x&q=rust"),
            "a=1&client_secret=<redacted>&id_token=<redacted>&sig=<redacted>&q=rust"
        );
        assert_eq!(
            redact_query("access_token[]=t"),
            "access_token[]=<redacted>"
        );
        assert_eq!(redact_query("token"), "token=<redacted>");
    }
}
