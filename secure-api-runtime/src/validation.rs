//! Validation of extracted input, for `#[secure(validate)]`.
//!
//! `validate` wraps each `Json`, `Query`, `Form` and `Path` argument in [`Valid`], which
//! extracts the value, then runs its `validator::Validate` implementation. A failure is a
//! 422 listing each invalid field (path, code and message) without the rejected value;
//! a body or query that cannot be decoded is a 400/413/415/422 with a fixed sentence (the
//! decoder's message can quote the input, so it is not passed on).
//!
//! ```
//! use axum::Json;
//! use secure_api_runtime::Valid;
//! use serde::Deserialize;
//! use validator::Validate;
//!
//! #[derive(Deserialize, Validate)]
//! struct NewCustomer {
//!     #[validate(length(min = 1, max = 100))]
//!     name: String,
//!     #[validate(email)]
//!     email: String,
//! }
//!
//! // What #[secure(validate)] generates for `Json(c): Json<NewCustomer>`:
//! async fn create(Valid(Json(c)): Valid<Json<NewCustomer>>) -> String { c.name }
//! ```

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::response::IntoResponse;
use axum::{Form, Json};
use http::request::Parts;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::audit::{self, AuditSource, Outcome};
use crate::error::{FieldError, SecurityError};

/// An extractor whose value has been validated: `E` is extracted, then its value checked
/// with `validator::Validate`; a failure is a 422 naming each invalid field.
///
/// ```
/// use axum::extract::Query;
/// use secure_api_runtime::Valid;
/// # #[derive(serde::Deserialize, validator::Validate)] struct Page { #[validate(range(min = 1))] n: u32 }
/// async fn list(Valid(Query(page)): Valid<Query<Page>>) -> String { page.n.to_string() }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Valid<E>(pub E);

/// An extractor whose rejection is rendered like every other refusal (problem+json, no
/// echo of the input). `#[secure]` wraps `Json`, `Query`, `Form` and `Path` arguments in
/// it when `validate` is not given, so that, for example, a path segment that is not a
/// number gets the same kind of 400 as any other malformed request.
///
/// ```
/// use axum::extract::Path;
/// use secure_api_runtime::Decoded;
/// async fn get(Decoded(Path(id)): Decoded<Path<u64>>) -> String { id.to_string() }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoded<E>(pub E);

impl<S, E> FromRequestParts<S> for Decoded<E>
where
    S: Send + Sync,
    E: FromRequestParts<S>,
{
    type Rejection = SecurityError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match E::from_request_parts(parts, state).await {
            Ok(value) => Ok(Decoded(value)),
            // The audit context is looked up for a refusal only: the extractor has the
            // same extensions before and after.
            Err(rejection) => Err(audited(
                &AuditSource::of(&parts.extensions),
                refuse_rejection(rejection),
            )),
        }
    }
}

impl<S, E> FromRequest<S> for Decoded<E>
where
    S: Send + Sync,
    E: FromRequest<S>,
{
    type Rejection = SecurityError;

    fn from_request(
        req: Request,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let ctx = AuditSource::of(req.extensions());
        // Boxed, see `Valid`.
        let extracting = Box::pin(E::from_request(req, state));
        async move {
            extracting
                .await
                .map(Decoded)
                .map_err(|r| audited(&ctx, refuse_rejection(r)))
        }
    }
}

/// A type `#[secure(validate)]` can check: anything implementing `validator::Validate`.
///
/// ```
/// use secure_api_runtime::Validatable;
/// #[derive(validator::Validate)]
/// struct Name { #[validate(length(min = 1))] name: String }
/// fn check<T: Validatable>(_: &T) {}
/// check(&Name { name: "x".into() });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be validated by `#[secure(validate)]`",
    label = "this type does not implement `validator::Validate`",
    note = "derive it: `#[derive(Deserialize, Validate)]` with `#[validate(...)]` rules on its fields, or remove `validate` from the attribute"
)]
pub trait Validatable {
    /// Runs the validation rules.
    ///
    /// ```
    /// use secure_api_runtime::Validatable;
    /// #[derive(validator::Validate)]
    /// struct N { #[validate(range(min = 1))] n: u32 }
    /// assert!(Validatable::check(&N { n: 0 }).is_err());
    /// ```
    fn check(&self) -> Result<(), ValidationErrors>;
}

impl<T: Validate + ?Sized> Validatable for T {
    fn check(&self) -> Result<(), ValidationErrors> {
        self.validate()
    }
}

/// Compile-time check emitted by `#[secure(validate)]` at each validated argument.
///
/// ```
/// #[derive(validator::Validate)]
/// struct N { #[validate(range(min = 1))] n: u32 }
/// secure_api_runtime::assert_validatable::<N>();
/// ```
pub fn assert_validatable<T: ?Sized + Validatable>() {}

/// An extractor whose extracted value can be validated.
///
/// ```
/// use axum::Json;
/// use secure_api_runtime::ValidatedExtractor;
/// #[derive(validator::Validate)]
/// struct N { #[validate(range(min = 1))] n: u32 }
/// assert!(Json(N { n: 1 }).validate_extracted().is_ok());
/// ```
pub trait ValidatedExtractor {
    /// Validates the extracted value.
    ///
    /// ```
    /// use axum::extract::Path;
    /// use secure_api_runtime::ValidatedExtractor;
    /// #[derive(validator::Validate)]
    /// struct Id { #[validate(range(min = 1))] id: u64 }
    /// assert!(Path(Id { id: 0 }).validate_extracted().is_err());
    /// ```
    fn validate_extracted(&self) -> Result<(), ValidationErrors>;
}

macro_rules! validated_extractor {
    ($($ty:ident),*) => {$(
        impl<T: Validatable> ValidatedExtractor for $ty<T> {
            fn validate_extracted(&self) -> Result<(), ValidationErrors> {
                self.0.check()
            }
        }
    )*};
}
validated_extractor!(Json, Query, Form, Path);

/// An extracted value once its rules pass; an extractor's rejection or failed rules as
/// the refusal, audited with the context `ctx` gives (looked up for refusals only).
fn validated<E: ValidatedExtractor>(
    ctx: impl FnOnce() -> AuditSource,
    extracted: Result<E, impl IntoResponse>,
) -> Result<Valid<E>, SecurityError> {
    let value = match extracted {
        Ok(value) => value,
        Err(rejection) => return Err(audited(&ctx(), refuse_rejection(rejection))),
    };
    match value.validate_extracted() {
        Ok(()) => Ok(Valid(value)),
        Err(errors) => Err(audited(&ctx(), refuse_invalid(&errors))),
    }
}

/// Emits the audit event of an input refusal behind a guard (the guard left its context).
fn audited(source: &AuditSource, refusal: SecurityError) -> SecurityError {
    if let Some(ctx) = source.context() {
        audit::record(
            &ctx,
            source.slot(),
            "input",
            Outcome::Refused(&refusal),
            None,
        );
    }
    refusal
}

fn refuse_rejection(rejection: impl IntoResponse) -> SecurityError {
    let status = rejection.into_response().status();
    if status.is_server_error() {
        tracing::error!(
            target: "secure_api",
            %status,
            "an extractor failed with a server error (for example a Path type that does not \
             match the route); refusing the request"
        );
        return SecurityError::misconfigured();
    }
    SecurityError::bad_request(status)
}

fn refuse_invalid(errors: &ValidationErrors) -> SecurityError {
    let mut fields = Vec::new();
    flatten(errors, "", &mut fields);
    fields.sort_by(|a: &FieldError, b| a.field().cmp(b.field()));
    SecurityError::invalid_input(fields)
}

fn flatten(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (name, kind) in errors.errors() {
        let path = if name == "__all__" {
            if prefix.is_empty() {
                "(body)".to_owned()
            } else {
                prefix.to_owned()
            }
        } else if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = match &e.message {
                        Some(m) => m.clone(),
                        None => default_message(e).into(),
                    };
                    out.push(FieldError::new(path.clone(), e.code.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

/// A message from the rule's code and its bounds; never from the rejected value.
fn default_message(e: &validator::ValidationError) -> String {
    let param = |name: &str| e.params.get(name).map(|v| v.to_string());
    match &*e.code {
        "email" => "must be a valid email address".to_owned(),
        "url" => "must be a valid URL".to_owned(),
        "required" => "is required".to_owned(),
        "length" => match (param("equal"), param("min"), param("max")) {
            (Some(eq), _, _) => format!("length must be exactly {eq}"),
            (None, Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (None, Some(min), None) => format!("length must be at least {min}"),
            (None, None, Some(max)) => format!("length must be at most {max}"),
            _ => "has an invalid length".to_owned(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".to_owned(),
        },
        "must_match" => "does not match".to_owned(),
        _ => "is invalid".to_owned(),
    }
}

impl<S, E> FromRequestParts<S> for Valid<E>
where
    S: Send + Sync,
    E: FromRequestParts<S> + ValidatedExtractor,
{
    type Rejection = SecurityError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let extracted = E::from_request_parts(parts, state).await;
        validated(|| AuditSource::of(&parts.extensions), extracted)
    }
}

impl<S, E> FromRequest<S> for Valid<E>
where
    S: Send + Sync,
    E: FromRequest<S> + ValidatedExtractor,
{
    type Rejection = SecurityError;

    fn from_request(
        req: Request,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let ctx = AuditSource::of(req.extensions());
        // Boxed: a body extractor's future is large (axum's `Json` is about 900 bytes, the
        // request included), and held inline it would take the handler's future, which
        // the router allocates for every request, past the allocator's per-thread cache
        // of small blocks. A block of its own is cheaper than one that large. Made before
        // the async block, so that the request is not kept twice.
        let extracting = Box::pin(E::from_request(req, state));
        async move { validated(|| ctx, extracting.await) }
    }
}
