use secure_api::secure;

struct Api;

impl Api {
    #[secure(role = "admin")]
    async fn list(&self) -> &'static str {
        "methods are not handlers"
    }
}

fn main() {}
