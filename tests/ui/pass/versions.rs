//! Versions with named policies, `crate = "..."`, guards and extractors compile without a
//! warning, and each variant's policy carries its version.
#![deny(warnings)]

use axum::Json;
use axum::extract::Path;
use secure_api::routing::{SecureRouter, get, post};
use secure_api::versions::ApiVersion;
use secure_api::{PolicySource, policy, secure_versions};
use serde::Deserialize;
use validator::Validate;

use secure_api as sa;

policy!(ADMIN: role = "admin", rate = "10/1m");

#[derive(Deserialize, Validate)]
struct NewThing {
    #[validate(length(min = 1))]
    name: String,
}

/// Documented once, for every version.
#[secure_versions(
    v1(public, deprecated = "2026-01-01"),
    v2(policy = ADMIN, validate),
    v3beta(role = "editor", signed, validate)
)]
pub(crate) async fn create(Path(id): Path<u64>, Json(thing): Json<NewThing>) -> String {
    format!("{id} {}", thing.name)
}

#[secure_versions(crate = "sa", v1(public), v2(role = "viewer"))]
async fn list() -> &'static str {
    "[]"
}

fn main() {
    assert_eq!(__secure_api_policy_create_v1::POLICY.version(), Some("v1"));
    assert!(__secure_api_policy_create_v1::POLICY.is_public());
    assert_eq!(__secure_api_policy_create_v2::POLICY.version(), Some("v2"));
    assert_eq!(__secure_api_policy_create_v2::POLICY.roles(), &["admin"]);
    assert_eq!(__secure_api_policy_create_v3beta::POLICY.version(), Some("v3beta"));
    assert!(__secure_api_policy_create_v3beta::POLICY.requires_signature());
    let _app: axum::Router = SecureRouter::new()
        .version(
            ApiVersion::new("v1"),
            SecureRouter::new()
                .route("/things/{id}", post(create_v1))
                .route("/things", get(list_v1)),
        )
        .version(
            ApiVersion::new("v2"),
            SecureRouter::new()
                .route("/things/{id}", post(create_v2))
                .route("/things", get(list_v2)),
        )
        .version(
            ApiVersion::new("v3beta"),
            SecureRouter::new().route("/things/{id}", post(create_v3beta)),
        )
        .into_router();
}
