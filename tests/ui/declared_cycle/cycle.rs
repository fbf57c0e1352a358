use secure_api::secure;

// The declaration has a cycle: every use of the attribute says so.
#[secure(role = "admin")]
async fn a() {}

const HIERARCHY: &str = secure_api::declared_roles!();

fn main() {
    let _ = HIERARCHY;
}
