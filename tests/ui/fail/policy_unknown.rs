use secure_api::{policy, secure};

policy!(ADMIN_WRITE: role = "admin");

#[secure(policy = ADMIN_WRIT)]
async fn create() {}

fn main() {}
