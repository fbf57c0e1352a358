//! Re-verifying the same bearer token through a real `Router` and the `#[secure]` guard:
//! HS256, RS256 and ES256 with and without the verified-token cache, in one run. Report
//! the ratios against the HS256 baseline (without the cache) of the same run.
//!
//! ```text
//! cargo bench --bench jwt_cache
//! ```
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secure_api::prelude::*;
use secure_api::{JwtKey, SecurityBuilder};
use serde_json::json;
use tower::ServiceExt;

#[secure]
async fn me(principal: Principal) -> String {
    principal.subject().to_owned()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn token(alg: Algorithm, key: &EncodingKey) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims =
        json!({ "sub": "alice", "iss": "bench", "aud": "bench", "iat": now, "exp": now + 3600 });
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

fn app(builder: SecurityBuilder) -> Router {
    let security = builder.issuer("bench").audience("bench").build().unwrap();
    Router::new().route("/me", get(me)).layer(security.layer())
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let hs_secret = vec![7u8; 32];
    let rsa = || Security::builder().jwt_key(JwtKey::rsa_pem(fixture("rsa_public.pem")));
    let ec = || Security::builder().jwt_key(JwtKey::ec_pem(fixture("ec_public.pem")));
    let rs_token = token(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap(),
    );
    let es_token = token(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(&fixture("ec_private.pem")).unwrap(),
    );
    let hs_token = token(
        Algorithm::HS256,
        &EncodingKey::from_secret(&hs_secret).unwrap(),
    );
    let cases = [
        (
            "HS256 without cache (baseline)",
            app(Security::builder()
                .hmac_secret(hs_secret.clone())
                .verified_token_cache(0)),
            hs_token.clone(),
        ),
        (
            "HS256 with cache",
            app(Security::builder().hmac_secret(hs_secret.clone())),
            hs_token,
        ),
        (
            "RS256 without cache",
            app(rsa().verified_token_cache(0)),
            rs_token.clone(),
        ),
        ("RS256 with cache", app(rsa()), rs_token),
        (
            "ES256 without cache",
            app(ec().verified_token_cache(0)),
            es_token.clone(),
        ),
        ("ES256 with cache", app(ec()), es_token),
    ];
    let mut group = c.benchmark_group("reverify");
    group.measurement_time(Duration::from_secs(3));
    for (name, app, token) in &cases {
        let bearer = format!("Bearer {token}");
        group.bench_function(*name, |b| {
            b.iter(|| {
                let request = Request::get("/me")
                    .header("authorization", &bearer)
                    .body(Body::empty())
                    .unwrap();
                let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
                assert_eq!(response.status(), 200);
                black_box(response)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
