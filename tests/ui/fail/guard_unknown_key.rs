use secure_api::secure;

// No type `tenant` is in scope: the custom key is unknown.
#[secure(role = "viewer", tenant(header = "X-Tenant"))]
async fn list() {}

fn main() {}
