use secure_api::secure;

// A line the declaration does not understand.
#[secure(role = "admin")]
async fn a() {}

fn main() {}
