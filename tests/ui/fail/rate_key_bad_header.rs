use secure_api::secure;

#[secure(rate = "3/1m", rate_key = "header:")]
async fn empty_name() {}

#[secure(rate = "3/1m", rate_key = "header:x tenant")]
async fn space_in_name() {}

fn main() {}
