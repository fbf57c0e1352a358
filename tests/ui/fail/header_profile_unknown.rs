use secure_api::secure;

#[secure(public, headers = "lenient")]
async fn docs() -> &'static str {
    "docs"
}

fn main() {}
