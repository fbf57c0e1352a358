//! OAuth2 scopes on the attribute (`scope`, `any_scope`): taken from the token's `scope` or
//! `scp` claim, checked after the roles, refused with 403 `insufficient_scope` naming them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use secure_api::secure;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::support::*;

#[secure(scope = "customers:write")]
async fn write_only() -> &'static str {
    "written"
}

#[secure(role = "editor", scope = ["customers:read", "customers:write"])]
async fn editor_read_write() -> &'static str {
    "both"
}

#[secure(any_scope = ["customers:read", "customers:admin"])]
async fn read_or_admin() -> &'static str {
    "either"
}

/// Three routes: `/write` (scope), `/both` (role and two scopes), `/either` (any_scope).
pub(crate) fn app() -> Router {
    Router::new()
        .route("/write", get(write_only))
        .route("/both", get(editor_read_write))
        .route("/either", get(read_or_admin))
        .layer(security().layer())
}

fn scoped(sub: &str, scope: &str) -> String {
    Claims::new(sub).scope(scope).hs256()
}

#[tokio::test]
async fn a_token_with_the_scope_passes() {
    let app = app();
    let res = Req::get("/write")
        .bearer(&scoped("s", "customers:read customers:write"))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "written");
}

#[tokio::test]
async fn a_missing_scope_is_403_naming_the_required_scopes() {
    let app = app();
    for token in [
        Claims::new("none").hs256(),
        scoped("other", "customers:read"),
        scoped("prefix", "customers:writer"),
        scoped("case", "Customers:Write"),
        scoped("empty", ""),
    ] {
        let res = Req::get("/write").bearer(&token).send(&app).await;
        res.assert_forbidden();
        assert!(
            res.www_authenticate()
                .ends_with("error=\"insufficient_scope\", scope=\"customers:write\""),
            "{}",
            res.www_authenticate()
        );
        res.assert_leaks_nothing_of(&token);
    }
}

#[tokio::test]
async fn scope_requires_every_listed_scope() {
    let app = app();
    let editor = |scope: &str| Claims::new("e").roles(["editor"]).scope(scope).hs256();
    let res = Req::get("/both")
        .bearer(&editor("customers:write customers:read"))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    for partial in ["customers:read", "customers:write"] {
        let res = Req::get("/both").bearer(&editor(partial)).send(&app).await;
        res.assert_forbidden();
        assert!(
            res.www_authenticate()
                .contains("scope=\"customers:read customers:write\""),
            "{}",
            res.www_authenticate()
        );
    }
}

#[tokio::test]
async fn any_scope_needs_one_of_them() {
    let app = app();
    for scope in ["customers:read", "customers:admin", "x customers:admin y"] {
        let res = Req::get("/either")
            .bearer(&scoped("a", scope))
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{scope}: {}", res.text());
    }
    let res = Req::get("/either")
        .bearer(&scoped("a", "customers:write"))
        .send(&app)
        .await;
    res.assert_forbidden();
    assert!(
        res.www_authenticate()
            .contains("scope=\"customers:read customers:admin\""),
        "{}",
        res.www_authenticate()
    );
}

#[tokio::test]
async fn scp_as_an_array_or_a_string_grants_scopes() {
    let app = app();
    for scp in [
        json!(["customers:write"]),
        json!("customers:read customers:write"),
    ] {
        let token = Claims::new("s").set("scp", scp.clone()).hs256();
        let res = Req::get("/write").bearer(&token).send(&app).await;
        assert_eq!(res.status, 200, "{scp}: {}", res.text());
    }
    let token = Claims::new("s")
        .set("scp", json!(["customers:read"]))
        .hs256();
    Req::get("/write")
        .bearer(&token)
        .send(&app)
        .await
        .assert_forbidden();
}

#[tokio::test]
async fn a_scope_claim_of_the_wrong_type_is_an_invalid_token() {
    let app = app();
    for (claim, value) in [
        ("scope", json!(["customers:write"])),
        ("scp", json!([1])),
        ("scp", json!({ "customers:write": true })),
    ] {
        let token = Claims::new("s").set(claim, value).hs256();
        Req::get("/write")
            .bearer(&token)
            .send(&app)
            .await
            .assert_invalid_token();
    }
}

#[tokio::test]
async fn roles_are_checked_before_scopes_and_both_must_hold() {
    let app = app();
    // The right scopes without the role: refused for the role.
    let viewer = Claims::new("v")
        .roles(["viewer"])
        .scope("customers:read customers:write")
        .hs256();
    let res = Req::get("/both").bearer(&viewer).send(&app).await;
    res.assert_forbidden();
    assert!(
        res.www_authenticate().ends_with("scope=\"editor\""),
        "the role is reported first: {}",
        res.www_authenticate()
    );
    // The role (through the hierarchy) without the scopes: refused for the scopes.
    let admin = Claims::new("a").roles(["admin"]).hs256();
    let res = Req::get("/both").bearer(&admin).send(&app).await;
    res.assert_forbidden();
    assert!(
        res.www_authenticate()
            .ends_with("scope=\"customers:read customers:write\""),
        "{}",
        res.www_authenticate()
    );
}

#[tokio::test]
async fn no_token_is_401_not_403() {
    let app = app();
    Req::get("/write")
        .send(&app)
        .await
        .assert_missing_credentials();
}

#[tokio::test]
async fn the_inventory_lists_each_routes_scopes() {
    let inventory = secure_api::policies();
    let both = inventory
        .get("integration::scopes::editor_read_write")
        .unwrap();
    assert_eq!(both.scopes(), ["customers:read", "customers:write"]);
    assert!(!both.any_scope_suffices());
    let json = inventory.to_json();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["handler"] == "integration::scopes::read_or_admin")
        .unwrap();
    assert_eq!(
        entry["scopes"],
        json!(["customers:read", "customers:admin"])
    );
    assert_eq!(entry["scopes_match"], "any");
    let table = inventory.to_string();
    assert!(table.lines().next().unwrap().contains("SCOPES"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("integration::scopes::editor_read_write "))
        .unwrap();
    assert!(row.contains(" customers:read+customers:write "), "{row}");
    let row = table
        .lines()
        .find(|l| l.starts_with("integration::scopes::read_or_admin "))
        .unwrap();
    assert!(row.contains(" customers:read|customers:admin "), "{row}");
}

// ---------------------------------------------------------------------------------------
// Audit events name the check that refused

#[derive(Clone, Default)]
struct Checks(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Checks {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == secure_api::AUDIT_TARGET {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
}

#[tokio::test]
async fn audit_events_say_which_check_refused() {
    let checks = Checks::default();
    crate::support::steady_tracing();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(checks.clone()));
    let app = app();
    let cases = [
        (
            Claims::new("v")
                .roles(["viewer"])
                .scope("customers:read customers:write")
                .hs256(),
            "role",
        ),
        (Claims::new("a").roles(["admin"]).hs256(), "scope"),
        ("not-a-token".to_owned(), "authentication"),
    ];
    for (token, check) in cases {
        checks.0.lock().unwrap().clear();
        let res = Req::get("/both").bearer(&token).send(&app).await;
        assert!(res.status.is_client_error());
        let events = checks.0.lock().unwrap().clone();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["outcome"], "refused");
        assert_eq!(events[0]["check"], check, "{events:?}");
    }
    checks.0.lock().unwrap().clear();
    let ok = Claims::new("e")
        .roles(["editor"])
        .scope("customers:read customers:write")
        .hs256();
    let res = Req::get("/both").bearer(&ok).send(&app).await;
    assert_eq!(res.status, 200);
    let events = checks.0.lock().unwrap().clone();
    assert_eq!(events[0]["outcome"], "allowed");
    assert_eq!(events[0]["check"], "");
}
