use axum::extract::State;
use secure_api::secure;

#[secure(validate)]
async fn nothing_to_validate(State(state): State<()>, body: String) -> String {
    let () = state;
    body
}

fn main() {}
