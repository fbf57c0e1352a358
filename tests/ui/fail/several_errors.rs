use secure_api::secure;

struct Api;

impl Api {
    #[secure(
        rol = "admin",
        public,
        role = "",
        rate = "5 per minute",
        validate = true,
        rate = "1/s"
    )]
    fn list(&self, body: String) -> String {
        body
    }
}

fn main() {}
