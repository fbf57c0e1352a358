use secure_api::secure;

// Two scopes in one string: a scope token has no spaces.
#[secure(scope = "customers:read customers:write")]
async fn spaced() {}

// A quote is outside the RFC 6749 scope-token characters.
#[secure(any_scope = ["ok", "bad\"quote"])]
async fn quoted() {}

fn main() {}
