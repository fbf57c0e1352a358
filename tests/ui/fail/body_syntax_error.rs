use secure_api::secure;

// A body that does not parse still expands, so the user sees the body's own syntax error.
#[secure(role = "admin")]
async fn broken() -> u32 {
    let = 5;
    0
}

fn main() {}
