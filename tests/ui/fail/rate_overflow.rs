use secure_api::secure;

#[secure(rate = "4294967296/1s")]
async fn count_beyond_u32() {}

#[secure(rate = "1/213503982334602d")]
async fn period_beyond_u64_seconds() {}

fn main() {}
