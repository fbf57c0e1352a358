use secure_api::secure;

#[secure(scope = "customers:read", any_scope = ["customers:admin"])]
async fn both() {}

fn main() {}
