use secure_api::secure;

#[secure(rate_key = "ip")]
async fn no_rate() {}

#[secure(on_store_error = "open")]
async fn nothing_to_fail() {}

fn main() {}
