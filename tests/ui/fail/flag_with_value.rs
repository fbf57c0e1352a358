use secure_api::secure;

#[secure(validate = true)]
async fn validate_with_value() {}

#[secure(public = "yes")]
async fn public_with_value() {}

fn main() {}
