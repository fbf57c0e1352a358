//! `signed` reaches the const policy, directly and through a named policy.
use secure_api::{PolicySource, policy, secure};

policy!(SIGNED_WRITE: role = "editor", signed);

#[secure(role = "editor", signed)]
async fn transfer() -> &'static str {
    "done"
}

#[secure(policy = SIGNED_WRITE, rate = "10/1m")]
async fn payment() -> &'static str {
    "done"
}

#[secure(role = "editor")]
async fn unsigned() -> &'static str {
    "done"
}

fn main() {
    assert!(__secure_api_policy_transfer::POLICY.requires_signature());
    assert!(__secure_api_policy_payment::POLICY.requires_signature());
    assert!(!__secure_api_policy_unsigned::POLICY.requires_signature());
    let _ = (transfer, payment, unsigned);
}
