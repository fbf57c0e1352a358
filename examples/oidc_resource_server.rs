//! An OAuth2 / OpenID Connect resource server next to a small local identity provider.
//!
//! ```text
//! cargo run --example oidc_resource_server
//! ```
//!
//! The identity provider (loopback only, a fixed development RSA key from
//! `tests/fixtures/` — never use it for anything real) serves:
//! - `GET /.well-known/openid-configuration`: the discovery document;
//! - `GET /jwks`: its public key (`kid` `dev-rsa-1`);
//! - `POST /token` with JSON `{"sub": "...", "roles": [...], "aud": "..."}`: an RS256
//!   access token (`typ` `at+jwt`) valid 1 hour. `aud` defaults to `orders`.
//!
//! The API finds the keys through discovery, accepts only access tokens (`at+jwt`) of that
//! issuer for the audience `orders`, and serves `GET /me` (any principal) and `GET /admin`
//! (role admin). The tokens and curl lines to try are printed at start-up.
//!
//! Settings (environment): `IDP_ADDR` (default `127.0.0.1:3100`), `API_ADDR` (default
//! `127.0.0.1:3101`). With `--idp-only` only the identity provider runs, and it prints
//! `export ISSUER=`, `export JWKS_URL=` and `export TOKEN=` lines (a viewer token for the
//! audience given by `--audience AUD`, default `orders`) for scripts.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secure_api::TrustedIssuer;
use secure_api::prelude::*;
use serde::Deserialize;
use serde_json::json;

/// The fixed development key of this example (also a test fixture).
const DEV_PRIVATE_KEY: &[u8] = include_bytes!("../tests/fixtures/rsa_private.pem");
const KID: &str = "dev-rsa-1";
const AUDIENCE: &str = "orders";

#[derive(Clone)]
struct Idp {
    issuer: String,
    key: EncodingKey,
    jwk: serde_json::Value,
}

impl Idp {
    fn mint(&self, sub: &str, roles: &[String], aud: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        header.typ = Some("at+jwt".to_owned());
        let claims = json!({
            "iss": self.issuer, "sub": sub, "aud": aud, "roles": roles,
            "iat": now, "exp": now + 3600, "client_id": "oidc-example",
        });
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| e.to_string())
    }
}

async fn discovery(State(idp): State<Idp>) -> impl IntoResponse {
    Json(json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(idp): State<Idp>) -> impl IntoResponse {
    Json(json!({ "keys": [idp.jwk] }))
}

#[derive(Deserialize)]
struct TokenRequest {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    aud: Option<String>,
}

async fn token(State(idp): State<Idp>, Json(request): Json<TokenRequest>) -> impl IntoResponse {
    let aud = request.aud.as_deref().unwrap_or(AUDIENCE);
    match idp.mint(&request.sub, &request.roles, aud) {
        Ok(token) => (
            StatusCode::OK,
            Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3600 })),
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "server_error" })),
        ),
    }
}

/// Who the caller is.
#[secure]
async fn me(principal: Principal) -> Json<serde_json::Value> {
    Json(json!({ "sub": principal.subject(), "roles": principal.roles() }))
}

/// Admins only.
#[secure(role = "admin")]
async fn admin() -> &'static str {
    "hello admin"
}

fn addr(name: &str, default: &str) -> Result<SocketAddr, String> {
    let value = std::env::var(name).unwrap_or_else(|_| default.to_owned());
    value
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not an address like {default}"))
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let idp_only = args.iter().any(|a| a == "--idp-only");
    let audience = args
        .iter()
        .position(|a| a == "--audience")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| AUDIENCE.to_owned());

    let idp_listener = tokio::net::TcpListener::bind(addr("IDP_ADDR", "127.0.0.1:3100")?)
        .await
        .map_err(|e| format!("IDP_ADDR: {e}"))?;
    let idp_addr = idp_listener.local_addr().map_err(|e| e.to_string())?;
    if !idp_addr.ip().is_loopback() {
        return Err("IDP_ADDR: the development identity provider only listens on loopback".into());
    }
    let key = EncodingKey::from_rsa_pem(DEV_PRIVATE_KEY).map_err(|e| e.to_string())?;
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256)
        .map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(KID.to_owned());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    let idp = Idp {
        issuer: format!("http://{idp_addr}"),
        key,
        jwk: serde_json::to_value(jwk).map_err(|e| e.to_string())?,
    };
    let idp_app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(idp.clone());
    let idp_server = tokio::spawn(async move { axum::serve(idp_listener, idp_app).await });

    if idp_only {
        let viewer = idp.mint("vera", &["viewer".to_owned()], &audience)?;
        println!(
            "export ISSUER={}\nexport JWKS_URL={}/jwks\nexport TOKEN={viewer}",
            idp.issuer, idp.issuer
        );
        return match idp_server.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
    }

    let security = Security::builder()
        .trusted_issuer(
            TrustedIssuer::new(&idp.issuer)
                .audience(AUDIENCE)
                .discover()
                .algorithms([Algorithm::RS256])
                .require_access_token_typ(),
        )
        .role_hierarchy("admin > viewer")
        .build()
        .map_err(|e| e.to_string())?;
    // Discovery and the JWKS now, so a wrong issuer stops the start-up.
    security.prefetch_keys().await.map_err(|e| e.to_string())?;
    let api = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(security.layer());
    let api_listener = tokio::net::TcpListener::bind(addr("API_ADDR", "127.0.0.1:3101")?)
        .await
        .map_err(|e| format!("API_ADDR: {e}"))?;
    let api_addr = api_listener.local_addr().map_err(|e| e.to_string())?;

    let viewer = idp.mint("vera", &["viewer".to_owned()], AUDIENCE)?;
    let admin_token = idp.mint("ada", &["admin".to_owned()], AUDIENCE)?;
    let base = format!("http://{api_addr}");
    println!(
        "identity provider: {issuer}\nprotected API:     {base}\n\n\
         export VIEWER={viewer}\nexport ADMIN={admin_token}\n\n\
         curl -i -H \"Authorization: Bearer $VIEWER\" {base}/me\n\
         curl -i -H \"Authorization: Bearer $VIEWER\" {base}/admin   # 403\n\
         curl -i -H \"Authorization: Bearer $ADMIN\" {base}/admin\n\
         # a fresh token from the identity provider:\n\
         curl -s -H 'Content-Type: application/json' -d '{{\"sub\":\"sam\",\"roles\":[\"viewer\"]}}' {issuer}/token\n\
         # another audience is refused (401):\n\
         curl -s -H 'Content-Type: application/json' -d '{{\"sub\":\"sam\",\"aud\":\"billing\"}}' {issuer}/token\n",
        issuer = idp.issuer,
    );
    axum::serve(api_listener, api)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oidc_resource_server: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
