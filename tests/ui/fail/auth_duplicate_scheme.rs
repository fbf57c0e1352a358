use secure_api::secure;

#[secure(auth = ["api_key", "jwt", "api_key"])]
async fn twice() {}

fn main() {}
