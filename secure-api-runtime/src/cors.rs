//! CORS with a strict allow-list, checked at start-up.
//!
//! Browsers only; an allow-list of exact origins (scheme, host and port), never a pattern.
//! A wildcard together with credentials, a `null` origin, an origin with a path or a
//! plain-`http` origin other than localhost are configuration errors.
//!
//! ```
//! use axum::{Router, routing::get};
//! use secure_api_runtime::CorsPolicy;
//!
//! let cors = CorsPolicy::new()
//!     .allow_origin("https://app.example.com")
//!     .allow_methods(["GET", "POST"])
//!     .allow_headers(["authorization", "content-type"])
//!     .allow_credentials()
//!     .build()
//!     .expect("valid CORS policy");
//! let app: Router = Router::new().route("/", get(|| async { "ok" })).layer(cors);
//! ```

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::ConfigError;

/// A CORS policy being built; [`CorsPolicy::build`] checks it and makes the layer.
///
/// ```
/// let err = secure_api_runtime::CorsPolicy::new().allow_any_origin().allow_credentials().build().unwrap_err();
/// assert_eq!(err.setting(), "cors.allow_origin");
/// ```
#[derive(Debug, Clone, Default)]
pub struct CorsPolicy {
    origins: Vec<String>,
    any_origin: bool,
    methods: Vec<String>,
    headers: Vec<String>,
    expose: Vec<String>,
    credentials: bool,
    max_age: Option<Duration>,
}

impl CorsPolicy {
    /// An empty policy: no origin is allowed until one is added.
    ///
    /// ```
    /// let policy = secure_api_runtime::CorsPolicy::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows one exact origin, such as `https://app.example.com`.
    ///
    /// ```
    /// let policy = secure_api_runtime::CorsPolicy::new().allow_origin("https://app.example.com");
    /// ```
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// Allows every origin (`*`); refused together with credentials.
    ///
    /// ```
    /// let layer = secure_api_runtime::CorsPolicy::new().allow_any_origin().build().unwrap();
    /// ```
    pub fn allow_any_origin(mut self) -> Self {
        self.any_origin = true;
        self
    }

    /// The methods cross-origin requests may use (default: GET and HEAD).
    ///
    /// ```
    /// let policy = secure_api_runtime::CorsPolicy::new().allow_methods(["GET", "DELETE"]);
    /// ```
    pub fn allow_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods.extend(methods.into_iter().map(Into::into));
        self
    }

    /// The request headers cross-origin requests may send.
    ///
    /// ```
    /// let policy = secure_api_runtime::CorsPolicy::new().allow_headers(["authorization"]);
    /// ```
    pub fn allow_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.headers.extend(headers.into_iter().map(Into::into));
        self
    }

    /// Response headers the browser may show to the page.
    ///
    /// ```
    /// let policy = secure_api_runtime::CorsPolicy::new().expose_headers(["ratelimit"]);
    /// ```
    pub fn expose_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.expose.extend(headers.into_iter().map(Into::into));
        self
    }

    /// Lets the browser send cookies and `Authorization` cross-origin.
    ///
    /// ```
    /// let policy = secure_api_runtime::CorsPolicy::new().allow_credentials();
    /// ```
    pub fn allow_credentials(mut self) -> Self {
        self.credentials = true;
        self
    }

    /// How long browsers may cache a preflight answer (at most one day).
    ///
    /// ```
    /// let policy = secure_api_runtime::CorsPolicy::new().max_age(std::time::Duration::from_secs(600));
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Checks the policy and builds the tower layer.
    ///
    /// ```
    /// let err = secure_api_runtime::CorsPolicy::new().allow_origin("https://app.example.com/path").build().unwrap_err();
    /// assert!(err.message().contains("path"));
    /// ```
    pub fn build(self) -> Result<CorsLayer, ConfigError> {
        let origin_error = |message: String| ConfigError::new("cors.allow_origin", message);
        if self.any_origin && self.credentials {
            return Err(origin_error(
                "a wildcard origin together with credentials would let any site act as the \
                 signed-in user; list the origins"
                    .to_owned(),
            ));
        }
        if self.any_origin && !self.origins.is_empty() {
            return Err(origin_error(
                "both a wildcard and a list of origins are set".to_owned(),
            ));
        }
        let mut origins = Vec::with_capacity(self.origins.len());
        for origin in &self.origins {
            origins.push(check_origin(origin).map_err(origin_error)?);
        }
        if !self.any_origin && origins.is_empty() {
            return Err(origin_error("no origin is allowed".to_owned()));
        }
        let methods = if self.methods.is_empty() {
            vec![Method::GET, Method::HEAD]
        } else {
            self.methods
                .iter()
                .map(|m| {
                    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| {
                        ConfigError::new("cors.allow_methods", format!("`{m}` is not a method"))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        let header_names = |setting: &'static str, names: &[String]| {
            names
                .iter()
                .map(|h| {
                    if h == "*" {
                        return Err(ConfigError::new(
                            setting,
                            "list the headers; `*` is not allowed",
                        ));
                    }
                    HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                        ConfigError::new(setting, format!("`{h}` is not a header name"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let headers = header_names("cors.allow_headers", &self.headers)?;
        let expose = header_names("cors.expose_headers", &self.expose)?;
        let max_age = self.max_age.unwrap_or(Duration::from_secs(600));
        if max_age > Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                "cors.max_age",
                "browsers cap preflight caching at a day at most",
            ));
        }
        let allow_origin = if self.any_origin {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(origins)
        };
        let mut layer = CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods(methods)
            .allow_headers(headers)
            .expose_headers(expose)
            .max_age(max_age);
        if self.credentials {
            layer = layer.allow_credentials(true);
        }
        Ok(layer)
    }
}

/// `scheme://host[:port]`, https (or http for localhost), nothing else.
fn check_origin(origin: &str) -> Result<HeaderValue, String> {
    if origin == "*" {
        return Err("use allow_any_origin() for `*`".to_owned());
    }
    if origin.eq_ignore_ascii_case("null") {
        return Err(
            "the `null` origin is shared by sandboxed documents and files; it cannot be trusted"
                .to_owned(),
        );
    }
    let uri: http::Uri = origin
        .parse()
        .map_err(|_| format!("`{origin}` is not an origin like `https://app.example.com`"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(format!(
            "`{origin}` is not an origin like `https://app.example.com`"
        ));
    };
    if origin.trim_end_matches('/') != format!("{scheme}://{authority}") || origin.ends_with('/') {
        return Err(format!(
            "`{origin}` has a path, query or trailing slash; an origin is scheme, host and port only"
        ));
    }
    if authority.as_str().contains('@') {
        return Err(format!("`{origin}` holds user information"));
    }
    let local = matches!(authority.host(), "localhost" | "127.0.0.1" | "[::1]");
    match scheme {
        "https" => {}
        "http" if local => {}
        _ => {
            return Err(format!(
                "`{origin}` must use https (http only for localhost)"
            ));
        }
    }
    HeaderValue::from_str(origin).map_err(|_| format!("`{origin}` is not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact() {
        assert!(check_origin("https://app.example.com").is_ok());
        assert!(check_origin("https://app.example.com:8443").is_ok());
        assert!(check_origin("http://localhost:5173").is_ok());
        for bad in [
            "*",
            "null",
            "https://app.example.com/",
            "https://app.example.com/x",
            "http://app.example.com",
            "app.example.com",
            "https://u@app.example.com",
            "https://app.example.com?x=1",
            "ftp://app.example.com",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
