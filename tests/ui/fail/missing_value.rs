use secure_api::secure;

#[secure(role)]
async fn role_without_value() {}

#[secure(rate =)]
async fn rate_without_value() {}

fn main() {}
