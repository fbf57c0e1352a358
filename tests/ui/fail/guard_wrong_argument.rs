use secure_api::prelude::*;

#[allow(non_camel_case_types)]
pub struct tenant {
    pub header: &'static str,
    pub required: bool,
}

impl RequestGuard for tenant {
    async fn check(&self, _: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
        Ok(())
    }
}

// A number where the guard takes a string.
#[secure(role = "viewer", tenant(header = 5, required = true))]
async fn list() {}

// A misspelt argument, and a missing one.
#[secure(role = "viewer", tenant(heder = "X-Tenant"))]
async fn show() {}

fn main() {}
