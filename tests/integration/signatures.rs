//! HTTP Message Signatures on `signed` routes, through a real Router: what is accepted,
//! every way a signature is refused, replay of nonces, and stores that are down.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, EncodingKey};
use secure_api::prelude::*;
use secure_api::signature::{
    MemorySigningKeys, RequestSigner, SignatureSettings, SigningKey, SigningKeys,
};
use secure_api::{NonceStore, SecurityBuilder, StoreError, StoreResult};
use serde_json::{Value, json};

use crate::support::{Claims, Req, builder, now};

const ALICE_SECRET: &[u8] = b"alice-signing-secret-0123456789abcdef";
const BOB_SECRET: &[u8] = b"bob-signing-secret-0123456789abcdefgh";

#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

#[secure(role = "editor", signed)]
async fn signed_transfer(State(calls): State<Calls>, body: String) -> (StatusCode, String) {
    calls.0.fetch_add(1, Ordering::SeqCst);
    (StatusCode::CREATED, body)
}

#[secure(role = "viewer", signed)]
async fn signed_item(State(calls): State<Calls>, Path(id): Path<u64>) -> String {
    calls.0.fetch_add(1, Ordering::SeqCst);
    format!("item {id}")
}

fn keys() -> MemorySigningKeys {
    MemorySigningKeys::new()
        .with_key("alice-key", SigningKey::new("alice", ALICE_SECRET.to_vec()))
        .with_key("bob-key", SigningKey::new("bob", BOB_SECRET.to_vec()))
        .with_key(
            "alice-old",
            SigningKey::new("alice", ALICE_SECRET.to_vec()).not_after(1_600_000_000),
        )
}

fn app_from(builder: SecurityBuilder) -> (Router, Calls) {
    let calls = Calls::default();
    let security = builder.build().unwrap();
    let app = Router::new()
        .route("/v1/signed/transfers", post(signed_transfer))
        .route("/v1/signed/items/{id}", get(signed_item))
        .with_state(calls.clone())
        .layer(security.layer());
    (app, calls)
}

fn app() -> (Router, Calls) {
    app_from(builder().http_signatures(SignatureSettings::new(Arc::new(keys()))))
}

fn alice() -> String {
    Claims::new("alice").roles(["editor"]).hs256()
}

fn created_now() -> u64 {
    u64::try_from(now()).unwrap()
}

fn alice_signer() -> RequestSigner {
    RequestSigner::new("alice-key", ALICE_SECRET.to_vec())
}

/// A request signed by `signer` for `method` and `target` with `body`, sent as signed.
fn signed(method: &str, target: &str, body: &str, signer: &RequestSigner, nonce: &str) -> Req {
    let headers = signer.sign(method, target, body.as_bytes(), created_now(), nonce);
    with_signature(Req::new(method.parse().unwrap(), target), &headers).body(body.to_owned())
}

fn with_signature(req: Req, headers: &secure_api::signature::SignedHeaders) -> Req {
    let req = req
        .bearer(&alice())
        .header("signature-input", headers.signature_input())
        .header("signature", headers.signature());
    match headers.content_digest() {
        Some(digest) => req.header("content-digest", digest),
        None => req,
    }
}

/// An HMAC-SHA256 signature computed independently of the library (with jsonwebtoken's
/// HS256), over a signature base written out by hand.
fn raw_signature(base: &str, secret: &[u8]) -> String {
    let url = jsonwebtoken::crypto::sign(
        base.as_bytes(),
        &EncodingKey::from_secret(secret).unwrap(),
        Algorithm::HS256,
    )
    .unwrap();
    let mut standard: String = url
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    format!("sig1=:{standard}:")
}

#[tokio::test]
async fn a_valid_signature_is_accepted_with_and_without_a_body() {
    let (app, calls) = app();
    let res = signed(
        "POST",
        "/v1/signed/transfers?dry=0",
        r#"{"to":"bob","amount_cents":5}"#,
        &alice_signer(),
        "n-post",
    )
    .send(&app)
    .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.text(), r#"{"to":"bob","amount_cents":5}"#);
    let res = signed("GET", "/v1/signed/items/7", "", &alice_signer(), "n-get")
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "item 7");
    assert_eq!(calls.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_independently_computed_signature_verifies() {
    let (app, _) = app();
    let created = created_now();
    let params = format!(
        r#"("@method" "@path" "@query");created={created};keyid="alice-key";nonce="indep";alg="hmac-sha256""#
    );
    let base = format!(
        "\"@method\": GET\n\"@path\": /v1/signed/items/3\n\"@query\": ?\n\"@signature-params\": {params}"
    );
    let res = Req::get("/v1/signed/items/3")
        .bearer(&alice())
        .header("signature-input", &format!("sig1={params}"))
        .header("signature", &raw_signature(&base, ALICE_SECRET))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn each_covered_component_is_bound_to_the_request() {
    let (app, calls) = app();
    let body = r#"{"to":"bob"}"#;
    let signer = alice_signer();

    // The method: signed as PUT, sent as POST.
    let headers = signer.sign(
        "PUT",
        "/v1/signed/transfers",
        body.as_bytes(),
        created_now(),
        "m",
    );
    let res = with_signature(Req::post("/v1/signed/transfers"), &headers)
        .body(body)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    // The path.
    let headers = signer.sign("GET", "/v1/signed/items/1", b"", created_now(), "p");
    let res = with_signature(Req::get("/v1/signed/items/2"), &headers)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    // The query.
    let headers = signer.sign("GET", "/v1/signed/items/1?page=1", b"", created_now(), "q");
    let res = with_signature(Req::get("/v1/signed/items/1?page=2"), &headers)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    // A query added to a request signed without one.
    let headers = signer.sign("GET", "/v1/signed/items/1", b"", created_now(), "q2");
    let res = with_signature(Req::get("/v1/signed/items/1?admin=1"), &headers)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    // The body, with the signed digest left in place.
    let headers = signer.sign(
        "POST",
        "/v1/signed/transfers",
        body.as_bytes(),
        created_now(),
        "b",
    );
    let res = with_signature(Req::post("/v1/signed/transfers"), &headers)
        .body(r#"{"to":"mallory"}"#)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    // The body with a digest recomputed for it: the signature covers the old digest.
    let headers = signer.sign(
        "POST",
        "/v1/signed/transfers",
        body.as_bytes(),
        created_now(),
        "d",
    );
    let forged = signer.sign(
        "POST",
        "/v1/signed/transfers",
        br#"{"to":"mallory"}"#,
        created_now(),
        "x",
    );
    let res = with_signature(Req::post("/v1/signed/transfers"), &headers)
        .header("content-digest", forged.content_digest().unwrap())
        .body(r#"{"to":"mallory"}"#)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_must_be_covered_by_content_digest() {
    let (app, calls) = app();
    // Signed as if there were no body; a body is then sent.
    let headers = alice_signer().sign("POST", "/v1/signed/transfers", b"", created_now(), "nb");
    let res = with_signature(Req::post("/v1/signed/transfers"), &headers)
        .body(r#"{"to":"mallory"}"#)
        .send(&app)
        .await;
    res.problem(400, "invalid_request");

    // A signature that verifies but leaves out `@query` is refused.
    let created = created_now();
    let params = format!(
        r#"("@method" "@path");created={created};keyid="alice-key";nonce="nq";alg="hmac-sha256""#
    );
    let base =
        format!("\"@method\": GET\n\"@path\": /v1/signed/items/3\n\"@signature-params\": {params}");
    let res = Req::get("/v1/signed/items/3?any=thing")
        .bearer(&alice())
        .header("signature-input", &format!("sig1={params}"))
        .header("signature", &raw_signature(&base, ALICE_SECRET))
        .send(&app)
        .await;
    res.problem(400, "invalid_request");
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn stale_and_future_signatures_are_refused() {
    let (app, calls) = app();
    let signer = alice_signer();
    for (created, nonce) in [
        (created_now() - 301, "stale"),
        (created_now() + 60, "future"),
    ] {
        let headers = signer.sign("GET", "/v1/signed/items/1", b"", created, nonce);
        let res = with_signature(Req::get("/v1/signed/items/1"), &headers)
            .send(&app)
            .await;
        res.problem(401, "invalid_token");
    }
    // Within the window and within the skew.
    for (created, nonce) in [
        (created_now() - 250, "old-ok"),
        (created_now() + 2, "skew-ok"),
    ] {
        let headers = signer.sign("GET", "/v1/signed/items/1", b"", created, nonce);
        let res = with_signature(Req::get("/v1/signed/items/1"), &headers)
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{nonce}: {}", res.text());
    }
    assert_eq!(calls.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_freshness_window_is_configurable_and_checked_at_startup() {
    let settings = SignatureSettings::new(Arc::new(keys())).max_age(Duration::from_secs(10));
    let (app, _) = app_from(builder().http_signatures(settings));
    let headers = alice_signer().sign("GET", "/v1/signed/items/1", b"", created_now() - 30, "w");
    let res = with_signature(Req::get("/v1/signed/items/1"), &headers)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    let zero = SignatureSettings::new(Arc::new(keys())).max_age(Duration::ZERO);
    let error = builder().http_signatures(zero).build().unwrap_err();
    assert_eq!(error.setting(), "http_signatures.max_age");
    let skew = SignatureSettings::new(Arc::new(keys())).clock_skew(Duration::from_secs(3600));
    let error = builder().http_signatures(skew).build().unwrap_err();
    assert_eq!(error.setting(), "http_signatures.clock_skew");
}

#[tokio::test]
async fn a_nonce_is_single_use() {
    let (app, calls) = app();
    let headers = alice_signer().sign("GET", "/v1/signed/items/1", b"", created_now(), "once");
    let first = with_signature(Req::get("/v1/signed/items/1"), &headers)
        .send(&app)
        .await;
    assert_eq!(first.status, 200);
    let again = with_signature(Req::get("/v1/signed/items/1"), &headers)
        .send(&app)
        .await;
    again.problem(401, "invalid_token");
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_replays_of_one_signed_request_let_exactly_one_through() {
    let (app, calls) = app();
    let body = r#"{"to":"bob","amount_cents":5}"#;
    let headers = alice_signer().sign(
        "POST",
        "/v1/signed/transfers",
        body.as_bytes(),
        created_now(),
        "race",
    );
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        let headers = headers.clone();
        tasks.push(tokio::spawn(async move {
            with_signature(Req::post("/v1/signed/transfers"), &headers)
                .body(body)
                .send(&app)
                .await
                .status
                .as_u16()
        }));
    }
    let mut statuses = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            201 => statuses.0 += 1,
            401 => statuses.1 += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(statuses, (1, 49));
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_key_of_another_client_an_unknown_key_and_an_expired_key_are_refused() {
    let (app, calls) = app();
    for (signer, nonce) in [
        // Bob's own key, correctly signed by Bob, on Alice's token.
        (RequestSigner::new("bob-key", BOB_SECRET.to_vec()), "bob"),
        (
            RequestSigner::new("nobody-key", ALICE_SECRET.to_vec()),
            "unknown",
        ),
        (
            RequestSigner::new("alice-old", ALICE_SECRET.to_vec()),
            "expired",
        ),
        // Alice's keyid, signed with another secret.
        (
            RequestSigner::new("alice-key", BOB_SECRET.to_vec()),
            "wrong-secret",
        ),
    ] {
        let res = signed("GET", "/v1/signed/items/1", "", &signer, nonce)
            .send(&app)
            .await;
        let problem = res.problem(401, "invalid_token");
        let all = res.everything();
        assert!(!all.contains("alice-signing-secret"), "{all}");
        assert!(!all.contains("bob-signing-secret"), "{all}");
        assert!(problem["detail"].as_str().unwrap().contains("signature"));
    }
    // The same key is accepted for its owner.
    let bob_token = Claims::new("bob").roles(["viewer"]).hs256();
    let headers = RequestSigner::new("bob-key", BOB_SECRET.to_vec()).sign(
        "GET",
        "/v1/signed/items/1",
        b"",
        created_now(),
        "bob-own",
    );
    let res = Req::get("/v1/signed/items/1")
        .bearer(&bob_token)
        .header("signature-input", headers.signature_input())
        .header("signature", headers.signature())
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn another_algorithm_is_refused_even_with_a_valid_mac() {
    let (app, calls) = app();
    let created = created_now();
    for alg in ["hmac-sha512", "rsa-pss-sha512", "HMAC-SHA256"] {
        let params = format!(
            r#"("@method" "@path" "@query");created={created};keyid="alice-key";nonce="{alg}";alg="{alg}""#
        );
        let base = format!(
            "\"@method\": GET\n\"@path\": /v1/signed/items/3\n\"@query\": ?\n\"@signature-params\": {params}"
        );
        let res = Req::get("/v1/signed/items/3")
            .bearer(&alice())
            .header("signature-input", &format!("sig1={params}"))
            .header("signature", &raw_signature(&base, ALICE_SECRET))
            .send(&app)
            .await;
        res.problem(401, "invalid_token");
    }
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn missing_signature_fields_are_401_with_a_hint() {
    let (app, _) = app();
    let res = Req::get("/v1/signed/items/1")
        .bearer(&alice())
        .send(&app)
        .await;
    res.problem(401, "missing_credentials");
    let hint = res.header("accept-signature").unwrap();
    assert!(hint.contains("\"@method\""), "{hint}");
    assert!(hint.contains("alg=\"hmac-sha256\""), "{hint}");

    // One of the two fields alone.
    let headers = alice_signer().sign("GET", "/v1/signed/items/1", b"", created_now(), "half");
    let res = Req::get("/v1/signed/items/1")
        .bearer(&alice())
        .header("signature-input", headers.signature_input())
        .send(&app)
        .await;
    res.problem(401, "missing_credentials");

    // Without a bearer token the request is not authenticated at all.
    let res = Req::get("/v1/signed/items/1").send(&app).await;
    res.problem(401, "missing_credentials");
}

#[tokio::test]
async fn malformed_structured_fields_are_400() {
    let (app, calls) = app();
    let created = created_now();
    let good = alice_signer().sign("GET", "/v1/signed/items/1", b"", created, "m");
    let cases: Vec<(String, String)> = vec![
        ("sig1=(".into(), good.signature().into()),
        ("sig1=\"@method\"".into(), good.signature().into()),
        (good.signature_input().into(), "sig1=:not base64:".into()),
        (good.signature_input().into(), "sig1=\"abc\"".into()),
        // Two signatures.
        (
            format!("{}, sig2=()", good.signature_input()),
            good.signature().into(),
        ),
        // Labels that differ.
        (
            good.signature_input().replacen("sig1=", "sig2=", 1),
            good.signature().into(),
        ),
        // A required parameter missing.
        (
            format!(
                r#"sig1=("@method" "@path" "@query");created={created};keyid="alice-key";alg="hmac-sha256""#
            ),
            good.signature().into(),
        ),
        // `created` of the wrong type.
        (
            format!(
                r#"sig1=("@method" "@path" "@query");created="{created}";keyid="alice-key";nonce="n";alg="hmac-sha256""#
            ),
            good.signature().into(),
        ),
        // An unknown parameter.
        (
            format!(r#"{};extra=1"#, good.signature_input()),
            good.signature().into(),
        ),
        // A duplicated component.
        (
            good.signature_input()
                .replacen("\"@path\"", "\"@method\"", 1),
            good.signature().into(),
        ),
        // An unsupported derived component.
        (
            good.signature_input()
                .replacen("\"@path\"", "\"@target-uri\"", 1),
            good.signature().into(),
        ),
    ];
    for (input, signature) in cases {
        let res = Req::get("/v1/signed/items/1")
            .bearer(&alice())
            .header("signature-input", &input)
            .header("signature", &signature)
            .send(&app)
            .await;
        let problem = res.problem(400, "invalid_request");
        assert!(
            !res.everything().contains("www-authenticate: Bearer"),
            "{input}: {problem}"
        );
    }
    // Fields sent twice.
    let res = Req::get("/v1/signed/items/1")
        .bearer(&alice())
        .header("signature-input", good.signature_input())
        .header("signature-input", good.signature_input())
        .header("signature", good.signature())
        .send(&app)
        .await;
    res.problem(400, "invalid_request");
    // Non-ASCII bytes.
    let res = Req::get("/v1/signed/items/1")
        .bearer(&alice())
        .header_bytes("signature-input", b"sig1=(\"\xff\")")
        .header("signature", good.signature())
        .send(&app)
        .await;
    res.problem(400, "invalid_request");
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

/// A store whose backend is unreachable.
struct Down;

impl NonceStore for Down {
    fn insert_once<'a>(&'a self, _: &'a str, _: u64) -> StoreResult<'a, bool> {
        Box::pin(async { Err(StoreError::new("backend unreachable")) })
    }
}

impl SigningKeys for Down {
    fn signing_key<'a>(&'a self, _: &'a str) -> StoreResult<'a, Option<SigningKey>> {
        Box::pin(async { Err(StoreError::new("backend unreachable")) })
    }
}

#[tokio::test]
async fn a_nonce_or_key_store_that_is_down_fails_closed_with_503() {
    let (app, calls) = app_from(
        builder()
            .http_signatures(SignatureSettings::new(Arc::new(keys())))
            .nonce_store(Arc::new(Down)),
    );
    let res = signed("GET", "/v1/signed/items/1", "", &alice_signer(), "down")
        .send(&app)
        .await;
    res.problem(503, "unavailable");

    let (app, _) = app_from(builder().http_signatures(SignatureSettings::new(Arc::new(Down))));
    let res = signed("GET", "/v1/signed/items/1", "", &alice_signer(), "down2")
        .send(&app)
        .await;
    res.problem(503, "unavailable");
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_refused_signature_does_not_spend_its_nonce() {
    let (app, _) = app();
    let signer = alice_signer();
    // Tampered: refused before the nonce is recorded.
    let headers = signer.sign("GET", "/v1/signed/items/1", b"", created_now(), "keep");
    let res = with_signature(Req::get("/v1/signed/items/9"), &headers)
        .send(&app)
        .await;
    res.problem(401, "invalid_token");
    let res = with_signature(Req::get("/v1/signed/items/1"), &headers)
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn a_signed_route_without_signing_keys_refuses_with_500() {
    let (app, calls) = app_from(builder());
    let res = signed("GET", "/v1/signed/items/1", "", &alice_signer(), "nokeys")
        .send(&app)
        .await;
    res.problem(500, "server_error");
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_over_the_cap_is_413_before_any_signature_work() {
    let (app, calls) = app_from(
        builder()
            .body_limit(64)
            .http_signatures(SignatureSettings::new(Arc::new(keys()))),
    );
    let body = "x".repeat(1000);
    let res = signed(
        "POST",
        "/v1/signed/transfers",
        &body,
        &alice_signer(),
        "big",
    )
    .send(&app)
    .await;
    res.problem(413, "bad_request");
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[test]
fn the_policy_inventory_and_its_table_show_signed_routes() {
    let inventory = secure_api::policies();
    let json = inventory.to_json();
    let find = |suffix: &str| -> Value {
        json.as_array()
            .unwrap()
            .iter()
            .find(|p| p["handler"].as_str().unwrap().ends_with(suffix))
            .cloned()
            .unwrap()
    };
    assert_eq!(find("signatures::signed_transfer")["signed"], json!(true));
    assert_eq!(find("signatures::signed_item")["signed"], json!(true));
    let table = inventory.to_string();
    let line = table
        .lines()
        .find(|l| l.contains("signatures::signed_item"))
        .unwrap();
    assert!(line.contains("signed"), "{line}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_signature_requirement() {
    use secure_api::openapi::secure_openapi;
    use secure_api::openapi::utoipa::openapi::path::OperationBuilder;
    use secure_api::openapi::utoipa::openapi::{
        HttpMethod, OpenApiBuilder, PathItem, PathsBuilder, Response,
    };

    let (app, _) = app();
    let op = OperationBuilder::new().response("200", Response::new("OK"));
    let doc = OpenApiBuilder::new()
        .paths(
            PathsBuilder::new().path("/v1/signed/items/{id}", PathItem::new(HttpMethod::Get, op)),
        )
        .build();
    let doc = secure_openapi(doc, &app).await.unwrap();
    let json: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    let operation = &json["paths"]["/v1/signed/items/{id}"]["get"];
    let description = operation["description"].as_str().unwrap();
    assert!(description.contains("RFC 9421"), "{description}");
    assert!(description.contains("hmac-sha256"), "{description}");
    assert!(operation["responses"].get("503").is_some(), "{operation}");
}
