use secure_api::{policy, secure};

// A typo: the error suggests the declared scope and lists them all.
#[secure(scope = "customers:wirte")]
async fn a() {}

// A scope nobody declared, in a list.
#[secure(any_scope = ["customers:read", "billing:read"])]
async fn b() {}

// Policies are checked where they are defined.
policy!(WRITE: scope = ["customers:writ"]);

fn main() {}
