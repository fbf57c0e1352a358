use axum::extract::Path;
use secure_api::prelude::*;

// The principal must come first, and the answer must be a `bool`.
async fn owns(Path(id): Path<u64>, principal: Principal) -> String {
    format!("{id}{}", principal.subject())
}

#[secure(role = "viewer", owner = owns)]
async fn show(Path(id): Path<u64>) -> String {
    id.to_string()
}

fn main() {}
