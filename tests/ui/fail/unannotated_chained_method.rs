use axum::extract::Path;
use secure_api::routing::{SecureRouter, get};
use secure_api::secure;

#[secure(role = "viewer")]
async fn get_customer(Path(id): Path<u64>) -> String {
    id.to_string()
}

// Forgot the attribute on the second method of the same path.
async fn delete_customer(Path(_id): Path<u64>) {}

fn main() {
    let _app: axum::Router = SecureRouter::new()
        .route("/v1/customers/{id}", get(get_customer).delete(delete_customer))
        .into_router();
}
