//! HTTPS enforcement and HSTS.
//!
//! With [`SecurityBuilder::require_https`](crate::SecurityBuilder::require_https), a
//! request that arrived over plain HTTP is never processed: a browser-style `GET`/`HEAD`
//! without credentials is redirected (308) to the same target over HTTPS, and anything
//! else — above all an API call that carries credentials, which are already exposed — is
//! refused with 400 problem+json. Responses to HTTPS requests carry
//! `Strict-Transport-Security`.
//!
//! The scheme is the request's own (`https://` in an absolute URI, or HTTP/2's `:scheme`),
//! or [`RequestScheme`] set by the server that terminated TLS.
//!
//! ```
//! use secure_api_runtime::{HttpsSettings, Security};
//!
//! let security = Security::builder()
//!     .hmac_secret(vec![7; 32])
//!     .issuer("i")
//!     .audience("a")
//!     .require_https(HttpsSettings::new().preload())
//!     .build()
//!     .unwrap();
//! ```

use std::time::Duration;

use http::header::{HOST, LOCATION};
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};

/// How a request reached the server; set as a request extension by the server that
/// terminates TLS (the `tls` feature's server does).
///
/// ```
/// use secure_api_runtime::RequestScheme;
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(RequestScheme::Https);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestScheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// What [`SecurityBuilder::require_https`](crate::SecurityBuilder::require_https) enforces.
///
/// ```
/// use std::time::Duration;
/// use secure_api_runtime::HttpsSettings;
///
/// let settings = HttpsSettings::new()
///     .hsts_max_age(Duration::from_secs(2 * 31_536_000))
///     .https_port(8443);
/// assert_eq!(settings.hsts_value(), "max-age=63072000; includeSubDomains");
/// ```
#[derive(Debug, Clone)]
pub struct HttpsSettings {
    max_age: Duration,
    include_subdomains: bool,
    preload: bool,
    https_port: Option<u16>,
}

impl Default for HttpsSettings {
    fn default() -> Self {
        HttpsSettings {
            max_age: Duration::from_secs(31_536_000),
            include_subdomains: true,
            preload: false,
            https_port: None,
        }
    }
}

impl HttpsSettings {
    /// HSTS for one year with `includeSubDomains`, no preload, redirects to port 443.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::HttpsSettings::new().hsts_value(), "max-age=31536000; includeSubDomains");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The HSTS `max-age`.
    ///
    /// ```
    /// let s = secure_api_runtime::HttpsSettings::new().hsts_max_age(std::time::Duration::from_secs(600));
    /// assert!(s.hsts_value().starts_with("max-age=600"));
    /// ```
    pub fn hsts_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Leaves `includeSubDomains` out of HSTS.
    ///
    /// ```
    /// let s = secure_api_runtime::HttpsSettings::new().without_subdomains();
    /// assert_eq!(s.hsts_value(), "max-age=31536000");
    /// ```
    pub fn without_subdomains(mut self) -> Self {
        self.include_subdomains = false;
        self
    }

    /// Adds `preload` (opt-in: a preloaded domain cannot easily go back to HTTP).
    ///
    /// ```
    /// let s = secure_api_runtime::HttpsSettings::new().preload();
    /// assert!(s.hsts_value().ends_with("; preload"));
    /// ```
    pub fn preload(mut self) -> Self {
        self.preload = true;
        self
    }

    /// The port redirects point to, when HTTPS is not served on 443.
    ///
    /// ```
    /// let s = secure_api_runtime::HttpsSettings::new().https_port(8443);
    /// ```
    pub fn https_port(mut self, port: u16) -> Self {
        self.https_port = Some(port);
        self
    }

    /// The `Strict-Transport-Security` value.
    ///
    /// ```
    /// assert!(secure_api_runtime::HttpsSettings::new().hsts_value().contains("includeSubDomains"));
    /// ```
    pub fn hsts_value(&self) -> String {
        let mut value = format!("max-age={}", self.max_age.as_secs());
        if self.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.preload {
            value.push_str("; preload");
        }
        value
    }
}

/// The checked settings the layer uses.
#[derive(Debug, Clone)]
pub(crate) struct HttpsPolicy {
    pub(crate) hsts: HeaderValue,
    https_port: Option<u16>,
}

impl HttpsPolicy {
    pub(crate) fn new(settings: &HttpsSettings) -> Result<Self, crate::ConfigError> {
        if settings.preload
            && (settings.max_age < Duration::from_secs(31_536_000) || !settings.include_subdomains)
        {
            return Err(crate::ConfigError::new(
                "require_https.preload",
                "HSTS preload needs a max-age of at least one year and includeSubDomains",
            ));
        }
        if settings.https_port == Some(0) {
            return Err(crate::ConfigError::new(
                "require_https.https_port",
                "port 0 cannot be redirected to",
            ));
        }
        let hsts = HeaderValue::from_str(&settings.hsts_value())
            .map_err(|_| crate::ConfigError::new("require_https", "invalid HSTS value"))?;
        Ok(HttpsPolicy {
            hsts,
            https_port: settings.https_port,
        })
    }

    /// The answer to a plain-HTTP request: a redirect or a refusal, never the handler.
    pub(crate) fn refuse_plain(
        &self,
        parts: &Parts,
        credentialed: bool,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let browser_style = parts.method == Method::GET || parts.method == Method::HEAD;
        if credentialed || !browser_style {
            tracing::info!(target: "secure_api", method = %parts.method, "plain-HTTP request refused: HTTPS is required");
            return crate::SecurityError::https_required().into_response();
        }
        let Some(location) = self.redirect_target(parts) else {
            return crate::SecurityError::https_required().into_response();
        };
        let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
        response.headers_mut().insert(LOCATION, location);
        response
    }

    fn redirect_target(&self, parts: &Parts) -> Option<HeaderValue> {
        let host = parts
            .uri
            .authority()
            .map(|a| a.host().to_owned())
            .or_else(|| {
                let host = parts.headers.get(HOST)?.to_str().ok()?;
                let authority: http::uri::Authority = host.parse().ok()?;
                Some(authority.host().to_owned())
            })?;
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return None;
        }
        let port = match self.https_port {
            None | Some(443) => String::new(),
            Some(port) => format!(":{port}"),
        };
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        HeaderValue::from_str(&format!("https://{host}{port}{target}")).ok()
    }
}

/// The scheme of a request: the server's word ([`RequestScheme`]), else what a trusted
/// proxy in front reports (`X-Forwarded-Proto` / `Forwarded: proto=`), else the URI's.
/// A header from an untrusted peer is never believed.
pub(crate) fn scheme_of(parts: &Parts, proxies: &crate::TrustedProxies) -> RequestScheme {
    if let Some(scheme) = parts.extensions.get::<RequestScheme>() {
        return *scheme;
    }
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(proto) = peer.and_then(|peer| proxies.forwarded_proto(peer, &parts.headers)) {
        return if proto == "https" {
            RequestScheme::Https
        } else {
            RequestScheme::Http
        };
    }
    match parts.uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => RequestScheme::Https,
        _ => RequestScheme::Http,
    }
}
