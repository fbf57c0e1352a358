use secure_api::AuthorizedOutput;

#[derive(AuthorizedOutput)]
struct CustomerView {
    #[visible(roles = "admin")]
    email: String,
    #[visible(role = admin)]
    phone: String,
    #[visible(any_role = [])]
    notes: String,
    #[visible(role = "")]
    ssn: String,
}

#[derive(AuthorizedOutput)]
enum Status {
    Active,
}

#[derive(AuthorizedOutput)]
struct Pair(String, String);

fn main() {}
