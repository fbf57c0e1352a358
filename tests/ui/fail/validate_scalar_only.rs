use axum::extract::Path;
use secure_api::secure;

#[secure(role = "viewer", validate)]
async fn only_a_number(Path(id): Path<u64>) -> String {
    id.to_string()
}

fn main() {}
