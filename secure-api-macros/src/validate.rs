//! Checks the parsed arguments against each other and against the handler's signature, and
//! builds the [`Model`] that `expand` turns into code.

use proc_macro2::Span;
use syn::{FnArg, GenericArgument, LitStr, PathArguments, Type};

use crate::args::{Args, GuardArgs, GuardField, Handler, Keyed, RateKeyArg};
use crate::error::Errors;

/// Who may call the handler.
#[derive(Debug)]
pub(crate) enum Access {
    /// `public`: no authentication.
    Public,
    /// No auth key: any authenticated principal.
    Authenticated,
    /// `role` or `any_role`: an authenticated principal holding one of these roles.
    AnyOf(Vec<LitStr>),
}

/// `scope` or `any_scope`, checked: the scopes, and whether one of them suffices.
#[derive(Debug)]
pub(crate) struct Scopes {
    pub(crate) any: bool,
    pub(crate) list: Vec<LitStr>,
}

/// `rate = "N/PERIOD"`, converted: `count` requests replenished over `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) count: u32,
    pub(crate) period_secs: u64,
}

/// `rate_key`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RateKey {
    Principal,
    Ip,
    ApiKey,
    /// The header's name, lower-cased.
    Header(String),
    Function(syn::Path),
}

/// The named kinds of `rate_key`, for suggestions.
const RATE_KEY_KINDS: &[&str] = &["principal", "ip", "api_key", "header:NAME"];

/// An argument that `validate` wraps, by its index among the handler's inputs, with the
/// type inside the extractor (whose span the "cannot be validated" error uses).
#[derive(Debug)]
pub(crate) struct ValidatedArg {
    pub(crate) index: usize,
    pub(crate) inner: Type,
}

/// Everything `expand` needs besides the handler itself.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) krate: syn::Path,
    pub(crate) access: Access,
    /// `scope` / `any_scope`, checked after the roles.
    pub(crate) scopes: Option<Scopes>,
    /// `auth`: the schemes accepted, when the attribute names them.
    pub(crate) auth: Option<Vec<crate::auth::Scheme>>,
    pub(crate) rates: Vec<Rate>,
    pub(crate) validate: bool,
    pub(crate) validated_args: Vec<ValidatedArg>,
    /// Indices of the other `Json`/`Query`/`Form`/`Path` arguments: their rejections are
    /// rendered as problem+json too, but there is nothing to validate.
    pub(crate) decoded_args: Vec<usize>,
    pub(crate) rate_key: Option<RateKey>,
    /// `on_store_error = "open"`.
    pub(crate) store_open: bool,
    /// `signed`: requests need an HTTP Message Signature.
    pub(crate) signed: bool,
    /// The version of a `#[secure_versions]` variant.
    pub(crate) version: Option<String>,
    /// Replay, idempotency, deprecation and header keys.
    pub(crate) transport: crate::transport::Transport,
    /// Built-in and custom guards, in source order.
    pub(crate) guards: Vec<GuardArgs>,
    /// The ownership check and whether its refusal is 403 (otherwise 404).
    pub(crate) owner: Option<(syn::Path, bool)>,
    /// The declaration file, whose bytes the expansion includes so that editing it rebuilds.
    pub(crate) declared_file: Option<String>,
}

/// Extractors whose value `validate` checks after extraction.
const VALIDATED_EXTRACTORS: &[&str] = &["Json", "Query", "Form", "Path"];

/// Builds the model, recording every problem in `errors`. The model is only meaningful when
/// no error was recorded, but it is always returned so that every check runs.
pub(crate) fn build(args: Args, handler: Option<&Handler>, errors: &mut Errors) -> Model {
    let access = access(&args, errors);
    let scopes = scopes(&args, errors);
    let auth = crate::auth::check(&args, errors);
    let transport = crate::transport::build(&args, matches!(access, Access::Public), errors);
    let signed = signed(&args, &access, errors);
    let rates = args
        .rate
        .as_ref()
        .map(|rate| rate_list(&rate.value, errors))
        .unwrap_or_default();
    let rate_key = args
        .rate_key
        .as_ref()
        .and_then(|key| rate_key(key, &args, errors));
    let store_open = args
        .on_store_error
        .as_ref()
        .is_some_and(|value| store_open(value, &args, errors));

    let mut validated_args = Vec::new();
    let mut decoded_args = Vec::new();
    let mut scalar_only = None;
    if let Some(handler) = handler {
        check_signature(handler, errors);
        for arg in extractor_arguments(handler) {
            if args.validate.is_some() && !is_scalar(&arg.inner) {
                validated_args.push(arg);
            } else {
                scalar_only.get_or_insert_with(|| arg.inner.clone());
                decoded_args.push(arg.index);
            }
        }
    }
    if let (Some(flag), Some(_), true) = (&args.validate, handler, validated_args.is_empty()) {
        let message = match scalar_only {
            Some(scalar) => format!(
                "`validate` has nothing to validate: `{}` carries no validation rules; \
                 extract a struct deriving `Validate` (e.g. `Path<CustomerId>`) or remove `validate`",
                quote::ToTokens::to_token_stream(&scalar)
                    .to_string()
                    .replace(' ', "")
            ),
            None => "`validate` has nothing to validate: no argument is a `Json<T>`, `Query<T>`, \
                     `Form<T>` or `Path<T>` extractor"
                .to_owned(),
        };
        errors.at(flag.key.span(), message);
    }

    for guard in &args.guards {
        check_builtin_guard(guard, errors);
    }
    let owner = owner(&args, &access, errors);
    let krate = args.krate.map_or_else(default_crate_path, |k| k.value);
    Model {
        krate,
        access,
        scopes,
        auth,
        rate_key,
        store_open,
        rates,
        validate: args.validate.is_some(),
        validated_args,
        decoded_args,
        signed,
        version: args.version.as_ref().map(|v| v.value.value()),
        transport,
        guards: args.guards,
        owner,
        declared_file: args.declared.as_ref().map(crate::declared::Declared::path),
    }
}

/// `signed` needs the authenticated principal, who must own the signing key.
fn signed(args: &Args, access: &Access, errors: &mut Errors) -> bool {
    let Some(signed) = &args.signed else {
        return false;
    };
    if let (Access::Public, Some(public)) = (access, &args.public) {
        errors.at(
            later(signed, public).span(),
            "`signed` cannot be combined with `public`: a request signature must be made with a key of the authenticated principal, and a public handler has none",
        );
    }
    true
}

/// `rate = "10/1s; 1000/1h"`: every rate, each error on its own.
fn rate_list(lit: &LitStr, errors: &mut Errors) -> Vec<Rate> {
    let text = lit.value();
    let mut rates: Vec<Rate> = Vec::new();
    for part in text.split(';') {
        let part = part.trim_matches(' ');
        match parse_rate(part) {
            Ok(rate) if rates.contains(&rate) => errors.at(
                lit.span(),
                format_args!("rate {part:?} is given twice in {text:?}"),
            ),
            Ok(rate) => rates.push(rate),
            Err(problem) => errors.at(lit.span(), rate_message(lit, part, problem)),
        }
    }
    rates
}

fn rate_key(key: &Keyed<RateKeyArg>, args: &Args, errors: &mut Errors) -> Option<RateKey> {
    if args.rate.is_none() {
        errors.at(
            key.key.span(),
            "`rate_key` says how the route's `rate` is keyed, and there is no `rate`: add one, such as `rate = \"100/1m\"`, or remove `rate_key`",
        );
    }
    let parsed = match &key.value {
        RateKeyArg::Function(path) => RateKey::Function(path.clone()),
        RateKeyArg::Named(lit) => {
            let text = lit.value();
            match text.as_str() {
                "principal" => RateKey::Principal,
                "ip" => RateKey::Ip,
                "api_key" => RateKey::ApiKey,
                _ => match text.strip_prefix("header:") {
                    Some(name) if is_header_name(name) => {
                        RateKey::Header(name.to_ascii_lowercase())
                    }
                    Some(name) => {
                        errors.at(
                            lit.span(),
                            format_args!(
                                "{name:?} is not a header name: use letters, digits and `-`, such as `rate_key = \"header:x-tenant\"`"
                            ),
                        );
                        return None;
                    }
                    None => {
                        let close = RATE_KEY_KINDS
                            .iter()
                            .map(|k| (crate::args::levenshtein(&text.to_ascii_lowercase(), k), *k))
                            .filter(|(d, k)| *d <= (k.len() / 3).max(1))
                            .min_by_key(|(d, _)| *d)
                            .map(|(_, k)| format!(" did you mean `{k}`?"))
                            .unwrap_or_default();
                        errors.at(
                            lit.span(),
                            format_args!(
                                "unknown `rate_key` {text:?}:{close} expected \"principal\", \"ip\", \"api_key\", \"header:NAME\" or the path of a function"
                            ),
                        );
                        return None;
                    }
                },
            }
        }
    };
    if parsed == RateKey::Principal && args.public.is_some() {
        errors.at(
            key.key.span(),
            "`rate_key = \"principal\"` on a `public` route: a public route does not authenticate, so there is no principal to key by; use `rate_key = \"ip\"` or remove `public`",
        );
        return None;
    }
    Some(parsed)
}

/// RFC 9110 token characters, which is what a header name may hold.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn store_open(value: &Keyed<LitStr>, args: &Args, errors: &mut Errors) -> bool {
    if args.rate.is_none() {
        errors.at(
            value.key.span(),
            "`on_store_error` says what the route's `rate` does when the rate-limit store is down, and there is no `rate`: add one or remove `on_store_error`",
        );
    }
    match value.value.value().as_str() {
        "closed" => false,
        "open" => true,
        other => {
            errors.at(
                value.value.span(),
                format_args!(
                    "`on_store_error` is \"closed\" (refuse with 503, the default) or \"open\" (let the request through unthrottled), not {other:?}"
                ),
            );
            false
        }
    }
}

fn owner(args: &Args, access: &Access, errors: &mut Errors) -> Option<(syn::Path, bool)> {
    let forbidden = match &args.owner_refusal {
        Some(refusal) => match refusal.value.base10_parse::<u16>() {
            Ok(404) => false,
            Ok(403) => true,
            _ => {
                errors.at(
                    refusal.value.span(),
                    "`owner_refusal` is `404` (hide the object, the default) or `403` (refuse it openly)",
                );
                false
            }
        },
        None => false,
    };
    match (&args.owner, &args.owner_refusal) {
        (None, Some(refusal)) => {
            errors.at(
                refusal.key.span(),
                "`owner_refusal` has no effect without an ownership check: add `owner = check_fn` or remove it",
            );
            None
        }
        (Some(owner), _) => {
            if let (Access::Public, Some(public)) = (access, &args.public) {
                errors.at(
                    later(owner, public).span(),
                    "`owner` cannot be combined with `public`: an ownership check needs the authenticated principal, and a public handler has none",
                );
            }
            Some((owner.value.clone(), forbidden))
        }
        (None, None) => None,
    }
}

/// Checks the arguments of the built-in guards; custom guards are checked by rustc, since
/// their arguments are the fields of the user's type.
fn check_builtin_guard(guard: &GuardArgs, errors: &mut Errors) {
    let name = guard.key.to_string();
    let (expected, example): (&[&str], &str) = match name.as_str() {
        "ip_allow" => (
            &["from"],
            "ip_allow(from = [\"10.0.0.0/8\", \"2001:db8::/32\"])",
        ),
        "time_window" => (
            &["from", "to"],
            "time_window(from = \"08:00\", to = \"18:00\")",
        ),
        "maintenance" => (
            &["from", "to"],
            "maintenance(from = \"02:00\", to = \"03:00\")",
        ),
        _ => return,
    };
    let field = |wanted: &str| guard.fields.iter().find(|f| f.name == wanted);
    for GuardField { name: arg, .. } in &guard.fields {
        if !expected.iter().any(|e| arg == e) {
            errors.at(
                arg.span(),
                format_args!("`{name}` has no argument `{arg}`: write `{example}`"),
            );
        }
    }
    for wanted in expected {
        if field(wanted).is_none() {
            errors.at(
                guard.key.span(),
                format_args!("`{name}` needs `{wanted} = ...`: write `{example}`"),
            );
        }
    }
    if name == "ip_allow" {
        if let Some(from) = field("from") {
            check_networks(&from.value, errors);
        }
        return;
    }
    let mut minutes = Vec::new();
    for wanted in ["from", "to"] {
        let Some(field) = field(wanted) else { continue };
        match string_literal(&field.value) {
            Some(lit) => match parse_minute(&lit.value()) {
                Some(minute) => minutes.push(minute),
                None => errors.at(
                    lit.span(),
                    format_args!(
                        "invalid time {:?}: expected \"HH:MM\" on a 24-hour clock, UTC, such as \"08:00\" or \"23:30\"",
                        lit.value()
                    ),
                ),
            },
            None => errors.spanned(
                &field.value,
                format_args!("`{wanted}` expects a string literal \"HH:MM\", such as `{wanted} = \"08:00\"`"),
            ),
        }
    }
    if let [from, to] = minutes[..]
        && from == to
        && let Some(to) = field("to")
    {
        errors.spanned(
            &to.value,
            "`from` and `to` are the same time, so the window is empty: give the end of the window",
        );
    }
}

fn check_networks(value: &syn::Expr, errors: &mut Errors) {
    let syn::Expr::Array(array) = value else {
        errors.spanned(
            value,
            "`from` expects an array of networks, such as `from = [\"10.0.0.0/8\", \"192.0.2.7\"]`",
        );
        return;
    };
    if array.elems.is_empty() {
        errors.spanned(
            value,
            "`ip_allow` with no network refuses every request: list at least one, such as `from = [\"10.0.0.0/8\"]`",
        );
    }
    for elem in &array.elems {
        match string_literal(elem) {
            Some(lit) if is_network(&lit.value()) => {}
            Some(lit) => errors.at(
                lit.span(),
                format_args!(
                    "{:?} is not a network: write an address with an optional prefix length, such as \"10.0.0.0/8\", \"2001:db8::/32\" or \"192.0.2.7\"",
                    lit.value()
                ),
            ),
            None => errors.spanned(elem, "a network must be a string literal, such as `\"10.0.0.0/8\"`"),
        }
    }
}

fn string_literal(expr: &syn::Expr) -> Option<LitStr> {
    match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Some(lit.clone()),
        syn::Expr::Group(group) => string_literal(&group.expr),
        _ => None,
    }
}

/// `addr` or `addr/prefix` with the prefix within the family's width (the runtime's
/// `guards::IpAllow` accepts exactly these).
pub(crate) fn is_network(text: &str) -> bool {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let Ok(addr) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let width = if addr.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => true,
        Some(p) => {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u8>().is_ok_and(|p| p <= width)
        }
    }
}

/// Minutes since midnight of `HH:MM`.
pub(crate) fn parse_minute(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn default_crate_path() -> syn::Path {
    let ident = syn::Ident::new("secure_api", Span::call_site());
    let mut path = syn::Path::from(ident);
    path.leading_colon = Some(Default::default());
    path
}

/// The later of two keys, where a conflict between them is reported.
fn later<'a, A, B>(a: &'a Keyed<A>, b: &'a Keyed<B>) -> &'a syn::Ident {
    if a.position > b.position {
        &a.key
    } else {
        &b.key
    }
}

fn access(args: &Args, errors: &mut Errors) -> Access {
    if let Some(public) = &args.public {
        if let Some(role) = &args.role {
            errors.at(
                later(public, role).span(),
                "`public` cannot be combined with `role`: a public handler does not authenticate, so there is no principal whose roles could be checked",
            );
        }
        if let Some(any_role) = &args.any_role {
            errors.at(
                later(public, any_role).span(),
                "`public` cannot be combined with `any_role`: a public handler does not authenticate, so there is no principal whose roles could be checked",
            );
        }
    }
    if let (Some(role), Some(any_role)) = (&args.role, &args.any_role) {
        errors.at(
            later(role, any_role).span(),
            "`role` and `any_role` cannot be combined: list every accepted role in `any_role = [...]`",
        );
    }

    let mut roles = Vec::new();
    if let Some(role) = &args.role
        && check_role_name(&role.value, errors)
    {
        roles.push(role.value.clone());
    }
    if let Some(any_role) = &args.any_role {
        if any_role.value.roles.is_empty() {
            errors.at(
                any_role.value.span,
                "`any_role` needs at least one role, such as `any_role = [\"editor\", \"auditor\"]`; for any authenticated principal leave out the role keys",
            );
        }
        let mut seen: Vec<String> = Vec::new();
        for role in &any_role.value.roles {
            if !check_role_name(role, errors) {
                continue;
            }
            let name = role.value();
            if seen.contains(&name) {
                errors.at(
                    role.span(),
                    format_args!("role `{name}` is listed twice in `any_role`"),
                );
            } else {
                seen.push(name);
                roles.push(role.clone());
            }
        }
    }

    if let Some(declared) = &args.declared {
        for role in &roles {
            check_declared_role(role, declared, errors);
        }
    }

    if args.public.is_some() {
        Access::Public
    } else if roles.is_empty() {
        Access::Authenticated
    } else {
        Access::AnyOf(roles)
    }
}

/// `scope` and `any_scope`: RFC 6749 scope tokens, not on a public route, not both, not
/// empty, no repeats and, when the application declares scopes, declared ones.
fn scopes(args: &Args, errors: &mut Errors) -> Option<Scopes> {
    let (list, any) = match (&args.scope, &args.any_scope) {
        (Some(scope), Some(any_scope)) => {
            errors.at(
                later(scope, any_scope).span(),
                "`scope` and `any_scope` cannot be combined: `scope` requires every scope it lists, `any_scope` one of those it lists; choose one",
            );
            return None;
        }
        (Some(scope), None) => (scope, false),
        (None, Some(any_scope)) => (any_scope, true),
        (None, None) => return None,
    };
    let name = if any { "any_scope" } else { "scope" };
    if let Some(public) = &args.public {
        errors.at(
            later(public, list).span(),
            format_args!(
                "`public` cannot be combined with `{name}`: a public handler does not authenticate, so there is no token whose scopes could be checked"
            ),
        );
    }
    if list.value.scopes.is_empty() {
        errors.at(
            list.value.span,
            format_args!(
                "`{name}` needs at least one scope, such as `{name} = [\"customers:read\"]`; for no scope condition leave out the key"
            ),
        );
    }
    let declared = args.declared.as_ref().filter(|d| !d.scopes.is_empty());
    let mut seen: Vec<String> = Vec::new();
    let mut scopes = Vec::new();
    for scope in &list.value.scopes {
        let value = scope.value();
        if !is_scope_token(&value) {
            errors.at(
                scope.span(),
                format_args!(
                    "{value:?} is not a scope: a scope is one or more visible ASCII characters other than `\"` and `\\` and no spaces (RFC 6749, section 3.3), such as \"customers:write\"; give several scopes as a list, `{name} = [\"a\", \"b\"]`"
                ),
            );
            continue;
        }
        if seen.contains(&value) {
            errors.at(
                scope.span(),
                format_args!("scope `{value}` is listed twice in `{name}`"),
            );
            continue;
        }
        if let Some(declared) = declared
            && !declared.scopes.contains(&value)
        {
            let all = crate::declared::list(&declared.scopes);
            let file = crate::declared::FILE;
            match crate::declared::closest(&value, &declared.scopes) {
                Some(close) => errors.at(
                    scope.span(),
                    format_args!("scope `{value}` is not declared in {file}: did you mean `{close}`? The declared scopes are {all}"),
                ),
                None => errors.at(
                    scope.span(),
                    format_args!("scope `{value}` is not declared in {file}: the declared scopes are {all}; declare it there (`scopes {value}`) if it is new"),
                ),
            }
        }
        seen.push(value);
        scopes.push(scope.clone());
    }
    Some(Scopes { any, list: scopes })
}

/// RFC 6749 3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// A role named in an attribute must be one the application declared.
pub(crate) fn check_declared_role(
    role: &LitStr,
    declared: &crate::declared::Declared,
    errors: &mut Errors,
) {
    let name = role.value();
    if declared.roles.contains(&name) {
        return;
    }
    let all = crate::declared::list(&declared.roles);
    let file = crate::declared::FILE;
    match crate::declared::closest(&name, &declared.roles) {
        Some(close) => errors.at(
            role.span(),
            format_args!(
                "role `{name}` is not declared in {file}: did you mean `{close}`? The declared roles are {all}"
            ),
        ),
        None => errors.at(
            role.span(),
            format_args!(
                "role `{name}` is not declared in {file}: the declared roles are {all}; declare it there (`roles {name}`) if it is new"
            ),
        ),
    }
}

/// `true` when the role name is usable; otherwise records why not.
fn check_role_name(role: &LitStr, errors: &mut Errors) -> bool {
    let name = role.value();
    if name.is_empty() {
        errors.at(
            role.span(),
            "a role name cannot be empty; for any authenticated principal leave out the role keys",
        );
        false
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.at(
            role.span(),
            format_args!(
                "role name {:?} contains whitespace; give each role separately, as `any_role = [\"a\", \"b\"]`",
                name
            ),
        );
        false
    } else {
        true
    }
}

fn check_signature(handler: &Handler, errors: &mut Errors) {
    let sig = &handler.sig;
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            "`#[secure]` handlers must be `async fn`: write `async fn`",
        );
    }
    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            errors.spanned(
                receiver,
                "`#[secure]` handlers cannot take `self`: axum handlers are free functions, so move it out of the `impl` block",
            );
        }
    }
}

/// Types that carry no validation rules: their type is their whole check.
const SCALARS: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "String",
];

/// A scalar, or a tuple of scalars (`Path<(u64, String)>`).
fn is_scalar(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => !tuple.elems.is_empty() && tuple.elems.iter().all(is_scalar),
        Type::Group(group) => is_scalar(&group.elem),
        Type::Paren(paren) => is_scalar(&paren.elem),
        Type::Path(path) if path.qself.is_none() => path
            .path
            .get_ident()
            .is_some_and(|ident| SCALARS.iter().any(|s| ident == s)),
        _ => false,
    }
}

fn extractor_arguments(handler: &Handler) -> Vec<ValidatedArg> {
    handler
        .sig
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(index, input)| match input {
            FnArg::Typed(pat_type) => validated_inner(&pat_type.ty).map(|inner| ValidatedArg {
                index,
                inner: inner.clone(),
            }),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// `T` when `ty` is `Json<T>`, `Query<T>`, `Form<T>` or `Path<T>` (by last path segment).
fn validated_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(type_path) = ty else {
        return match ty {
            Type::Group(group) => validated_inner(&group.elem),
            Type::Paren(paren) => validated_inner(&paren.elem),
            _ => None,
        };
    };
    if type_path.qself.is_some() {
        return None;
    }
    let last = type_path.path.segments.last()?;
    if !VALIDATED_EXTRACTORS.iter().any(|name| last.ident == name) {
        return None;
    }
    let PathArguments::AngleBracketed(generics) = &last.arguments else {
        return None;
    };
    let mut types = generics.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next(), generics.args.len()) {
        (Some(inner), None, 1) => Some(inner),
        _ => None,
    }
}

/// Why a rate string was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RateProblem {
    Malformed,
    ZeroCount,
    CountTooLarge,
    ZeroPeriod,
    PeriodTooLong,
}

const RATE_GRAMMAR: &str = "expected \"N/PERIOD\" such as \"100/15m\": N a positive integer, PERIOD an optional positive multiplier followed by a unit `s`, `m`, `h` or `d` (\"10/1s\", \"5/m\", \"1000/1h\", \"2/1d\")";

fn rate_message(lit: &LitStr, part: &str, problem: RateProblem) -> String {
    let what = match problem {
        RateProblem::Malformed => "",
        RateProblem::ZeroCount => "N must be at least 1; ",
        RateProblem::CountTooLarge => "N must fit in a u32; ",
        RateProblem::ZeroPeriod => "the period multiplier must be at least 1; ",
        RateProblem::PeriodTooLong => "the period is too long to count in seconds; ",
    };
    let text = lit.value();
    if text == part {
        format!("invalid rate {text:?}: {what}{RATE_GRAMMAR}")
    } else {
        format!(
            "invalid rate {part:?} in {text:?}: {what}{RATE_GRAMMAR}; several rates are separated by `;`"
        )
    }
}

/// Parses `N/PERIOD` strictly: ASCII digits only, no signs, no whitespace.
pub(crate) fn parse_rate(text: &str) -> Result<Rate, RateProblem> {
    let (count, period) = text.split_once('/').ok_or(RateProblem::Malformed)?;
    if !is_digits(count) {
        return Err(RateProblem::Malformed);
    }
    let unit_at = period.len().checked_sub(1).ok_or(RateProblem::Malformed)?;
    let (multiplier, unit) = period
        .split_at_checked(unit_at)
        .ok_or(RateProblem::Malformed)?;
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(RateProblem::Malformed),
    };
    if !multiplier.is_empty() && !is_digits(multiplier) {
        return Err(RateProblem::Malformed);
    }

    // Digits-only strings that fail to parse are too large, never malformed.
    let count: u32 = count.parse().map_err(|_| RateProblem::CountTooLarge)?;
    if count == 0 {
        return Err(RateProblem::ZeroCount);
    }
    let multiplier: u64 = if multiplier.is_empty() {
        1
    } else {
        multiplier.parse().map_err(|_| RateProblem::PeriodTooLong)?
    };
    if multiplier == 0 {
        return Err(RateProblem::ZeroPeriod);
    }
    let period_secs = multiplier
        .checked_mul(unit_secs)
        .ok_or(RateProblem::PeriodTooLong)?;
    Ok(Rate { count, period_secs })
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::args::{parse_args, parse_handler};
    use proc_macro2::TokenStream;
    use syn::parse_quote;

    fn build_from(attr: TokenStream, item: TokenStream) -> (Model, Vec<String>) {
        let mut errors = Errors::default();
        let args = parse_args(attr, &mut errors);
        let handler = parse_handler(item).unwrap();
        let model = build(args, Some(&handler), &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (model, messages)
    }

    fn roles(model: &Model) -> Vec<String> {
        match &model.access {
            Access::AnyOf(roles) => roles.iter().map(LitStr::value).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn rates_in_every_unit() {
        let ok = |count, period_secs| Ok(Rate { count, period_secs });
        assert_eq!(parse_rate("100/15m"), ok(100, 900));
        assert_eq!(parse_rate("10/1s"), ok(10, 1));
        assert_eq!(parse_rate("5/m"), ok(5, 60));
        assert_eq!(parse_rate("1000/1h"), ok(1000, 3600));
        assert_eq!(parse_rate("2/1d"), ok(2, 86_400));
        assert_eq!(parse_rate("4294967295/s"), ok(u32::MAX, 1));
    }

    #[test]
    fn malformed_rates_are_refused() {
        for text in [
            "",
            "5",
            "/m",
            "5/",
            "5/1",
            "5/x",
            "5 per minute",
            " 5/m",
            "5/m ",
            "5 /m",
            "+5/m",
            "-5/m",
            "5/+1m",
            "5/1.5m",
            "5/1M",
            "5/min",
            "5/m/m",
            "five/m",
            "5/1ms",
            "5/m1",
            "5/１m",
            "٣/m",
        ] {
            assert_eq!(parse_rate(text), Err(RateProblem::Malformed), "{text:?}");
        }
    }

    #[test]
    fn zero_and_overflowing_rates_are_refused() {
        assert_eq!(parse_rate("0/m"), Err(RateProblem::ZeroCount));
        assert_eq!(parse_rate("000/1s"), Err(RateProblem::ZeroCount));
        assert_eq!(parse_rate("5/0m"), Err(RateProblem::ZeroPeriod));
        assert_eq!(parse_rate("4294967296/s"), Err(RateProblem::CountTooLarge));
        assert_eq!(
            parse_rate("1/213503982334602d"),
            Err(RateProblem::PeriodTooLong)
        );
        assert_eq!(
            parse_rate("1/99999999999999999999s"),
            Err(RateProblem::PeriodTooLong)
        );
        assert_eq!(
            parse_rate("1/213503982334601d"),
            Ok(Rate {
                count: 1,
                period_secs: 213_503_982_334_601 * 86_400
            })
        );
    }

    #[test]
    fn rate_error_states_the_grammar() {
        let (model, errors) = build_from(
            parse_quote!(rate = "5 per minute"),
            parse_quote!(
                async fn f() {}
            ),
        );
        assert!(model.rates.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("invalid rate \"5 per minute\""));
        assert!(errors[0].contains("\"N/PERIOD\""));
        assert!(errors[0].contains("`s`, `m`, `h` or `d`"));
    }

    #[test]
    fn full_example_builds_the_model() {
        let (model, errors) = build_from(
            parse_quote!(role = "admin", rate = "100/15m", validate),
            parse_quote!(
                async fn create(Json(body): Json<NewThing>) -> impl IntoResponse {}
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(roles(&model), ["admin"]);
        assert_eq!(
            model.rates,
            [Rate {
                count: 100,
                period_secs: 900
            }]
        );
        assert!(model.validate);
        assert_eq!(model.validated_args.len(), 1);
        assert_eq!(model.validated_args[0].index, 0);
        let inner = &model.validated_args[0].inner;
        assert_eq!(inner, &parse_quote!(NewThing));
        assert_eq!(model.krate, parse_quote!(::secure_api));
    }

    #[test]
    fn access_defaults_to_authenticated_and_public_is_explicit() {
        let item: TokenStream = parse_quote!(
            async fn f() {}
        );
        let (model, errors) = build_from(TokenStream::new(), item.clone());
        assert!(errors.is_empty());
        assert!(matches!(model.access, Access::Authenticated));
        let (model, errors) = build_from(parse_quote!(public, rate = "3/1m"), item.clone());
        assert!(errors.is_empty());
        assert!(matches!(model.access, Access::Public));
        let (model, errors) = build_from(parse_quote!(any_role = ["editor", "auditor"]), item);
        assert!(errors.is_empty());
        assert_eq!(roles(&model), ["editor", "auditor"]);
    }

    #[test]
    fn crate_override_replaces_the_default_path() {
        let (model, errors) = build_from(
            parse_quote!(crate = "sa"),
            parse_quote!(
                async fn f() {}
            ),
        );
        assert!(errors.is_empty());
        assert_eq!(model.krate, parse_quote!(sa));
    }

    #[test]
    fn contradictory_access_keys() {
        let item: TokenStream = parse_quote!(
            async fn f() {}
        );
        let (_, errors) = build_from(parse_quote!(public, role = "admin"), item.clone());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("`public` cannot be combined with `role`"));
        let (_, errors) = build_from(parse_quote!(any_role = ["a"], public), item.clone());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("`public` cannot be combined with `any_role`"));
        let (_, errors) = build_from(parse_quote!(role = "a", any_role = ["b"]), item);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("`role` and `any_role` cannot be combined"));
    }

    #[test]
    fn scopes_are_checked_tokens() {
        let item: TokenStream = parse_quote!(
            async fn f() {}
        );
        let (model, errors) = build_from(
            parse_quote!(role = "editor", scope = ["customers:write", "a!#[]~"]),
            item.clone(),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let scopes = model.scopes.unwrap();
        assert!(!scopes.any);
        assert_eq!(scopes.list.len(), 2);
        let (model, errors) = build_from(parse_quote!(any_scope = ["a", "b"]), item.clone());
        assert!(errors.is_empty(), "{errors:?}");
        assert!(model.scopes.unwrap().any);
        let (_, errors) = build_from(
            parse_quote!(scope = ["a b", "", "q\"", "é", "x", "x"]),
            item.clone(),
        );
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(
            errors[..4].iter().all(|e| e.contains("is not a scope")),
            "{errors:?}"
        );
        assert!(
            errors[4].contains("scope `x` is listed twice"),
            "{errors:?}"
        );
        let (_, errors) = build_from(parse_quote!(public, scope = "a"), item.clone());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("`public` cannot be combined with `scope`"));
        let (_, errors) = build_from(parse_quote!(scope = "a", any_scope = ["b"]), item.clone());
        assert!(errors[0].contains("`scope` and `any_scope` cannot be combined"));
        let (_, errors) = build_from(parse_quote!(any_scope = []), item);
        assert!(errors[0].contains("`any_scope` needs at least one scope"));
    }

    #[test]
    fn bad_role_names() {
        let item: TokenStream = parse_quote!(
            async fn f() {}
        );
        let (_, errors) = build_from(parse_quote!(role = ""), item.clone());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("cannot be empty"));
        let (_, errors) = build_from(parse_quote!(role = "admin editor"), item.clone());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("contains whitespace"));
        let (_, errors) = build_from(parse_quote!(any_role = []), item.clone());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("at least one role"));
        let (_, errors) = build_from(parse_quote!(any_role = ["a", "", "b\t", "a"]), item);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("cannot be empty"));
        assert!(errors[1].contains("contains whitespace"));
        assert!(errors[2].contains("listed twice"));
    }

    #[test]
    fn validate_picks_the_four_extractors_by_last_segment() {
        let (model, errors) = build_from(
            parse_quote!(validate),
            parse_quote!(
                async fn f(
                    State(s): State<AppState>,
                    Path(id): axum::extract::Path<Id>,
                    Query(q): Query<Q>,
                    headers: HeaderMap,
                    form: ::axum::Form<F>,
                    Json(body): Json<B>,
                    other: Json<A, B>,
                    lifetime: Json<'a>,
                    bare: Json,
                ) {
                }
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let picked: Vec<(usize, Type)> = model
            .validated_args
            .into_iter()
            .map(|a| (a.index, a.inner))
            .collect();
        let expected: Vec<(usize, Type)> = vec![
            (1, parse_quote!(Id)),
            (2, parse_quote!(Q)),
            (4, parse_quote!(F)),
            (5, parse_quote!(B)),
        ];
        assert_eq!(picked, expected);
    }

    #[test]
    fn scalar_extractors_are_decoded_not_validated() {
        let (model, errors) = build_from(
            parse_quote!(validate),
            parse_quote!(
                async fn f(Path(id): Path<u64>, Path(p): Path<(u64, String)>, Json(b): Json<B>) {}
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(model.decoded_args, [0, 1]);
        assert_eq!(model.validated_args.len(), 1);
        assert_eq!(model.validated_args[0].index, 2);
    }

    #[test]
    fn without_validate_every_extractor_is_decoded() {
        let (model, errors) = build_from(
            parse_quote!(role = "viewer"),
            parse_quote!(
                async fn f(State(s): State<S>, Path(id): Path<u64>, Json(b): Json<B>) {}
            ),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(model.decoded_args, [1, 2]);
        assert!(model.validated_args.is_empty());
    }

    #[test]
    fn validate_with_only_scalars_names_the_scalar() {
        let (_, errors) = build_from(
            parse_quote!(validate),
            parse_quote!(
                async fn f(Path(id): Path<u64>) {}
            ),
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("`u64` carries no validation rules"),
            "{errors:?}"
        );
    }

    #[test]
    fn validate_without_extractor_is_an_error() {
        let (_, errors) = build_from(
            parse_quote!(validate),
            parse_quote!(
                async fn f(State(s): State<AppState>, body: String) {}
            ),
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("nothing to validate"));
    }

    #[test]
    fn signature_problems() {
        let (_, errors) = build_from(
            parse_quote!(),
            parse_quote!(
                fn f(&self) {}
            ),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("must be `async fn`"));
        assert!(errors[1].contains("cannot take `self`"));
    }

    #[test]
    fn several_rates_and_their_errors() {
        let item: TokenStream = parse_quote!(
            async fn f() {}
        );
        let (model, errors) = build_from(parse_quote!(rate = "10/1s; 1000/1h"), item.clone());
        assert!(errors.is_empty(), "{errors:?}");
        let rates: Vec<(u32, u64)> = model
            .rates
            .iter()
            .map(|r| (r.count, r.period_secs))
            .collect();
        assert_eq!(rates, [(10, 1), (1000, 3600)]);
        let (_, errors) = build_from(parse_quote!(rate = "0/1s;x; 5/m;5/m"), item);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("invalid rate \"0/1s\" in"));
        assert!(errors[1].contains("invalid rate \"x\" in"));
        assert!(errors[2].contains("given twice"));
    }

    #[test]
    fn rate_keys_are_typed_and_checked_against_access() {
        let item: TokenStream = parse_quote!(
            async fn f() {}
        );
        let key = |attr: TokenStream| {
            let (model, errors) = build_from(attr, item.clone());
            (model.rate_key, errors)
        };
        assert_eq!(
            key(parse_quote!(rate = "1/s", rate_key = "ip")).0,
            Some(RateKey::Ip)
        );
        assert_eq!(
            key(parse_quote!(rate = "1/s", rate_key = "header:X-Tenant")).0,
            Some(RateKey::Header("x-tenant".into()))
        );
        assert_eq!(
            key(parse_quote!(public, rate = "1/s", rate_key = "api_key")).0,
            Some(RateKey::ApiKey)
        );
        assert_eq!(
            key(parse_quote!(rate = "1/s", rate_key = my::func)).0,
            Some(RateKey::Function(parse_quote!(my::func)))
        );
        let (_, errors) = key(parse_quote!(public, rate = "1/s", rate_key = "principal"));
        assert!(errors[0].contains("on a `public` route"), "{errors:?}");
        let (_, errors) = key(parse_quote!(rate = "1/s", rate_key = "princpal"));
        assert!(
            errors[0].contains("did you mean `principal`?"),
            "{errors:?}"
        );
        let (_, errors) = key(parse_quote!(rate_key = "ip"));
        assert!(errors[0].contains("there is no `rate`"), "{errors:?}");
        let (_, errors) = key(parse_quote!(rate = "1/s", rate_key = "header:a b"));
        assert!(errors[0].contains("is not a header name"), "{errors:?}");
    }

    #[test]
    fn on_store_error_is_closed_or_open() {
        let item: TokenStream = parse_quote!(
            async fn f() {}
        );
        let (model, errors) = build_from(
            parse_quote!(rate = "1/s", on_store_error = "open"),
            item.clone(),
        );
        assert!(errors.is_empty() && model.store_open);
        let (model, errors) = build_from(
            parse_quote!(rate = "1/s", on_store_error = "closed"),
            item.clone(),
        );
        assert!(errors.is_empty() && !model.store_open);
        let (_, errors) = build_from(
            parse_quote!(rate = "1/s", on_store_error = "ignore"),
            item.clone(),
        );
        assert!(errors[0].contains("not \"ignore\""), "{errors:?}");
        let (_, errors) = build_from(parse_quote!(on_store_error = "open"), item);
        assert!(errors[0].contains("there is no `rate`"), "{errors:?}");
    }

    #[test]
    fn all_errors_are_reported_together() {
        let (_, errors) = build_from(
            parse_quote!(
                rol = "admin",
                public,
                role = "",
                rate = "0/m",
                validate,
                validate
            ),
            parse_quote!(
                fn f(self) {}
            ),
        );
        assert_eq!(errors.len(), 8, "{errors:?}");
    }
}
