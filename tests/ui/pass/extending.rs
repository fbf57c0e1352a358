//! Named policies across modules, custom and built-in guards, ownership checks and every
//! method of the secured router must compile without a warning.
#![deny(warnings)]

use axum::extract::{Path, Query};
use axum::{Extension, Json};
use secure_api::prelude::*;
use secure_api::routing::{SecureRouter, any, connect, delete, get, head, options, patch, post, put, trace};
use serde::Deserialize;
use validator::Validate;

mod policies {
    use secure_api::policy;

    policy!(pub(crate) ADMIN_WRITE: role = "admin", rate = "10/1m");
    policy!(pub(crate) INTERNAL: public, ip_allow(from = ["10.0.0.0/8", "::1"]), rate = "100/1s");
    policy!(pub(crate) UNUSED: role = "viewer");
}

use policies::{ADMIN_WRITE, INTERNAL};

#[allow(non_camel_case_types)]
pub struct tenant {
    pub header: &'static str,
    pub allowed: &'static [&'static str],
    pub strict: bool,
}

impl RequestGuard for tenant {
    async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
        let sent = request.headers().get(self.header).and_then(|v| v.to_str().ok());
        match sent {
            Some(t) if self.allowed.contains(&t) => Ok(()),
            None if !self.strict => Ok(()),
            _ => Err(SecurityError::forbidden()),
        }
    }
}

#[derive(Deserialize, Validate)]
struct Thing {
    #[validate(length(min = 1))]
    name: String,
}

#[derive(Deserialize)]
struct Filter {
    #[allow(dead_code)]
    q: Option<String>,
}

#[derive(Clone)]
struct Db;

async fn owns(_: Principal, Path(_id): Path<u64>, Query(_f): Query<Filter>, Extension(_db): Extension<Db>) -> bool {
    true
}

async fn owns_fallibly(_: Principal) -> Result<bool, SecurityError> {
    Ok(true)
}

#[secure(policy = ADMIN_WRITE, validate)]
async fn create(Json(t): Json<Thing>) -> String {
    t.name
}

#[secure(policy = policies::ADMIN_WRITE, rate = "1/s")]
async fn remove(Path(id): Path<u64>) -> String {
    id.to_string()
}

#[secure(policy = INTERNAL)]
async fn metrics() -> &'static str {
    "up 1"
}

#[secure(role = "viewer", tenant(header = "x-tenant", allowed = ["acme", "globex"], strict = true))]
async fn tenant_list() {}

#[secure(role = "viewer", owner = owns, owner_refusal = 403)]
async fn show(Path(id): Path<u64>) -> String {
    id.to_string()
}

#[secure(owner = owns_fallibly, time_window(from = "22:00", to = "06:00"), maintenance(from = "03:00", to = "03:15"))]
async fn nightly() {}

#[secure(public)]
async fn open() {}

fn main() {
    let nested = SecureRouter::new().route("/{id}", get(show).delete(remove));
    let _app: axum::Router = SecureRouter::new()
        .route("/things", post(create).put(open).patch(open).head(open).options(open).trace(open).connect(open))
        .route("/m", get(metrics).fallback(open))
        .route("/t", get(tenant_list))
        .route("/n", any(nightly))
        .route("/x", put(open))
        .route("/y", patch(open))
        .route("/z", delete(open))
        .route("/h", head(open))
        .route("/o", options(open))
        .route("/tr", trace(open))
        .route("/c", connect(open))
        .nest("/things", nested)
        .fallback(open)
        .layer(Extension(Db))
        .into_router();
}
