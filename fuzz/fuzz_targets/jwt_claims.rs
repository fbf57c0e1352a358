//! The claim checks behind a valid signature: the fuzzer writes the header and payload
//! JSON, the target signs them with the configured secret, so every claim rule (types of
//! `exp`, `nbf`, `aud`, `iss`, `sub`, `roles`, `scope`, `crit`...) is reached. Never
//! panics; whatever is accepted has a non-empty string `sub`, the configured issuer and
//! audience and an `exp` that is a number, and is accepted by `jsonwebtoken::decode` with
//! the same rules too (the reader may be stricter than jsonwebtoken, never laxer).
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use libfuzzer_sys::fuzz_target;
use secure_api_runtime::Security;
use serde_json::{Map, Value};

const SECRET: &[u8] = b"fuzz-secret-of-at-least-thirty-two-bytes";
/// The runtime's default leeway, in seconds.
const LEEWAY: u64 = 30;

/// jsonwebtoken's `decode` with the rules the runtime applies.
fn reference_accepts(token: &str) -> bool {
    let Ok(key) = DecodingKey::from_secret(SECRET) else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = LEEWAY;
    validation.set_issuer(&["fuzz"]);
    validation.set_audience(&["fuzz"]);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).is_ok()
}

fn security() -> &'static Security {
    static SECURITY: OnceLock<Security> = OnceLock::new();
    SECURITY.get_or_init(|| {
        Security::builder()
            .hmac_secret(SECRET.to_vec())
            .issuer("fuzz")
            .audience("fuzz")
            .role_hierarchy("admin > editor > viewer")
            .build()
            .expect("the fuzz configuration is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    // header JSON, 0xFF, payload JSON; without a separator the header is HS256's.
    let (header, payload) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], data),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let Ok(key) = EncodingKey::from_secret(SECRET) else {
        return;
    };
    let Ok(signature) = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
    else {
        return;
    };
    let token = format!("{message}.{signature}");
    match secure_api_runtime::__entry::verify_bearer(security(), &token) {
        Ok(principal) => {
            let claims: Value = serde_json::from_slice(payload).expect("accepted claims are JSON");
            assert!(matches!(&claims["sub"], Value::String(s) if !s.is_empty()));
            assert_eq!(
                principal.subject(),
                claims["sub"].as_str().unwrap_or_default()
            );
            assert!(claims["exp"].is_number(), "exp {:?}", claims["exp"]);
            assert_eq!(claims["iss"], "fuzz");
            let aud = &claims["aud"];
            assert!(
                aud == "fuzz"
                    || aud
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == "fuzz")),
                "aud {aud:?}"
            );
            // jsonwebtoken cannot read headers whose `jwk`, `x5c`... are malformed, which the
            // runtime skips unread; elsewhere it must agree with an acceptance.
            if jsonwebtoken::decode_header(&token).is_ok() {
                assert!(
                    reference_accepts(&token),
                    "accepted, but not by jsonwebtoken"
                );
            }
        }
        Err(refusal) => assert_eq!(refusal.status().as_u16(), 401),
    }
});
