use axum::Json;
use secure_api::secure;
use serde::Deserialize;

#[derive(Deserialize)]
struct NotValidated {
    name: String,
}

#[secure(validate)]
async fn create(Json(body): Json<NotValidated>) -> String {
    body.name
}

fn main() {}
