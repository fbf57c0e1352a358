use secure_api::{policy, secure};

policy!(ADMIN_WRITE: role = "admin", validate);

// The policy's `validate` does not fit a handler without a body to validate: reported at
// the policy's name in this attribute.
#[secure(policy = ADMIN_WRITE)]
async fn delete() {}

fn main() {}
