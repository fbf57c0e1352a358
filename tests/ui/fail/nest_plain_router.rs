use axum::routing::get;
use secure_api::routing::SecureRouter;

async fn list() -> &'static str {
    "[]"
}

fn main() {
    // A plain axum router carries unchecked handlers: it cannot be nested in a secured one.
    let v1: axum::Router = axum::Router::new().route("/customers", get(list));
    let _app: axum::Router = SecureRouter::new().nest("/v1", v1).into_router();
}
