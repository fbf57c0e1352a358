//! Field-level output authorization: one response type, serialised per principal.

use secure_api::prelude::*;
use secure_api::routing::{SecureRouter, get};
use serde_json::json;

use crate::support::*;

#[derive(AuthorizedOutput)]
struct CustomerView {
    id: u64,
    name: String,
    #[visible(role = "admin")]
    email: String,
    #[visible(any_role = ["editor", "auditor"], scope = "customers:pii")]
    phone: String,
    #[visible(nested)]
    address: AddressView,
}

#[derive(AuthorizedOutput)]
struct AddressView {
    city: String,
    #[visible(role = "editor")]
    street: String,
}

fn ada() -> CustomerView {
    CustomerView {
        id: 1,
        name: "Ada".into(),
        email: "ada@example.com".into(),
        phone: "+44 20 0000 0000".into(),
        address: AddressView {
            city: "London".into(),
            street: "12 Secret Lane".into(),
        },
    }
}

#[secure(role = "viewer")]
async fn show(principal: Principal) -> Filtered<CustomerView> {
    Filtered::new(&principal, ada())
}

#[secure(role = "viewer")]
async fn list(principal: Principal) -> Filtered<Vec<CustomerView>> {
    Filtered::new(&principal, vec![ada(), ada()])
}

#[secure(public)]
async fn public_card() -> Filtered<CustomerView> {
    Filtered::anonymous(ada())
}

fn app() -> axum::Router {
    SecureRouter::new()
        .route("/customer", get(show))
        .route("/customers", get(list))
        .route("/card", get(public_card))
        .layer(security().layer())
        .into_router()
}

#[tokio::test]
async fn restricted_fields_are_absent_for_a_principal_without_the_role() {
    let res = Req::get("/customer")
        .bearer(&token("v", ["viewer"]))
        .send(&app())
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        res.json(),
        json!({ "id": 1, "name": "Ada", "address": { "city": "London" } })
    );
    for secret in ["ada@example.com", "+44", "Secret Lane"] {
        assert!(!res.text().contains(secret), "{}", res.text());
    }
}

#[tokio::test]
async fn an_admin_sees_the_admin_fields_through_the_hierarchy() {
    let res = Req::get("/customer")
        .bearer(&token("root", ["admin"]))
        .send(&app())
        .await;
    // admin > editor: the editor-only street is visible; the phone needs a scope too.
    assert_eq!(
        res.json(),
        json!({
            "id": 1, "name": "Ada", "email": "ada@example.com",
            "address": { "city": "London", "street": "12 Secret Lane" }
        })
    );
}

#[tokio::test]
async fn a_field_with_roles_and_a_scope_needs_both() {
    let app = app();
    let auditor_with_scope = Claims::new("a")
        .roles(["auditor"])
        .scope("customers:pii")
        .hs256();
    let res = Req::get("/customer")
        .bearer(&auditor_with_scope)
        .send(&app)
        .await;
    // auditor is not a viewer in this hierarchy: the route itself refuses.
    res.assert_forbidden();
    let editor_with_scope = Claims::new("e")
        .roles(["editor"])
        .scope("customers:pii")
        .hs256();
    let res = Req::get("/customer")
        .bearer(&editor_with_scope)
        .send(&app)
        .await;
    assert_eq!(res.json()["phone"], "+44 20 0000 0000");
    let editor = token("e", ["editor"]);
    let res = Req::get("/customer").bearer(&editor).send(&app).await;
    assert!(res.json().get("phone").is_none(), "{}", res.text());
}

#[tokio::test]
async fn every_element_of_a_list_is_filtered() {
    let res = Req::get("/customers")
        .bearer(&token("v", ["viewer"]))
        .send(&app())
        .await;
    let rows = res.json();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    for row in rows.as_array().unwrap() {
        assert!(row.get("email").is_none(), "{row}");
    }
}

#[tokio::test]
async fn an_anonymous_caller_sees_only_unmarked_fields() {
    let res = Req::get("/card").send(&app()).await;
    assert_eq!(
        res.json(),
        json!({ "id": 1, "name": "Ada", "address": { "city": "London" } })
    );
}
