//! A real TLS connection to `serve_tls`: the handshake, the request scheme seen by the
//! Security layer (HSTS, no redirect), and plain HTTP refused on the TLS port.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use secure_api::prelude::*;
use secure_api::tls::{TlsConfig, serve_tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::support::{Claims, builder};

#[secure(public)]
async fn health() -> &'static str {
    "ok"
}

#[secure]
async fn me(principal: Principal) -> String {
    principal.subject().to_owned()
}

async fn start() -> (
    std::net::SocketAddr,
    String,
    tokio::sync::oneshot::Sender<()>,
) {
    let security = builder()
        .require_https(secure_api::HttpsSettings::new())
        .build()
        .unwrap();
    let app = Router::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .layer(security.layer());
    let (tls, pem) = TlsConfig::self_signed(&["localhost"]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_tls(listener, app, tls, async {
        let _ = stopped.await;
    }));
    (addr, pem, stop)
}

async fn https_get(
    addr: std::net::SocketAddr,
    pem: &str,
    path: &str,
    token: Option<&str>,
) -> String {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the self-signed certificate");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_real_tls_connection_is_served_as_https() {
    let (addr, pem, stop) = start().await;
    let response = https_get(addr, &pem, "/health", None).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let lower = response.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age=31536000; includesubdomains"),
        "{response}"
    );
    // Credentials over TLS are accepted (no https_required refusal).
    let token = Claims::new("alice").hs256();
    let response = https_get(addr, &pem, "/me", Some(&token)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("alice"), "{response}");
    let _ = stop.send(());
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_no_http_answer() {
    let (addr, _pem, stop) = start().await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut response),
    )
    .await;
    assert!(!String::from_utf8_lossy(&response).contains("200 OK"));
    let _ = stop.send(());
}
