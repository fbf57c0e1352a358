//! The `#[secure]` attribute of secure-api.
//!
//! Use it through the `secure-api` crate (`secure_api::secure`): the code it generates names
//! the runtime by the path `::secure_api::__private`, so this crate is of no use on its own.

mod args;
mod error;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Declares the security policy of an axum handler.
///
/// ```ignore
/// use secure_api::prelude::*;
///
/// #[secure(role = "admin", rate = "100/15m", validate)]
/// async fn create(Json(body): Json<NewThing>) -> impl IntoResponse {
///     (StatusCode::CREATED, Json(body))
/// }
/// ```
///
/// The attribute adds a guard extractor as the handler's first argument, so the policy is
/// enforced before any other extractor runs and before any body is read: authentication,
/// then roles, then the rate limit. With `validate` it also wraps the body, query and path
/// extractors so that their value is validated after extraction. Everything else about the
/// function — visibility, attributes, docs, generics, where-clause, other arguments, return
/// type — is kept as written.
///
/// The handler must be an `async fn` without `self`. It also gets a hidden sibling type
/// named `__secure_api_policy_<handler>` holding its policy, so the attribute goes on free
/// functions in a module, not on associated functions.
///
/// # Keys
///
/// Keys are separated by commas, in any order, each at most once.
///
/// ## Who may call: `public`, `role`, `any_role` (or none of them)
///
/// Without any of these keys, any authenticated principal may call the handler:
///
/// ```ignore
/// #[secure]
/// async fn me(principal: Principal) -> Json<Me> { /* ... */ }
/// ```
///
/// `public` (a flag) states explicitly that no authentication is needed:
///
/// ```ignore
/// #[secure(public)]
/// async fn health() -> &'static str { "ok" }
/// ```
///
/// `role = "..."` requires one role; the role hierarchy of the app's configuration applies,
/// so a higher role also passes:
///
/// ```ignore
/// #[secure(role = "admin")]
/// async fn delete(Path(id): Path<u64>) -> StatusCode { /* ... */ }
/// ```
///
/// `any_role = [...]` accepts any of several roles (a non-empty array of string literals):
///
/// ```ignore
/// #[secure(any_role = ["editor", "auditor"])]
/// async fn report() -> String { /* ... */ }
/// ```
///
/// `public` cannot be combined with `role` or `any_role`, nor `role` with `any_role`. Role
/// names cannot be empty or contain whitespace.
///
/// ## `rate = "N/PERIOD"`
///
/// At most `N` requests, as a burst of `N` replenished evenly over `PERIOD`. `N` is a
/// positive integer (fitting in a `u32`); `PERIOD` is an optional positive multiplier and a
/// unit: `s`, `m`, `h` or `d`. No spaces. The string is checked and converted while
/// compiling:
///
/// ```ignore
/// #[secure(public, rate = "3/1m")]      // 3 a minute
/// async fn ping() -> Json<Pong> { /* ... */ }
///
/// #[secure(role = "editor", rate = "100/15m")] // 100 every 15 minutes
/// async fn update() { /* ... */ }
///
/// // Also valid: "10/1s", "5/m" (same as "5/1m"), "1000/1h", "2/1d".
/// ```
///
/// Several rates separated by `;` all apply (spaces around each are allowed); the first
/// exhausted one refuses. Each is checked on its own, and the same rate twice is an error:
///
/// ```ignore
/// #[secure(role = "viewer", rate = "10/1s; 1000/1h")] // bursts of 10, at most ~1000 an hour
/// async fn search() { /* ... */ }
/// ```
///
/// Rates are keyed by the principal on authenticated routes and by the client IP on public
/// ones. Global limits of the app's `Security` (keyed by IP, before authentication) apply
/// on top of these.
///
/// ## `rate_key = "..."` or `rate_key = path::to::function`
///
/// What `rate` is keyed by: `"principal"` (not on `public` routes, where there is none),
/// `"ip"`, `"api_key"` (the `X-API-Key` header's value, hashed by the stores),
/// `"header:NAME"` (that header's value), or a function
/// `fn(&http::request::Parts, Option<&Principal>) -> Option<String>`. When the source is
/// absent from a request (no such header, the function returns `None`), that request is
/// keyed by its client IP. Header and API-key values are chosen by the client: key by them
/// where the header is verified, or accept that each value is its own bucket.
///
/// ```ignore
/// fn tenant(parts: &Parts, principal: Option<&Principal>) -> Option<String> {
///     Some(parts.headers.get("x-tenant")?.to_str().ok()?.to_owned())
/// }
///
/// #[secure(public, rate = "60/1m", rate_key = "ip")]
/// async fn lookup() { /* ... */ }
///
/// #[secure(role = "viewer", rate = "100/1m", rate_key = tenant)]
/// async fn tenant_report() { /* ... */ }
/// ```
///
/// `rate_key` without `rate` is an error.
///
/// ## `on_store_error = "closed" | "open"`
///
/// What the route's `rate` does when the rate-limit store (Redis) does not answer in time:
/// `"closed"` (the default) refuses with 503 problem+json, `"open"` lets the request
/// through unthrottled. Either way the event is logged and counted. Without `rate` it is an
/// error.
///
/// ```ignore
/// #[secure(public, rate = "30/1m", on_store_error = "open")]
/// async fn catalogue() { /* ... */ }
/// ```
///
/// ## `validate`
///
/// A flag: every argument whose type is `Json<T>`, `Query<T>`, `Form<T>` or `Path<T>`
/// (recognised by the last segment of its path, so `axum::Json<T>` counts too) is validated
/// after extraction, and the request is refused with 422 naming each invalid field. `T`
/// must implement `validator::Validate`; the compiler says so at `T` otherwise. Scalars and
/// tuples of scalars (`Path<u64>`, `Path<(u64, String)>`) carry no rules and are only
/// decoded. `validate` on a handler with nothing to validate is an error.
///
/// With or without `validate`, a rejection of these four extractors (malformed JSON, a path
/// segment that is not a number, a body over the limit...) is rendered as problem+json with
/// the extractor's status and a fixed sentence: the decoder's own message, which can quote
/// the input, is not passed on.
///
/// ```ignore
/// #[derive(Deserialize, Validate)]
/// struct NewCustomer {
///     #[validate(length(min = 1, max = 100))]
///     name: String,
///     #[validate(email)]
///     email: String,
/// }
///
/// #[secure(role = "editor", validate)]
/// async fn create(Json(new): Json<NewCustomer>) -> StatusCode { /* ... */ }
/// ```
///
/// ## `crate = "path"`
///
/// The path of the `secure_api` crate, for when it is renamed or re-exported; the generated
/// code then names the runtime through `path::__private` instead of `::secure_api::__private`:
///
/// ```ignore
/// use secure_api as sa;
///
/// #[sa::secure(crate = "sa", role = "viewer")]
/// async fn list() -> Json<Vec<Customer>> { /* ... */ }
/// ```
///
/// # Errors
///
/// Every mistake is reported in the same build, at the token that is wrong: unknown keys
/// (with the closest key suggested), repeated keys, flags given a value, keys missing their
/// value or given a value of the wrong kind, malformed or zero rates, contradictory keys,
/// `validate` with nothing to validate, a type that cannot be validated, a handler that is
/// not `async` or that takes `self`, a `rate_key` that is unknown, names an invalid header,
/// or says `"principal"` on a `public` route, `rate_key`/`on_store_error` without `rate`. The function is then emitted unchanged next to the
/// errors, so editors keep working.
#[proc_macro_attribute]
pub fn secure(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let mut errors = error::Errors::default();
    let args = args::parse_args(attr.into(), &mut errors);
    let handler = match args::parse_handler(item.clone()) {
        Ok(handler) => Some(handler),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    let model = validate::build(args, handler.as_ref(), &mut errors);
    let output = match (errors.finish(), handler) {
        (Ok(()), Some(handler)) => expand::handler(&model, handler),
        (Err(error), _) => expand::unchanged(item, &error),
        // `parse_handler` failing always records an error, so this arm is never taken.
        (Ok(()), None) => item,
    };
    output.into()
}
