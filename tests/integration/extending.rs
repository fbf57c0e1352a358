//! Deny by default (`SecureRouter`), named policies, custom and built-in guards, ownership
//! checks: each through a real `SecureRouter` behind the `Security` layer.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use secure_api::WallClock;
use secure_api::prelude::*;
use secure_api::routing::{SecureRouter, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use validator::Validate;

use crate::support::*;

// ---------------------------------------------------------------------------------------
// Policies, guards and handlers

policy!(pub(crate) ADMIN_WRITE: role = "admin", rate = "2/1m");
policy!(TENANT_VIEW: role = "viewer", tenant(claim = "tenant", header = "x-tenant"));

/// A custom guard: the request's tenant header must match the principal's claim.
#[allow(non_camel_case_types)]
pub(crate) struct tenant {
    pub(crate) claim: &'static str,
    pub(crate) header: &'static str,
}

impl RequestGuard for tenant {
    async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
        let claimed = request
            .principal()
            .and_then(|p| p.claim(self.claim))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let sent = request
            .headers()
            .get(self.header)
            .and_then(|v| v.to_str().ok());
        match (claimed, sent) {
            (Some(claimed), Some(sent)) if claimed == sent => Ok(()),
            _ => Err(SecurityError::forbidden().with_detail("Wrong tenant.")),
        }
    }
}

#[derive(Debug, Deserialize, Validate)]
pub(crate) struct Note {
    #[validate(length(min = 1, max = 10))]
    text: String,
}

#[secure(policy = ADMIN_WRITE)]
async fn admin_write() -> &'static str {
    "admin"
}

/// Replaces the policy's role, keeps its rate.
#[secure(policy = ADMIN_WRITE, role = "editor")]
async fn editor_write() -> &'static str {
    "editor"
}

/// Adds `validate` to the policy.
#[secure(policy = ADMIN_WRITE, validate)]
async fn admin_note(Json(note): Json<Note>) -> String {
    note.text
}

#[secure(policy = TENANT_VIEW)]
async fn tenant_data() -> &'static str {
    "tenant data"
}

#[secure(public, ip_allow(from = ["10.0.0.0/8", "2001:db8::/32"]))]
async fn internal() -> &'static str {
    "internal"
}

#[secure(public, time_window(from = "08:00", to = "18:00"))]
async fn office_hours() -> &'static str {
    "open"
}

#[secure(public, maintenance(from = "02:00", to = "03:00"))]
async fn batch() -> &'static str {
    "batch"
}

/// Account `id` belongs to the principal `user-{id}`; the lookup table is shared state.
async fn owns_account(
    principal: Principal,
    Path(id): Path<u64>,
    Extension(owners): Extension<Owners>,
) -> bool {
    owners
        .0
        .iter()
        .any(|(account, owner)| *account == id && *owner == principal.subject())
}

#[derive(Clone)]
pub(crate) struct Owners(&'static [(u64, &'static str)]);

#[secure(role = "viewer", owner = owns_account)]
async fn account(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id }))
}

#[secure(role = "viewer", owner = owns_account, owner_refusal = 403)]
async fn account_open(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id }))
}

/// An ownership check that can fail: the error is the refusal.
async fn store_down(_: Principal) -> Result<bool, SecurityError> {
    Err(SecurityError::unavailable())
}

#[secure(role = "viewer", owner = store_down)]
async fn unreachable_store() -> &'static str {
    "never"
}

/// Ownership after the rate limit: refused probes count against it.
#[secure(role = "viewer", rate = "2/1m", owner = owns_account)]
async fn throttled_account(Path(id): Path<u64>) -> Json<Value> {
    Json(json!({ "id": id }))
}

#[secure(public)]
async fn not_found_fallback() -> StatusCode {
    StatusCode::IM_A_TEAPOT
}

fn routes() -> SecureRouter {
    let accounts = SecureRouter::new()
        .route("/{id}", get(account))
        .route("/{id}/open", get(account_open))
        .route("/{id}/throttled", get(throttled_account));
    SecureRouter::new()
        .route("/admin", post(admin_write))
        .route("/editor", post(editor_write))
        .route("/notes", post(admin_note))
        .route("/tenant", get(tenant_data))
        .route("/internal", get(internal))
        .route("/office", get(office_hours))
        .route("/batch", get(batch))
        .route("/store", get(unreachable_store))
        .nest("/accounts", accounts)
        .merge(SecureRouter::new().route("/merged", get(tenant_data)))
        .fallback(not_found_fallback)
}

fn app_at(security: &Security) -> axum::Router {
    routes()
        .layer(Extension(Owners(&[(1, "user-1"), (2, "user-2")])))
        .layer(security.layer())
        .into_router()
}

fn app() -> axum::Router {
    app_at(&security())
}

/// 2026-01-05 at `hh:mm` UTC.
fn clock_at(hh: u64, mm: u64) -> WallClock {
    WallClock::manual(UNIX_EPOCH + Duration::from_secs(1_767_571_200 + hh * 3600 + mm * 60))
}

// ---------------------------------------------------------------------------------------
// Secured router

#[tokio::test]
async fn a_secure_router_enforces_policies_on_routes_nested_and_merged_routers() {
    let app = app();
    Req::get("/accounts/1")
        .send(&app)
        .await
        .assert_missing_credentials();
    Req::get("/merged")
        .send(&app)
        .await
        .assert_missing_credentials();
    Req::post("/admin")
        .send(&app)
        .await
        .assert_missing_credentials();
    let res = Req::get("/accounts/1")
        .bearer(&token("user-1", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), json!({ "id": 1 }));
}

#[tokio::test]
async fn the_fallback_of_a_secure_router_is_a_secured_handler() {
    let res = Req::get("/nowhere").send(&app()).await;
    assert_eq!(res.status, StatusCode::IM_A_TEAPOT);
    // Headers of the layer apply to the fallback too.
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
}

// ---------------------------------------------------------------------------------------
// Named policies

#[tokio::test]
async fn a_named_policy_applies_its_role_and_rate() {
    let (security, _clock) = security_with_clock();
    let app = app_at(&security);
    Req::post("/admin")
        .bearer(&token("ed", ["editor"]))
        .send(&app)
        .await
        .assert_forbidden();
    let admin = token("root", ["admin"]);
    for _ in 0..2 {
        let res = Req::post("/admin").bearer(&admin).send(&app).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    let res = Req::post("/admin").bearer(&admin).send(&app).await;
    res.problem(429, "rate_limited");
    assert!(res.header("ratelimit-policy").unwrap().contains("q=2;w=60"));
}

#[tokio::test]
async fn a_handler_key_replaces_the_policys_and_keeps_the_rest() {
    let (security, _clock) = security_with_clock();
    let app = app_at(&security);
    Req::post("/editor")
        .bearer(&token("v", ["viewer"]))
        .send(&app)
        .await
        .assert_forbidden();
    let editor = token("ed", ["editor"]);
    for _ in 0..2 {
        let res = Req::post("/editor").bearer(&editor).send(&app).await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.text(), "editor");
    }
    // The policy's rate still applies.
    Req::post("/editor")
        .bearer(&editor)
        .send(&app)
        .await
        .problem(429, "rate_limited");
}

#[tokio::test]
async fn a_handler_key_adds_to_the_policy() {
    let app = app();
    let admin = token("root", ["admin"]);
    let res = Req::post("/notes")
        .bearer(&admin)
        .json(&json!({ "text": "far too long for the rule" }))
        .send(&app)
        .await;
    let problem = res.problem(422, "invalid_input");
    assert_eq!(problem["errors"][0]["field"], "text");
    Req::post("/notes")
        .bearer(&token("ed", ["editor"]))
        .json(&json!({ "text": "ok" }))
        .send(&app)
        .await
        .assert_forbidden();
}

// ---------------------------------------------------------------------------------------
// Custom guards

#[tokio::test]
async fn a_custom_guard_sees_the_principal_and_the_headers() {
    let app = app();
    let acme = Claims::new("u")
        .roles(["viewer"])
        .set("tenant", json!("acme"))
        .hs256();
    let res = Req::get("/tenant")
        .bearer(&acme)
        .header("x-tenant", "acme")
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    for sent in [Some("globex"), None] {
        let mut req = Req::get("/tenant").bearer(&acme);
        if let Some(sent) = sent {
            req = req.header("x-tenant", sent);
        }
        let res = req.send(&app).await;
        let problem = res.problem(403, "insufficient_scope");
        assert_eq!(problem["detail"], "Wrong tenant.");
        // The realm of the configuration, like every other refusal.
        assert!(res.www_authenticate().contains("realm=\"customer-api\""));
    }
}

#[tokio::test]
async fn custom_guards_run_after_authorization() {
    let app = app();
    // No token: 401 from authentication, not the guard's 403.
    Req::get("/tenant")
        .header("x-tenant", "acme")
        .send(&app)
        .await
        .assert_missing_credentials();
    // A principal without the role: the role refusal names the role.
    let guest = Claims::new("g")
        .roles(["guest"])
        .set("tenant", json!("acme"))
        .hs256();
    let res = Req::get("/tenant")
        .bearer(&guest)
        .header("x-tenant", "acme")
        .send(&app)
        .await;
    res.assert_forbidden();
    assert!(res.www_authenticate().contains("scope=\"viewer\""));
}

// ---------------------------------------------------------------------------------------
// Built-in guards

#[tokio::test]
async fn ip_allow_admits_only_listed_networks() {
    let app = app();
    for ip in ["10.1.2.3", "2001:db8:5::1", "::ffff:10.9.9.9"] {
        let res = Req::get("/internal").client_ip(ip).send(&app).await;
        assert_eq!(res.status, 200, "{ip}: {}", res.text());
    }
    for ip in ["11.0.0.1", "192.168.1.1", "2001:db9::1", "::1"] {
        let res = Req::get("/internal").client_ip(ip).send(&app).await;
        let problem = res.problem(403, "insufficient_scope");
        assert_eq!(
            problem["detail"],
            "Requests from this address are not allowed."
        );
        assert!(res.header("www-authenticate").is_none(), "{ip}");
    }
    // The socket address is used when the application sets none.
    let res = Req::get("/internal")
        .connect_info("10.0.0.9:5000")
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn ip_allow_without_a_known_address_fails_closed() {
    let res = Req::get("/internal").send(&app()).await;
    res.problem(500, "server_error");
}

#[tokio::test]
async fn time_window_opens_the_route_only_inside_the_window() {
    let clock = clock_at(7, 59);
    let security = builder().wall_clock(clock.clone()).build().unwrap();
    let app = app_at(&security);
    let res = Req::get("/office").send(&app).await;
    let problem = res.problem(403, "insufficient_scope");
    assert_eq!(
        problem["detail"],
        "This resource is not available at this time of day."
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(Req::get("/office").send(&app).await.status, 200);
    clock.set(UNIX_EPOCH + Duration::from_secs(1_767_571_200 + 17 * 3600 + 59 * 60));
    assert_eq!(Req::get("/office").send(&app).await.status, 200);
    clock.advance(Duration::from_secs(60));
    Req::get("/office")
        .send(&app)
        .await
        .problem(403, "insufficient_scope");
}

#[tokio::test]
async fn maintenance_answers_503_inside_the_window() {
    let clock = clock_at(1, 59);
    let security = builder().wall_clock(clock.clone()).build().unwrap();
    let app = app_at(&security);
    assert_eq!(Req::get("/batch").send(&app).await.status, 200);
    clock.advance(Duration::from_secs(60));
    let problem = Req::get("/batch")
        .send(&app)
        .await
        .problem(503, "unavailable");
    assert_eq!(
        problem["detail"],
        "The service is down for maintenance; retry later."
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(Req::get("/batch").send(&app).await.status, 200);
}

// ---------------------------------------------------------------------------------------
// Ownership

#[tokio::test]
async fn another_principals_object_is_404_by_default() {
    let app = app();
    let res = Req::get("/accounts/2")
        .bearer(&token("user-1", ["viewer"]))
        .send(&app)
        .await;
    let mut problem = res.problem(404, "not_found");
    assert!(res.header("www-authenticate").is_none());
    // Indistinguishable from an object that does not exist.
    let missing = Req::get("/accounts/999")
        .bearer(&token("user-1", ["viewer"]))
        .send(&app)
        .await;
    // Every body carries its own request id; everything else is the same.
    let mut missing = missing.problem(404, "not_found");
    problem.as_object_mut().unwrap().remove("request_id");
    missing.as_object_mut().unwrap().remove("request_id");
    assert_eq!(missing, problem);
    // The owner passes; a higher role does not make anyone an owner.
    let res = Req::get("/accounts/2")
        .bearer(&token("user-2", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
    Req::get("/accounts/2")
        .bearer(&token("root", ["admin"]))
        .send(&app)
        .await
        .problem(404, "not_found");
}

#[tokio::test]
async fn owner_refusal_403_refuses_openly() {
    let res = Req::get("/accounts/2/open")
        .bearer(&token("user-1", ["viewer"]))
        .send(&app())
        .await;
    res.assert_forbidden();
}

#[tokio::test]
async fn ownership_is_checked_after_roles_and_an_undecodable_id_is_400() {
    let app = app();
    Req::get("/accounts/1")
        .bearer(&token("user-1", ["guest"]))
        .send(&app)
        .await
        .assert_forbidden();
    let res = Req::get("/accounts/abc")
        .bearer(&token("user-1", ["viewer"]))
        .send(&app)
        .await;
    let problem = res.problem(400, "bad_request");
    assert!(!res.text().contains("abc"), "{problem}");
}

#[tokio::test]
async fn an_ownership_check_that_fails_refuses_with_its_error() {
    Req::get("/store")
        .bearer(&token("user-1", ["viewer"]))
        .send(&app())
        .await
        .problem(503, "unavailable");
}

#[tokio::test]
async fn refused_ownership_probes_count_against_the_rate_limit() {
    let (security, _clock) = security_with_clock();
    let app = app_at(&security);
    let prober = token("user-1", ["viewer"]);
    for id in [2, 3] {
        Req::get(&format!("/accounts/{id}/throttled"))
            .bearer(&prober)
            .send(&app)
            .await
            .problem(404, "not_found");
    }
    // The limit is spent: even the caller's own object is throttled now.
    Req::get("/accounts/1/throttled")
        .bearer(&prober)
        .send(&app)
        .await
        .problem(429, "rate_limited");
}
