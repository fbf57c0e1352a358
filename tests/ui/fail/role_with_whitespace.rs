use secure_api::secure;

#[secure(role = "admin editor")]
async fn two_roles_in_one_string() {}

#[secure(any_role = ["editor", " auditor"])]
async fn padded_role_in_list() {}

fn main() {}
