use secure_api::secure;

// A type with the key's name that does not implement `RequestGuard`.
#[allow(non_camel_case_types)]
pub struct audit {
    pub level: u8,
}

#[secure(role = "viewer", audit(level = 2))]
async fn list() {}

fn main() {}
