use secure_api::secure;

#[secure(any_scope = [])]
async fn none() {}

#[secure(scope = "")]
async fn blank() {}

fn main() {}
