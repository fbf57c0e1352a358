use secure_api::{policy, secure};

// A typo: the error names it, suggests the declared role and lists them all.
#[secure(role = "admn")]
async fn a() {}

// A role nobody declared, in a list.
#[secure(any_role = ["auditor", "superuser"])]
async fn b() {}

// Policies are checked where they are defined.
policy!(EDIT: role = "editr");

fn main() {}
