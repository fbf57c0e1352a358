use secure_api::secure;

#[secure(rate = "3/1m", on_store_error = "allow")]
async fn wrong_word() {}

#[secure(rate = "3/1m", on_store_error = true)]
async fn not_a_string() {}

fn main() {}
