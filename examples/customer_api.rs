//! The quickstart: a small customer API secured with `#[secure]`.
//!
//! ```text
//! cargo run --example customer_api
//! ```
//!
//! Settings (environment):
//! - `SECURE_API_ADDR`: listen address, default `127.0.0.1:3000`.
//! - `SECURE_API_JWT_SECRET`: HS256 secret (at least 32 bytes). When unset, a random secret
//!   is generated and sample viewer, editor and admin tokens are printed with curl lines.
//! - `SECURE_API_REDIS_URL`: keep throttling state in this Redis (`redis://host:port/`),
//!   shared by every instance; needs `--features redis`. Unset: in memory.
//! - `SECURE_API_TRUSTED_PROXIES`: comma-separated CIDRs whose `X-Forwarded-For` is
//!   believed (`10.0.0.0/8,2001:db8::/32`). Unset: the client is the socket peer.
//!
//! Every route is also behind a global limit of 3000 requests a minute per client address,
//! checked before the token.
//!
//! Tokens: issuer and audience `customer-api`; claims `sub`, `exp`, `iat`, `iss`, `aud`,
//! `roles` (array), optional `scope` and `jti`. Roles: `admin` > `editor` > `viewer`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use secure_api::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use validator::Validate;

const ISSUER: &str = "customer-api";
const AUDIENCE: &str = "customer-api";
const DEFAULT_ADDR: &str = "127.0.0.1:3000";
const SAMPLE_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// In front of token verification on every route; far above what one client of this API
/// needs (the contract asks for at least 1000 a minute from one address).
const PER_IP_LIMIT: &str = "3000/1m";

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

#[derive(Clone, Default)]
struct AppState {
    customers: Arc<RwLock<BTreeMap<u64, Customer>>>,
    next_id: Arc<AtomicU64>,
}

impl AppState {
    fn seeded() -> Self {
        let state = AppState {
            next_id: Arc::new(AtomicU64::new(1)),
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

fn mint(secret: &[u8], sub: &str, roles: &[&str]) -> Result<String, StartupError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = json!({
        "sub": sub,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + SAMPLE_TOKEN_LIFETIME.as_secs(),
        "roles": roles,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(secret)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )?)
}

fn print_sample_tokens(secret: &[u8], addr: SocketAddr) -> Result<(), StartupError> {
    let viewer = mint(secret, "vera", &["viewer"])?;
    let editor = mint(secret, "eddie", &["editor"])?;
    let admin = mint(secret, "ada", &["admin"])?;
    println!(
        "SECURE_API_JWT_SECRET is not set: this run uses a random secret, and these sample \
         tokens (valid 24 h) only work until it stops.\n\n\
         export VIEWER={viewer}\n\
         export EDITOR={editor}\n\
         export ADMIN={admin}\n\n\
         curl -i http://{addr}/health\n\
         curl -i -H \"Authorization: Bearer $VIEWER\" http://{addr}/v1/me\n\
         curl -i -H \"Authorization: Bearer $VIEWER\" http://{addr}/v1/customers\n\
         curl -i -H \"Authorization: Bearer $EDITOR\" -H 'Content-Type: application/json' \
         -d '{{\"name\":\"Grace Hopper\",\"email\":\"grace@example.com\"}}' http://{addr}/v1/customers\n\
         curl -i -X DELETE -H \"Authorization: Bearer $ADMIN\" http://{addr}/v1/customers/1\n"
    );
    Ok(())
}

async fn run() -> Result<(), StartupError> {
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
    let mut builder = Security::builder()
        .hmac_secret(secret.clone())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .role_hierarchy("admin > editor > viewer")
        .realm("customer-api")
        .global_rate_limit(secure_api::GlobalRateLimit::per_ip("per-ip", PER_IP_LIMIT));
    if let Some(proxies) = optional_env("SECURE_API_TRUSTED_PROXIES")? {
        builder = builder.trusted_proxy_networks(proxies);
    }
    if let Some(url) = optional_env("SECURE_API_REDIS_URL")? {
        builder = with_redis(builder, &url).await?;
    }
    let security = builder.build().map_err(|e| match e.setting() {
        "jwt.key" => StartupError(format!("SECURE_API_JWT_SECRET: {}", e.message())),
        "trusted_proxies" => StartupError(format!("SECURE_API_TRUSTED_PROXIES: {}", e.message())),
        _ => StartupError(e.to_string()),
    })?;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError(format!("SECURE_API_ADDR: cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "customer_api listening");
    println!("customer_api listening on http://{local}");
    if generated {
        print_sample_tokens(&secret, local)?;
    }
    axum::serve(
        listener,
        app(&security).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// The value of an optional setting; set but not UTF-8 is an error naming it.
fn optional_env(name: &str) -> Result<Option<String>, StartupError> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(StartupError(format!("{name}: not valid UTF-8")))
        }
    }
}

#[cfg(feature = "redis")]
async fn with_redis(
    builder: secure_api::SecurityBuilder,
    url: &str,
) -> Result<secure_api::SecurityBuilder, StartupError> {
    let store = secure_api::RedisStore::builder(url)
        .key_prefix("customer-api")
        .connect()
        .await
        .map_err(|e| StartupError(format!("SECURE_API_REDIS_URL: {}", e.message())))?;
    tracing::info!("throttling state in Redis");
    Ok(builder.rate_limit_store(store))
}

#[cfg(not(feature = "redis"))]
async fn with_redis(
    _: secure_api::SecurityBuilder,
    _: &str,
) -> Result<secure_api::SecurityBuilder, StartupError> {
    Err(StartupError(
        "SECURE_API_REDIS_URL: this build has no Redis support; run it with \
         `cargo run --features redis --example customer_api`"
            .to_owned(),
    ))
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
