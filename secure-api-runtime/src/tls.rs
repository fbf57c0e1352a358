//! Serving HTTPS with rustls (feature `tls`).
//!
//! [`serve_tls`] accepts TCP connections, completes the TLS handshake (with a timeout, so a
//! silent client cannot hold a slot), and serves the router over HTTP/1.1 with the
//! client's address (`ConnectInfo`) and [`RequestScheme::Https`](crate::RequestScheme) set
//! on every request, so that per-IP limits and `require_https` work as behind any other
//! TLS terminator. [`TlsConfig::self_signed`] makes a development certificate at start-up.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use secure_api_runtime::tls::{TlsConfig, serve_tls};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (tls, _certificate_pem) = TlsConfig::self_signed(&["localhost", "127.0.0.1"])?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3443").await?;
//! let app = Router::new().route("/health", get(|| async { "ok" }));
//! serve_tls(listener, app, tls, std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ConfigError;
use crate::https::RequestScheme;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server certificate and key, ready to serve.
///
/// ```
/// let (tls, pem) = secure_api_runtime::tls::TlsConfig::self_signed(&["localhost"]).unwrap();
/// assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// ```
#[derive(Clone)]
pub struct TlsConfig(Arc<ServerConfig>);

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig(<key redacted>)")
    }
}

impl TlsConfig {
    /// A certificate chain and private key in PEM.
    ///
    /// ```
    /// let err = secure_api_runtime::tls::TlsConfig::from_pem(b"not pem", b"not pem").unwrap_err();
    /// assert_eq!(err.setting(), "tls.cert");
    /// ```
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, ConfigError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|_| ConfigError::new("tls.cert", "the certificate PEM cannot be read"))?;
        if chain.is_empty() {
            return Err(ConfigError::new("tls.cert", "no certificate in the PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| ConfigError::new("tls.key", "no private key in the PEM"))?;
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                ConfigError::new(
                    "tls.key",
                    format!("the key does not fit the certificate: {e}"),
                )
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }

    /// Reads the certificate chain and key from PEM files.
    ///
    /// ```
    /// let err = secure_api_runtime::tls::TlsConfig::from_pem_files("/nonexistent.pem", "/nonexistent.key").unwrap_err();
    /// assert_eq!(err.setting(), "tls.cert");
    /// ```
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ConfigError> {
        let read = |path: &Path, setting: &'static str| {
            std::fs::read(path).map_err(|e| {
                ConfigError::new(setting, format!("cannot read {}: {e}", path.display()))
            })
        };
        let cert = read(cert.as_ref(), "tls.cert")?;
        let key = read(key.as_ref(), "tls.key")?;
        Self::from_pem(&cert, &key)
    }

    /// A self-signed certificate for `names` (DNS names or IP addresses), made now, for
    /// development. Returns the configuration and the certificate in PEM, for clients to
    /// trust.
    ///
    /// ```
    /// let (tls, pem) = secure_api_runtime::tls::TlsConfig::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    /// ```
    pub fn self_signed(names: &[&str]) -> Result<(Self, String), ConfigError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let certified = rcgen::generate_simple_self_signed(names).map_err(|e| {
            ConfigError::new(
                "tls.self_signed",
                format!("cannot generate a certificate: {e}"),
            )
        })?;
        let cert_pem = certified.cert.pem();
        let key_pem = certified.signing_key.serialize_pem();
        let config = Self::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
        Ok((config, cert_pem))
    }
}

/// Serves `router` over HTTPS on `listener` until `shutdown` completes.
///
/// ```no_run
/// # async fn run(listener: tokio::net::TcpListener, tls: secure_api_runtime::tls::TlsConfig) -> std::io::Result<()> {
/// secure_api_runtime::tls::serve_tls(listener, axum::Router::new(), tls, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: TlsConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls.0);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(target: "secure_api", %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(target: "secure_api", %error, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(target: "secure_api", %peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(
                move |mut request: http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    request.extensions_mut().insert(RequestScheme::Https);
                    let request = request.map(Body::new);
                    let mut router = router.clone();
                    async move { tower::Service::call(&mut router, request).await }
                },
            );
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(error) = served {
                tracing::debug!(target: "secure_api", %error, %peer, "connection ended with an error");
            }
        });
    }
}
