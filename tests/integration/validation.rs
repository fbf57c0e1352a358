//! `#[secure(validate)]`: a 422 naming each invalid field, without the rejected value.

use serde_json::{Value, json};

use crate::support::*;

async fn create(body: Value) -> Resp {
    Req::post("/v1/customers")
        .bearer(&token("ed", ["editor"]))
        .json(&body)
        .send(&app())
        .await
}

fn field_errors(problem: &Value) -> Vec<(String, String, String)> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors member: {problem}"))
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_valid_body_is_created() {
    let res = create(json!({ "name": "Bob", "email": "bob@example.com" })).await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({ "id": 2, "name": "Bob", "email": "bob@example.com" })
    );
}

#[tokio::test]
async fn every_invalid_field_is_listed_with_its_path_and_message() {
    let res = create(json!({ "name": "", "email": "not-an-email" })).await;
    let problem = res.problem(422, "invalid_input");
    let errors = field_errors(&problem);
    assert_eq!(errors.len(), 2, "{problem}");
    let (field, code, message) = &errors[0];
    assert_eq!((field.as_str(), code.as_str()), ("email", "email"));
    assert_eq!(message, "must be a valid email address");
    let (field, code, message) = &errors[1];
    assert_eq!((field.as_str(), code.as_str()), ("name", "length"));
    assert!(
        message.contains('1') && message.contains("100"),
        "{message}"
    );
}

#[tokio::test]
async fn the_rejected_value_is_never_echoed() {
    let long_name = format!("secret-name-{}", "z".repeat(120));
    let res = create(json!({ "name": long_name, "email": "secret-value-xyz@@" })).await;
    let problem = res.problem(422, "invalid_input");
    let fields: Vec<String> = field_errors(&problem).into_iter().map(|e| e.0).collect();
    assert_eq!(fields, ["email", "name"]);
    let all = res.everything();
    assert!(!all.contains("secret-value-xyz"), "{all}");
    assert!(!all.contains("secret-name-"), "{all}");
}

#[tokio::test]
async fn a_single_invalid_field_is_the_only_one_listed() {
    let res = create(json!({ "name": "Bob", "email": "bob@" })).await;
    let problem = res.problem(422, "invalid_input");
    let fields: Vec<String> = field_errors(&problem).into_iter().map(|e| e.0).collect();
    assert_eq!(fields, ["email"]);
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_refused_without_echo() {
    // Decodes as JSON but not as NewCustomer: the decoder's message (which quotes the
    // input) is replaced by a fixed sentence.
    for body in [
        json!({ "name": "secret-value-xyz" }),
        json!({ "name": 42, "email": "secret-value-xyz@example.com" }),
        json!(["secret-value-xyz"]),
    ] {
        let res = create(body).await;
        assert!(
            res.status == 422 || res.status == 400,
            "{}: {}",
            res.status,
            res.text()
        );
        res.problem(res.status.as_u16(), "bad_request");
        assert!(!res.text().contains("secret-value-xyz"), "{}", res.text());
    }
}

#[tokio::test]
async fn a_path_segment_that_is_not_a_number_is_a_400_problem() {
    let res = Req::get("/v1/customers/secret-value-xyz")
        .bearer(&token("v", ["viewer"]))
        .send(&app())
        .await;
    res.problem(400, "bad_request");
    assert!(!res.text().contains("secret-value-xyz"), "{}", res.text());
}

#[tokio::test]
async fn a_valid_path_reaches_the_handler() {
    let app = app();
    let res = Req::get("/v1/customers/1")
        .bearer(&token("v", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = Req::get("/v1/customers/7")
        .bearer(&token("v", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 404);
}

#[tokio::test]
async fn an_unauthenticated_invalid_body_is_401_not_422() {
    let res = Req::post("/v1/customers")
        .json(&json!({ "name": "", "email": "secret-value-xyz@@" }))
        .send(&app())
        .await;
    res.assert_missing_credentials();
}
