use secure_api::routing::{SecureRouter, get};
use secure_api::secure;

#[secure(public)]
async fn health() -> &'static str {
    "ok"
}

// Forgot the attribute: the secured router must refuse it.
async fn list_customers() -> &'static str {
    "[]"
}

fn main() {
    let _app: axum::Router = SecureRouter::new()
        .route("/health", get(health))
        .route("/v1/customers", get(list_customers))
        .into_router();
}
