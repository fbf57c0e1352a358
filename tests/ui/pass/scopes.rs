//! Scope keys compile into the policy, all-of or any-of.
#![deny(warnings)]

use secure_api::secure;
use secure_api::PolicySource;

#[secure(role = "editor", scope = "customers:write")]
async fn one() {}

#[secure(scope = ["a:read", "a:write"])]
async fn all() {}

#[secure(any_scope = ["a:read", "a:admin"])]
async fn any() {}

fn main() {
    let _ = (one, all, any);
    let p = __secure_api_policy_all::POLICY;
    assert_eq!(p.scopes(), ["a:read", "a:write"]);
    assert!(!p.any_scope_suffices());
    assert!(__secure_api_policy_any::POLICY.any_scope_suffices());
    assert_eq!(__secure_api_policy_one::POLICY.roles(), ["editor"]);
}
