use secure_api::secure;

#[secure(public, csp = "default-src 'self'; scirpt-src 'none'")]
async fn typo_in_directive() -> &'static str {
    "page"
}

#[secure(public, csp = "default-src 'none' 'self'")]
async fn none_with_sources() -> &'static str {
    "page"
}

#[secure(public, csp = "default-src 'self'; default-src 'none'")]
async fn duplicate_directive() -> &'static str {
    "page"
}

fn main() {}
