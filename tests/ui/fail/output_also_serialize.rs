use secure_api::AuthorizedOutput;
use serde::Serialize;

// `Serialize` would write the admin-only field for everybody through `Json(...)`.
#[derive(Serialize, AuthorizedOutput)]
struct CustomerView {
    name: String,
    #[visible(role = "admin")]
    email: String,
}

fn main() {}
