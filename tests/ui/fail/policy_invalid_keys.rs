use secure_api::{policy, secure};

// Mistakes in a policy are reported once, at the policy.
policy!(ADMIN_WRITE: roles = "admin", rate = "10 per minute");

#[secure(policy = ADMIN_WRITE)]
async fn create() {}

#[secure(policy = ADMIN_WRITE, validate = true)]
async fn update() {}

fn main() {}
