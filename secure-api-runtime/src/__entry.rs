//! Single stages of the guard, callable on their own by the fuzz targets and the stage
//! benches. Not a public API: the guard is the only supported way to apply a policy.
//!
//! ```
//! let (parts, ()) = http::Request::get("/")
//!     .header("authorization", "Bearer abc.def.ghi")
//!     .body(())
//!     .unwrap()
//!     .into_parts();
//! assert_eq!(secure_api_runtime::__entry::bearer_token(&parts).unwrap(), "abc.def.ghi");
//! ```

use std::future::Future;

use http::request::Parts;

use crate::config::Security;
use crate::error::SecurityError;
use crate::principal::Principal;

/// The bearer token of the request's `Authorization` header, or the refusal the guard
/// would answer.
pub fn bearer_token(parts: &Parts) -> Result<&str, SecurityError> {
    crate::guard::bearer_token(parts)
}

/// Verifies `token` with the configuration's key, claim checks and role hierarchy, as the
/// guard does after extracting it.
///
/// For keys held in memory (a secret or a PEM key) verification never waits, so it runs to
/// completion here; keys that would have to be fetched (JWKS, introspection) are refused.
pub fn verify_bearer(security: &Security, token: &str) -> Result<Principal, SecurityError> {
    let verify = std::pin::pin!(security.0.jwt.verify(token, &security.0.hierarchy));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match verify.poll(&mut cx) {
        std::task::Poll::Ready(outcome) => outcome,
        std::task::Poll::Pending => Err(SecurityError::unavailable()),
    }
}
