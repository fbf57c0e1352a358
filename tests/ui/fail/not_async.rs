use secure_api::secure;

#[secure(role = "admin")]
fn blocking() -> &'static str {
    "not a handler"
}

fn main() {}
