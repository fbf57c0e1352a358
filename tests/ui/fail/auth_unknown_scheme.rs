use secure_api::secure;

#[secure(auth = "apikey")]
async fn typo() {}

#[secure(auth = ["jwt", "bearer"])]
async fn bearer_is_called_jwt() {}

#[secure(auth = ["basic"])]
async fn unsupported() {}

fn main() {}
