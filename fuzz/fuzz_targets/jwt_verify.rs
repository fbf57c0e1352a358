//! The JWT verify path with arbitrary input (unsigned garbage, near-JWTs, huge segments):
//! never panics, and never accepts a token it did not sign.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use secure_api_runtime::Security;

fn security() -> &'static Security {
    static SECURITY: OnceLock<Security> = OnceLock::new();
    SECURITY.get_or_init(|| {
        Security::builder()
            .hmac_secret(b"fuzz-secret-of-at-least-thirty-two-bytes".to_vec())
            .issuer("fuzz")
            .audience("fuzz")
            .role_hierarchy("admin > editor > viewer")
            .build()
            .expect("the fuzz configuration is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let outcome = secure_api_runtime::__entry::verify_bearer(security(), &token);
    match outcome {
        Ok(principal) => panic!(
            "an unsigned input was accepted for {:?}",
            principal.subject()
        ),
        Err(refusal) => assert_eq!(refusal.status().as_u16(), 401),
    }
});
