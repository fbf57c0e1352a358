use secure_api::secure;

#[secure(auth = "api_key", replay)]
async fn keys_cannot_be_single_use() {}

fn main() {}
