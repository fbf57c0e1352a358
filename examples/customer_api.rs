//! The quickstart: a small customer API secured with `#[secure]`.
//!
//! ```text
//! cargo run --example customer_api
//! ```
//!
//! Flags:
//! - `--tls-self-signed`: serve HTTPS on the same address with a certificate generated at
//!   start-up (written next to the other temporary files; its path is printed).
//! - `--tls-cert PATH --tls-key PATH`: serve HTTPS with this certificate chain and key.
//!
//! Settings (environment):
//! - `SECURE_API_ADDR`: listen address, default `127.0.0.1:3000`.
//! - `SECURE_API_JWT_SECRET`: HS256 secret (at least 32 bytes). When unset, a random secret
//!   is generated and sample viewer, editor and admin tokens are printed with curl lines.
//!
//! Tokens: issuer and audience `customer-api`; claims `sub`, `exp`, `iat`, `iss`, `aud`,
//! `roles` (array), optional `scope` and `jti`. Roles: `admin` > `editor` > `viewer`.
//! On `POST /v1/transfers` a token's `jti` is single-use.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use secure_api::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

const ISSUER: &str = "customer-api";
const AUDIENCE: &str = "customer-api";
const DEFAULT_ADDR: &str = "127.0.0.1:3000";
const SAMPLE_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, Serialize)]
struct Customer {
    id: u64,
    name: String,
    email: String,
}

#[derive(Debug, Deserialize, Validate)]
struct NewCustomer {
    #[validate(length(min = 1, max = 100))]
    name: String,
    #[validate(email)]
    email: String,
}

#[derive(Debug, Deserialize, Validate)]
struct NewTransfer {
    #[validate(length(min = 1, max = 64))]
    to: String,
    #[validate(range(min = 1, max = 1_000_000))]
    amount_cents: u64,
}

#[derive(Clone, Default)]
struct AppState {
    customers: Arc<RwLock<BTreeMap<u64, Customer>>>,
    next_id: Arc<AtomicU64>,
    next_transfer: Arc<AtomicU64>,
}

impl AppState {
    fn seeded() -> Self {
        let state = AppState {
            next_id: Arc::new(AtomicU64::new(1)),
            next_transfer: Arc::new(AtomicU64::new(1)),
            ..AppState::default()
        };
        for (name, email) in [
            ("Ada Lovelace", "ada@example.com"),
            ("Alan Turing", "alan@example.com"),
        ] {
            state.insert(name.to_owned(), email.to_owned());
        }
        state
    }

    fn insert(&self, name: String, email: String) -> Customer {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let customer = Customer { id, name, email };
        self.customers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, customer.clone());
        customer
    }
}

/// Liveness probe.
#[secure(public)]
async fn health() -> &'static str {
    "ok"
}

/// A public endpoint, throttled per client address.
#[secure(public, rate = "3/1m")]
async fn ping() -> Json<serde_json::Value> {
    Json(json!({ "pong": true }))
}

/// Who the caller is.
#[secure]
async fn me(principal: Principal) -> Json<serde_json::Value> {
    Json(json!({ "sub": principal.subject(), "roles": principal.roles() }))
}

#[secure(role = "viewer")]
async fn list_customers(State(state): State<AppState>) -> Json<Vec<Customer>> {
    let customers = state.customers.read().unwrap_or_else(|e| e.into_inner());
    Json(customers.values().cloned().collect())
}

#[secure(role = "viewer")]
async fn get_customer(State(state): State<AppState>, Path(id): Path<u64>) -> impl IntoResponse {
    let customers = state.customers.read().unwrap_or_else(|e| e.into_inner());
    match customers.get(&id) {
        Some(customer) => Ok(Json(customer.clone())),
        None => Err(not_found()),
    }
}

#[secure(role = "editor", rate = "5/1m", validate)]
async fn create_customer(
    State(state): State<AppState>,
    Json(new): Json<NewCustomer>,
) -> impl IntoResponse {
    let customer = state.insert(new.name, new.email);
    (StatusCode::CREATED, Json(customer))
}

#[secure(role = "admin")]
async fn delete_customer(State(state): State<AppState>, Path(id): Path<u64>) -> impl IntoResponse {
    let removed = state
        .customers
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    match removed {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(not_found()),
    }
}

/// Moves money: each token's `jti` may be used once here.
#[secure(role = "editor", validate, replay)]
async fn create_transfer(
    State(state): State<AppState>,
    Json(transfer): Json<NewTransfer>,
) -> impl IntoResponse {
    let id = state.next_transfer.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::CREATED,
        Json(json!({ "id": id, "to": transfer.to, "amount_cents": transfer.amount_cents })),
    )
}

/// The previous version of the customer list, kept until its sunset.
#[secure(
    role = "viewer",
    deprecated = "2026-01-01",
    sunset = "2027-12-31",
    link = "/v1/customers"
)]
async fn list_customers_v0(State(state): State<AppState>) -> Json<Vec<Customer>> {
    let customers = state.customers.read().unwrap_or_else(|e| e.into_inner());
    Json(customers.values().cloned().collect())
}

/// Retired: answers 410 Gone since its sunset date.
#[secure(role = "admin", sunset = "2026-06-30")]
async fn export_v0() -> &'static str {
    "retired"
}

fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        Json(json!({
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "No customer has this id.",
            "code": "not_found",
        })),
    )
}

fn app(security: &Security) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/ping", get(ping))
        .route("/v1/me", get(me))
        .route("/v1/customers", get(list_customers).post(create_customer))
        .route(
            "/v1/customers/{id}",
            get(get_customer).delete(delete_customer),
        )
        .route("/v1/transfers", post(create_transfer))
        .route("/v0/customers", get(list_customers_v0))
        .route("/v0/export", get(export_v0))
        .with_state(AppState::seeded())
        .layer(security.layer())
}

/// A startup error naming the setting at fault.
struct StartupError(String);

impl<E: std::fmt::Display> From<E> for StartupError {
    fn from(e: E) -> Self {
        StartupError(e.to_string())
    }
}

fn random_secret() -> Result<Vec<u8>, StartupError> {
    let mut secret = vec![0u8; 48];
    getrandom::fill(&mut secret)
        .map_err(|e| StartupError(format!("cannot generate a random secret: {e}")))?;
    Ok(secret)
}

fn random_id() -> Result<String, StartupError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| StartupError(format!("cannot generate a token id: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn mint(secret: &[u8], sub: &str, roles: &[&str]) -> Result<String, StartupError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = json!({
        "sub": sub,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + SAMPLE_TOKEN_LIFETIME.as_secs(),
        "roles": roles,
        "jti": random_id()?,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(secret)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )?)
}

fn print_sample_tokens(secret: &[u8], scheme: &str, addr: SocketAddr) -> Result<(), StartupError> {
    let curl = if scheme == "https" { "curl -k" } else { "curl" };
    let base = format!("{scheme}://{addr}");
    let viewer = mint(secret, "vera", &["viewer"])?;
    let editor = mint(secret, "eddie", &["editor"])?;
    let admin = mint(secret, "ada", &["admin"])?;
    println!(
        "SECURE_API_JWT_SECRET is not set: this run uses a random secret, and these sample \
         tokens (valid 24 h) only work until it stops.\n\n\
         export VIEWER={viewer}\n\
         export EDITOR={editor}\n\
         export ADMIN={admin}\n\n\
         {curl} -i {base}/health\n\
         {curl} -i -H \"Authorization: Bearer $VIEWER\" {base}/v1/me\n\
         {curl} -i -H \"Authorization: Bearer $VIEWER\" {base}/v1/customers\n\
         {curl} -i -H \"Authorization: Bearer $EDITOR\" -H 'Content-Type: application/json' \
         -d '{{\"name\":\"Grace Hopper\",\"email\":\"grace@example.com\"}}' {base}/v1/customers\n\
         {curl} -i -X DELETE -H \"Authorization: Bearer $ADMIN\" {base}/v1/customers/1\n\
         # each token's jti is single-use on /v1/transfers:\n\
         {curl} -i -H \"Authorization: Bearer $EDITOR\" -H 'Content-Type: application/json' \
         -d '{{\"to\":\"acct-42\",\"amount_cents\":1500}}' {base}/v1/transfers\n"
    );
    Ok(())
}

/// How the quickstart serves: plain HTTP, or HTTPS with a certificate.
enum Transport {
    Plain,
    SelfSigned,
    Files { cert: String, key: String },
}

fn parse_flags() -> Result<Transport, StartupError> {
    let mut transport = Transport::Plain;
    let mut cert = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls-self-signed" => transport = Transport::SelfSigned,
            "--tls-cert" => {
                cert = Some(
                    args.next()
                        .ok_or_else(|| StartupError("--tls-cert needs a path".into()))?,
                )
            }
            "--tls-key" => {
                key = Some(
                    args.next()
                        .ok_or_else(|| StartupError("--tls-key needs a path".into()))?,
                )
            }
            other => {
                return Err(StartupError(format!(
                    "unknown argument {other:?}; flags: --tls-self-signed, --tls-cert PATH --tls-key PATH"
                )));
            }
        }
    }
    match (transport, cert, key) {
        (Transport::SelfSigned, None, None) => Ok(Transport::SelfSigned),
        (Transport::Plain, Some(cert), Some(key)) => Ok(Transport::Files { cert, key }),
        (Transport::Plain, None, None) => Ok(Transport::Plain),
        _ => Err(StartupError(
            "give either --tls-self-signed, or both --tls-cert and --tls-key".into(),
        )),
    }
}

async fn run() -> Result<(), StartupError> {
    let transport = parse_flags()?;
    let addr: SocketAddr = match std::env::var("SECURE_API_ADDR") {
        Ok(value) => value.parse().map_err(|_| {
            StartupError(format!(
                "SECURE_API_ADDR: {value:?} is not an address like {DEFAULT_ADDR}"
            ))
        })?,
        Err(std::env::VarError::NotPresent) => DEFAULT_ADDR.parse()?,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(StartupError("SECURE_API_ADDR: not valid UTF-8".to_owned()));
        }
    };
    let (secret, generated) = match std::env::var("SECURE_API_JWT_SECRET") {
        Ok(value) => (value.into_bytes(), false),
        Err(std::env::VarError::NotPresent) => (random_secret()?, true),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(StartupError(
                "SECURE_API_JWT_SECRET: not valid UTF-8".to_owned(),
            ));
        }
    };
    let tls = match &transport {
        Transport::Plain => None,
        Transport::SelfSigned => {
            let (tls, pem) = secure_api::tls::TlsConfig::self_signed(&["localhost", "127.0.0.1"])?;
            let path =
                std::env::temp_dir().join(format!("customer_api-{}.pem", std::process::id()));
            std::fs::write(&path, pem)
                .map_err(|e| StartupError(format!("cannot write the certificate: {e}")))?;
            println!(
                "self-signed certificate: {} (curl --cacert it)",
                path.display()
            );
            Some(tls)
        }
        Transport::Files { cert, key } => {
            Some(secure_api::tls::TlsConfig::from_pem_files(cert, key)?)
        }
    };
    let mut builder = Security::builder();
    if tls.is_some() {
        builder = builder.require_https(secure_api::HttpsSettings::new());
    }
    let security = builder
        .hmac_secret(secret.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .role_hierarchy("admin > editor > viewer")
        .realm("customer-api")
        // The sample tokens live 24 hours; replay-protected routes accept that lifetime.
        .replay_max_token_lifetime(SAMPLE_TOKEN_LIFETIME)
        .build()
        .map_err(|e| {
            if e.setting() == "jwt.key" {
                StartupError(format!("SECURE_API_JWT_SECRET: {}", e.message()))
            } else {
                StartupError(e.to_string())
            }
        })?;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError(format!("SECURE_API_ADDR: cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%local, scheme, "customer_api listening");
    println!("customer_api listening on {scheme}://{local}");
    if generated {
        print_sample_tokens(&secret, scheme, local)?;
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match tls {
        Some(tls) => secure_api::tls::serve_tls(listener, app(&security), tls, shutdown).await?,
        None => {
            axum::serve(
                listener,
                app(&security).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(StartupError(message)) => {
            eprintln!("customer_api: startup error: {message}");
            ExitCode::FAILURE
        }
    }
}
