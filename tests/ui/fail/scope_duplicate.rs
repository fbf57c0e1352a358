use secure_api::secure;

#[secure(scope = ["customers:write", "customers:write"])]
async fn twice() {}

fn main() {}
