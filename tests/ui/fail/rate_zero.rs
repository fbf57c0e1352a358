use secure_api::secure;

#[secure(rate = "0/1m")]
async fn zero_requests() {}

#[secure(rate = "5/0m")]
async fn zero_period() {}

fn main() {}
