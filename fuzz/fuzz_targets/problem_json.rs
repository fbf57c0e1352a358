//! problem+json rendering of arbitrary refusals: any realm, scope, field errors and rate
//! numbers render without panicking into a response whose body is a JSON object with the
//! refusal's status, whose headers are valid, and which never carries a control character
//! from the input into a header.
#![no_main]

use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::response::IntoResponse;
use http_body_util::BodyExt;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use secure_api_runtime::{FieldError, SecurityError};

fn refusal(u: &mut Unstructured<'_>) -> Result<SecurityError> {
    let mut error = match u.int_in_range(0..=9u8)? {
        0 => SecurityError::unauthorized(),
        1 => SecurityError::invalid_token(),
        2 => SecurityError::forbidden(),
        3 => SecurityError::invalid_request("The Authorization header is malformed."),
        4 => SecurityError::rate_limited(
            Duration::from_millis(u.arbitrary()?),
            u.arbitrary()?,
            u.arbitrary()?,
        ),
        5 => {
            let n = u.int_in_range(0..=8usize)?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push(FieldError::new(
                    u.arbitrary::<String>()?,
                    u.arbitrary::<String>()?,
                    u.arbitrary::<String>()?,
                ));
            }
            SecurityError::invalid_input(fields)
        }
        6 => SecurityError::unavailable(),
        7 => SecurityError::misconfigured(),
        8 => SecurityError::gone(),
        _ => SecurityError::idempotency_conflict(),
    };
    if u.arbitrary()? {
        error = error.with_realm(u.arbitrary::<String>()?);
    }
    if u.arbitrary()? {
        error = error.with_required_scope(u.arbitrary::<String>()?);
    }
    if u.arbitrary()? {
        error = error.with_rate_limit_policy(u.arbitrary::<String>()?);
    }
    if u.arbitrary()? {
        error = error.without_challenge();
    }
    Ok(error)
}

/// The body of a rendered refusal: it is in memory, so one poll finishes it.
fn body_bytes(body: axum::body::Body) -> Vec<u8> {
    let mut future = std::pin::pin!(body.collect());
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(collected)) => collected.to_bytes().to_vec(),
        Poll::Ready(Err(e)) => panic!("body error: {e}"),
        Poll::Pending => panic!("a problem body is not in memory"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(error) = refusal(&mut u) else { return };
    let status = error.status();
    let response = error.into_response();
    assert_eq!(response.status(), status);
    for (name, value) in response.headers() {
        assert!(
            value
                .as_bytes()
                .iter()
                .all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)),
            "{name} carries a control character"
        );
    }
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = body_bytes(response.into_body());
    let json: serde_json::Value = serde_json::from_slice(&body).expect("the body is JSON");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}"
    );
    assert_eq!(json["status"], status.as_u16(), "{json}");
});
