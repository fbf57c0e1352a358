use secure_api::secure;

#[secure(rate = "3/1m", rate_key = "ipp")]
async fn typo() {}

#[secure(rate = "3/1m", rate_key = "tenant")]
async fn unknown() {}

#[secure(rate = "3/1m", rate_key = 5)]
async fn not_a_string() {}

fn main() {}
