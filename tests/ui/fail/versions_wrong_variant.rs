//! The original name is gone: only the variants `<name>_<version>` exist.
use secure_api::routing::{SecureRouter, get};
use secure_api::secure_versions;

#[secure_versions(v1(public), v2(role = "admin"))]
async fn report() -> &'static str {
    "report"
}

fn main() {
    let _ = SecureRouter::<()>::new().route("/report", get(report));
}
