use secure_api::secure;

// A mistake inside the body is reported at the body, as rustc would without the attribute.
#[secure(role = "admin")]
async fn count() -> u32 {
    let n: u32 = "not a number";
    n
}

fn main() {}
