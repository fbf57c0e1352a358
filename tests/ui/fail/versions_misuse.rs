use secure_api::{secure, secure_versions};

#[secure_versions()]
async fn no_version() -> &'static str {
    "x"
}

#[secure_versions(v1(public), v1(role = "admin"))]
async fn twice() -> &'static str {
    "x"
}

#[secure_versions(V2(public), version3(public), v2)]
async fn bad_names() -> &'static str {
    "x"
}

#[secure_versions(v1(public))]
#[secure(role = "admin")]
async fn also_secure() -> &'static str {
    "x"
}

#[secure_versions(v1(public))]
fn not_async() -> &'static str {
    "x"
}

#[secure_versions(v1(public), v2(roles = "admin", public, role = "admin"))]
async fn bad_keys() -> &'static str {
    "x"
}

fn main() {}
