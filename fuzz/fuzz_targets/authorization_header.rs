//! `Authorization` header parsing: any bytes, as one header or several, never panic; a
//! token it returns is a non-empty RFC 6750 b64token taken from the header; every refusal
//! is a 400 or a 401.
#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut request = Request::get("/");
    // A 0xFF byte separates several Authorization headers (never valid in a header value).
    let mut values = Vec::new();
    for chunk in data.split(|b| *b == 0xff).take(3) {
        if let Ok(value) = HeaderValue::from_bytes(chunk) {
            values.push(chunk);
            request = request.header(AUTHORIZATION, value);
        }
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    match secure_api_runtime::__entry::bearer_token(&parts) {
        Ok(token) => {
            assert_eq!(values.len(), 1, "a token from several headers");
            assert!(!token.is_empty());
            assert!(
                token
                    .trim_end_matches('=')
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')),
                "not a b64token: {token:?}"
            );
            let header = String::from_utf8_lossy(values[0]);
            assert!(
                header.ends_with(token),
                "{token:?} is not the end of {header:?}"
            );
        }
        Err(refusal) => {
            let status = refusal.status().as_u16();
            assert!(status == 400 || status == 401, "status {status}");
        }
    }
});
