//! Extending secure-api: a custom guard, a named policy, an ownership check, field-level
//! output authorization and the secured router, in one small app.
//!
//! ```text
//! cargo run --example extending
//! ```
//!
//! Settings (environment): `EXTENDING_ADDR` (default `127.0.0.1:3001`) and
//! `EXTENDING_JWT_SECRET` (at least 32 bytes; a random one is generated when unset and
//! sample tokens are printed). Tokens: issuer and audience `extending`, claims `sub`,
//! `exp`, `roles`, and `tenant` for the tenant guard.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::Path;
use axum::{Extension, Json};
use secure_api::prelude::*;
use secure_api::routing::{SecureRouter, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use validator::Validate;

policy!(
    /// The keys several handlers share: admins only, ten writes a minute.
    ADMIN_WRITE: role = "admin", rate = "10/1m"
);

/// A custom guard, used as `tenant(header = "X-Tenant")`: the request's tenant header must
/// match the principal's `tenant` claim. The type's name is the attribute key and its
/// public fields are the arguments, checked by the compiler.
#[allow(non_camel_case_types)]
struct tenant {
    header: &'static str,
}

impl RequestGuard for tenant {
    async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
        let claimed = request
            .principal()
            .and_then(|p| p.claim("tenant"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let sent = request
            .headers()
            .get(self.header)
            .and_then(|v| v.to_str().ok());
        match (claimed, sent) {
            (Some(claimed), Some(sent)) if claimed == sent => Ok(()),
            _ => Err(SecurityError::forbidden().with_detail("The tenant does not match.")),
        }
    }
}

/// Which principal owns which account: shared with the ownership check through an
/// `Extension`, since guards run before the handler's state is extracted.
#[derive(Clone)]
struct Accounts(&'static [(u64, &'static str)]);

/// The ownership check: the principal and the typed path parameter.
async fn owns_account(
    principal: Principal,
    Path(id): Path<u64>,
    Extension(accounts): Extension<Accounts>,
) -> bool {
    accounts
        .0
        .iter()
        .any(|(account, owner)| *account == id && *owner == principal.subject())
}

/// A response whose email only admins see.
#[derive(AuthorizedOutput)]
struct AccountView {
    id: u64,
    owner: String,
    #[visible(role = "admin")]
    email: String,
}

#[derive(Deserialize, Validate)]
struct NewAccount {
    #[validate(length(min = 1, max = 64))]
    owner: String,
}

#[secure(public)]
async fn health() -> &'static str {
    "ok"
}

/// Only from the internal network.
#[secure(public, ip_allow(from = ["127.0.0.0/8", "::1"]))]
async fn internal_status() -> Json<Value> {
    Json(json!({ "status": "green" }))
}

/// The principal's own accounts only; another principal's is 404.
#[secure(role = "viewer", owner = owns_account)]
async fn show_account(principal: Principal, Path(id): Path<u64>) -> Filtered<AccountView> {
    let view = AccountView {
        id,
        owner: principal.subject().to_owned(),
        email: format!("{}@example.com", principal.subject()),
    };
    Filtered::new(&principal, view)
}

/// The policy's role and rate, plus validation.
#[secure(policy = ADMIN_WRITE, validate)]
async fn create_account(Json(new): Json<NewAccount>) -> (axum::http::StatusCode, Json<Value>) {
    (
        axum::http::StatusCode::CREATED,
        Json(json!({ "owner": new.owner })),
    )
}

/// Tenant-scoped data: role viewer and the custom guard.
#[secure(role = "viewer", tenant(header = "X-Tenant"))]
async fn tenant_report() -> &'static str {
    "tenant report"
}

fn app(security: &Security) -> axum::Router {
    let accounts = SecureRouter::new()
        .route("/", post(create_account))
        .route("/{id}", get(show_account));
    SecureRouter::new()
        .route("/health", get(health))
        .route("/internal/status", get(internal_status))
        .route("/reports", get(tenant_report))
        .nest("/accounts", accounts)
        .layer(Extension(Accounts(&[(1, "alice"), (2, "bob")])))
        .layer(security.layer())
        .into_router()
}

fn mint(secret: &[u8], sub: &str, roles: &[&str], tenant: &str) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = json!({
        "sub": sub, "iss": "extending", "aud": "extending",
        "iat": now, "exp": now + 3600, "roles": roles, "tenant": tenant,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(secret).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )
    .map_err(|e| e.to_string())
}

async fn run() -> Result<(), String> {
    let addr: SocketAddr = std::env::var("EXTENDING_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3001".to_owned())
        .parse()
        .map_err(|_| "EXTENDING_ADDR: not an address like 127.0.0.1:3001".to_owned())?;
    let (secret, generated) = match std::env::var("EXTENDING_JWT_SECRET") {
        Ok(secret) => (secret.into_bytes(), false),
        Err(_) => {
            let mut secret = vec![0u8; 48];
            getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
            (secret, true)
        }
    };
    let security = Security::builder()
        .hmac_secret(secret.clone())
        .issuer("extending")
        .audience("extending")
        .role_hierarchy("admin > viewer")
        .build()
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("EXTENDING_ADDR: cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("extending listening on http://{local}");
    if generated {
        let alice = mint(&secret, "alice", &["viewer"], "acme")?;
        let admin = mint(&secret, "root", &["admin"], "acme")?;
        println!(
            "export ALICE={alice}\nexport ADMIN={admin}\n\
             curl -i -H \"Authorization: Bearer $ALICE\" http://{local}/accounts/1   # 200, no email\n\
             curl -i -H \"Authorization: Bearer $ALICE\" http://{local}/accounts/2   # 404: bob's\n\
             curl -i -H \"Authorization: Bearer $ALICE\" -H 'X-Tenant: acme' http://{local}/reports\n\
             curl -i -H \"Authorization: Bearer $ADMIN\" -H 'Content-Type: application/json' \
             -d '{{\"owner\":\"carol\"}}' http://{local}/accounts"
        );
    }
    axum::serve(
        listener,
        app(&security).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("extending: startup error: {message}");
            ExitCode::FAILURE
        }
    }
}
