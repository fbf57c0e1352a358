use secure_api::secure;

#[secure(rate = "10/1s; ten/1h")]
async fn second_malformed() {}

#[secure(rate = "10/1s;")]
async fn trailing_separator() {}

#[secure(rate = "10/1s; 10/1s")]
async fn twice() {}

fn main() {}
