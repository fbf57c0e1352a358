use secure_api::secure;

#[secure(public, replay)]
async fn transfer() -> &'static str {
    "done"
}

fn main() {}
