//! The `#[secure]` attribute of secure-api.
//!
//! Use it through the `secure-api` crate (`secure_api::secure`): the code it generates names
//! the runtime by the path `::secure_api::__private`, so this crate is of no use on its own.

mod args;
mod auth;
mod declared;
mod error;
mod expand;
mod named;
mod output;
mod transport;
mod validate;
mod versions;

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
/// ## `scope = "..."` or `scope = [...]`, `any_scope = [...]`
///
/// OAuth2 scopes the token must carry (its `scope` claim, space-separated, or `scp`, an
/// array or a string): `scope` requires every one listed, `any_scope` one of them; the two
/// cannot be combined, nor given with `public`. They are checked after the roles, and both
/// must hold. A shortfall is 403 with
/// `WWW-Authenticate: Bearer error="insufficient_scope", scope="<the scopes>"`. Each scope
/// must be an RFC 6749 scope token (visible ASCII without `"`, `\` or spaces), listed once;
/// when `secure-api.roles` declares scopes, each must be declared.
///
/// ```ignore
/// #[secure(role = "editor", scope = "customers:write")]
/// async fn create(Json(new): Json<NewCustomer>) -> StatusCode { /* ... */ }
///
/// #[secure(any_scope = ["customers:read", "customers:admin"])]
/// async fn list() -> Json<Vec<Customer>> { /* ... */ }
/// ```
///
/// ## `auth = "..."` or `auth = [...]`
///
/// The credentials an authenticated handler accepts: `"jwt"` (a bearer token), `"api_key"`
/// (a key in the API-key header, `X-API-Key` by default), or both. Without `auth` the
/// handler accepts the configured default (`SecurityBuilder::default_auth`, bearer JWTs
/// unless changed). An unknown scheme (with the close one suggested), a scheme given twice,
/// an empty list, `auth` with `public`, and `replay` with `auth = "api_key"` (an API key has
/// no `jti` to spend) do not compile.
///
/// ```ignore
/// #[secure(auth = "api_key", role = "viewer")]
/// async fn export() -> String { /* ... */ }
///
/// #[secure(auth = ["jwt", "api_key"])]
/// async fn me(principal: Principal) -> String { /* ... */ }
/// ```
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
/// ## `signed`
///
/// A flag: requests need an HTTP Message Signature (RFC 9421) on top of the bearer token,
/// made with a signing key owned by the authenticated principal (`Signature-Input` and
/// `Signature` covering `@method`, `@path`, `@query` and, with a body, `content-digest`;
/// parameters `created`, `keyid`, `nonce`, `alg="hmac-sha256"`). Each nonce is single-use
/// and `created` must be recent. The keys come from `SecurityBuilder::http_signatures`;
/// clients sign with `secure_api::signature::RequestSigner`. It needs a principal, so it
/// cannot be combined with `public`:
///
/// ```ignore
/// #[secure(role = "editor", signed, validate)]
/// async fn transfer(Json(t): Json<Transfer>) -> StatusCode { /* ... */ }
/// ```
///
/// ## `policy = NAME`
///
/// Applies a named policy defined with [`policy!`]: its keys, plus those of the attribute.
/// A key given in both replaces the policy's value (`role = "editor"` replaces the policy's
/// role, the policy's rate still applies); keys that exclude each other across the two
/// (`public` here, `role` in the policy; `any_role` here, `role` there) are an error at this
/// attribute's key:
///
/// ```ignore
/// policy!(ADMIN_WRITE: role = "admin", rate = "10/1m");
///
/// #[secure(policy = ADMIN_WRITE, validate)]
/// async fn create(Json(body): Json<NewThing>) -> StatusCode { /* ... */ }
/// ```
///
/// ## Guards: `name(arg = value, ...)`
///
/// A key followed by parentheses is a guard, run after authentication, the roles and the
/// rate limits, in the order written. Three are built in, and their literals are checked
/// while compiling:
///
/// - `ip_allow(from = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])`: 403 unless the
///   client address is in one of the networks (500 when the address is unknown).
/// - `time_window(from = "08:00", to = "18:00")`: 403 outside the daily window, UTC
///   (`from` later than `to` wraps past midnight).
/// - `maintenance(from = "02:00", to = "03:00")`: 503 inside the daily window, UTC.
///
/// Any other name is a custom guard: the type of that name in scope, implementing
/// `secure_api::RequestGuard`, built from the arguments as a struct literal. An unknown
/// name is "cannot find type `name`" at the key; an argument of the wrong type is a type
/// error at the argument; an array argument is passed as `&'static [T]`:
///
/// ```ignore
/// #[allow(non_camel_case_types)]
/// struct tenant { header: &'static str }
/// impl RequestGuard for tenant {
///     async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> { /* ... */ }
/// }
///
/// #[secure(role = "viewer", tenant(header = "X-Tenant"))]
/// async fn report() -> String { /* ... */ }
/// ```
///
/// ## `owner = check`, `owner_refusal = 404 | 403`
///
/// An ownership check (object-level authorization), run last: an async function taking the
/// `Principal` and then extractors that need no state (`Path<u64>`, `Extension<Db>`...),
/// answering `bool` or `Result<bool, SecurityError>`. When it answers `false` the request
/// is refused with 404 (as if the object did not exist, the default) or 403 with
/// `owner_refusal = 403`. It needs a principal, so it cannot be combined with `public`:
///
/// ```ignore
/// async fn owns(principal: Principal, Path(id): Path<u64>) -> bool { /* ... */ }
///
/// #[secure(role = "viewer", owner = owns)]
/// async fn show(Path(id): Path<u64>) -> Json<Account> { /* ... */ }
/// ```
///
/// ## Declared roles
///
/// When a `secure-api.roles` file sits next to `Cargo.toml` (lines such as
/// `roles admin > editor > viewer` and `scopes customers:read`), every role named here must
/// be declared in it (an undeclared one is an error at the literal, naming the closest
/// declared role and listing them all), and a cycle in it is an error. `declared_roles!()`
/// gives the runtime the same hierarchy. Without the file, roles are taken as written.
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
/// value or given a value of the wrong kind, malformed or zero rates, contradictory keys
/// (within the attribute or against its policy), `validate` with nothing to validate, a
/// type that cannot be validated, a handler that is not `async` or that takes `self`,
/// malformed networks or times of the built-in guards, an unknown guard or a guard
/// argument of the wrong type, an ownership check with the wrong signature or on a public
/// handler, a role that is not declared, a `rate_key` that is unknown, names an invalid
/// header, or says `"principal"` on a `public` route, `rate_key`/`on_store_error` without
/// `rate`, `signed` on a `public` route. The function is then emitted unchanged next to
/// the errors, so editors keep working.
#[proc_macro_attribute]
pub fn secure(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let attr = proc_macro2::TokenStream::from(attr);
    let mut errors = error::Errors::default();
    let mut args = args::parse_args(attr.clone(), &mut errors);
    let handler = match args::parse_handler(item.clone()) {
        Ok(handler) => Some(handler),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    if let Some(policy) = &args.policy
        && args.resolved_policy.is_none()
    {
        // First pass: the policy's `macro_rules!` adds its keys and applies `#[secure]` again.
        return match errors.finish() {
            Ok(()) => expand::delegate(&policy.value, attr, item),
            Err(error) => expand::unchanged(item, &error),
        }
        .into();
    }
    if let Some(resolved) = args.resolved_policy.take() {
        args = named::merge(args, *resolved, &mut errors);
    }
    args.declared = declared_or_error(&mut errors);
    let model = validate::build(args, handler.as_ref(), &mut errors);
    let output = match (errors.finish(), handler) {
        (Ok(()), Some(handler)) => expand::handler(&model, handler),
        (Err(error), _) => expand::unchanged(item, &error),
        // `parse_handler` failing always records an error, so this arm is never taken.
        (Ok(()), None) => item,
    };
    output.into()
}

/// One handler body, several API versions, each with its own policy.
///
/// ```ignore
/// #[secure_versions(
///     v1(role = "viewer", deprecated = "2026-01-01", link = "/v2/customers"),
///     v2(role = "viewer", rate = "100/1m"),
/// )]
/// async fn list_customers(State(db): State<Db>) -> Json<Vec<Customer>> { /* ... */ }
///
/// let app = SecureRouter::new()
///     .version(ApiVersion::new("v1"), SecureRouter::new().route("/customers", get(list_customers_v1)))
///     .version(ApiVersion::new("v2"), SecureRouter::new().route("/customers", get(list_customers_v2)));
/// ```
///
/// Each `vN(keys)` becomes a handler `<name>_vN` with the same attributes, signature and
/// body, carrying `#[secure(keys)]`: the keys are those of `#[secure]` (a named `policy`
/// included) and are checked as such. Each variant's policy records its version, so the
/// policy inventory lists every variant with its version, and a variant mounted under
/// another version by `SecureRouter::version` refuses with 500. Version names are `v` and a
/// number, optionally followed by lower-case letters, digits or `_` (`v1`, `v2beta`);
/// `crate = "..."` applies to every version.
///
/// Errors: no version, a repeated version, a name that is not a version name, a version
/// without its parentheses, `#[secure]` on the same handler, a handler that is not `async`,
/// and every error of a version's keys.
#[proc_macro_attribute]
pub fn secure_versions(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let mut errors = error::Errors::default();
    let versions = versions::parse(attr.into(), &mut errors);
    let handler = match args::parse_handler(item.clone()) {
        Ok(handler) => {
            versions::check_handler(&handler, &mut errors);
            Some(handler)
        }
        Err(_) => {
            errors.at(
                proc_macro2::Span::call_site(),
                "`#[secure_versions]` applies to an `async fn` handler only",
            );
            None
        }
    };
    match (errors.finish(), handler) {
        (Ok(()), Some(handler)) => expand::versions(&versions, &handler).into(),
        (Err(error), _) => expand::unchanged(item, &error).into(),
        (Ok(()), None) => item.into(),
    }
}

/// Defines a named policy: keys of `#[secure]` shared by several handlers.
///
/// ```ignore
/// policy!(ADMIN_WRITE: role = "admin", rate = "10/1m");
///
/// #[secure(policy = ADMIN_WRITE, validate)]
/// async fn create(Json(body): Json<NewThing>) -> StatusCode { /* ... */ }
/// ```
///
/// The keys are those of `#[secure]` and are checked where the policy is defined. A
/// handler using it can add keys, and replace a key the policy gives by giving it again;
/// keys that exclude each other (`public` with the policy's `role`) are an error at the
/// handler. The policy is an item of the module that defines it: import it with `use` like
/// any other (`pub(crate)` makes it visible to the whole crate).
#[proc_macro]
pub fn policy(input: TokenStream) -> TokenStream {
    let def = match named::parse_def(input.into()) {
        Ok(def) => def,
        Err(error) => return error.to_compile_error().into(),
    };
    let mut errors = error::Errors::default();
    let mut args = args::parse_args(def.keys.clone(), &mut errors);
    args.declared = declared_or_error(&mut errors);
    if let Some(policy) = &args.policy {
        errors.at(
            policy.key.span(),
            "a policy cannot name another policy: list the keys they share in this `policy!` instead",
        );
    }
    let model = validate::build(args, None, &mut errors);
    let doc = format!("\n\nPolicy `{}`: `{}`.", def.name, def.keys);
    match errors.finish() {
        Ok(()) => expand::policy(
            &model.krate,
            &def.attrs,
            &def.vis,
            &def.name,
            def.keys,
            &doc,
        )
        .into(),
        Err(error) => {
            // Handlers using the policy still expand (to their unchanged function) so the
            // errors are reported once, here.
            let passthrough = expand::policy_passthrough(&def.vis, &def.name);
            let errors = error.to_compile_error();
            quote::quote!(#passthrough #errors).into()
        }
    }
}

/// The application's declared roles, or an error at the macro's call site saying what is
/// wrong with the file.
fn declared_or_error(errors: &mut error::Errors) -> Option<declared::Declared> {
    match declared::find() {
        Ok(declared) => declared,
        Err(message) => {
            errors.at(proc_macro2::Span::call_site(), message);
            None
        }
    }
}

/// The role hierarchy declared in `secure-api.roles`, as the chains that
/// `SecurityBuilder::role_hierarchy` takes, so that the runtime and the compile-time checks
/// read the same declaration.
///
/// ```ignore
/// let security = Security::builder()
///     .hmac_secret(secret)
///     .issuer("customer-api")
///     .audience("customer-api")
///     .role_hierarchy(secure_api::declared_roles!())
///     .build()?;
/// ```
///
/// Without the file, or with a mistake in it, this is a compile error.
#[proc_macro]
pub fn declared_roles(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        let input = proc_macro2::TokenStream::from(input);
        return syn::Error::new_spanned(input, "`declared_roles!()` takes no arguments")
            .to_compile_error()
            .into();
    }
    match declared::find() {
        Ok(Some(declared)) => {
            let track = expand::track(Some(&declared.path()));
            let chains = declared.chains();
            quote::quote!({ #track #chains }).into()
        }
        Ok(None) => syn::Error::new(
            proc_macro2::Span::call_site(),
            format_args!(
                "no {} file next to Cargo.toml (or in a directory between it and this file): declare the roles there, one chain a line, such as `roles admin > editor > viewer`",
                declared::FILE
            ),
        )
        .to_compile_error()
        .into(),
        Err(message) => syn::Error::new(proc_macro2::Span::call_site(), message)
            .to_compile_error()
            .into(),
    }
}

/// Field-level output authorization: which principal may see which field of a response.
///
/// ```ignore
/// #[derive(AuthorizedOutput)]
/// struct CustomerView {
///     id: u64,
///     name: String,
///     #[visible(role = "admin")]
///     email: String,
///     #[visible(any_role = ["admin", "support"], scope = "customers:pii")]
///     phone: String,
/// }
///
/// #[secure(role = "viewer")]
/// async fn show(principal: Principal) -> Filtered<CustomerView> {
///     Filtered::new(&principal, load())
/// }
/// ```
///
/// Unmarked fields are shown to everybody; a marked one only to a principal holding one of
/// its roles (through the hierarchy) and one of its scopes. `#[visible(nested)]` applies
/// the rules of a field whose type derives `AuthorizedOutput` too. The derive does not
/// implement `Serialize`, and deriving both is a compile error, so a value can only be sent
/// through `Filtered`. Role and scope names are checked like those of `#[secure]`.
#[proc_macro_derive(AuthorizedOutput, attributes(visible))]
pub fn derive_authorized_output(input: TokenStream) -> TokenStream {
    let input = match syn::parse::<syn::DeriveInput>(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error().into(),
    };
    let mut errors = error::Errors::default();
    let declared = declared_or_error(&mut errors);
    let output = output::derive(input, declared.as_ref(), &mut errors);
    match errors.finish() {
        Ok(()) => output.into(),
        Err(error) => error.to_compile_error().into(),
    }
}
