//! Replay protection, idempotency, deprecation and sunset, and the per-route header
//! profile, through a real Router.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use secure_api::prelude::*;
use secure_api::{MemoryNonceStore, SecurityBuilder};
use serde::Deserialize;
use serde_json::{Value, json};
use validator::Validate;

use crate::support::{Claims, Req, builder};

#[derive(Debug, Deserialize, Validate)]
struct Transfer {
    #[validate(length(min = 1, max = 64))]
    to: String,
    #[validate(range(min = 1, max = 1_000_000))]
    amount_cents: u64,
}

#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

#[secure(role = "editor", validate, replay)]
async fn transfer(
    State(calls): State<Calls>,
    Json(t): Json<Transfer>,
) -> (StatusCode, Json<Value>) {
    let n = calls.0.fetch_add(1, Ordering::SeqCst) + 1;
    (
        StatusCode::CREATED,
        Json(json!({ "id": n, "to": t.to, "amount_cents": t.amount_cents })),
    )
}

#[secure(role = "editor", idempotent, validate)]
async fn pay(State(calls): State<Calls>, Json(t): Json<Transfer>) -> (StatusCode, Json<Value>) {
    let n = calls.0.fetch_add(1, Ordering::SeqCst) + 1;
    // Long enough for concurrent repeats to find the key in flight.
    tokio::time::sleep(Duration::from_millis(50)).await;
    (
        StatusCode::CREATED,
        Json(json!({ "payment": n, "to": t.to, "amount_cents": t.amount_cents })),
    )
}

#[secure(role = "editor", idempotent)]
async fn flaky(State(calls): State<Calls>) -> StatusCode {
    if calls.0.fetch_add(1, Ordering::SeqCst) == 0 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::CREATED
    }
}

#[secure(
    role = "viewer",
    deprecated = "2026-01-01",
    sunset = "2027-12-31",
    link = "/v1/customers"
)]
async fn old_customers() -> Json<Value> {
    Json(json!([]))
}

#[secure(role = "admin", sunset = "2026-06-30")]
async fn old_export() -> &'static str {
    "export"
}

#[secure(public, headers = "relaxed")]
async fn docs() -> &'static str {
    "<html></html>"
}

#[secure(public, csp = "default-src 'self'; frame-ancestors 'none'")]
async fn page() -> &'static str {
    "page"
}

fn app_from(builder: SecurityBuilder) -> (Router, Calls) {
    let calls = Calls::default();
    let security = builder.build().unwrap();
    let app = Router::new()
        .route("/v1/transfers", post(transfer))
        .route("/v1/payments", post(pay))
        .route("/v1/flaky", post(flaky))
        .route("/v0/customers", get(old_customers))
        .route("/v0/export", get(old_export))
        .route("/docs", get(docs))
        .route("/page", get(page))
        .with_state(calls.clone())
        .layer(security.layer());
    (app, calls)
}

fn app() -> (Router, Calls) {
    app_from(builder())
}

fn editor_with_jti(jti: &str) -> String {
    Claims::new("eddie").roles(["editor"]).jti(jti).hs256()
}

fn transfer_body() -> Value {
    json!({ "to": "acct-42", "amount_cents": 1500 })
}

#[tokio::test]
async fn a_jti_is_single_use_on_replay_routes() {
    let (app, calls) = app();
    let token = editor_with_jti("t-1");
    let first = Req::post("/v1/transfers")
        .bearer(&token)
        .json(&transfer_body())
        .send(&app)
        .await;
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["to"], "acct-42");
    let again = Req::post("/v1/transfers")
        .bearer(&token)
        .json(&transfer_body())
        .send(&app)
        .await;
    again.assert_invalid_token();
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
    // A fresh jti is fine.
    let other = Req::post("/v1/transfers")
        .bearer(&editor_with_jti("t-2"))
        .json(&transfer_body())
        .send(&app)
        .await;
    assert_eq!(other.status, 201);
}

#[tokio::test]
async fn replay_routes_refuse_tokens_without_jti_or_with_a_long_lifetime() {
    let (app, calls) = app();
    let no_jti = Claims::new("eddie").roles(["editor"]).hs256();
    Req::post("/v1/transfers")
        .bearer(&no_jti)
        .json(&transfer_body())
        .send(&app)
        .await
        .assert_invalid_token();
    let empty_jti = Claims::new("eddie").roles(["editor"]).jti("").hs256();
    Req::post("/v1/transfers")
        .bearer(&empty_jti)
        .json(&transfer_body())
        .send(&app)
        .await
        .assert_invalid_token();
    let numeric_jti = Claims::new("eddie")
        .roles(["editor"])
        .set("jti", json!(7))
        .hs256();
    Req::post("/v1/transfers")
        .bearer(&numeric_jti)
        .json(&transfer_body())
        .send(&app)
        .await
        .assert_invalid_token();
    // Default maximum lifetime: one hour.
    let long = Claims::new("eddie")
        .roles(["editor"])
        .jti("long")
        .exp_in(2 * 3600)
        .hs256();
    Req::post("/v1/transfers")
        .bearer(&long)
        .json(&transfer_body())
        .send(&app)
        .await
        .assert_invalid_token();
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_maximum_lifetime_is_configurable() {
    let (app, _) = app_from(builder().replay_max_token_lifetime(Duration::from_secs(24 * 3600)));
    let long = Claims::new("eddie")
        .roles(["editor"])
        .jti("long")
        .exp_in(2 * 3600)
        .hs256();
    let res = Req::post("/v1/transfers")
        .bearer(&long)
        .json(&transfer_body())
        .send(&app)
        .await;
    assert_eq!(res.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_replays_of_one_token_let_exactly_one_through() {
    let (app, calls) = app();
    let token = editor_with_jti("race");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            Req::post("/v1/transfers")
                .bearer(&token)
                .json(&transfer_body())
                .send(&app)
                .await
                .status
                .as_u16()
        }));
    }
    let mut created = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            201 => created += 1,
            401 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, refused), (1, 49));
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_full_nonce_store_fails_closed_with_503() {
    let (app, calls) = app_from(builder().nonce_store(Arc::new(MemoryNonceStore::new(1))));
    let first = Req::post("/v1/transfers")
        .bearer(&editor_with_jti("a"))
        .json(&transfer_body())
        .send(&app)
        .await;
    assert_eq!(first.status, 201);
    let second = Req::post("/v1/transfers")
        .bearer(&editor_with_jti("b"))
        .json(&transfer_body())
        .send(&app)
        .await;
    second.problem(503, "unavailable");
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

fn payment(token: &str, key: Option<&str>, body: &Value) -> Req {
    let req = Req::post("/v1/payments").bearer(token).json(body);
    match key {
        Some(key) => req.header("idempotency-key", key),
        None => req,
    }
}

#[tokio::test]
async fn an_idempotent_route_needs_a_usable_key() {
    let (app, calls) = app();
    let token = Claims::new("eddie").roles(["editor"]).hs256();
    payment(&token, None, &transfer_body())
        .send(&app)
        .await
        .problem(400, "idempotency_key_missing");
    payment(&token, Some(""), &transfer_body())
        .send(&app)
        .await
        .problem(400, "idempotency_key_missing");
    let long = "k".repeat(256);
    payment(&token, Some(&long), &transfer_body())
        .send(&app)
        .await
        .problem(400, "idempotency_key_missing");
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_repeat_gets_the_stored_response_and_a_different_payload_422() {
    let (app, calls) = app();
    let token = Claims::new("eddie").roles(["editor"]).hs256();
    let first = payment(&token, Some("pay-1"), &transfer_body())
        .send(&app)
        .await;
    assert_eq!(first.status, 201, "{}", first.text());
    let repeat = payment(&token, Some("pay-1"), &transfer_body())
        .send(&app)
        .await;
    assert_eq!(repeat.status, 201);
    assert_eq!(
        repeat.json(),
        first.json(),
        "the stored response, byte for byte"
    );
    assert_eq!(repeat.header("idempotent-replayed"), Some("true"));
    assert_eq!(calls.0.load(Ordering::SeqCst), 1, "the handler ran once");

    let changed = json!({ "to": "acct-43", "amount_cents": 1500 });
    payment(&token, Some("pay-1"), &changed)
        .send(&app)
        .await
        .problem(422, "idempotency_mismatch");
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let (app, calls) = app();
    let eddie = Claims::new("eddie").roles(["editor"]).hs256();
    let erin = Claims::new("erin").roles(["editor"]).hs256();
    let a = payment(&eddie, Some("shared"), &transfer_body())
        .send(&app)
        .await;
    let b = payment(&erin, Some("shared"), &transfer_body())
        .send(&app)
        .await;
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (201, 201));
    assert_eq!(
        b.header("idempotent-replayed"),
        None,
        "erin never sees eddie's response"
    );
    assert_eq!(calls.0.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_run_the_handler_once_and_see_409_while_it_runs() {
    let (app, calls) = app();
    let token = Claims::new("eddie").roles(["editor"]).hs256();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let res = payment(&token, Some("burst"), &transfer_body())
                .send(&app)
                .await;
            (
                res.status.as_u16(),
                res.header("idempotent-replayed").is_some(),
            )
        }));
    }
    let mut fresh = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            (201, false) => fresh += 1,
            (201, true) => {}
            (409, _) => conflicts += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(fresh, 1);
    assert!(
        conflicts >= 1,
        "some repeats arrive while the first is running"
    );
    assert_eq!(calls.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_error_releases_the_key() {
    let (app, calls) = app();
    let token = Claims::new("eddie").roles(["editor"]).hs256();
    let send = || {
        Req::post("/v1/flaky")
            .bearer(&token)
            .header("idempotency-key", "retry-me")
            .send(&app)
    };
    assert_eq!(send().await.status, 503);
    let retry = send().await;
    assert_eq!(retry.status, 201, "the retry runs again");
    assert_eq!(retry.header("idempotent-replayed"), None);
    let repeat = send().await;
    assert_eq!(repeat.header("idempotent-replayed"), Some("true"));
    assert_eq!(calls.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unauthenticated_idempotent_request_with_a_huge_body_is_still_401() {
    let (app, calls) = app();
    let huge = vec![b'x'; secure_api::DEFAULT_BODY_LIMIT + 10];
    let res = Req::post("/v1/payments")
        .header("idempotency-key", "k")
        .header("content-type", "application/json")
        .body(huge)
        .send(&app)
        .await;
    res.assert_missing_credentials();
    // Authenticated, the same body is too large.
    let token = Claims::new("eddie").roles(["editor"]).hs256();
    let huge = vec![b'x'; secure_api::DEFAULT_BODY_LIMIT + 10];
    let res = Req::post("/v1/payments")
        .bearer(&token)
        .header("idempotency-key", "k")
        .header("content-type", "application/json")
        .body(huge)
        .send(&app)
        .await;
    assert_eq!(res.status, 413, "{}", res.text());
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn deprecated_routes_announce_deprecation_sunset_and_successor() {
    let (app, _) = app();
    let viewer = Claims::new("vera").roles(["viewer"]).hs256();
    let ok = Req::get("/v0/customers").bearer(&viewer).send(&app).await;
    assert_eq!(ok.status, 200);
    // 2026-01-01T00:00:00Z as an RFC 9745 structured date.
    assert_eq!(ok.header("deprecation"), Some("@1767225600"));
    assert_eq!(ok.header("sunset"), Some("Fri, 31 Dec 2027 00:00:00 GMT"));
    assert_eq!(
        ok.header("link"),
        Some("</v1/customers>; rel=\"deprecation\"")
    );
    // Refusals of the route carry them too.
    let refused = Req::get("/v0/customers").send(&app).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("deprecation"), Some("@1767225600"));
}

#[tokio::test]
async fn after_its_sunset_a_route_is_410_gone_for_everyone() {
    let (app, _) = app();
    let admin = Claims::new("ada").roles(["admin"]).hs256();
    let gone = Req::get("/v0/export").bearer(&admin).send(&app).await;
    gone.problem(410, "gone");
    assert_eq!(gone.header("sunset"), Some("Tue, 30 Jun 2026 00:00:00 GMT"));
    Req::get("/v0/export").send(&app).await.problem(410, "gone");
}

#[tokio::test]
async fn every_response_carries_the_cross_origin_policies() {
    let (app, _) = app();
    for res in [
        Req::get("/docs").client_ip("192.0.2.1").send(&app).await,
        Req::get("/v0/customers").send(&app).await,
        Req::get("/nowhere").send(&app).await,
    ] {
        assert_eq!(
            res.header("cross-origin-opener-policy"),
            Some("same-origin")
        );
        assert_eq!(
            res.header("cross-origin-resource-policy"),
            Some("same-origin")
        );
    }
}

#[tokio::test]
async fn routes_choose_their_header_profile_and_csp() {
    let (app, _) = app();
    let docs = Req::get("/docs").send(&app).await;
    let csp = docs.header("content-security-policy").unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(docs.header("x-frame-options"), Some("DENY"));
    let page = Req::get("/page").send(&app).await;
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'self'; frame-ancestors 'none'")
    );
    let api = Req::get("/nowhere").send(&app).await;
    assert_eq!(
        api.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
}

fn https_app(settings: secure_api::HttpsSettings) -> Router {
    app_from(builder().require_https(settings)).0
}

fn over_tls(req: Req) -> Req {
    req.extension(secure_api::RequestScheme::Https)
}

#[tokio::test]
async fn https_responses_carry_hsts() {
    let app = https_app(secure_api::HttpsSettings::new());
    let viewer = Claims::new("vera").roles(["viewer"]).hs256();
    let res = over_tls(Req::get("/v0/customers").bearer(&viewer))
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    // Refusals too.
    let refused = over_tls(Req::get("/v0/customers")).send(&app).await;
    assert_eq!(refused.status, 401);
    assert!(refused.header("strict-transport-security").is_some());
    let preload = https_app(secure_api::HttpsSettings::new().preload());
    let res = over_tls(Req::get("/docs")).send(&preload).await;
    assert_eq!(
        res.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload")
    );
}

#[tokio::test]
async fn plain_http_browser_requests_are_redirected_to_https() {
    let app = https_app(secure_api::HttpsSettings::new().https_port(8443));
    let res = Req::get("/docs?page=2")
        .header("host", "api.example.com:8080")
        .send(&app)
        .await;
    assert_eq!(res.status, 308);
    assert_eq!(
        res.header("location"),
        Some("https://api.example.com:8443/docs?page=2")
    );
    assert!(
        res.header("strict-transport-security").is_none(),
        "HSTS is only sent over HTTPS"
    );
    // A Host that could break the Location header is not echoed.
    let res = Req::get("/docs")
        .header("host", "evil.example/@attacker.example")
        .send(&app)
        .await;
    res.problem(400, "https_required");
}

#[tokio::test]
async fn plain_http_api_calls_with_credentials_are_refused_unprocessed() {
    let (app, calls) = app_from(builder().require_https(secure_api::HttpsSettings::new()));
    let editor = Claims::new("eddie").roles(["editor"]).jti("plain").hs256();
    let res = Req::post("/v1/transfers")
        .header("host", "api.example.com")
        .bearer(&editor)
        .json(&transfer_body())
        .send(&app)
        .await;
    res.problem(400, "https_required");
    res.assert_leaks_nothing_of(&editor);
    // A GET with credentials is refused too, not redirected with them.
    let viewer = Claims::new("vera").roles(["viewer"]).hs256();
    let res = Req::get("/v0/customers")
        .header("host", "api.example.com")
        .bearer(&viewer)
        .send(&app)
        .await;
    res.problem(400, "https_required");
    // And a POST without credentials is not redirected.
    let res = Req::post("/v1/payments")
        .header("host", "api.example.com")
        .json(&transfer_body())
        .send(&app)
        .await;
    res.problem(400, "https_required");
    assert_eq!(calls.0.load(Ordering::SeqCst), 0);
    // The jti was not spent: over HTTPS the same token works.
    let res = over_tls(
        Req::post("/v1/transfers")
            .bearer(&editor)
            .json(&transfer_body()),
    )
    .send(&app)
    .await;
    assert_eq!(res.status, 201);
}

#[tokio::test]
async fn hsts_preload_needs_a_year_and_subdomains() {
    let err = builder()
        .require_https(
            secure_api::HttpsSettings::new()
                .preload()
                .hsts_max_age(Duration::from_secs(600)),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "require_https.preload");
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let cors = secure_api::CorsPolicy::new()
        .allow_origin("https://app.example.com")
        .allow_methods(["GET", "POST"])
        .allow_headers(["authorization", "content-type"])
        .allow_credentials()
        .build()
        .unwrap();
    let (app, _) = app();
    let app = app.layer(cors);
    let preflight = |origin: &'static str| {
        Req::new(axum::http::Method::OPTIONS, "/v0/customers")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
    };
    let ok = preflight("https://app.example.com").send(&app).await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    let other = preflight("https://evil.example").send(&app).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_refuses_dangerous_configurations_at_startup() {
    use secure_api::CorsPolicy;
    let cases = [
        CorsPolicy::new().allow_any_origin().allow_credentials(),
        CorsPolicy::new().allow_origin("null"),
        CorsPolicy::new().allow_origin("https://app.example.com/path"),
        CorsPolicy::new().allow_origin("http://app.example.com"),
        CorsPolicy::new(),
    ];
    for case in cases {
        let err = case.build().unwrap_err();
        assert_eq!(err.setting(), "cors.allow_origin", "{err}");
    }
    let err = CorsPolicy::new()
        .allow_origin("https://app.example.com")
        .allow_headers(["*"])
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "cors.allow_headers");
}

#[tokio::test]
async fn route_coverage_probes_reach_the_guard_when_https_is_required() {
    let app = https_app(secure_api::HttpsSettings::new());
    let covered = secure_api::assert_routes_covered(&app).await;
    assert!(
        covered
            .iter()
            .any(|(_, path, policy)| path == "/v1/transfers" && policy.requires_single_use_tokens()),
        "{covered:?}"
    );
}

#[secure(role = "editor", replay, ip_allow(from = ["10.0.0.0/8"]))]
async fn internal_transfer() -> StatusCode {
    StatusCode::CREATED
}

#[tokio::test]
async fn a_request_refused_by_a_guard_does_not_spend_its_jti() {
    let security = builder().build().unwrap();
    let app = Router::new()
        .route("/internal/transfers", post(internal_transfer))
        .layer(security.layer());
    let token = editor_with_jti("guarded");
    let outside = Req::post("/internal/transfers")
        .bearer(&token)
        .client_ip("192.0.2.7")
        .send(&app)
        .await;
    assert_eq!(outside.status, 403);
    let inside = Req::post("/internal/transfers")
        .bearer(&token)
        .client_ip("10.1.2.3")
        .send(&app)
        .await;
    assert_eq!(
        inside.status, 201,
        "the refused attempt did not use the jti up"
    );
    let again = Req::post("/internal/transfers")
        .bearer(&token)
        .client_ip("10.1.2.3")
        .send(&app)
        .await;
    again.assert_invalid_token();
}

#[tokio::test]
async fn behind_a_trusted_proxy_x_forwarded_proto_decides_the_scheme() {
    let (app, _) = app_from(
        builder()
            .require_https(secure_api::HttpsSettings::new())
            .trusted_proxy_networks("10.0.0.0/8"),
    );
    let viewer = Claims::new("vera").roles(["viewer"]).hs256();
    // The proxy terminated TLS: HTTPS, with HSTS.
    let res = Req::get("/v0/customers")
        .bearer(&viewer)
        .connect_info("10.0.0.1:5000")
        .header("x-forwarded-for", "203.0.113.5")
        .header("x-forwarded-proto", "https")
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.header("strict-transport-security").is_some());
    // The proxy says the client used plain HTTP: refused.
    Req::get("/v0/customers")
        .bearer(&viewer)
        .connect_info("10.0.0.1:5000")
        .header("x-forwarded-proto", "http")
        .send(&app)
        .await
        .problem(400, "https_required");
    // A client that is not a trusted proxy cannot claim HTTPS.
    Req::get("/v0/customers")
        .bearer(&viewer)
        .connect_info("192.0.2.1:5000")
        .header("x-forwarded-proto", "https")
        .send(&app)
        .await
        .problem(400, "https_required");
}

#[test]
fn the_policy_inventory_lists_replay_idempotency_and_deprecation() {
    let inventory = secure_api::policies().to_json();
    let find = |suffix: &str| {
        inventory
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["handler"].as_str().unwrap().ends_with(suffix))
            .cloned()
            .unwrap_or_else(|| panic!("{suffix} not in the inventory"))
    };
    let transfer = find("transport::transfer");
    assert_eq!(transfer["replay"], true);
    assert_eq!(transfer["idempotent"], false);
    assert_eq!(find("transport::pay")["idempotent"], true);
    let old = find("transport::old_customers");
    assert_eq!(old["deprecated"], 1_767_225_600);
    assert_eq!(old["sunset"], 1_830_211_200);
    let table = secure_api::policies().to_string();
    assert!(table.contains("LIFECYCLE"), "{table}");
    assert!(
        table.contains("deprecated@1767225600,sunset@1830211200"),
        "{table}"
    );
}

#[secure(public, idempotent)]
async fn public_order() -> StatusCode {
    StatusCode::CREATED
}

#[tokio::test]
async fn public_idempotency_keys_are_scoped_by_client_address_and_refused_without_one() {
    let security = builder().build().unwrap();
    let app = Router::new()
        .route("/orders", post(public_order))
        .layer(security.layer());
    let order = |ip: Option<&str>| {
        let req = Req::post("/orders").header("idempotency-key", "same-key");
        match ip {
            Some(ip) => req.client_ip(ip),
            None => req,
        }
    };
    let first = order(Some("192.0.2.1")).send(&app).await;
    assert_eq!(first.status, 201);
    let other = order(Some("192.0.2.2")).send(&app).await;
    assert_eq!(other.status, 201);
    assert_eq!(
        other.header("idempotent-replayed"),
        None,
        "another client's record"
    );
    let again = order(Some("192.0.2.1")).send(&app).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // No address to scope the key by: refused, never a shared "anonymous" scope.
    order(None).send(&app).await.problem(500, "server_error");
}
