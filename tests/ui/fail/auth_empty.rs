use secure_api::secure;

#[secure(auth = [])]
async fn no_scheme() {}

#[secure(auth = 1)]
async fn not_a_scheme() {}

fn main() {}
