//! With a declaration, declared scopes compile, with roles and through a policy.
#![deny(warnings)]

use secure_api::{policy, secure};

policy!(WRITE: role = "editor", scope = "customers:write");

#[secure(role = "viewer", scope = ["customers:read", "customers:write"])]
async fn a() {}

#[secure(any_scope = ["customers:read", "customers:write"])]
async fn b() {}

#[secure(policy = WRITE)]
async fn c() {}

fn main() {
    let _ = (a, b, c);
}
