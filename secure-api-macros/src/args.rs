//! Parsing: the attribute's arguments into [`Args`] and the annotated item into [`Handler`].
//!
//! Nothing here emits tokens and nothing here judges combinations of keys (that is
//! `validate`). Each `key` or `key = value` entry is parsed on its own, so a syntax error in
//! one entry does not hide the mistakes in the others.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprArray, Ident, Lit, LitStr, Signature, Token, Visibility};

use crate::error::Errors;

/// Every key `#[secure]` accepts, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &[
    "public",
    "role",
    "any_role",
    "scope",
    "any_scope",
    "auth",
    "rate",
    "rate_key",
    "on_store_error",
    "validate",
    "replay",
    "idempotent",
    "signed",
    "deprecated",
    "sunset",
    "link",
    "headers",
    "csp",
    "policy",
    "owner",
    "owner_refusal",
    "ip_allow",
    "time_window",
    "maintenance",
    "crate",
];

/// The built-in guards: keys written `key(arg = value, ...)` like custom guards, whose
/// literals the macro checks while compiling.
pub(crate) const BUILTIN_GUARDS: &[&str] = &["ip_allow", "time_window", "maintenance"];

/// The hidden entry through which `#[secure_versions]` tells each variant its version.
pub(crate) const VERSION_KEY: &str = "__secure_api_version";

/// The hidden entry through which a named policy hands its keys back to `#[secure]`.
pub(crate) const RESOLVED_POLICY: &str = "__secure_api_policy";

/// A key that was given, with the token that named it and where it stood among the entries
/// (so a conflict can be reported on whichever of two keys came second).
#[derive(Debug, Clone)]
pub(crate) struct Keyed<T> {
    pub(crate) key: Ident,
    pub(crate) position: usize,
    pub(crate) value: T,
}

impl<T> Keyed<T> {
    fn new(key: &Ident, position: usize, value: T) -> Self {
        Keyed {
            key: key.clone(),
            position,
            value,
        }
    }
}

/// `any_role = [...]`: the array's span (for "empty list") and each literal (for its own
/// errors).
#[derive(Debug, Clone)]
pub(crate) struct RoleList {
    pub(crate) span: Span,
    pub(crate) roles: Vec<LitStr>,
}

/// `scope = "a"`, `scope = ["a", "b"]` or `any_scope = [...]`: the value's span (for "empty
/// list") and each literal (for its own errors).
#[derive(Debug, Clone)]
pub(crate) struct ScopeList {
    pub(crate) span: Span,
    pub(crate) scopes: Vec<LitStr>,
}

/// The arguments as written, typed but not yet checked against each other. A key whose value
/// had the wrong kind is absent here; its error is already recorded.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub(crate) public: Option<Keyed<()>>,
    pub(crate) role: Option<Keyed<LitStr>>,
    pub(crate) any_role: Option<Keyed<RoleList>>,
    /// `scope`: every one of these scopes is required.
    pub(crate) scope: Option<Keyed<ScopeList>>,
    /// `any_scope`: one of these scopes suffices.
    pub(crate) any_scope: Option<Keyed<ScopeList>>,
    /// `auth = "api_key"` or `auth = ["jwt", "api_key"]`: the schemes, as written.
    pub(crate) auth: Option<Keyed<RoleList>>,
    pub(crate) rate: Option<Keyed<LitStr>>,
    pub(crate) validate: Option<Keyed<()>>,
    pub(crate) krate: Option<Keyed<syn::Path>>,
    pub(crate) replay: Option<Keyed<()>>,
    pub(crate) idempotent: Option<Keyed<()>>,
    /// `signed`: requests need an HTTP Message Signature.
    pub(crate) signed: Option<Keyed<()>>,
    pub(crate) deprecated: Option<Keyed<LitStr>>,
    pub(crate) sunset: Option<Keyed<LitStr>>,
    pub(crate) link: Option<Keyed<LitStr>>,
    pub(crate) headers: Option<Keyed<LitStr>>,
    pub(crate) csp: Option<Keyed<LitStr>>,
    pub(crate) rate_key: Option<Keyed<RateKeyArg>>,
    pub(crate) on_store_error: Option<Keyed<LitStr>>,
    /// `policy = NAME`: a policy defined with `policy!`.
    pub(crate) policy: Option<Keyed<syn::Path>>,
    /// `owner = check`: the ownership check function.
    pub(crate) owner: Option<Keyed<syn::Path>>,
    /// `owner_refusal = 404 | 403`.
    pub(crate) owner_refusal: Option<Keyed<syn::LitInt>>,
    /// Built-in and custom guards, `key(arg = value, ...)`, in source order.
    pub(crate) guards: Vec<GuardArgs>,
    /// The keys of the named policy, handed back by its `macro_rules!` (second pass).
    pub(crate) resolved_policy: Option<Box<ResolvedPolicy>>,
    /// The declared roles and scopes (`secure-api.roles`), when the application has any.
    pub(crate) declared: Option<crate::declared::Declared>,
    /// `__secure_api_version = "v1"`: the version of a `#[secure_versions]` variant.
    pub(crate) version: Option<Keyed<LitStr>>,
}

/// `rate_key = "principal" | "ip" | "api_key" | "header:NAME"` or `rate_key = path::to::fn`.
#[derive(Debug, Clone)]
pub(crate) enum RateKeyArg {
    Named(LitStr),
    Function(syn::Path),
}

/// A guard entry `key(arg = value, ...)`.
#[derive(Debug, Clone)]
pub(crate) struct GuardArgs {
    pub(crate) key: Ident,
    pub(crate) fields: Vec<GuardField>,
}

/// One `arg = value` of a guard.
#[derive(Debug, Clone)]
pub(crate) struct GuardField {
    pub(crate) name: Ident,
    pub(crate) value: Expr,
}

impl syn::parse::Parse for GuardField {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if !input.peek(Ident::peek_any) {
            return Err(input.error("expected a guard argument `name = value`"));
        }
        let name = input.call(Ident::parse_any)?;
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format_args!(
                    "`{}` needs a value: guard arguments are written `name = value`",
                    name.unraw()
                ),
            ));
        }
        let _: Token![=] = input.parse()?;
        let value: Expr = input.parse()?;
        Ok(GuardField { name, value })
    }
}

/// The keys of a named policy as `policy!` wrote them, with its name.
#[derive(Debug)]
pub(crate) struct ResolvedPolicy {
    pub(crate) name: syn::Path,
    pub(crate) args: Args,
}

/// One entry before its key is interpreted.
struct Entry {
    key: Ident,
    value: Option<(Token![=], Expr)>,
    /// `key(...)`: the parenthesised arguments, unparsed.
    group: Option<proc_macro2::Group>,
}

/// The annotated function. The body stays raw tokens: if it does not parse, the macro still
/// expands and rustc reports the body's own error at its own span, as tracing does.
pub(crate) struct Handler {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: TokenStream,
}

/// Parses the annotated item. Fails for anything but a function with a body.
pub(crate) fn parse_handler(item: TokenStream) -> syn::Result<Handler> {
    let parser = |input: ParseStream<'_>| {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse()?;
        let body = input.step(|cursor| match cursor.token_tree() {
            Some((tree @ TokenTree::Group(_), rest))
                if matches!(&tree, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace) =>
            {
                Ok((TokenStream::from(tree), rest))
            }
            _ => Err(cursor.error("expected the function body `{ ... }`")),
        })?;
        Ok(Handler {
            attrs,
            vis,
            sig,
            body,
        })
    };
    parser.parse2(item.clone()).map_err(|_| {
        let span = item
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span());
        syn::Error::new(span, "`#[secure]` applies to an `async fn` handler only")
    })
}

/// Parses the attribute's arguments, recording every problem in `errors` and keeping what was
/// valid so that later stages can still report their own findings.
pub(crate) fn parse_args(attr: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let mut seen: Vec<String> = Vec::new();
    for (position, chunk) in split_entries(attr).into_iter().enumerate() {
        let entry = match chunk.and_then(|chunk| parse_entry.parse2(chunk)) {
            Ok(entry) => entry,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let name = entry.key.unraw().to_string();
        if let Some(group) = entry.group.clone() {
            if name == RESOLVED_POLICY {
                if args.resolved_policy.is_none() {
                    args.resolved_policy = parse_resolved(group.stream(), errors).map(Box::new);
                }
                continue;
            }
            if KEYS.contains(&name.as_str()) && !BUILTIN_GUARDS.contains(&name.as_str()) {
                errors.at(
                    entry.key.span(),
                    format_args!(
                        "`{name}` is not a guard and takes no parentheses: write `{}`",
                        example(&name)
                    ),
                );
                continue;
            }
            if seen.contains(&name) {
                errors.at(
                    entry.key.span(),
                    format_args!("duplicate guard `{name}`: each guard may be given once"),
                );
                continue;
            }
            seen.push(name);
            match syn::punctuated::Punctuated::<GuardField, Token![,]>::parse_terminated
                .parse2(group.stream())
            {
                Ok(fields) => args.guards.push(GuardArgs {
                    key: entry.key,
                    fields: fields.into_iter().collect(),
                }),
                Err(error) => errors.push(error),
            }
            continue;
        }
        if name == VERSION_KEY {
            set_version(&mut args, entry, position, errors);
            continue;
        }
        if BUILTIN_GUARDS.contains(&name.as_str()) {
            errors.at(
                entry.key.span(),
                format_args!(
                    "`{name}` is a guard and takes arguments: write `{}`",
                    example(&name)
                ),
            );
            continue;
        }
        if !KEYS.contains(&name.as_str()) {
            errors.at(entry.key.span(), unknown_key_message(&name));
            continue;
        }
        if seen.contains(&name) {
            errors.at(
                entry.key.span(),
                format_args!("duplicate key `{name}`: each key may be given once"),
            );
            continue;
        }
        seen.push(name.clone());
        set(&mut args, &name, entry, position, errors);
    }
    args
}

/// Splits at top-level commas, in source order; an empty entry is an error except after a
/// trailing comma.
pub(crate) fn split_entries(attr: TokenStream) -> Vec<syn::Result<TokenStream>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    for tree in attr {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    chunks.push(Err(syn::Error::new(p.span(), "expected a key before `,`")));
                } else {
                    chunks.push(Ok(current.drain(..).collect()));
                }
            }
            _ => current.push(tree),
        }
    }
    if !current.is_empty() {
        chunks.push(Ok(current.into_iter().collect()));
    }
    chunks
}

fn parse_entry(input: ParseStream<'_>) -> syn::Result<Entry> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!(
            "expected a key, one of {}",
            KEYS.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let key = input.call(Ident::parse_any)?;
    if input.is_empty() {
        return Ok(Entry {
            key,
            value: None,
            group: None,
        });
    }
    if input.peek(syn::token::Paren) {
        let group: proc_macro2::Group = input.parse()?;
        if !input.is_empty() {
            return Err(input.error("expected `,` between keys"));
        }
        return Ok(Entry {
            key,
            value: None,
            group: Some(group),
        });
    }
    if !input.peek(Token![=]) {
        return Err(input.error(format_args!("expected `=` or `,` after `{}`", key.unraw())));
    }
    let eq: Token![=] = input.parse()?;
    if input.is_empty() {
        return Err(syn::Error::new(
            eq.span,
            format_args!("expected a value after `{} =`", key.unraw()),
        ));
    }
    let value: Expr = input.parse()?;
    if !input.is_empty() {
        return Err(input.error("expected `,` between keys"));
    }
    Ok(Entry {
        key,
        value: Some((eq, value)),
        group: None,
    })
}

/// Interprets one entry whose key is known and not a duplicate.
fn set(args: &mut Args, name: &str, entry: Entry, position: usize, errors: &mut Errors) {
    let Entry { key, value, .. } = entry;
    match name {
        "policy" | "owner" => {
            let Some((_, value)) = value else {
                errors.at(
                    key.span(),
                    format_args!("`{name}` needs a value, such as `{}`", example(name)),
                );
                return;
            };
            let path = match &value {
                Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => p.path.clone(),
                _ => {
                    let what = if name == "policy" {
                        "the name of a policy defined with `policy!`"
                    } else {
                        "the path of an async ownership check function"
                    };
                    errors.spanned(
                        &value,
                        format_args!("`{name}` expects {what}, such as `{}`", example(name)),
                    );
                    return;
                }
            };
            let slot = if name == "policy" {
                &mut args.policy
            } else {
                &mut args.owner
            };
            *slot = Some(Keyed::new(&key, position, path));
        }
        "owner_refusal" => {
            let lit = match value {
                Some((
                    _,
                    Expr::Lit(syn::ExprLit {
                        lit: Lit::Int(lit), ..
                    }),
                )) => lit,
                Some((_, value)) => {
                    errors.spanned(
                        &value,
                        "`owner_refusal` expects the status `404` or `403`, such as `owner_refusal = 403`",
                    );
                    return;
                }
                None => {
                    errors.at(
                        key.span(),
                        "`owner_refusal` needs a value, such as `owner_refusal = 403`",
                    );
                    return;
                }
            };
            args.owner_refusal = Some(Keyed::new(&key, position, lit));
        }
        "public" | "validate" | "replay" | "idempotent" | "signed" => {
            if let Some((_, value)) = value {
                errors.spanned(
                    &value,
                    format_args!("`{name}` is a flag and takes no value: write `{name}` alone"),
                );
                return;
            }
            let slot = match name {
                "public" => &mut args.public,
                "replay" => &mut args.replay,
                "idempotent" => &mut args.idempotent,
                "signed" => &mut args.signed,
                _ => &mut args.validate,
            };
            *slot = Some(Keyed::new(&key, position, ()));
        }
        "rate_key" => {
            const EXAMPLE: &str = "rate_key = \"ip\"";
            let Some((_, value)) = value else {
                errors.at(
                    key.span(),
                    format_args!("`rate_key` needs a value, such as `{EXAMPLE}`"),
                );
                return;
            };
            let arg = match (&value, string_literal(&value)) {
                (_, Some(lit)) => RateKeyArg::Named(lit),
                (Expr::Path(path), None) if path.qself.is_none() && path.attrs.is_empty() => {
                    RateKeyArg::Function(path.path.clone())
                }
                _ => {
                    errors.spanned(
                        &value,
                        "`rate_key` expects \"principal\", \"ip\", \"api_key\", \"header:NAME\" or the path of a function `fn(&Parts, Option<&Principal>) -> Option<String>`",
                    );
                    return;
                }
            };
            args.rate_key = Some(Keyed::new(&key, position, arg));
        }
        "role" | "rate" | "crate" | "on_store_error" | "deprecated" | "sunset" | "link"
        | "headers" | "csp" => {
            let example = example(name);
            let Some((_, value)) = value else {
                errors.at(
                    key.span(),
                    format_args!("`{name}` needs a value, such as `{example}`"),
                );
                return;
            };
            let Some(lit) = string_literal(&value) else {
                errors.spanned(
                    &value,
                    format_args!("`{name}` expects a string literal, such as `{example}`"),
                );
                return;
            };
            match name {
                "role" => args.role = Some(Keyed::new(&key, position, lit)),
                "rate" => args.rate = Some(Keyed::new(&key, position, lit)),
                "deprecated" => args.deprecated = Some(Keyed::new(&key, position, lit)),
                "sunset" => args.sunset = Some(Keyed::new(&key, position, lit)),
                "link" => args.link = Some(Keyed::new(&key, position, lit)),
                "headers" => args.headers = Some(Keyed::new(&key, position, lit)),
                "csp" => args.csp = Some(Keyed::new(&key, position, lit)),
                "on_store_error" => args.on_store_error = Some(Keyed::new(&key, position, lit)),
                _ => match lit.parse::<syn::Path>() {
                    Ok(path) => args.krate = Some(Keyed::new(&key, position, path)),
                    Err(_) => errors.at(
                        lit.span(),
                        "`crate` expects the path of the `secure_api` crate, such as `crate = \"secure_api\"` or `crate = \"::my_facade::secure_api\"`",
                    ),
                },
            }
        }
        "auth" => {
            const EXAMPLE: &str = "auth = [\"jwt\", \"api_key\"]";
            let Some((_, value)) = value else {
                errors.at(
                    key.span(),
                    format_args!("`auth` needs a value, such as `{EXAMPLE}`"),
                );
                return;
            };
            let schemes = match (&value, string_literal(&value)) {
                (_, Some(lit)) => vec![lit],
                (Expr::Array(ExprArray { elems, .. }), None) => {
                    let mut schemes = Vec::with_capacity(elems.len());
                    for elem in elems {
                        match string_literal(elem) {
                            Some(lit) => schemes.push(lit),
                            None => {
                                errors.spanned(
                                    elem,
                                    "a scheme must be a string literal, `\"jwt\"` or `\"api_key\"`",
                                );
                                return;
                            }
                        }
                    }
                    schemes
                }
                _ => {
                    errors.spanned(
                        &value,
                        format_args!(
                            "`auth` expects a scheme or an array of schemes, such as `auth = \"api_key\"` or `{EXAMPLE}`"
                        ),
                    );
                    return;
                }
            };
            args.auth = Some(Keyed::new(
                &key,
                position,
                RoleList {
                    span: value.span(),
                    roles: schemes,
                },
            ));
        }
        "any_role" => {
            const EXAMPLE: &str = "any_role = [\"editor\", \"auditor\"]";
            let Some((_, value)) = value else {
                errors.at(
                    key.span(),
                    format_args!("`any_role` needs a value, such as `{EXAMPLE}`"),
                );
                return;
            };
            let Expr::Array(ExprArray { elems, .. }) = &value else {
                errors.spanned(
                    &value,
                    format_args!(
                        "`any_role` expects an array of string literals, such as `{EXAMPLE}`"
                    ),
                );
                return;
            };
            let mut roles = Vec::with_capacity(elems.len());
            let mut all_strings = true;
            for elem in elems {
                match string_literal(elem) {
                    Some(lit) => roles.push(lit),
                    None => {
                        all_strings = false;
                        errors.spanned(
                            elem,
                            "a role must be a string literal, such as `\"editor\"`",
                        );
                    }
                }
            }
            if all_strings {
                args.any_role = Some(Keyed::new(
                    &key,
                    position,
                    RoleList {
                        span: value.span(),
                        roles,
                    },
                ));
            }
        }
        "scope" | "any_scope" => set_scope(args, name, &key, value, position, errors),
        _ => unreachable_key(name, &key, errors),
    }
}

/// `scope = "a"`, `scope = ["a", "b"]`, `any_scope = ["a", "b"]`.
fn set_scope(
    args: &mut Args,
    name: &str,
    key: &Ident,
    value: Option<(Token![=], Expr)>,
    position: usize,
    errors: &mut Errors,
) {
    let example = example(name);
    let Some((_, value)) = value else {
        errors.at(
            key.span(),
            format_args!("`{name}` needs a value, such as `{example}`"),
        );
        return;
    };
    let elems: Vec<&Expr> = match (&value, string_literal(&value)) {
        (_, Some(_)) if name == "scope" => vec![&value],
        (Expr::Array(ExprArray { elems, .. }), None) => elems.iter().collect(),
        _ => {
            let what = if name == "scope" {
                "a string literal or an array of string literals"
            } else {
                "an array of string literals"
            };
            errors.spanned(
                &value,
                format_args!("`{name}` expects {what}, such as `{example}`"),
            );
            return;
        }
    };
    let mut scopes = Vec::with_capacity(elems.len());
    let mut all_strings = true;
    for elem in elems {
        match string_literal(elem) {
            Some(lit) => scopes.push(lit),
            None => {
                all_strings = false;
                errors.spanned(
                    elem,
                    "a scope must be a string literal, such as `\"customers:write\"`",
                );
            }
        }
    }
    if !all_strings {
        return;
    }
    let list = Keyed::new(
        key,
        position,
        ScopeList {
            span: value.span(),
            scopes,
        },
    );
    if name == "scope" {
        args.scope = Some(list);
    } else {
        args.any_scope = Some(list);
    }
}

/// The hidden version entry, written by `#[secure_versions]`.
fn set_version(args: &mut Args, entry: Entry, position: usize, errors: &mut Errors) {
    match entry.value.as_ref().and_then(|(_, value)| string_literal(value)) {
        Some(lit) if args.version.is_none() => {
            args.version = Some(Keyed::new(&entry.key, position, lit));
        }
        _ => errors.at(
            entry.key.span(),
            "`__secure_api_version` is written by `#[secure_versions]`; declare versions with `#[secure_versions(v1(...), v2(...))]`",
        ),
    }
}

/// An example of each key, for messages.
fn example(name: &str) -> &'static str {
    match name {
        "public" => "public",
        "role" => "role = \"admin\"",
        "any_role" => "any_role = [\"editor\", \"auditor\"]",
        "scope" => "scope = \"customers:write\"",
        "any_scope" => "any_scope = [\"customers:read\", \"customers:admin\"]",
        "auth" => "auth = [\"jwt\", \"api_key\"]",
        "rate" => "rate = \"100/15m\"",
        "rate_key" => "rate_key = \"ip\"",
        "on_store_error" => "on_store_error = \"open\"",
        "validate" => "validate",
        "replay" => "replay",
        "idempotent" => "idempotent",
        "signed" => "signed",
        "deprecated" => "deprecated = \"2027-01-01\"",
        "sunset" => "sunset = \"2027-06-30\"",
        "link" => "link = \"https://api.example.com/v2/docs\"",
        "headers" => "headers = \"relaxed\"",
        "csp" => "csp = \"default-src 'self'\"",
        "policy" => "policy = ADMIN_WRITE",
        "owner" => "owner = owns_customer",
        "owner_refusal" => "owner_refusal = 403",
        "ip_allow" => "ip_allow(from = [\"10.0.0.0/8\"])",
        "time_window" => "time_window(from = \"08:00\", to = \"18:00\")",
        "maintenance" => "maintenance(from = \"02:00\", to = \"03:00\")",
        _ => "crate = \"secure_api\"",
    }
}

/// `NAME: keys...`, the contents of the hidden entry a policy's `macro_rules!` writes.
fn parse_resolved(tokens: TokenStream, errors: &mut Errors) -> Option<ResolvedPolicy> {
    let parser = |input: ParseStream<'_>| {
        let name = input.call(syn::Path::parse_mod_style)?;
        let _: Token![:] = input.parse()?;
        let keys: TokenStream = input.parse()?;
        Ok((name, keys))
    };
    match parser.parse2(tokens) {
        Ok((name, keys)) => Some(ResolvedPolicy {
            name,
            args: parse_args(keys, errors),
        }),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

/// `KEYS` and the match in `set` must agree; should they not, say so instead of panicking.
fn unreachable_key(name: &str, key: &Ident, errors: &mut Errors) {
    errors.at(
        key.span(),
        format_args!("internal error in `#[secure]`: key `{name}` is known but not handled"),
    );
}

fn string_literal(expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit),
            attrs,
        }) if attrs.is_empty() => Some(lit.clone()),
        Expr::Group(group) => string_literal(&group.expr),
        _ => None,
    }
}

fn unknown_key_message(name: &str) -> String {
    let valid = KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match suggestion(name) {
        Some(close) => {
            format!("unknown key `{name}`: did you mean `{close}`? The keys are {valid}")
        }
        None => format!(
            "unknown key `{name}`: the keys are {valid}; a custom guard is written with its arguments, `{name}(arg = value, ...)`"
        ),
    }
}

/// The known key closest to `name`, when it is close enough to be a typo.
pub(crate) fn suggestion(name: &str) -> Option<&'static str> {
    let lowered = name.to_ascii_lowercase();
    KEYS.iter()
        .map(|key| (levenshtein(&lowered, key), *key))
        .filter(|(distance, key)| *distance <= (key.len().max(name.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

/// Edit distance counting insertions, deletions and substitutions of chars.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn parse(attr: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Errors::default();
        let args = parse_args(attr, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, messages)
    }

    #[test]
    fn every_key_parses_into_its_typed_slot() {
        let (args, errors) = parse(parse_quote!(
            public,
            role = "admin",
            any_role = ["editor", "auditor"],
            rate = "100/15m",
            validate,
            crate = "::my::facade"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(args.public.is_some());
        assert_eq!(args.role.unwrap().value.value(), "admin");
        let roles: Vec<String> = args
            .any_role
            .unwrap()
            .value
            .roles
            .iter()
            .map(LitStr::value)
            .collect();
        assert_eq!(roles, ["editor", "auditor"]);
        assert_eq!(args.rate.unwrap().value.value(), "100/15m");
        assert!(args.validate.is_some());
        let path = args.krate.unwrap().value;
        assert!(path.leading_colon.is_some());
        assert_eq!(path.segments.len(), 2);
    }

    #[test]
    fn empty_attribute_and_trailing_comma_are_fine() {
        let (_, errors) = parse(TokenStream::new());
        assert!(errors.is_empty());
        let (args, errors) = parse(parse_quote!(validate,));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(args.validate.is_some());
    }

    #[test]
    fn positions_follow_source_order() {
        let (args, _) = parse(parse_quote!(validate, role = "a", public));
        assert_eq!(args.validate.unwrap().position, 0);
        assert_eq!(args.role.unwrap().position, 1);
        assert_eq!(args.public.unwrap().position, 2);
    }

    #[test]
    fn unknown_key_suggests_the_close_one_and_lists_all() {
        let (_, errors) = parse(parse_quote!(roles = "admin"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("unknown key `roles`"), "{}", errors[0]);
        assert!(errors[0].contains("did you mean `role`?"), "{}", errors[0]);
        assert!(errors[0].contains("`any_role`"), "{}", errors[0]);
    }

    #[test]
    fn unknown_key_far_from_all_gets_no_suggestion() {
        let (_, errors) = parse(parse_quote!(permission = "x"));
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].contains("did you mean"), "{}", errors[0]);
        assert!(errors[0].contains("the keys are"), "{}", errors[0]);
    }

    #[test]
    fn suggestions_cover_common_typos() {
        assert_eq!(suggestion("valdate"), Some("validate"));
        assert_eq!(suggestion("anyrole"), Some("any_role"));
        assert_eq!(suggestion("Public"), Some("public"));
        assert_eq!(suggestion("rates"), Some("rate"));
        assert_eq!(suggestion("scopes"), Some("scope"));
        assert_eq!(suggestion("permission"), None);
        assert_eq!(suggestion("x"), None);
    }

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("role", "role"), 0);
        assert_eq!(levenshtein("rol", "role"), 1);
    }

    #[test]
    fn duplicate_key_is_reported_once_per_repeat() {
        let (args, errors) = parse(parse_quote!(role = "a", role = "b", role = "c"));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().all(|e| e.contains("duplicate key `role`")));
        assert_eq!(args.role.unwrap().value.value(), "a");
    }

    #[test]
    fn flag_with_value_and_value_key_without_value() {
        let (_, errors) = parse(parse_quote!(validate = true, role, public = 1));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("`validate` is a flag"));
        assert!(errors[1].contains("`role` needs a value"));
        assert!(errors[2].contains("`public` is a flag"));
    }

    #[test]
    fn values_of_the_wrong_kind() {
        let (args, errors) = parse(parse_quote!(
            role = 5,
            rate = 100,
            any_role = "editor",
            crate = secure_api
        ));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("`role` expects a string literal"));
        assert!(errors[1].contains("`rate` expects a string literal"));
        assert!(errors[2].contains("`any_role` expects an array"));
        assert!(errors[3].contains("`crate` expects a string literal"));
        assert!(args.role.is_none() && args.rate.is_none() && args.any_role.is_none());
    }

    #[test]
    fn scopes_parse_from_a_string_or_an_array() {
        let (args, errors) = parse(parse_quote!(scope = "a:w", any_scope = ["b", "c"]));
        assert!(errors.is_empty(), "{errors:?}");
        let scope: Vec<String> = args
            .scope
            .unwrap()
            .value
            .scopes
            .iter()
            .map(LitStr::value)
            .collect();
        assert_eq!(scope, ["a:w"]);
        let any: Vec<String> = args
            .any_scope
            .unwrap()
            .value
            .scopes
            .iter()
            .map(LitStr::value)
            .collect();
        assert_eq!(any, ["b", "c"]);
        let (args, errors) = parse(parse_quote!(scope = ["a", "b"]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.scope.unwrap().value.scopes.len(), 2);
        let (args, errors) = parse(parse_quote!(any_scope = "a", scope = 5, scope));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("`any_scope` expects an array"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("`scope` expects a string literal or an array"),
            "{errors:?}"
        );
        assert!(errors[2].contains("duplicate key `scope`"), "{errors:?}");
        assert!(args.any_scope.is_none() && args.scope.is_none());
    }

    #[test]
    fn any_role_elements_must_be_strings() {
        let (args, errors) = parse(parse_quote!(any_role = ["a", 1, b]));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(args.any_role.is_none());
    }

    #[test]
    fn crate_must_be_a_path() {
        let (args, errors) = parse(parse_quote!(crate = "not a path"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("`crate` expects the path"));
        assert!(args.krate.is_none());
    }

    #[test]
    fn syntax_error_in_one_entry_does_not_hide_the_others() {
        let (args, errors) =
            parse(parse_quote!(role "admin", "rate", rate = "1/s" validate, ,public));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            errors[0].contains("expected `=` or `,` after `role`"),
            "{errors:?}"
        );
        assert!(errors[1].contains("expected a key"));
        assert!(errors[2].contains("expected `,` between keys"));
        assert!(errors[3].contains("expected a key before `,`"));
        assert!(args.public.is_some());
    }

    #[test]
    fn guards_policy_and_owner_parse_into_their_slots() {
        let (args, errors) = parse(parse_quote!(
            policy = crate::policies::ADMIN,
            tenant(header = "X-Tenant", allowed = ["a", "b"]),
            ip_allow(from = ["10.0.0.0/8"]),
            owner = owns,
            owner_refusal = 403
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.policy.unwrap().value.segments.len(), 3);
        let keys: Vec<String> = args.guards.iter().map(|g| g.key.to_string()).collect();
        assert_eq!(keys, ["tenant", "ip_allow"]);
        let fields: Vec<String> = args.guards[0]
            .fields
            .iter()
            .map(|f| f.name.to_string())
            .collect();
        assert_eq!(fields, ["header", "allowed"]);
        assert!(args.owner.unwrap().value.is_ident("owns"));
        assert_eq!(args.owner_refusal.unwrap().value.base10_digits(), "403");
    }

    #[test]
    fn guard_mistakes_are_reported_at_their_token() {
        let (_, errors) = parse(parse_quote!(
            ip_allow,
            role("admin"),
            tenant(header),
            tenant(header = "a"),
            tenant(header = "b"),
            policy = "P",
            owner = 5,
            owner_refusal = "403"
        ));
        assert_eq!(errors.len(), 8, "{errors:?}");
        assert!(errors[0].contains("`ip_allow` is a guard and takes arguments"));
        assert!(errors[1].contains("`role` is not a guard"));
        assert!(errors[2].contains("`header` needs a value"));
        // Both later `tenant`s repeat the first, even though its arguments were wrong.
        assert!(errors[3].contains("duplicate guard `tenant`"));
        assert!(errors[4].contains("duplicate guard `tenant`"));
        assert!(errors[5].contains("`policy` expects the name of a policy"));
        assert!(errors[6].contains("`owner` expects the path"));
        assert!(errors[7].contains("`owner_refusal` expects the status"));
    }

    #[test]
    fn the_resolved_policy_entry_carries_the_policys_keys() {
        let (args, errors) = parse(parse_quote!(
            __secure_api_policy(ADMIN: role = "admin", rate = "1/s"),
            policy = ADMIN,
            validate
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let resolved = args.resolved_policy.unwrap();
        assert!(resolved.name.is_ident("ADMIN"));
        assert_eq!(resolved.args.role.unwrap().value.value(), "admin");
        assert!(args.validate.is_some());
    }

    #[test]
    fn missing_value_after_equals() {
        let (_, errors) = parse(parse_quote!(rate =));
        assert_eq!(errors, ["expected a value after `rate =`"]);
    }

    #[test]
    fn handler_parses_with_a_broken_body() {
        let handler = parse_handler(parse_quote!(
            /// docs
            pub async fn f(x: u8) -> u8 { let = ; }
        ))
        .unwrap();
        assert_eq!(handler.attrs.len(), 1);
        assert_eq!(handler.sig.ident, "f");
        assert!(handler.body.to_string().starts_with('{'));
    }

    #[test]
    fn non_function_items_are_refused() {
        let error = parse_handler(parse_quote!(
            struct S;
        ))
        .err()
        .unwrap();
        assert!(error.to_string().contains("`async fn` handler only"));
        assert!(
            parse_handler(parse_quote!(
                fn f();
            ))
            .is_err()
        );
        assert!(
            parse_handler(parse_quote!(
                fn f() {}
                fn g() {}
            ))
            .is_err()
        );
    }
}
