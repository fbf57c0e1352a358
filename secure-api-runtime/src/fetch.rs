//! The small HTTP client that fetches JWKS, discovery documents and introspection results.
//!
//! One HTTP/1.1 connection per request (fetches are rare and cached, so no pool), a connect
//! timeout and a total timeout, a cap on the response body, no redirects, and only
//! `https://` URLs — plain `http://` is accepted for loopback hosts only (tests, local
//! development). HTTPS uses rustls on aws-lc-rs with Mozilla's root certificates.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, RootCertStore, pki_types::ServerName};

use crate::config::ConfigError;

/// Default time allowed to open the connection (TCP and TLS).
pub const DEFAULT_FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time allowed for a whole fetch, from connecting to the last body byte.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on a fetched document (JWKS, discovery, introspection response).
pub const DEFAULT_FETCH_MAX_BYTES: usize = 256 * 1024;

/// How the identity provider is reached: timeouts and the response size cap.
///
/// ```
/// use std::time::Duration;
/// use secure_api_runtime::FetchSettings;
///
/// let settings = FetchSettings::default()
///     .connect_timeout(Duration::from_secs(1))
///     .timeout(Duration::from_secs(3))
///     .max_bytes(64 * 1024);
/// # let _ = settings;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FetchSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_bytes: usize,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout: DEFAULT_FETCH_CONNECT_TIMEOUT,
            timeout: DEFAULT_FETCH_TIMEOUT,
            max_bytes: DEFAULT_FETCH_MAX_BYTES,
        }
    }
}

impl FetchSettings {
    /// Time allowed to open the connection, TLS handshake included (default 2 s).
    ///
    /// ```
    /// let s = secure_api_runtime::FetchSettings::default().connect_timeout(std::time::Duration::from_millis(500));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for the whole fetch (default 5 s).
    ///
    /// ```
    /// let s = secure_api_runtime::FetchSettings::default().timeout(std::time::Duration::from_secs(2));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest response body accepted (default 256 KiB); a larger one is refused.
    ///
    /// ```
    /// let s = secure_api_runtime::FetchSettings::default().max_bytes(32 * 1024);
    /// ```
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    pub(crate) fn check(&self, setting: &'static str) -> Result<(), ConfigError> {
        if self.connect_timeout.is_zero() || self.timeout.is_zero() {
            return Err(ConfigError::new(setting, "fetch timeouts must be positive"));
        }
        if self.max_bytes == 0 {
            return Err(ConfigError::new(
                setting,
                "the fetch size cap must be positive",
            ));
        }
        Ok(())
    }
}

/// Why a fetch failed. Never shown to clients; logged at `warn`.
#[derive(Debug)]
pub(crate) enum FetchError {
    Timeout,
    TooLarge,
    Status(u16),
    Connect(String),
    Protocol(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Timeout => f.write_str("timed out"),
            FetchError::TooLarge => f.write_str("response larger than the size cap"),
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            FetchError::Connect(e) => write!(f, "cannot connect: {e}"),
            FetchError::Protocol(e) => write!(f, "HTTP error: {e}"),
        }
    }
}

/// A checked `https://` (or loopback `http://`) URL.
#[derive(Clone)]
pub(crate) struct FetchUrl {
    uri: Uri,
    host: String,
    port: u16,
    tls: bool,
}

impl fmt::Debug for FetchUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.uri)
    }
}

impl fmt::Display for FetchUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.uri)
    }
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl FetchUrl {
    pub(crate) fn parse(setting: &'static str, url: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::new(setting, format!("{url:?}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("only https:// URLs are accepted")),
        };
        let authority = uri.authority().ok_or_else(|| bad("the URL has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not accepted"));
        }
        let host = authority.host().to_owned();
        if host.is_empty() {
            return Err(bad("the URL has no host"));
        }
        if !tls && !is_loopback_host(&host) {
            return Err(bad(
                "plain http:// is only accepted for loopback hosts (127.0.0.1, ::1, localhost); \
                 use https://",
            ));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(FetchUrl {
            uri,
            host,
            port,
            tls,
        })
    }

    /// The URL joined with an absolute path (for `/.well-known/openid-configuration`).
    pub(crate) fn with_path(&self, path: &str) -> Result<Self, ConfigError> {
        let base = self.uri.to_string();
        let joined = format!("{}{}", base.trim_end_matches('/'), path);
        FetchUrl::parse("oidc.issuer", &joined)
    }
}

/// Fetches documents under the configured limits.
#[derive(Clone)]
pub(crate) struct Fetcher {
    settings: FetchSettings,
    tls: TlsConnector,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl Fetcher {
    pub(crate) fn new(settings: FetchSettings, setting: &'static str) -> Result<Self, ConfigError> {
        settings.check(setting)?;
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::new(setting, format!("TLS client: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Fetcher {
            settings,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// GETs `url` with `Accept: application/json`; the body of a 200 response.
    pub(crate) async fn get(&self, url: &FetchUrl) -> Result<Bytes, FetchError> {
        self.send(url, http::Method::GET, None, Bytes::new()).await
    }

    /// POSTs a form to `url`, with an optional `Authorization` value.
    #[cfg(feature = "introspection")]
    pub(crate) async fn post_form(
        &self,
        url: &FetchUrl,
        authorization: Option<&http::HeaderValue>,
        form: String,
    ) -> Result<Bytes, FetchError> {
        self.send(url, http::Method::POST, authorization, Bytes::from(form))
            .await
    }

    async fn send(
        &self,
        url: &FetchUrl,
        method: http::Method,
        authorization: Option<&http::HeaderValue>,
        body: Bytes,
    ) -> Result<Bytes, FetchError> {
        match tokio::time::timeout(
            self.settings.timeout,
            self.send_inner(url, method, authorization, body),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn connect(&self, url: &FetchUrl) -> Result<Box<dyn Io>, FetchError> {
        let connect = async {
            let host = url.host.trim_start_matches('[').trim_end_matches(']');
            let tcp = TcpStream::connect((host, url.port))
                .await
                .map_err(|e| FetchError::Connect(e.kind().to_string()))?;
            let _ = tcp.set_nodelay(true);
            if !url.tls {
                return Ok(Box::new(tcp) as Box<dyn Io>);
            }
            let name = ServerName::try_from(host.to_owned())
                .map_err(|_| FetchError::Connect("invalid server name".to_owned()))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| FetchError::Connect(format!("TLS: {e}")))?;
            Ok(Box::new(tls) as Box<dyn Io>)
        };
        match tokio::time::timeout(self.settings.connect_timeout, connect).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn send_inner(
        &self,
        url: &FetchUrl,
        method: http::Method,
        authorization: Option<&http::HeaderValue>,
        body: Bytes,
    ) -> Result<Bytes, FetchError> {
        let io = self.connect(url).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| FetchError::Protocol(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = url
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let host_header = match (url.tls, url.port) {
            (true, 443) | (false, 80) => url.host.clone(),
            (_, port) => format!("{}:{port}", url.host),
        };
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, host_header)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "secure-api");
        if method == http::Method::POST {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value.clone());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| FetchError::Protocol(e.to_string()))?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| FetchError::Protocol(e.to_string()))?;
            if response.status() != http::StatusCode::OK {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            let declared = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > self.settings.max_bytes as u64) {
                return Err(FetchError::TooLarge);
            }
            let mut body = response.into_body();
            let mut out = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| FetchError::Protocol(e.to_string()))?;
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > self.settings.max_bytes {
                        return Err(FetchError::TooLarge);
                    }
                    out.extend_from_slice(&data);
                }
            }
            Ok(Bytes::from(out))
        }
        .await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(FetchUrl::parse("s", "https://idp.example/jwks").is_ok());
        assert!(FetchUrl::parse("s", "http://127.0.0.1:8080/jwks").is_ok());
        assert!(FetchUrl::parse("s", "http://localhost/jwks").is_ok());
        assert!(FetchUrl::parse("s", "http://[::1]:9/jwks").is_ok());
        let err = FetchUrl::parse("s", "http://idp.example/jwks").unwrap_err();
        assert_eq!(err.setting(), "s");
        assert!(FetchUrl::parse("s", "ftp://idp.example/jwks").is_err());
        assert!(FetchUrl::parse("s", "https://user:pw@idp.example/jwks").is_err());
        assert!(FetchUrl::parse("s", "/jwks").is_err());
        assert!(FetchUrl::parse("s", "http://127.0.0.2.evil.example/").is_err());
    }
}
