//! Declared roles: the attribute's role names are checked against `secure-api.roles` in
//! this directory, and the runtime hierarchy comes from the same file.

use secure_api::prelude::*;
use secure_api::routing::{SecureRouter, get};

use crate::support::*;

#[secure(role = "clerk")]
async fn ledger() -> &'static str {
    "ledger"
}

#[secure(any_role = ["manager", "auditor"])]
async fn audit() -> &'static str {
    "audit"
}

fn app() -> axum::Router {
    let security = Security::builder()
        .hmac_secret(SECRET.to_vec())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .realm(REALM)
        .role_hierarchy(secure_api::declared_roles!())
        .build()
        .unwrap();
    SecureRouter::new()
        .route("/ledger", get(ledger))
        .route("/audit", get(audit))
        .layer(security.layer())
        .into_router()
}

#[test]
fn the_runtime_hierarchy_is_the_declared_one() {
    assert_eq!(
        secure_api::declared_roles!(),
        "owner > manager; manager > clerk; auditor > clerk; intern"
    );
}

#[tokio::test]
async fn declared_superiors_pass_a_lower_roles_route() {
    let app = app();
    for role in ["clerk", "manager", "owner", "auditor"] {
        let res = Req::get("/ledger")
            .bearer(&token("u", [role]))
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{role}: {}", res.text());
    }
    for role in ["intern", "admin"] {
        Req::get("/ledger")
            .bearer(&token("u", [role]))
            .send(&app)
            .await
            .assert_forbidden();
    }
}

#[tokio::test]
async fn any_role_follows_the_declared_hierarchy() {
    let app = app();
    for role in ["manager", "owner", "auditor"] {
        let res = Req::get("/audit")
            .bearer(&token("u", [role]))
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{role}: {}", res.text());
    }
    Req::get("/audit")
        .bearer(&token("u", ["clerk"]))
        .send(&app)
        .await
        .assert_forbidden();
}
