//! The handlers of the test application, one per kind of policy, shaped like the
//! customer_api quickstart.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use secure_api::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use validator::Validate;

#[derive(Debug, Deserialize, Validate)]
pub(crate) struct NewCustomer {
    #[validate(length(min = 1, max = 100))]
    name: String,
    #[validate(email)]
    email: String,
}

#[secure(public)]
pub(crate) async fn health() -> &'static str {
    "ok"
}

#[secure(public, rate = "3/1m")]
pub(crate) async fn ping() -> Json<Value> {
    Json(json!({ "pong": true }))
}

/// A public route with a short period, for the bounded-memory test.
#[secure(public, rate = "5/1s")]
pub(crate) async fn burst() -> StatusCode {
    StatusCode::OK
}

#[secure]
pub(crate) async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "sub": principal.subject(),
        "roles": principal.roles(),
        "effective_roles": principal.effective_roles().collect::<Vec<_>>(),
        "scopes": principal.scopes(),
        "claims": principal.claims(),
    }))
}

#[secure(role = "viewer")]
pub(crate) async fn list_customers() -> Json<Value> {
    Json(json!([{ "id": 1, "name": "Ada", "email": "ada@example.com" }]))
}

#[secure(role = "viewer")]
pub(crate) async fn get_customer(Path(id): Path<u64>) -> Result<Json<Value>, StatusCode> {
    if id == 1 {
        Ok(Json(
            json!({ "id": 1, "name": "Ada", "email": "ada@example.com" }),
        ))
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

#[secure(role = "editor", rate = "5/1m", validate)]
pub(crate) async fn create_customer(Json(new): Json<NewCustomer>) -> impl IntoResponse {
    (
        StatusCode::CREATED,
        Json(json!({ "id": 2, "name": new.name, "email": new.email })),
    )
}

#[secure(role = "admin")]
pub(crate) async fn delete_customer(Path(id): Path<u64>) -> StatusCode {
    if id == 1 {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[secure(any_role = ["editor", "auditor"])]
pub(crate) async fn report() -> &'static str {
    "report"
}

/// Sets headers the layer must override or remove.
#[secure(role = "viewer")]
pub(crate) async fn cached() -> impl IntoResponse {
    leaky_headers()
}

#[secure(public)]
pub(crate) async fn public_cached() -> impl IntoResponse {
    leaky_headers()
}

fn leaky_headers() -> (HeaderMap, &'static str) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    headers.insert(
        header::SERVER,
        HeaderValue::from_static("hyper/1.0 (Ubuntu)"),
    );
    headers.insert("x-powered-by", HeaderValue::from_static("secure-api-tests"));
    (headers, "cached")
}

/// Any authenticated principal; reads a JSON body without validation rules.
#[secure]
pub(crate) async fn echo(Json(body): Json<Value>) -> Json<Value> {
    Json(body)
}
