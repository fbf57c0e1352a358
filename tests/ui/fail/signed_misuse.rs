use secure_api::{policy, secure};

#[secure(public, signed)]
async fn open_transfer() -> &'static str {
    "done"
}

#[secure(role = "editor", signed = true)]
async fn flag_with_value() -> &'static str {
    "done"
}

#[secure(role = "editor", signed(by = "client"))]
async fn signed_as_guard() -> &'static str {
    "done"
}

policy!(SIGNED: signed);

#[secure(policy = SIGNED, public)]
async fn public_with_signed_policy() -> &'static str {
    "done"
}

fn main() {}
