//! OpenAPI 3.1 security metadata from the `#[secure]` policies (feature `openapi`).
//!
//! You describe each operation's purpose and success responses with
//! [utoipa](https://docs.rs/utoipa); [`secure_openapi`] asks the router which policy
//! guards each documented operation and adds what the policy implies, so that nothing is
//! written twice:
//!
//! - the `bearerAuth` security scheme (HTTP bearer, JWT) and, on every authenticated
//!   operation, a security requirement naming it;
//! - the problem+json responses the guard and the validated extractors can give: 400 on
//!   every operation (credentials in the URL, malformed requests), 401 on authenticated
//!   ones, 403 when roles are required, 422/413/415 when there is a request body or
//!   validation, 429 (with `Retry-After`) when there are rate limits;
//! - the `Problem` and `FieldError` schemas those responses use.
//!
//! Responses the document already gives for a status are kept as written.
//!
//! ```
//! # async fn demo() -> Result<(), secure_api_runtime::openapi::UncoveredOperations> {
//! use axum::{Router, routing::get};
//! use secure_api_runtime::openapi::{secure_openapi, utoipa::openapi::*};
//! use secure_api_runtime::{Guard, Policy, PolicySource};
//!
//! struct Admin;
//! impl PolicySource for Admin {
//!     const POLICY: &'static Policy = &Policy::authenticated("app::stats").any_of_roles(&["admin"]);
//! }
//! async fn stats(_: Guard<Admin>) -> &'static str { "{}" }
//! let router: Router = Router::new().route("/stats", get(stats));
//!
//! let doc = OpenApiBuilder::new()
//!     .paths(PathsBuilder::new().path(
//!         "/stats",
//!         PathItem::new(HttpMethod::Get, path::OperationBuilder::new()
//!             .response("200", Response::new("Statistics"))),
//!     ))
//!     .build();
//! let doc = secure_openapi(doc, &router).await?;
//! let stats = doc.paths.paths["/stats"].get.as_ref().unwrap();
//! assert!(stats.responses.responses.contains_key("403"));
//! # Ok(()) }
//! ```

use std::fmt;

use axum::Router;
use http::Method;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, OpenApi, Ref, RefOr, Response};

use crate::policy::Policy;
use crate::registry::{RouteCoverage, policy_of};

/// The utoipa crate, re-exported so that applications build documents with the same
/// version.
///
/// ```
/// let _ = secure_api_runtime::openapi::utoipa::openapi::OpenApiBuilder::new();
/// ```
pub use utoipa;

/// The name of the bearer JWT security scheme in `components.securitySchemes`.
pub const BEARER_SCHEME: &str = "bearerAuth";

/// Operations of a document that no `#[secure]` policy guards in the router (or that the
/// router does not serve), as `METHOD /path`.
///
/// ```
/// let e = secure_api_runtime::openapi::UncoveredOperations(vec!["GET /x".into()]);
/// assert!(e.to_string().contains("GET /x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncoveredOperations(pub Vec<String>);

impl fmt::Display for UncoveredOperations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "documented operations without a #[secure] policy in the router: {}",
            self.0.join(", ")
        )
    }
}

impl std::error::Error for UncoveredOperations {}

/// Adds the security schemes, requirements and problem responses of each operation's
/// policy to `doc`, finding the policy by asking `router` (see [`crate::policy_of`]).
/// Fails, listing them, when some documented operations are not guarded by a policy.
///
/// ```
/// # async fn demo(router: axum::Router, doc: utoipa::openapi::OpenApi) {
/// let doc = secure_api_runtime::openapi::secure_openapi(doc, &router).await.unwrap();
/// # }
/// ```
pub async fn secure_openapi(
    mut doc: OpenApi,
    router: &Router,
) -> Result<OpenApi, UncoveredOperations> {
    let mut uncovered = Vec::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::OPTIONS, &mut item.options),
            (Method::HEAD, &mut item.head),
            (Method::PATCH, &mut item.patch),
            (Method::TRACE, &mut item.trace),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            match policy_of(router, method.clone(), path).await {
                RouteCoverage::Guarded(policy) => describe(operation, policy),
                RouteCoverage::Unguarded(_) | RouteCoverage::NoRoute => {
                    uncovered.push(format!("{method} {path}"));
                }
            }
        }
    }
    if !uncovered.is_empty() {
        return Err(UncoveredOperations(uncovered));
    }
    let components = doc.components.get_or_insert_with(Components::new);
    components.security_schemes.insert(
        BEARER_SCHEME.to_owned(),
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components
        .schemas
        .insert("FieldError".to_owned(), RefOr::T(field_error_schema()));
    components
        .schemas
        .insert("Problem".to_owned(), RefOr::T(problem_schema()));
    for (name, description, retry_after) in COMPONENT_RESPONSES {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(problem_response(description, *retry_after)),
        );
    }
    Ok(doc)
}

const COMPONENT_RESPONSES: &[(&str, &str, bool)] = &[
    (
        "BadRequest",
        "Malformed request: credentials in the URL, a malformed Authorization header, or input that cannot be decoded (code `invalid_request` or `bad_request`).",
        false,
    ),
    (
        "Unauthorized",
        "No valid credentials (code `missing_credentials` or `invalid_token`); `WWW-Authenticate` names the error.",
        false,
    ),
    (
        "Forbidden",
        "Authenticated, but without the required role (code `insufficient_scope`).",
        false,
    ),
    (
        "PayloadTooLarge",
        "The request body is over the limit (code `bad_request`).",
        false,
    ),
    (
        "UnsupportedMediaType",
        "The request body has an unsupported content type (code `bad_request`).",
        false,
    ),
    (
        "UnprocessableEntity",
        "The input does not match the schema (code `bad_request`) or fails validation (code `invalid_input`, with `errors`).",
        false,
    ),
    (
        "Conflict",
        "A request with this Idempotency-Key is still being processed (code `idempotency_conflict`).",
        false,
    ),
    (
        "Gone",
        "The operation is past its sunset date (code `gone`); `Sunset` and `Link` say when and where to go.",
        false,
    ),
    (
        "ServiceUnavailable",
        "A store the policy needs is unavailable or full; the request was refused rather than let through (code `unavailable`).",
        false,
    ),
    (
        "TooManyRequests",
        "A rate limit is exhausted (code `rate_limited`); retry after `Retry-After` seconds.",
        true,
    ),
];

/// Adds the policy's security requirement and problem responses to one operation.
fn describe(operation: &mut Operation, policy: &Policy) {
    let has_body = operation.request_body.is_some();
    let mut statuses: Vec<(&str, &str)> = vec![("400", "BadRequest")];
    if !policy.is_public() {
        statuses.push(("401", "Unauthorized"));
        operation.security = Some(vec![SecurityRequirement::new(
            BEARER_SCHEME,
            Vec::<String>::new(),
        )]);
    }
    if !policy.roles().is_empty() {
        statuses.push(("403", "Forbidden"));
    }
    if has_body {
        statuses.push(("413", "PayloadTooLarge"));
        statuses.push(("415", "UnsupportedMediaType"));
    }
    if has_body || policy.validates() {
        statuses.push(("422", "UnprocessableEntity"));
    }
    if !policy.rates().is_empty() {
        statuses.push(("429", "TooManyRequests"));
    }
    if policy.is_idempotent() {
        statuses.push(("409", "Conflict"));
        statuses.push(("422", "UnprocessableEntity"));
    }
    if policy.requires_single_use_tokens() || policy.is_idempotent() {
        statuses.push(("503", "ServiceUnavailable"));
    }
    describe_signature(operation, policy, &mut statuses);
    if policy.sunset().is_some() {
        statuses.push(("410", "Gone"));
    }
    if policy.deprecation().is_some() || policy.sunset().is_some() {
        operation.deprecated = Some(utoipa::openapi::Deprecated::True);
    }
    for (status, name) in statuses {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// `signed`: the signature fields are documented on the operation, and a store the
/// verification needs can be down (503).
fn describe_signature(
    operation: &mut Operation,
    policy: &Policy,
    statuses: &mut Vec<(&str, &str)>,
) {
    if !policy.requires_signature() {
        return;
    }
    statuses.push(("503", "ServiceUnavailable"));
    const NOTE: &str = "Requires an HTTP Message Signature (RFC 9421): `Signature-Input` and \
        `Signature` covering `@method`, `@path`, `@query` and, with a body, `content-digest` \
        (RFC 9530, sha-256), with `created`, `keyid`, `nonce` and `alg=\"hmac-sha256\"`, made \
        with a signing key of the authenticated principal. Each nonce is single-use.";
    operation.description = Some(match operation.description.take() {
        Some(existing) if !existing.is_empty() => format!("{existing}\n\n{NOTE}"),
        _ => NOTE.to_owned(),
    });
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

fn field_error_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .description(Some(
                "One invalid field; the rejected value is never echoed.",
            ))
            .property(
                "field",
                string().description(Some("Path of the field in the input.")),
            )
            .property("code", string().description(Some("The rule that failed.")))
            .property(
                "message",
                string().description(Some("What the field must look like.")),
            )
            .required("field")
            .required("code")
            .required("message")
            .build(),
    )
}

fn problem_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .description(Some("RFC 9457 problem details."))
            .property("type", string())
            .property("title", string())
            .property(
                "status",
                ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)),
            )
            .property("detail", string())
            .property(
                "code",
                string().description(Some("Stable machine-readable reason.")),
            )
            .property(
                "errors",
                ArrayBuilder::new().items(RefOr::Ref(Ref::from_schema_name("FieldError"))),
            )
            .property(
                "request_id",
                string().description(Some("The request's id, as in `X-Request-Id`.")),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .required("code")
            .build(),
    )
}

fn problem_response(description: &str, retry_after: bool) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                .build(),
        )
        .header(
            "X-Request-Id",
            HeaderBuilder::new()
                .schema(string())
                .description(Some("The request's id."))
                .build(),
        );
    if retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        );
    }
    response.build()
}
