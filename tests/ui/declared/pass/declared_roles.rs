//! With a declaration, declared role names compile and the hierarchy is available.
#![deny(warnings)]

use secure_api::{policy, secure};

policy!(EDIT: role = "editor");

#[secure(role = "admin")]
async fn a() {}

#[secure(any_role = ["auditor", "viewer"])]
async fn b() {}

#[secure(policy = EDIT)]
async fn c() {}

const HIERARCHY: &str = secure_api::declared_roles!();

fn main() {
    let _ = (a, b, c);
    assert_eq!(HIERARCHY, "admin > editor; editor > viewer; auditor > viewer");
}
