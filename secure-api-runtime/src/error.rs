//! One error type for every refusal, rendered as RFC 9457 `application/problem+json`.
//!
//! Every check of the guard, the validation wrappers and the layer refuses with a
//! [`SecurityError`]. It carries only what the client may learn: a status, a stable `code`,
//! a fixed human-readable sentence and, for 422, the list of invalid fields (path and
//! message, never the rejected value). Nothing from the token, the key material or the
//! server internals is ever placed in it.
//!
//! ```
//! use axum::response::IntoResponse;
//! use secure_api_runtime::SecurityError;
//!
//! let response = SecurityError::forbidden().into_response();
//! assert_eq!(response.status(), 403);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use crate::ratelimit_headers::{QuotaName, QuotaState, RateLimitHeaders, ceil_secs, policy_name};

use crate::audit::{RequestId, current_request_id};

/// The realm placed in `WWW-Authenticate` when the configuration gives none.
pub(crate) const DEFAULT_REALM: &str = "api";

/// What went wrong, as a stable machine-readable word (the problem's `code` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No credentials were presented (401).
    MissingCredentials,
    /// A credential was presented but is not valid: bad signature, expired, wrong issuer
    /// or audience, malformed claims... (401). The response never says which.
    InvalidToken,
    /// The request itself is malformed: two `Authorization` headers, a credential in the
    /// URL, a header that is not a valid bearer token (400).
    InvalidRequest,
    /// Authenticated, but the principal lacks the role or scope the route requires (403).
    Forbidden,
    /// The route was found but the request could not be decoded (400, 413 or 415).
    BadRequest,
    /// The input was decoded but is not valid (422); the fields are listed.
    InvalidInput,
    /// The caller exceeded a rate limit (429).
    RateLimited,
    /// The server cannot enforce the route's policy (500); details are only logged.
    Misconfigured,
    /// A store the policy needs is unavailable and the policy fails closed (503).
    Unavailable,
    /// The route was retired at its sunset date (410).
    Gone,
    /// HTTPS is required and the request came over plain HTTP (400).
    HttpsRequired,
    /// An idempotent route was called without a usable `Idempotency-Key` (400).
    IdempotencyKeyMissing,
    /// A request with the same `Idempotency-Key` is still being processed (409).
    IdempotencyConflict,
    /// The `Idempotency-Key` was used before with a different request (422).
    IdempotencyMismatch,
    /// A repeat of a completed idempotent request, answered with its recorded response
    /// instead of running the handler again.
    IdempotentReplay,
    /// The object does not exist for this principal: an ownership check refused it (404).
    NotFound,
}

impl ErrorKind {
    /// The stable word used as the problem's `code` member.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::ErrorKind::InvalidToken.code(), "invalid_token");
    /// ```
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::MissingCredentials => "missing_credentials",
            ErrorKind::InvalidToken => "invalid_token",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Forbidden => "insufficient_scope",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Misconfigured => "server_error",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Gone => "gone",
            ErrorKind::HttpsRequired => "https_required",
            ErrorKind::IdempotencyKeyMissing => "idempotency_key_missing",
            ErrorKind::IdempotencyConflict => "idempotency_conflict",
            ErrorKind::IdempotencyMismatch => "idempotency_mismatch",
            ErrorKind::IdempotentReplay => "idempotent_replay",
            ErrorKind::NotFound => "not_found",
        }
    }
}

/// One invalid field of a request that failed validation.
///
/// `field` is a path into the input (`email`, `address.city`, `items[2].name`) and
/// `message` says what is expected; the rejected value is never included.
///
/// ```
/// let field = secure_api_runtime::FieldError::new("email", "email", "must be a valid email address");
/// assert_eq!(field.field(), "email");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    field: String,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl FieldError {
    /// A field error with its path, validator code and message.
    ///
    /// ```
    /// let e = secure_api_runtime::FieldError::new("name", "length", "length must be 1 to 100");
    /// assert_eq!(e.code(), "length");
    /// ```
    pub fn new(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// The path of the field in the input.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::FieldError::new("a.b", "c", "d").field(), "a.b");
    /// ```
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The validator code (`length`, `email`, `range`, ...).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::FieldError::new("a", "email", "m").code(), "email");
    /// ```
    pub fn code(&self) -> &str {
        &self.code
    }

    /// What the field must look like.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::FieldError::new("a", "b", "must be set").message(), "must be set");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[derive(Debug, Clone)]
struct RateLimitInfo {
    retry_after: Duration,
    limit: u32,
    window_secs: u64,
    policy: Cow<'static, str>,
    headers: RateLimitHeaders,
}

/// A refusal, rendered as RFC 9457 problem details.
///
/// Build one with the constructors ([`SecurityError::unauthorized`],
/// [`SecurityError::forbidden`], ...) when a custom check of yours refuses a request; the
/// guard of `#[secure]` uses the same constructors. Rendering adds the headers each status
/// needs: `WWW-Authenticate` (RFC 6750) on 400/401/403 from authentication, `Retry-After`
/// and the IETF `RateLimit`/`RateLimit-Policy` fields on 429, and `Cache-Control: no-store`.
///
/// ```
/// use axum::response::IntoResponse;
/// use secure_api_runtime::SecurityError;
///
/// let response = SecurityError::unauthorized().into_response();
/// assert_eq!(response.status(), 401);
/// assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer realm="));
/// ```
#[derive(Debug, Clone)]
pub struct SecurityError(Box<Problem>);

// Boxed: refusals travel through `Result`s on the hot path, which stay one word wide.
#[derive(Debug, Clone)]
struct Problem {
    kind: ErrorKind,
    status: StatusCode,
    detail: Cow<'static, str>,
    realm: Cow<'static, str>,
    challenge: bool,
    required_scope: Option<Cow<'static, str>>,
    errors: Vec<FieldError>,
    rate_limit: Option<RateLimitInfo>,
    request_id: Option<RequestId>,
    /// A response recorded for an `Idempotency-Key`, sent back as is instead of a problem.
    stored: Option<std::sync::Arc<crate::replay::StoredResponse>>,
    /// The schemes the challenge names (bearer only unless set) and the API-key header.
    schemes: Option<(crate::authn::AuthSchemes, Cow<'static, str>)>,
}

impl SecurityError {
    fn new(kind: ErrorKind, status: StatusCode, detail: &'static str) -> Self {
        SecurityError(Box::new(Problem {
            kind,
            status,
            detail: Cow::Borrowed(detail),
            realm: Cow::Borrowed(DEFAULT_REALM),
            challenge: false,
            required_scope: None,
            errors: Vec::new(),
            rate_limit: None,
            request_id: None,
            stored: None,
            schemes: None,
        }))
    }

    /// 401: the route needs credentials and none were presented.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// let r = secure_api_runtime::SecurityError::unauthorized().into_response();
    /// assert_eq!(r.status(), 401);
    /// ```
    pub fn unauthorized() -> Self {
        let mut e = Self::new(
            ErrorKind::MissingCredentials,
            StatusCode::UNAUTHORIZED,
            "This resource requires authentication.",
        );
        e.0.challenge = true;
        e
    }

    /// 401 with `error="invalid_token"`: the presented credential is not acceptable.
    /// The same sentence is used whatever the reason (signature, expiry, issuer...).
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// let r = secure_api_runtime::SecurityError::invalid_token().into_response();
    /// assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    /// ```
    pub fn invalid_token() -> Self {
        let mut e = Self::new(
            ErrorKind::InvalidToken,
            StatusCode::UNAUTHORIZED,
            "The access token is invalid or has expired.",
        );
        e.0.challenge = true;
        e
    }

    /// 400 with `error="invalid_request"`: the credentials are sent in a malformed way.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// let r = secure_api_runtime::SecurityError::invalid_request("Send exactly one Authorization header.").into_response();
    /// assert_eq!(r.status(), 400);
    /// ```
    pub fn invalid_request(detail: &'static str) -> Self {
        let mut e = Self::new(ErrorKind::InvalidRequest, StatusCode::BAD_REQUEST, detail);
        e.0.challenge = true;
        e
    }

    /// 403 with `error="insufficient_scope"`: authenticated but not allowed.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::forbidden().into_response().status(), 403);
    /// ```
    pub fn forbidden() -> Self {
        let mut e = Self::new(
            ErrorKind::Forbidden,
            StatusCode::FORBIDDEN,
            "The credentials do not grant access to this resource.",
        );
        e.0.challenge = true;
        e
    }

    /// A request that could not be decoded, with the status the decoder chose (400, 413,
    /// 415 or 422) and a fixed sentence; the decoder's own message, which may quote the
    /// input, is not passed on.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// use http::StatusCode;
    /// let r = secure_api_runtime::SecurityError::bad_request(StatusCode::PAYLOAD_TOO_LARGE).into_response();
    /// assert_eq!(r.status(), 413);
    /// ```
    pub fn bad_request(status: StatusCode) -> Self {
        let (status, detail) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (status, "The request body is too large."),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (status, "The request body has an unsupported content type.")
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                (status, "The request does not match the expected schema.")
            }
            _ => (
                StatusCode::BAD_REQUEST,
                "The request is malformed and could not be decoded.",
            ),
        };
        Self::new(ErrorKind::BadRequest, status, detail)
    }

    /// 422 listing each invalid field.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// use secure_api_runtime::{FieldError, SecurityError};
    /// let e = SecurityError::invalid_input(vec![FieldError::new("email", "email", "must be a valid email address")]);
    /// assert_eq!(e.field_errors().len(), 1);
    /// assert_eq!(e.into_response().status(), 422);
    /// ```
    pub fn invalid_input(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            ErrorKind::InvalidInput,
            StatusCode::UNPROCESSABLE_ENTITY,
            "The request contains invalid fields.",
        );
        e.0.errors = errors;
        e
    }

    /// 429 with `Retry-After` (whole seconds, rounded up) and `RateLimit`/`RateLimit-Policy`
    /// for a quota of `limit` requests per `window_secs`.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// use std::time::Duration;
    /// let r = secure_api_runtime::SecurityError::rate_limited(Duration::from_millis(1500), 5, 60).into_response();
    /// assert_eq!(r.status(), 429);
    /// assert_eq!(r.headers()["retry-after"], "2");
    /// ```
    pub fn rate_limited(retry_after: Duration, limit: u32, window_secs: u64) -> Self {
        let mut e = Self::new(
            ErrorKind::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests; retry later.",
        );
        e.0.rate_limit = Some(RateLimitInfo {
            retry_after,
            limit,
            window_secs,
            policy: Cow::Borrowed("default"),
            headers: RateLimitHeaders::default(),
        });
        e
    }

    /// Names the quota in the `RateLimit`/`RateLimit-Policy` fields of a 429 (default
    /// `default`); characters outside `[A-Za-z0-9._:/-]` are dropped.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// use std::time::Duration;
    /// use secure_api_runtime::SecurityError;
    /// let r = SecurityError::rate_limited(Duration::from_secs(1), 10, 1).with_rate_limit_policy("burst").into_response();
    /// assert_eq!(r.headers()["ratelimit-policy"], "\"burst\";q=10;w=1");
    /// ```
    pub fn with_rate_limit_policy(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        if let Some(info) = &mut self.0.rate_limit {
            info.policy = name.into();
        }
        self
    }

    /// Which rate-limit fields a 429 carries (default: the current draft).
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// use std::time::Duration;
    /// use secure_api_runtime::{RateLimitHeaders, SecurityError};
    /// let r = SecurityError::rate_limited(Duration::from_secs(1), 10, 1).with_rate_limit_headers(RateLimitHeaders::Off).into_response();
    /// assert!(r.headers().get("ratelimit").is_none());
    /// assert_eq!(r.headers()["retry-after"], "1");
    /// ```
    pub fn with_rate_limit_headers(mut self, headers: RateLimitHeaders) -> Self {
        if let Some(info) = &mut self.0.rate_limit {
            info.headers = headers;
        }
        self
    }

    /// 500 without any detail: the server cannot enforce the policy (for example no
    /// `SecurityLayer` is installed). Log the reason before returning it.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::misconfigured().into_response().status(), 500);
    /// ```
    pub fn misconfigured() -> Self {
        Self::new(
            ErrorKind::Misconfigured,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server cannot process this request.",
        )
    }

    /// 503: a store the policy needs is unavailable and the policy fails closed.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::unavailable().into_response().status(), 503);
    /// ```
    pub fn unavailable() -> Self {
        Self::new(
            ErrorKind::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unable to check this request; retry later.",
        )
    }

    /// 400: HTTPS is required; a plain-HTTP request (with credentials, or not a plain
    /// GET/HEAD) is not processed.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::https_required().into_response().status(), 400);
    /// ```
    pub fn https_required() -> Self {
        Self::new(
            ErrorKind::HttpsRequired,
            StatusCode::BAD_REQUEST,
            "This API is only served over HTTPS; credentials sent over plain HTTP must be considered exposed.",
        )
    }

    /// 410: the route passed its sunset date.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::gone().into_response().status(), 410);
    /// ```
    pub fn gone() -> Self {
        Self::new(
            ErrorKind::Gone,
            StatusCode::GONE,
            "This endpoint has been retired; see the Link header for its replacement.",
        )
    }

    /// 400: an idempotent route needs an `Idempotency-Key` header of 1 to 255 visible
    /// ASCII characters.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::idempotency_key_missing().into_response().status(), 400);
    /// ```
    pub fn idempotency_key_missing() -> Self {
        Self::new(
            ErrorKind::IdempotencyKeyMissing,
            StatusCode::BAD_REQUEST,
            "This endpoint requires an Idempotency-Key header (1 to 255 visible ASCII characters).",
        )
    }

    /// 409: the first request with this `Idempotency-Key` is still being processed.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::idempotency_conflict().into_response().status(), 409);
    /// ```
    pub fn idempotency_conflict() -> Self {
        Self::new(
            ErrorKind::IdempotencyConflict,
            StatusCode::CONFLICT,
            "A request with this Idempotency-Key is still being processed; retry later.",
        )
    }

    /// 422: the `Idempotency-Key` was already used with a different request.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// assert_eq!(secure_api_runtime::SecurityError::idempotency_mismatch().into_response().status(), 422);
    /// ```
    pub fn idempotency_mismatch() -> Self {
        Self::new(
            ErrorKind::IdempotencyMismatch,
            StatusCode::UNPROCESSABLE_ENTITY,
            "This Idempotency-Key was already used with a different request.",
        )
    }

    /// The recorded response of an earlier request with the same `Idempotency-Key`; the
    /// guard "refuses" to run the handler again by answering with it.
    pub(crate) fn replayed(stored: std::sync::Arc<crate::replay::StoredResponse>) -> Self {
        let mut e = Self::new(ErrorKind::IdempotentReplay, stored.status(), "");
        e.0.stored = Some(stored);
        e
    }

    /// 404: the principal may not learn whether the object exists (a failed ownership
    /// check that hides the object).
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// let r = secure_api_runtime::SecurityError::not_found().into_response();
    /// assert_eq!(r.status(), 404);
    /// assert!(r.headers().get("www-authenticate").is_none());
    /// ```
    pub fn not_found() -> Self {
        Self::new(
            ErrorKind::NotFound,
            StatusCode::NOT_FOUND,
            "No such resource.",
        )
    }

    /// Replaces the human-readable sentence (the problem's `detail`). It is sent to the
    /// client as written, so it must be a fixed text, never built from the request.
    ///
    /// ```
    /// let e = secure_api_runtime::SecurityError::forbidden().with_detail("Only available during office hours.");
    /// assert!(e.to_string().starts_with("Only available during office hours."));
    /// ```
    pub fn with_detail(mut self, detail: &'static str) -> Self {
        self.0.detail = Cow::Borrowed(detail);
        self
    }

    /// Drops the `WWW-Authenticate` challenge, for refusals that no other credential would
    /// change (an address outside an allow-list, a closed time window).
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// let r = secure_api_runtime::SecurityError::forbidden().without_challenge().into_response();
    /// assert!(r.headers().get("www-authenticate").is_none());
    /// ```
    pub fn without_challenge(mut self) -> Self {
        self.0.challenge = false;
        self
    }

    /// Names these schemes in `WWW-Authenticate` instead of `Bearer` alone: one challenge
    /// per scheme, `Bearer` for JWTs and `ApiKey` (with the `header` parameter) for API keys.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// use secure_api_runtime::{AuthSchemes, SecurityError};
    /// let r = SecurityError::unauthorized()
    ///     .with_challenge_schemes(AuthSchemes::API_KEY, "x-api-key")
    ///     .into_response();
    /// assert_eq!(r.headers()["www-authenticate"], "ApiKey realm=\"api\", header=\"x-api-key\"");
    /// ```
    pub fn with_challenge_schemes(
        mut self,
        schemes: crate::authn::AuthSchemes,
        api_key_header: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.0.schemes = Some((schemes, api_key_header.into()));
        self
    }

    /// Sets the realm named in `WWW-Authenticate`.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// let r = secure_api_runtime::SecurityError::unauthorized().with_realm("shop").into_response();
    /// assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"shop\"");
    /// ```
    pub fn with_realm(mut self, realm: impl Into<Cow<'static, str>>) -> Self {
        self.0.realm = realm.into();
        self
    }

    /// Names the scope (or role) that would have been sufficient, in the 403 challenge.
    ///
    /// ```
    /// # use axum::response::IntoResponse;
    /// let r = secure_api_runtime::SecurityError::forbidden().with_required_scope("admin").into_response();
    /// assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("scope=\"admin\""));
    /// ```
    pub fn with_required_scope(mut self, scope: impl Into<Cow<'static, str>>) -> Self {
        self.0.required_scope = Some(scope.into());
        self
    }

    /// Names the request in the body (`request_id`). Refusals rendered while the
    /// [`SecurityLayer`](crate::SecurityLayer) serves a request carry its id without this.
    ///
    /// ```
    /// use secure_api_runtime::{RequestId, SecurityError};
    /// let e = SecurityError::forbidden().with_request_id(RequestId::parse("r-1").unwrap());
    /// assert_eq!(e.request_id().unwrap().as_str(), "r-1");
    /// ```
    pub fn with_request_id(mut self, id: RequestId) -> Self {
        self.0.request_id = Some(id);
        self
    }

    /// The request id given with [`with_request_id`](Self::with_request_id).
    ///
    /// ```
    /// assert!(secure_api_runtime::SecurityError::forbidden().request_id().is_none());
    /// ```
    pub fn request_id(&self) -> Option<&RequestId> {
        self.0.request_id.as_ref()
    }

    /// What kind of refusal this is.
    ///
    /// ```
    /// use secure_api_runtime::{ErrorKind, SecurityError};
    /// assert_eq!(SecurityError::forbidden().kind(), ErrorKind::Forbidden);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The HTTP status of the response.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::SecurityError::forbidden().status(), 403);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The invalid fields of a 422.
    ///
    /// ```
    /// assert!(secure_api_runtime::SecurityError::forbidden().field_errors().is_empty());
    /// ```
    pub fn field_errors(&self) -> &[FieldError] {
        &self.0.errors
    }

    fn challenge_header(&self) -> Option<HeaderValue> {
        if !self.0.challenge {
            return None;
        }
        let realm = sanitize_quoted(&self.0.realm);
        let params = match self.0.kind {
            ErrorKind::MissingCredentials => String::new(),
            ErrorKind::InvalidToken => format!(
                ", error=\"invalid_token\", error_description=\"{}\"",
                self.0.detail
            ),
            ErrorKind::InvalidRequest => format!(
                ", error=\"invalid_request\", error_description=\"{}\"",
                sanitize_quoted(&self.0.detail)
            ),
            ErrorKind::Forbidden => match &self.0.required_scope {
                Some(scope) => format!(
                    ", error=\"insufficient_scope\", scope=\"{}\"",
                    sanitize_quoted(scope)
                ),
                None => ", error=\"insufficient_scope\"".to_owned(),
            },
            _ => return None,
        };
        let value = match &self.0.schemes {
            None => format!("Bearer realm=\"{realm}\"{params}"),
            Some((schemes, header)) => schemes
                .iter()
                .map(|scheme| match scheme {
                    crate::authn::AuthScheme::ApiKey => format!(
                        "ApiKey realm=\"{realm}\", header=\"{}\"{params}",
                        sanitize_quoted(header)
                    ),
                    _ => format!("Bearer realm=\"{realm}\"{params}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        HeaderValue::from_str(&value).ok()
    }
}

/// Keeps a value inside a quoted-string: only visible ASCII, no quotes or backslashes.
fn sanitize_quoted(s: &str) -> String {
    s.chars()
        .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
        .collect()
}

impl fmt::Display for SecurityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0.detail, self.0.kind.code())
    }
}

impl std::error::Error for SecurityError {}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

static PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

impl IntoResponse for SecurityError {
    fn into_response(self) -> Response {
        let current = match &self.0.request_id {
            Some(_) => None,
            None => current_request_id(),
        };
        let request_id = self.0.request_id.as_ref().or(current.as_ref());
        if let Some(stored) = &self.0.stored {
            let mut response = (stored.status(), stored.body().clone()).into_response();
            *response.headers_mut() = stored.headers().clone();
            response.headers_mut().insert(
                IDEMPOTENT_REPLAYED.clone(),
                HeaderValue::from_static("true"),
            );
            return response;
        }
        let body = ProblemBody {
            type_: "about:blank",
            title: self.0.status.canonical_reason().unwrap_or("Error"),
            status: self.0.status.as_u16(),
            detail: &self.0.detail,
            code: self.0.kind.code(),
            errors: &self.0.errors,
            request_id: request_id.map(RequestId::as_str),
        };
        // Serializing plain strings cannot fail; fall back to an empty object regardless.
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.0.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, PROBLEM_JSON.clone());
        headers.insert(CACHE_CONTROL, NO_STORE.clone());
        if let Some(challenge) = self.challenge_header() {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if let Some(info) = &self.0.rate_limit {
            let secs = ceil_secs(info.retry_after).max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
            info.headers.apply(
                headers,
                &QuotaState {
                    policy: QuotaName::Named(policy_name(&info.policy)),
                    limit: info.limit,
                    window_secs: info.window_secs,
                    remaining: 0,
                    reset_secs: secs,
                },
            );
        }
        response
    }
}
