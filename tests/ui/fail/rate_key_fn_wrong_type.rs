use secure_api::secure;

fn tenant(_: &str) -> String {
    String::new()
}

#[secure(rate = "3/1m", rate_key = tenant)]
async fn keyed_by_a_wrong_function() {}

fn main() {}
