//! Roles through the configured hierarchy (admin > editor > viewer) and `any_role`.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_higher_role_passes_a_lower_roles_route() {
    let app = app();
    for role in ["viewer", "editor", "admin"] {
        let res = Req::get("/v1/customers")
            .bearer(&token("u", [role]))
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{role}: {}", res.text());
    }
}

#[tokio::test]
async fn a_lower_role_is_403_on_a_higher_roles_route() {
    let app = app();
    let res = Req::post("/v1/customers")
        .bearer(&token("vera", ["viewer"]))
        .json(&json!({ "name": "Bob", "email": "bob@example.com" }))
        .send(&app)
        .await;
    res.assert_forbidden();
    for role in ["viewer", "editor"] {
        let res = Req::delete("/v1/customers/1")
            .bearer(&token("u", [role]))
            .send(&app)
            .await;
        res.assert_forbidden();
        assert!(res.www_authenticate().contains("scope=\"admin\""));
    }
    let res = Req::delete("/v1/customers/1")
        .bearer(&token("root", ["admin"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
}

#[tokio::test]
async fn no_roles_or_unknown_roles_are_403_on_a_role_route() {
    let app = app();
    for token in [
        Claims::new("nobody").hs256(),
        token("guest", ["guest"]),
        token("case", ["Viewer"]),
        token("space", [" viewer"]),
        Claims::new("null")
            .set("roles", serde_json::Value::Null)
            .hs256(),
    ] {
        let res = Req::get("/v1/customers").bearer(&token).send(&app).await;
        res.assert_forbidden();
    }
}

#[tokio::test]
async fn roles_are_read_from_the_roles_claim_only() {
    // A role in another claim (here `scope` and `groups`) grants nothing.
    let token = Claims::new("sneaky")
        .scope("admin viewer")
        .set("groups", json!(["admin"]))
        .set("role", json!("admin"))
        .hs256();
    let res = Req::get("/v1/customers").bearer(&token).send(&app()).await;
    res.assert_forbidden();
}

#[tokio::test]
async fn any_role_accepts_each_listed_role_and_their_superiors() {
    let app = app();
    for roles in [
        vec!["editor"],
        vec!["auditor"],
        vec!["admin"],
        vec!["viewer", "auditor"],
    ] {
        let token = Claims::new("u").set("roles", json!(roles)).hs256();
        let res = Req::get("/v1/reports").bearer(&token).send(&app).await;
        assert_eq!(res.status, 200, "{roles:?}: {}", res.text());
        assert_eq!(res.text(), "report");
    }
}

#[tokio::test]
async fn any_role_refuses_a_principal_with_none_of_them() {
    let app = app();
    for token in [token("v", ["viewer"]), Claims::new("none").hs256()] {
        let res = Req::get("/v1/reports").bearer(&token).send(&app).await;
        res.assert_forbidden();
        let challenge = res.www_authenticate();
        assert!(
            challenge.contains("scope=\"editor auditor\""),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn a_custom_roles_claim_is_honoured() {
    let security = builder().roles_claim("groups").build().unwrap();
    let app = app_with(&security);
    let groups = Claims::new("g").set("groups", json!(["viewer"])).hs256();
    let res = Req::get("/v1/customers").bearer(&groups).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    // The default claim no longer counts.
    let res = Req::get("/v1/customers")
        .bearer(&token("r", ["admin"]))
        .send(&app)
        .await;
    res.assert_forbidden();
}

#[tokio::test]
async fn without_a_hierarchy_roles_only_grant_themselves() {
    let security = secure_api::Security::builder()
        .hmac_secret(SECRET.to_vec())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .realm(REALM)
        .build()
        .unwrap();
    let app = app_with(&security);
    let res = Req::get("/v1/customers")
        .bearer(&token("root", ["admin"]))
        .send(&app)
        .await;
    res.assert_forbidden();
    let res = Req::get("/v1/customers")
        .bearer(&token("v", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}
