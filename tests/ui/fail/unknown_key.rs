use secure_api::secure;

#[secure(roles = "admin")]
async fn close_to_a_key() {}

#[secure(permission = "admin")]
async fn close_to_no_key() {}

fn main() {}
