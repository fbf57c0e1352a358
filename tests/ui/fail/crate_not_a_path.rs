use secure_api::secure;

#[secure(crate = "secure api")]
async fn spaced_path() {}

fn main() {}
