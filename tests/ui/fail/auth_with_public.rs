use secure_api::secure;

#[secure(public, auth = "api_key")]
async fn public_then_auth() {}

#[secure(auth = "jwt", public)]
async fn auth_then_public() {}

fn main() {}
