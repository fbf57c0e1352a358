use secure_api::AuthorizedOutput;

#[derive(AuthorizedOutput)]
struct CustomerView {
    name: String,
    #[visible(role = "admim")]
    email: String,
    #[visible(scope = "customers:reed")]
    phone: String,
}

fn main() {}
