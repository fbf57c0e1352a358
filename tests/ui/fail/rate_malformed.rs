use secure_api::secure;

#[secure(rate = "5 per minute")]
async fn words() {}

#[secure(rate = "100/15min")]
async fn long_unit() {}

#[secure(rate = "10 / 1s")]
async fn spaces() {}

fn main() {}
