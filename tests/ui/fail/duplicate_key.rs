use secure_api::secure;

#[secure(role = "admin", rate = "10/1s", role = "editor")]
async fn twice() {}

fn main() {}
