//! The applications that `benches/request.rs` measures and `examples/bench_server.rs`
//! serves: the same three routes secured with `#[secure]`, and assembled by hand the way
//! axum users do it without secure-api (a jsonwebtoken middleware, a role check,
//! tower_governor keyed by the token's subject, validator on the body).
//!
//! Both apps take the same HS256 tokens (issuer and audience `bench`, claims `sub`, `exp`,
//! `roles`) and answer the same bodies, so one load runs against either.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use secure_api::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use validator::Validate;

/// Issuer and audience of every bench token.
pub const ISSUER: &str = "bench";

/// The body of `POST /secured`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct NewItem {
    #[validate(length(min = 1, max = 64))]
    pub name: String,
    #[validate(email)]
    pub email: String,
}

/// The claims of a bench token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
}

/// An HS256 token for `sub` with `roles`, valid for `ttl_secs`.
pub fn mint(
    secret: &[u8],
    sub: &str,
    roles: &[&str],
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        sub: sub.to_owned(),
        exp: now + ttl_secs,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        iss: ISSUER.to_owned(),
        aud: ISSUER.to_owned(),
    };
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret)?,
    )
}

// ---------------------------------------------------------------------------------------
// The unsecured baseline

/// `GET /bare/{id}`: no policy at all.
pub async fn bare_get(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id }))
}

/// The in-process bench's bare `GET`: the body the secured handler answers with (`id` and
/// `sub`, the subject a fixed string), so that the two differ by the pipeline alone and not
/// by one more field for the handler to serialize.
pub async fn bare_get_with_subject(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id, "sub": BENCH_SUBJECT }))
}

/// The subject of the benches' tokens.
pub const BENCH_SUBJECT: &str = "alice";

/// The body handler of `POST /secured` without any security (the benches' baseline).
pub async fn bare_post(Json(item): Json<NewItem>) -> (StatusCode, Json<NewItem>) {
    (StatusCode::CREATED, Json(item))
}

/// The routes with no policy, identical in both apps and outside every security layer.
pub fn bare_routes() -> Router {
    Router::new().route("/bare/{id}", get(bare_get))
}

// ---------------------------------------------------------------------------------------
// #[secure]

#[secure(role = "viewer", rate = "1000000000/1s")]
async fn secured_get(principal: Principal, Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id, "sub": principal.subject() }))
}

#[secure(role = "editor", rate = "1000000000/1s", validate)]
async fn secured_post(Json(item): Json<NewItem>) -> (StatusCode, Json<NewItem>) {
    (StatusCode::CREATED, Json(item))
}

/// The bench configuration of secure-api for `secret`.
pub fn security(secret: &[u8]) -> Result<Security, secure_api::ConfigError> {
    security_builder(secret).build()
}

/// The builder of [`security`], for variants of it.
pub fn security_builder(secret: &[u8]) -> secure_api::SecurityBuilder {
    Security::builder()
        .hmac_secret(secret.to_vec())
        .issuer(ISSUER)
        .audience(ISSUER)
        .role_hierarchy("admin > editor > viewer")
}

/// `/secured/{id}` and `/secured` with `#[secure]`, plus the bare routes.
pub fn secured_app(security: &Security) -> Router {
    Router::new()
        .route("/secured/{id}", get(secured_get))
        .route("/secured", post(secured_post))
        .layer(security.layer())
        .merge(bare_routes())
}

// ---------------------------------------------------------------------------------------
// Assembled by hand

#[derive(Clone)]
struct HandAuth {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

/// The usual jsonwebtoken middleware: `Bearer` token, decode, claims into the extensions.
async fn authenticate(State(auth): State<HandAuth>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    match jsonwebtoken::decode::<Claims>(token, &auth.key, &auth.validation) {
        Ok(data) => {
            request.extensions_mut().insert(data.claims);
            next.run(request).await
        }
        Err(_) => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// admin > editor > viewer, as a rank.
fn rank(role: &str) -> u8 {
    match role {
        "admin" => 3,
        "editor" => 2,
        "viewer" => 1,
        _ => 0,
    }
}

async fn require_role(required: &'static str, request: Request, next: Next) -> Response {
    let allowed = request
        .extensions()
        .get::<Claims>()
        .is_some_and(|claims| claims.roles.iter().any(|r| rank(r) >= rank(required)));
    if allowed {
        next.run(request).await
    } else {
        StatusCode::FORBIDDEN.into_response()
    }
}

/// tower_governor keyed by the token's subject (the claims the middleware stored).
#[derive(Clone)]
struct SubjectKey;

impl KeyExtractor for SubjectKey {
    type Key = String;

    fn extract<T>(&self, request: &axum::http::Request<T>) -> Result<String, GovernorError> {
        request
            .extensions()
            .get::<Claims>()
            .map(|claims| claims.sub.clone())
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

async fn hand_get(Extension(claims): Extension<Claims>, Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id, "sub": claims.sub }))
}

async fn hand_post(Json(item): Json<NewItem>) -> Response {
    match item.validate() {
        Ok(()) => (StatusCode::CREATED, Json(item)).into_response(),
        Err(errors) => (StatusCode::UNPROCESSABLE_ENTITY, Json(errors)).into_response(),
    }
}

/// The same routes assembled by hand, plus the bare routes.
pub fn hand_app(secret: &[u8]) -> Result<Router, jsonwebtoken::errors::Error> {
    Ok(hand_routes(secret)?.merge(bare_routes()))
}

/// The hand-assembled app whose secured responses also carry the headers `#[secure]`
/// responses carry (the security profile, `RateLimit`, `RateLimit-Policy`,
/// `X-Request-Id`), as static values from one `map_response`: a lower bound of what
/// sending them costs a hand-built stack (real `RateLimit` values and request ids would
/// have to be computed per request).
pub fn hand_app_with_headers(secret: &[u8]) -> Result<Router, jsonwebtoken::errors::Error> {
    Ok(hand_routes(secret)?
        .layer(middleware::map_response(add_secure_headers))
        .merge(bare_routes()))
}

/// The response headers of `#[secure]` (values of the bench's routes), built once.
static SECURE_HEADERS: [(HeaderName, HeaderValue); 10] = [
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ),
    (
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
    (
        HeaderName::from_static("cache-control"),
        HeaderValue::from_static("no-store"),
    ),
    (
        HeaderName::from_static("ratelimit-policy"),
        HeaderValue::from_static("\"default\";q=1000000000;w=1"),
    ),
    (
        HeaderName::from_static("ratelimit"),
        HeaderValue::from_static("\"default\";r=999999999;t=1"),
    ),
    (
        HeaderName::from_static("x-request-id"),
        HeaderValue::from_static("e278c0db84ba247f4a7e3336c2f96ea4"),
    ),
];

async fn add_secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in &SECURE_HEADERS {
        headers.insert(name.clone(), value.clone());
    }
    response
}

/// The secured routes assembled by hand.
fn hand_routes(secret: &[u8]) -> Result<Router, jsonwebtoken::errors::Error> {
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[ISSUER]);
    let auth = HandAuth {
        key: Arc::new(DecodingKey::from_secret(secret)?),
        validation: Arc::new(validation),
    };
    // One token per nanosecond with a burst of a billion: far above any load, like the
    // `#[secure]` app's rate.
    let governor = Arc::new(
        GovernorConfigBuilder::default()
            .per_nanosecond(1)
            .burst_size(1_000_000_000)
            .key_extractor(SubjectKey)
            .finish()
            .expect("a valid governor configuration"),
    );
    let viewer = get(hand_get)
        .layer(tower_governor::GovernorLayer::new(governor.clone()))
        .layer(middleware::from_fn(|r, n| require_role("viewer", r, n)));
    let editor = post(hand_post)
        .layer(tower_governor::GovernorLayer::new(governor))
        .layer(middleware::from_fn(|r, n| require_role("editor", r, n)));
    Ok(Router::new()
        .route("/secured/{id}", viewer)
        .route("/secured", editor)
        .route_layer(middleware::from_fn_with_state(auth, authenticate)))
}
