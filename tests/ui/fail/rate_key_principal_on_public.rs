use secure_api::secure;

#[secure(public, rate = "3/1m", rate_key = "principal")]
async fn ping() {}

fn main() {}
