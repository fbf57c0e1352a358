//! OpenAPI 3.1 security metadata from the `#[secure]` policies (feature `openapi`).
//!
//! You describe each operation's purpose and success responses with
//! [utoipa](https://docs.rs/utoipa); [`secure_openapi`] asks the router which policy
//! guards each documented operation and adds what the policy implies, so that nothing is
//! written twice:
//!
//! - the `bearerAuth` security scheme (HTTP bearer, JWT), the `apiKeyAuth` scheme (an
//!   API key in the configured header) when some operation accepts API keys, and, on every
//!   authenticated operation, one security requirement per scheme it accepts (any one
//!   suffices); routes without an `auth` key accept the default of the `Security` layered
//!   on the router (bearer JWTs when there is none). Bearer requirements name the route's
//!   scopes (one requirement per scope when `any_scope` makes one suffice);
//! - with [`OpenApiOptions::oauth2`], an OAuth2 security scheme whose flow lists every
//!   scope the routes require, offered on each operation accepting bearer tokens as an
//!   alternative to `bearerAuth` with the same scopes (see [`secure_openapi_with`]);
//! - the problem+json responses the guard and the validated extractors can give: 400 on
//!   every operation (credentials in the URL, malformed requests), 401 on authenticated
//!   ones, 403 when roles or scopes are required, 422/413/415 when there is a request body or
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

use std::collections::BTreeMap;
use std::fmt;

use axum::Router;
use http::Method;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, AuthorizationCode, Flow, Http, HttpAuthScheme, OAuth2, Scopes,
    SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Components, OpenApi, Ref, RefOr, Response};

use crate::api_key::DEFAULT_API_KEY_HEADER;
use crate::authn::{AuthScheme, AuthSchemes};
use crate::policy::Policy;
use crate::registry::{RouteCoverage, probe_route};

/// The utoipa crate, re-exported so that applications build documents with the same
/// version.
///
/// ```
/// let _ = secure_api_runtime::openapi::utoipa::openapi::OpenApiBuilder::new();
/// ```
pub use utoipa;

/// The name of the bearer JWT security scheme in `components.securitySchemes`.
pub const BEARER_SCHEME: &str = "bearerAuth";
/// The name of the API-key security scheme in `components.securitySchemes`.
pub const API_KEY_SCHEME: &str = "apiKeyAuth";

/// The name of the OAuth2 security scheme that [`OpenApiOptions::oauth2`] declares.
pub const OAUTH2_SCHEME: &str = "oauth2";

/// What [`secure_openapi_with`] adds besides what the policies imply.
///
/// ```
/// use secure_api_runtime::openapi::OpenApiOptions;
/// let options = OpenApiOptions::new()
///     .oauth2("https://auth.example.com/authorize", "https://auth.example.com/token")
///     .scope_description("customers:write", "Create and delete customers");
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenApiOptions {
    oauth2: Option<(String, String)>,
    descriptions: BTreeMap<String, String>,
}

impl OpenApiOptions {
    /// No OAuth2 scheme: only `bearerAuth`, as [`secure_openapi`] does.
    ///
    /// ```
    /// let options = secure_api_runtime::openapi::OpenApiOptions::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares the `oauth2` security scheme (authorization code flow) with the
    /// application's authorization server: its flow lists every scope a route requires,
    /// so tools can request them. `bearerAuth` stays declared and required as before; the
    /// `oauth2` scheme is offered next to it on each authenticated operation.
    ///
    /// ```
    /// let options = secure_api_runtime::openapi::OpenApiOptions::new()
    ///     .oauth2("https://auth.example.com/authorize", "https://auth.example.com/token");
    /// ```
    pub fn oauth2(
        mut self,
        authorization_url: impl Into<String>,
        token_url: impl Into<String>,
    ) -> Self {
        self.oauth2 = Some((authorization_url.into(), token_url.into()));
        self
    }

    /// The description of a scope in the OAuth2 flow (default: the scope's name).
    ///
    /// ```
    /// let options = secure_api_runtime::openapi::OpenApiOptions::new()
    ///     .scope_description("customers:read", "Read customers");
    /// ```
    pub fn scope_description(
        mut self,
        scope: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.descriptions.insert(scope.into(), description.into());
        self
    }
}

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
pub async fn secure_openapi(doc: OpenApi, router: &Router) -> Result<OpenApi, UncoveredOperations> {
    secure_openapi_with(doc, router, &OpenApiOptions::new()).await
}

/// [`secure_openapi`] with options, such as an OAuth2 security scheme listing the
/// routes' scopes.
///
/// ```
/// # async fn demo(router: axum::Router, doc: utoipa::openapi::OpenApi) {
/// use secure_api_runtime::openapi::{OpenApiOptions, secure_openapi_with};
/// let options = OpenApiOptions::new()
///     .oauth2("https://auth.example.com/authorize", "https://auth.example.com/token");
/// let doc = secure_openapi_with(doc, &router, &options).await.unwrap();
/// # }
/// ```
pub async fn secure_openapi_with(
    mut doc: OpenApi,
    router: &Router,
    options: &OpenApiOptions,
) -> Result<OpenApi, UncoveredOperations> {
    let mut uncovered = Vec::new();
    let mut scopes: BTreeMap<String, String> = BTreeMap::new();
    let mut api_key_header: Option<String> = None;
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
            match probe_route(router, method.clone(), path).await {
                (RouteCoverage::Guarded(policy), probed) => {
                    let (default_auth, header) = probed.map_or_else(
                        || (AuthSchemes::JWT, DEFAULT_API_KEY_HEADER.to_owned()),
                        |p| (p.default_auth, p.api_key_header),
                    );
                    let accepted = policy.auth_schemes().unwrap_or(default_auth);
                    if !policy.is_public() && accepted.accepts(AuthScheme::ApiKey) {
                        api_key_header.get_or_insert(header);
                    }
                    describe(operation, policy, accepted, options.oauth2.is_some());
                    for scope in policy.scopes() {
                        let description = options
                            .descriptions
                            .get(*scope)
                            .map_or(*scope, String::as_str);
                        scopes.insert((*scope).to_owned(), description.to_owned());
                    }
                }
                (RouteCoverage::Unguarded(_) | RouteCoverage::NoRoute, _) => {
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
    if let Some((authorization_url, token_url)) = &options.oauth2 {
        components.security_schemes.insert(
            OAUTH2_SCHEME.to_owned(),
            SecurityScheme::OAuth2(OAuth2::new([Flow::AuthorizationCode(
                AuthorizationCode::new(
                    authorization_url.clone(),
                    token_url.clone(),
                    scopes.into_iter().collect::<Scopes>(),
                ),
            )])),
        );
    }
    if let Some(header) = api_key_header {
        let name = if header == DEFAULT_API_KEY_HEADER {
            "X-API-Key".to_owned()
        } else {
            header
        };
        components.security_schemes.insert(
            API_KEY_SCHEME.to_owned(),
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                name,
                "An API key `<prefix>_<id>_<secret>_<checksum>`; never in the URL.".to_owned(),
            ))),
        );
    }
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
        "Authenticated, but without the required role or scopes (code `insufficient_scope`); `WWW-Authenticate` names what was required.",
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

/// The security requirements of an authenticated operation (alternatives: any one
/// suffices). For bearer tokens, one naming every scope, or, when one scope suffices, one per
/// scope; each for `bearerAuth` and, when declared, for `oauth2`. For API keys, one for
/// `apiKeyAuth` (an API key's scopes come from its record, not from an OAuth2 flow).
fn requirements(policy: &Policy, accepted: AuthSchemes, oauth2: bool) -> Vec<SecurityRequirement> {
    let sets: Vec<Vec<&str>> = if policy.any_scope_suffices() {
        policy.scopes().iter().map(|scope| vec![*scope]).collect()
    } else {
        vec![policy.scopes().to_vec()]
    };
    let mut out = Vec::new();
    if accepted.accepts(AuthScheme::Jwt) {
        let schemes: &[&str] = if oauth2 {
            &[BEARER_SCHEME, OAUTH2_SCHEME]
        } else {
            &[BEARER_SCHEME]
        };
        for scheme in schemes {
            for scopes in &sets {
                out.push(SecurityRequirement::new(*scheme, scopes.iter().copied()));
            }
        }
    }
    if accepted.accepts(AuthScheme::ApiKey) {
        out.push(SecurityRequirement::new(
            API_KEY_SCHEME,
            Vec::<String>::new(),
        ));
    }
    out
}

/// Adds the policy's security requirement and problem responses to one operation.
fn describe(operation: &mut Operation, policy: &Policy, accepted: AuthSchemes, oauth2: bool) {
    let has_body = operation.request_body.is_some();
    let mut statuses: Vec<(&str, &str)> = vec![("400", "BadRequest")];
    if !policy.is_public() {
        statuses.push(("401", "Unauthorized"));
        operation.security = Some(requirements(policy, accepted, oauth2));
    }
    if !policy.roles().is_empty() || !policy.scopes().is_empty() {
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
