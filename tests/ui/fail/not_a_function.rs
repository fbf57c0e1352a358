use secure_api::secure;

#[secure(role = "admin")]
struct Handler;

fn main() {}
