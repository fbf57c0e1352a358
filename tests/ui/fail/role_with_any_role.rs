use secure_api::secure;

#[secure(role = "admin", any_role = ["editor", "auditor"])]
async fn both() {}

fn main() {}
