use secure_api::{policy, secure};

policy!(ADMIN_WRITE: role = "admin", rate = "10/1m");
policy!(OPEN: public);

// The policy requires a role; the handler cannot also be public.
#[secure(policy = ADMIN_WRITE, public)]
async fn create() {}

// `any_role` does not replace the policy's `role`: give `role` to replace it.
#[secure(policy = ADMIN_WRITE, any_role = ["editor", "auditor"])]
async fn update() {}

// A public policy leaves no principal whose role could be checked.
#[secure(policy = OPEN, role = "viewer")]
async fn read() {}

fn main() {}
