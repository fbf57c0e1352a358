use secure_api::secure;

#[secure(role = "viewer", deprecated = "2027-02-30")]
async fn impossible_day() -> &'static str {
    "old"
}

#[secure(role = "viewer", sunset = "30/06/2027")]
async fn wrong_format() -> &'static str {
    "old"
}

#[secure(role = "viewer", deprecated = "2027-06-30", sunset = "2027-01-01")]
async fn sunset_before_deprecation() -> &'static str {
    "old"
}

fn main() {}
