use secure_api::secure;

#[secure(role = "viewer", deprecated = "2027-01-01", link = "http://insecure.example/v2")]
async fn plain_http_link() -> &'static str {
    "old"
}

#[secure(role = "viewer", deprecated = "2027-01-01", link = "/v2/things>; rel=\"x\"")]
async fn header_injection() -> &'static str {
    "old"
}

#[secure(role = "viewer", link = "/v2/things")]
async fn link_without_deprecation() -> &'static str {
    "old"
}

fn main() {}
