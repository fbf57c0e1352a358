//! OpenAPI security metadata generated from the policies the router's guards apply.

use secure_api::openapi::utoipa::openapi::path::OperationBuilder;
use secure_api::openapi::utoipa::openapi::request_body::RequestBodyBuilder;
use secure_api::openapi::utoipa::openapi::{
    HttpMethod, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Response,
};
use secure_api::openapi::{BEARER_SCHEME, UncoveredOperations, secure_openapi};
use serde_json::{Value, json};

use crate::support::*;

fn operation(method: HttpMethod, path: &str, with_body: bool) -> (String, PathItem) {
    let mut op = OperationBuilder::new().response("200", Response::new("OK"));
    if with_body {
        op = op.request_body(Some(RequestBodyBuilder::new().build()));
    }
    (path.to_owned(), PathItem::new(method, op))
}

fn document(ops: Vec<(String, PathItem)>) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for (path, item) in ops {
        paths = paths.path(path, item);
    }
    OpenApiBuilder::new().paths(paths).build()
}

fn statuses(doc: &Value, path: &str, method: &str) -> Vec<String> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn each_operation_gets_the_security_and_responses_of_its_policy() {
    let doc = document(vec![
        operation(HttpMethod::Get, "/health", false),
        operation(HttpMethod::Get, "/v1/ping", false),
        operation(HttpMethod::Get, "/v1/me", false),
        operation(HttpMethod::Post, "/v1/customers", true),
        operation(HttpMethod::Delete, "/v1/customers/{id}", false),
    ]);
    let doc = secure_openapi(doc, &app()).await.unwrap();
    let json: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    assert_eq!(json["openapi"], "3.1.0");

    assert_eq!(statuses(&json, "/health", "get"), ["200", "400"]);
    assert!(json["paths"]["/health"]["get"].get("security").is_none());
    assert_eq!(statuses(&json, "/v1/ping", "get"), ["200", "400", "429"]);
    assert_eq!(statuses(&json, "/v1/me", "get"), ["200", "400", "401"]);
    assert_eq!(
        statuses(&json, "/v1/customers", "post"),
        ["200", "400", "401", "403", "413", "415", "422", "429"]
    );
    assert_eq!(
        statuses(&json, "/v1/customers/{id}", "delete"),
        ["200", "400", "401", "403"]
    );
    assert_eq!(
        json["paths"]["/v1/me"]["get"]["security"],
        json!([{ BEARER_SCHEME: [] }])
    );
    assert_eq!(
        json["paths"]["/v1/ping"]["get"]["responses"]["429"],
        json!({ "$ref": "#/components/responses/TooManyRequests" })
    );

    let components = &json["components"];
    assert_eq!(
        components["securitySchemes"][BEARER_SCHEME],
        json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" })
    );
    let too_many = &components["responses"]["TooManyRequests"];
    assert!(too_many["headers"]["Retry-After"].is_object());
    assert_eq!(
        too_many["content"]["application/problem+json"]["schema"],
        json!({ "$ref": "#/components/schemas/Problem" })
    );
    let problem = &components["schemas"]["Problem"];
    assert_eq!(
        problem["required"],
        json!(["type", "title", "status", "detail", "code"])
    );
    assert!(problem["properties"]["request_id"].is_object());
}

#[tokio::test]
async fn a_documented_status_is_kept_as_written() {
    let mut paths = PathsBuilder::new();
    paths = paths.path(
        "/v1/me",
        PathItem::new(
            HttpMethod::Get,
            OperationBuilder::new().response("401", Response::new("Our own words")),
        ),
    );
    let doc = OpenApiBuilder::new().paths(paths).build();
    let doc = secure_openapi(doc, &app()).await.unwrap();
    let json: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    assert_eq!(
        json["paths"]["/v1/me"]["get"]["responses"]["401"]["description"],
        "Our own words"
    );
}

#[tokio::test]
async fn operations_without_a_policy_are_refused() {
    let doc = document(vec![
        operation(HttpMethod::Get, "/health", false),
        operation(HttpMethod::Put, "/v1/customers/{id}", true),
        operation(HttpMethod::Get, "/v1/undocumented-nowhere", false),
    ]);
    let Err(err) = secure_openapi(doc, &app()).await else {
        panic!("a document with unguarded operations was accepted");
    };
    assert_eq!(
        err,
        UncoveredOperations(vec![
            "PUT /v1/customers/{id}".to_owned(),
            "GET /v1/undocumented-nowhere".to_owned(),
        ])
    );
}
