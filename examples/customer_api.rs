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
//! - `SECURE_API_JWKS_URL` with `SECURE_API_JWT_ISSUER`: trust RS256, ES256 and EdDSA
//!   tokens of that issuer (audience `customer-api`) whose keys come from that JWKS,
//!   instead of the HS256 secret. One without the other stops the start-up.
//! - `SECURE_API_REDIS_URL`: keep throttling, replay, idempotency and revoked-token state
//!   in this Redis (`redis://host:port/`), shared by every instance. Unset: in memory.
//! - `SECURE_API_TRUSTED_PROXIES`: comma-separated CIDRs whose `X-Forwarded-For` is
//!   believed (`10.0.0.0/8,2001:db8::/32`). Unset: the client is the socket peer.
//! - `SECURE_API_KEYS_FILE`: also accept API keys in `X-API-Key` on every authenticated
//!   route but `POST /v1/transfers` (single-use `jti`, bearer tokens only), looked up by digest in this file (one key per line, `#` comments allowed).
//!   `customer_api gen-api-key OWNER ROLE` prints a new key on its first line and the line
//!   to append to the file on its second, then exits.
//!
//! Every route is also behind a global limit of 3000 requests a minute per client address,
//! checked before the token.
//!
//! Tokens: issuer and audience `customer-api`; claims `sub`, `exp`, `iat`, `iss`, `aud`,
//! `roles` (array), optional `scope` and `jti`. Roles: `admin` > `editor` > `viewer`.
//!
//! Observability: `GET /metrics` (role admin) serves Prometheus text, `GET /openapi.json`
//! (public) the OpenAPI 3.1 document of every route, `GET /docs` (public) an interactive
//! page rendering it (served with its script and stylesheet by this app, under a CSP that
//! allows only this origin), audit events go to the log target
//! `secure_api::audit`, and `--print-policies` (`--print-policies=json`) prints the policy
//! inventory and exits.
//! On `POST /v1/transfers` a token's `jti` is single-use.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secure_api::openapi::secure_openapi;
use secure_api::openapi::utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use secure_api::openapi::utoipa::openapi::request_body::RequestBodyBuilder;
use secure_api::openapi::utoipa::openapi::schema::{KnownFormat, SchemaFormat, SchemaType, Type};
use secure_api::openapi::utoipa::openapi::{
    ArrayBuilder, ContentBuilder, HttpMethod, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathItem, PathsBuilder, Ref, RefOr, Required, Response, ResponseBuilder,
};
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
    metrics: Option<PrometheusHandle>,
    /// Set once the router exists: the document is checked against it.
    openapi: Arc<OnceLock<String>>,
    next_transfer: Arc<AtomicU64>,
}

impl AppState {
    fn seeded(metrics: Option<PrometheusHandle>) -> Self {
        let state = AppState {
            next_id: Arc::new(AtomicU64::new(1)),
            metrics,
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

/// Prometheus text of the security metrics.
#[secure(role = "admin")]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

/// The OpenAPI 3.1 document of this API.
#[secure(public)]
async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    match state.openapi.get() {
        Some(json) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json.clone(),
        )),
        None => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

// The interactive API documentation: a page of our own and its script and stylesheet,
// served by this app (no CDN). The relaxed header profile is for pages; this CSP narrows
// it to this origin's scripts, styles and requests, with no inline script or style.
policy!(DOCS: public, headers = "relaxed", csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");

const DOCS_HTML: &str = include_str!("assets/docs/index.html");
const DOCS_JS: &str = include_str!("assets/docs/docs.js");
const DOCS_CSS: &str = include_str!("assets/docs/docs.css");

/// The interactive documentation page, rendering `/openapi.json`.
#[secure(policy = DOCS)]
async fn docs_page() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DOCS_HTML,
    )
}

/// The documentation page's script.
#[secure(policy = DOCS)]
async fn docs_script() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        DOCS_JS,
    )
}

/// The documentation page's stylesheet.
#[secure(policy = DOCS)]
async fn docs_style() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
        DOCS_CSS,
    )
}

/// Moves money: each token's `jti` may be used once here. Bearer tokens only: an API key
/// has no `jti` to spend.
#[secure(role = "editor", auth = "jwt", validate, replay)]
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

fn app(security: &Security, state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/ping", get(ping))
        .route("/v1/me", get(me))
        .route("/v1/customers", get(list_customers).post(create_customer))
        .route(
            "/v1/customers/{id}",
            get(get_customer).delete(delete_customer),
        )
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs_page))
        .route("/docs/docs.js", get(docs_script))
        .route("/docs/docs.css", get(docs_style))
        .route("/v1/transfers", post(create_transfer))
        .route("/v0/customers", get(list_customers_v0))
        .route("/v0/export", get(export_v0))
        .with_state(state)
        .layer(security.layer())
}

fn json_content(
    schema: impl Into<RefOr<secure_api::openapi::utoipa::openapi::Schema>>,
) -> secure_api::openapi::utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

fn customer_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property(
            "id",
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Integer))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1)),
        )
        .property("name", string())
        .property("email", string())
        .required("id")
        .required("name")
        .required("email")
}

fn ok(description: &str, content_type: &str, schema: ObjectBuilder) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(content_type, json_content(schema))
        .build()
}

fn not_found_response() -> Response {
    ResponseBuilder::new()
        .description("No customer has this id (code `not_found`).")
        .content(
            "application/problem+json",
            json_content(Ref::from_schema_name("Problem")),
        )
        .build()
}

/// A transfer as sent (`with_id = false`) or as stored.
fn transfer_schema(with_id: bool) -> ObjectBuilder {
    let mut schema = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object));
    if with_id {
        schema = schema
            .property(
                "id",
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Integer))
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(1)),
            )
            .required("id");
    }
    schema
        .property("to", string().min_length(Some(1)).max_length(Some(64)))
        .property(
            "amount_cents",
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Integer))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(1_000_000)),
        )
        .required("to")
        .required("amount_cents")
}

/// What each route does and returns on success; `secure_openapi` adds what the policies
/// imply (security, 400/401/403/422/429).
fn openapi_base() -> OpenApi {
    let id_param = || {
        ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Integer))
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(1)),
            ))
            .build()
    };
    let op = |id: &str, summary: &str| {
        OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary))
    };
    let new_customer = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("name", string().min_length(Some(1)).max_length(Some(100)))
        .property(
            "email",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Email))),
        )
        .required("name")
        .required("email");
    let paths = PathsBuilder::new()
        .path(
            "/health",
            PathItem::new(
                HttpMethod::Get,
                op("health", "Liveness probe")
                    .response("200", ok("Alive.", "text/plain", string())),
            ),
        )
        .path(
            "/v1/ping",
            PathItem::new(
                HttpMethod::Get,
                op("ping", "Public, throttled per client address").response(
                    "200",
                    ok(
                        "Pong.",
                        "application/json",
                        ObjectBuilder::new()
                            .schema_type(SchemaType::Type(Type::Object))
                            .property(
                                "pong",
                                ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)),
                            )
                            .required("pong"),
                    ),
                ),
            ),
        )
        .path(
            "/v1/me",
            PathItem::new(
                HttpMethod::Get,
                op("me", "The caller").response(
                    "200",
                    ok(
                        "The caller's subject and roles.",
                        "application/json",
                        ObjectBuilder::new()
                            .schema_type(SchemaType::Type(Type::Object))
                            .property("sub", string())
                            .property("roles", ArrayBuilder::new().items(string()))
                            .required("sub")
                            .required("roles"),
                    ),
                ),
            ),
        )
        .path(
            "/v1/customers",
            PathItem::new(
                HttpMethod::Get,
                op("list_customers", "Every customer").response(
                    "200",
                    ResponseBuilder::new()
                        .description("The customers.")
                        .content(
                            "application/json",
                            json_content(ArrayBuilder::new().items(customer_schema())),
                        )
                        .build(),
                ),
            ),
        )
        .path(
            "/v1/customers",
            PathItem::new(
                HttpMethod::Post,
                op("create_customer", "Store a customer")
                    .request_body(Some(
                        RequestBodyBuilder::new()
                            .required(Some(Required::True))
                            .content("application/json", json_content(new_customer))
                            .build(),
                    ))
                    .response(
                        "201",
                        ok(
                            "The stored customer.",
                            "application/json",
                            customer_schema(),
                        ),
                    ),
            ),
        )
        .path(
            "/v1/customers/{id}",
            PathItem::new(
                HttpMethod::Get,
                op("get_customer", "One customer")
                    .parameter(id_param())
                    .response(
                        "200",
                        ok("The customer.", "application/json", customer_schema()),
                    )
                    .response("404", not_found_response()),
            ),
        )
        .path(
            "/v1/customers/{id}",
            PathItem::new(
                HttpMethod::Delete,
                op("delete_customer", "Remove a customer")
                    .parameter(id_param())
                    .response("204", Response::new("Removed."))
                    .response("404", not_found_response()),
            ),
        )
        .path(
            "/v1/transfers",
            PathItem::new(
                HttpMethod::Post,
                op(
                    "create_transfer",
                    "Move money; each token's jti is single-use",
                )
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .required(Some(Required::True))
                        .content("application/json", json_content(transfer_schema(false)))
                        .build(),
                ))
                .response(
                    "201",
                    ok("The transfer.", "application/json", transfer_schema(true)),
                ),
            ),
        )
        .path(
            "/v0/customers",
            PathItem::new(
                HttpMethod::Get,
                op(
                    "list_customers_v0",
                    "Every customer (deprecated: use /v1/customers)",
                )
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The customers, with Deprecation, Sunset and Link headers.")
                        .content(
                            "application/json",
                            json_content(ArrayBuilder::new().items(customer_schema())),
                        )
                        .build(),
                ),
            ),
        )
        .path(
            "/v0/export",
            PathItem::new(
                HttpMethod::Get,
                op("export_v0", "Retired export (past its sunset: 410 Gone)"),
            ),
        )
        .path(
            "/metrics",
            PathItem::new(
                HttpMethod::Get,
                op("metrics", "Security metrics").response(
                    "200",
                    ok("Prometheus text exposition format.", "text/plain", string()),
                ),
            ),
        )
        .path(
            "/openapi.json",
            PathItem::new(
                HttpMethod::Get,
                op("openapi", "This document").response(
                    "200",
                    ok(
                        "OpenAPI 3.1.",
                        "application/json",
                        ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object)),
                    ),
                ),
            ),
        )
        .path(
            "/docs",
            PathItem::new(
                HttpMethod::Get,
                op("docs", "Interactive documentation of this API")
                    .response("200", ok("The documentation page.", "text/html", string())),
            ),
        )
        .path(
            "/docs/docs.js",
            PathItem::new(
                HttpMethod::Get,
                op("docs_script", "Script of the documentation page")
                    .response("200", ok("JavaScript.", "text/javascript", string())),
            ),
        )
        .path(
            "/docs/docs.css",
            PathItem::new(
                HttpMethod::Get,
                op("docs_style", "Stylesheet of the documentation page")
                    .response("200", ok("CSS.", "text/css", string())),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("customer-api")
                .version("1.0.0")
                .build(),
        )
        .paths(paths)
        .build()
}

/// The router with its OpenAPI document in place.
async fn app_with_openapi(
    security: &Security,
    metrics: Option<PrometheusHandle>,
) -> Result<Router, StartupError> {
    let state = AppState::seeded(metrics);
    let router = app(security, state.clone());
    let doc = secure_openapi(openapi_base(), &router).await?;
    let json = doc
        .to_json()
        .map_err(|e| StartupError(format!("openapi: {e}")))?;
    let _ = state.openapi.set(json);
    Ok(router)
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
         -d '{{\"to\":\"acct-42\",\"amount_cents\":1500}}' {base}/v1/transfers\n\
         {curl} -H \"Authorization: Bearer $ADMIN\" {base}/metrics\n\
         {curl} {base}/openapi.json\n"
    );
    Ok(())
}

/// How the quickstart serves: plain HTTP, or HTTPS with a certificate.
enum Transport {
    Plain,
    SelfSigned,
    Files { cert: String, key: String },
}

/// What the command line asks for.
enum Command {
    Serve(Transport),
    /// `--print-policies` or `--print-policies=json`: print the inventory, then exit.
    PrintPolicies {
        json: bool,
    },
    /// `gen-api-key OWNER ROLE`: print a new API key and its keys-file line, then exit.
    GenApiKey {
        owner: String,
        role: String,
    },
}

/// The prefix of the quickstart's API keys.
const API_KEY_PREFIX: &str = "sak_live";
const ROLES: [&str; 3] = ["admin", "editor", "viewer"];

const USAGE: &str = "flags: --tls-self-signed, --tls-cert PATH --tls-key PATH, \
                     --print-policies, --print-policies=json; or: gen-api-key OWNER ROLE";

fn command() -> Result<Command, StartupError> {
    let mut self_signed = false;
    let mut cert = None;
    let mut key = None;
    let mut print = None;
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("gen-api-key") {
        let usage = || StartupError("usage: customer_api gen-api-key OWNER ROLE".into());
        let _ = args.next();
        let owner = args.next().ok_or_else(usage)?;
        let role = args.next().ok_or_else(usage)?;
        if args.next().is_some() {
            return Err(usage());
        }
        if !ROLES.contains(&role.as_str()) {
            return Err(StartupError(format!(
                "gen-api-key: unknown role {role:?}; the roles are {}",
                ROLES.join(", ")
            )));
        }
        return Ok(Command::GenApiKey { owner, role });
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls-self-signed" => self_signed = true,
            "--tls-cert" => {
                cert = Some(
                    args.next()
                        .ok_or_else(|| StartupError("--tls-cert needs a path".into()))?,
                );
            }
            "--tls-key" => {
                key = Some(
                    args.next()
                        .ok_or_else(|| StartupError("--tls-key needs a path".into()))?,
                );
            }
            "--print-policies" | "--print-policies=table" => print = Some(false),
            "--print-policies=json" => print = Some(true),
            other => {
                return Err(StartupError(format!("unknown argument {other:?}; {USAGE}")));
            }
        }
    }
    if let Some(json) = print {
        return Ok(Command::PrintPolicies { json });
    }
    match (self_signed, cert, key) {
        (true, None, None) => Ok(Command::Serve(Transport::SelfSigned)),
        (false, Some(cert), Some(key)) => Ok(Command::Serve(Transport::Files { cert, key })),
        (false, None, None) => Ok(Command::Serve(Transport::Plain)),
        _ => Err(StartupError(
            "give either --tls-self-signed, or both --tls-cert and --tls-key".into(),
        )),
    }
}

async fn run() -> Result<(), StartupError> {
    let transport = match command()? {
        Command::Serve(transport) => transport,
        Command::GenApiKey { owner, role } => {
            let new = secure_api::generate_api_key(API_KEY_PREFIX, &owner, [role])
                .map_err(|e| StartupError(format!("gen-api-key: {e}")))?;
            println!("{}", new.key().expose());
            println!("{}", new.record().to_line());
            return Ok(());
        }
        Command::PrintPolicies { json } => {
            use std::io::Write;
            let mut inventory = secure_api::policies();
            if optional_env("SECURE_API_KEYS_FILE")?.is_some() {
                inventory = inventory.with_default_auth(
                    secure_api::AuthSchemes::JWT.and(secure_api::AuthSchemes::API_KEY),
                );
            }
            let text = if json {
                format!("{:#}\n", inventory.to_json())
            } else {
                inventory.to_string()
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            return Ok(());
        }
    };
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
    let jwks = jwks_settings()?;
    let builder = match &jwks {
        None => Security::builder()
            .hmac_secret(secret.clone())
            .issuer(ISSUER)
            .audience(AUDIENCE),
        Some((url, issuer)) => Security::builder().trusted_issuer(
            secure_api::TrustedIssuer::new(issuer)
                .audience(AUDIENCE)
                .jwks_url(url)
                .algorithms([
                    secure_api::Algorithm::RS256,
                    secure_api::Algorithm::ES256,
                    secure_api::Algorithm::EdDSA,
                ]),
        ),
    };
    let mut builder = builder
        .role_hierarchy("admin > editor > viewer")
        .realm("customer-api")
        // The sample tokens live 24 hours; replay-protected routes accept that lifetime.
        .replay_max_token_lifetime(SAMPLE_TOKEN_LIFETIME)
        .global_rate_limit(secure_api::GlobalRateLimit::per_ip("per-ip", PER_IP_LIMIT));
    if tls.is_some() {
        builder = builder.require_https(secure_api::HttpsSettings::new());
    }
    if let Some(proxies) = optional_env("SECURE_API_TRUSTED_PROXIES")? {
        builder = builder.trusted_proxy_networks(proxies);
    }
    if let Some(url) = optional_env("SECURE_API_REDIS_URL")? {
        builder = with_redis(builder, &url).await?;
    }
    if let Some(path) = optional_env("SECURE_API_KEYS_FILE")? {
        let keys = secure_api::FileApiKeyStore::open(&path)
            .map_err(|e| StartupError(format!("SECURE_API_KEYS_FILE: {}", e.message())))?;
        tracing::info!(
            keys = keys.len(),
            "API keys accepted from SECURE_API_KEYS_FILE"
        );
        builder = builder
            .api_key_store(keys)
            .default_auth(secure_api::AuthSchemes::JWT.and(secure_api::AuthSchemes::API_KEY));
    }
    let security = builder.build().map_err(|e| match e.setting() {
        "jwt.key" => StartupError(format!("SECURE_API_JWT_SECRET: {}", e.message())),
        "jwt.trusted_issuer.jwks_url" => {
            StartupError(format!("SECURE_API_JWKS_URL: {}", e.message()))
        }
        "jwt.trusted_issuer" => StartupError(format!("SECURE_API_JWT_ISSUER: {}", e.message())),
        "trusted_proxies" => StartupError(format!("SECURE_API_TRUSTED_PROXIES: {}", e.message())),
        _ => StartupError(e.to_string()),
    })?;
    if jwks.is_some()
        && let Err(e) = security.prefetch_keys().await
    {
        // Not fatal: the keys are fetched again at first use; tokens are refused meanwhile.
        tracing::warn!(error = %e, "SECURE_API_JWKS_URL: the keys could not be loaded yet");
    }

    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| StartupError(format!("metrics recorder: {e}")))?;
    let router = app_with_openapi(&security, Some(metrics)).await?;

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError(format!("SECURE_API_ADDR: cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%local, scheme, "customer_api listening");
    println!("customer_api listening on {scheme}://{local}");
    if let Some((url, issuer)) = &jwks {
        println!("trusting tokens of {issuer} with keys from {url}");
    } else if generated {
        print_sample_tokens(&secret, scheme, local)?;
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match tls {
        Some(tls) => secure_api::tls::serve_tls(listener, router, tls, shutdown).await?,
        None => {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await?;
        }
    }
    Ok(())
}

/// `SECURE_API_JWKS_URL` and `SECURE_API_JWT_ISSUER`: both or neither.
fn jwks_settings() -> Result<Option<(String, String)>, StartupError> {
    match (
        optional_env("SECURE_API_JWKS_URL")?,
        optional_env("SECURE_API_JWT_ISSUER")?,
    ) {
        (None, None) => Ok(None),
        (Some(url), Some(issuer)) => Ok(Some((url, issuer))),
        (Some(_), None) => Err(StartupError(
            "SECURE_API_JWT_ISSUER: required with SECURE_API_JWKS_URL (the issuer whose keys \
             the JWKS holds)"
                .to_owned(),
        )),
        (None, Some(_)) => Err(StartupError(
            "SECURE_API_JWKS_URL: required with SECURE_API_JWT_ISSUER (where that issuer's \
             keys are published)"
                .to_owned(),
        )),
    }
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

async fn with_redis(
    builder: secure_api::SecurityBuilder,
    url: &str,
) -> Result<secure_api::SecurityBuilder, StartupError> {
    let store = secure_api::RedisStore::builder(url)
        .key_prefix("customer-api")
        .connect()
        .await
        .map_err(|e| StartupError(format!("SECURE_API_REDIS_URL: {}", e.message())))?;
    tracing::info!("throttling, replay, idempotency and revocation state in Redis");
    Ok(builder
        .nonce_store(std::sync::Arc::new(store.nonce_store()))
        .revocation_store(std::sync::Arc::new(store.revocation_store()))
        .idempotency_store(std::sync::Arc::new(
            store.idempotency_store(Duration::from_secs(24 * 3600)),
        ))
        .rate_limit_store(store))
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
