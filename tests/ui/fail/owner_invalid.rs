use axum::extract::Path;
use secure_api::prelude::*;

async fn owns(principal: Principal, Path(id): Path<u64>) -> bool {
    principal.subject() == id.to_string()
}

// A public handler has no principal to own anything.
#[secure(public, owner = owns)]
async fn open(Path(id): Path<u64>) -> String {
    id.to_string()
}

// Only 404 and 403 are refusals of an ownership check.
#[secure(role = "viewer", owner = owns, owner_refusal = 401)]
async fn strange(Path(id): Path<u64>) -> String {
    id.to_string()
}

// A refusal without a check.
#[secure(role = "viewer", owner_refusal = 403)]
async fn orphan() {}

// Not a path to a function.
#[secure(role = "viewer", owner = "owns")]
async fn quoted() {}

fn main() {}
