//! `rate_key`, stacked rates and `on_store_error` compile and mount on a `Router`.
#![deny(warnings)]

use axum::Router;
use axum::http::request::Parts;
use axum::routing::get;
use secure_api::{Principal, secure};

fn tenant(parts: &Parts, principal: Option<&Principal>) -> Option<String> {
    let header = parts.headers.get("x-tenant")?.to_str().ok()?;
    Some(format!("{header}:{}", principal.map_or("-", |p| p.subject())))
}

#[secure(public, rate = "10/1s; 1000/1h", rate_key = "ip")]
async fn stacked() {}

#[secure(rate = "5/1m", rate_key = "principal", on_store_error = "open")]
async fn by_principal() {}

#[secure(public, rate = "5/1m", rate_key = "api_key", on_store_error = "closed")]
async fn by_api_key() {}

#[secure(role = "viewer", rate = "5/1m", rate_key = "header:X-Tenant")]
async fn by_header() {}

#[secure(rate = "5/1m", rate_key = tenant)]
async fn by_function() {}

#[secure(rate = "5/1m", rate_key = self::tenant)]
async fn by_path() {}

fn main() {
    let _: Router = Router::new()
        .route("/a", get(stacked))
        .route("/b", get(by_principal))
        .route("/c", get(by_api_key))
        .route("/d", get(by_header))
        .route("/e", get(by_function))
        .route("/f", get(by_path));
}
