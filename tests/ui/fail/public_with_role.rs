use secure_api::secure;

#[secure(public, role = "admin")]
async fn public_then_role() {}

#[secure(any_role = ["editor", "auditor"], public)]
async fn any_role_then_public() {}

fn main() {}
