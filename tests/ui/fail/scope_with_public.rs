use secure_api::secure;

#[secure(public, scope = "customers:read")]
async fn open() {}

fn main() {}
