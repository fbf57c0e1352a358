use secure_api::routing::{SecureRouter, any, post};
use secure_api::secure;

#[secure(public)]
async fn ok() {}

async fn plain() {}

fn main() {
    // Every method router and the fallback refuse unannotated handlers.
    let _app: axum::Router = SecureRouter::new()
        .route("/a", post(ok).put(plain))
        .route("/b", any(plain))
        .fallback(plain)
        .into_router();
}
