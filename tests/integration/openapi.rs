//! OpenAPI security metadata generated from the policies the router's guards apply.

use secure_api::openapi::utoipa::openapi::path::OperationBuilder;
use secure_api::openapi::utoipa::openapi::request_body::RequestBodyBuilder;
use secure_api::openapi::utoipa::openapi::{
    HttpMethod, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Response,
};
use secure_api::openapi::{
    BEARER_SCHEME, OAUTH2_SCHEME, OpenApiOptions, UncoveredOperations, secure_openapi,
    secure_openapi_with,
};
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

fn scoped_document() -> OpenApi {
    document(vec![
        operation(HttpMethod::Get, "/write", false),
        operation(HttpMethod::Get, "/both", false),
        operation(HttpMethod::Get, "/either", false),
    ])
}

#[tokio::test]
async fn security_requirements_list_the_routes_scopes() {
    let doc = secure_openapi(scoped_document(), &crate::scopes::app())
        .await
        .unwrap();
    let json: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    let security = |path: &str| json["paths"][path]["get"]["security"].clone();
    assert_eq!(
        security("/write"),
        json!([{ BEARER_SCHEME: ["customers:write"] }])
    );
    assert_eq!(
        security("/both"),
        json!([{ BEARER_SCHEME: ["customers:read", "customers:write"] }])
    );
    // Requirements are alternatives: one scope of the two suffices.
    assert_eq!(
        security("/either"),
        json!([
            { BEARER_SCHEME: ["customers:read"] },
            { BEARER_SCHEME: ["customers:admin"] }
        ])
    );
    assert_eq!(
        statuses(&json, "/write", "get"),
        ["200", "400", "401", "403"]
    );
    // Without options, bearer JWT is the only scheme.
    let schemes = json["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes.keys().collect::<Vec<_>>(), [BEARER_SCHEME]);
}

#[tokio::test]
async fn an_oauth2_scheme_declares_every_scope_and_is_offered_next_to_bearer() {
    let options = OpenApiOptions::new()
        .oauth2(
            "https://auth.example.com/authorize",
            "https://auth.example.com/token",
        )
        .scope_description("customers:write", "Create and change customers");
    let doc = secure_openapi_with(scoped_document(), &crate::scopes::app(), &options)
        .await
        .unwrap();
    let json: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    let schemes = &json["components"]["securitySchemes"];
    assert_eq!(
        schemes[BEARER_SCHEME],
        json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT" })
    );
    assert_eq!(
        schemes[OAUTH2_SCHEME],
        json!({
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "https://auth.example.com/authorize",
                    "tokenUrl": "https://auth.example.com/token",
                    "scopes": {
                        "customers:admin": "customers:admin",
                        "customers:read": "customers:read",
                        "customers:write": "Create and change customers"
                    }
                }
            }
        })
    );
    assert_eq!(
        json["paths"]["/both"]["get"]["security"],
        json!([
            { BEARER_SCHEME: ["customers:read", "customers:write"] },
            { OAUTH2_SCHEME: ["customers:read", "customers:write"] }
        ])
    );
}
