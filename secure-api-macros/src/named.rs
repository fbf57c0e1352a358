//! Named policies: `policy!(NAME: keys)` and the merge of a policy's keys with a handler's.
//!
//! A proc-macro attribute cannot read another item, so a policy is a `macro_rules!` that
//! carries its keys: `#[secure(policy = NAME, ...)]` expands to `NAME! { ... }`, which
//! expands to `#[secure(__secure_api_policy(NAME: keys), ...)]` on the same function. The
//! second pass merges the two sets of keys here, so every error keeps the span of the
//! token that caused it: a bad key in the policy points at the policy, a conflict at the
//! handler's key.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, Token, Visibility};

use crate::args::{Args, Keyed, ResolvedPolicy};
use crate::error::Errors;

/// `policy!`'s input: `[vis] NAME: keys`.
pub(crate) struct PolicyDef {
    pub(crate) attrs: Vec<syn::Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) keys: TokenStream,
}

pub(crate) fn parse_def(input: TokenStream) -> syn::Result<PolicyDef> {
    let parser = |input: ParseStream<'_>| {
        let attrs = input.call(syn::Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if let Visibility::Public(_) = vis {
            return Err(syn::Error::new_spanned(
                &vis,
                "a policy is visible in its crate at most: write `pub(crate)`, or nothing for this module and its children",
            ));
        }
        if !input.peek(Ident) {
            return Err(input.error(
                "expected the policy's name, as in `policy!(ADMIN_WRITE: role = \"admin\", rate = \"10/1m\")`",
            ));
        }
        let name: Ident = input.parse()?;
        if !input.peek(Token![:]) {
            return Err(input.error(format_args!(
                "expected `:` after the policy's name `{name}`: a policy is written `policy!(NAME: key = value, ...)` with the keys of `#[secure]`"
            )));
        }
        let _: Token![:] = input.parse()?;
        let keys: TokenStream = input.parse()?;
        Ok(PolicyDef {
            attrs,
            vis,
            name,
            keys,
        })
    };
    parser.parse2(input)
}

/// Moves a key that came from the policy to the handler's `policy = NAME`, so that errors
/// about how the key fits this handler (`validate` with nothing to validate...) are
/// reported where the policy is used.
fn from_policy<T>(keyed: Keyed<T>, at: Span) -> Keyed<T> {
    let mut key = keyed.key;
    key.set_span(at);
    Keyed {
        key,
        position: 0,
        value: keyed.value,
    }
}

/// The handler's keys with the policy's added: a key the handler also gives is replaced
/// by the handler's value; two different keys that exclude each other (`public` and
/// `role`, `role` and `any_role`) are an error at the handler's key.
pub(crate) fn merge(mut handler: Args, policy: ResolvedPolicy, errors: &mut Errors) -> Args {
    let ResolvedPolicy { name, args: policy } = policy;
    // Every key of a policy must be carried over below; a field added to `Args` fails to
    // compile here until it is, so no key of a policy can be silently dropped.
    let Args {
        public: _,
        role: _,
        any_role: _,
        scope: _,
        any_scope: _,
        auth: _,
        rate: _,
        validate: _,
        krate: _,
        replay: _,
        idempotent: _,
        signed: _,
        deprecated: _,
        sunset: _,
        link: _,
        headers: _,
        csp: _,
        rate_key: _,
        on_store_error: _,
        policy: _,
        owner: _,
        owner_refusal: _,
        guards: _,
        resolved_policy: _,
        declared: _,
        // The version belongs to the handler variant that `#[secure_versions]` wrote; a
        // policy cannot give one.
        version: _,
    } = &policy;
    let at = handler
        .policy
        .as_ref()
        .map_or_else(Span::call_site, |p| syn::spanned::Spanned::span(&p.value));
    let name = quote::ToTokens::to_token_stream(&name)
        .to_string()
        .replace(' ', "");

    let handler_access: Vec<(&str, &Ident)> = [
        ("public", handler.public.as_ref().map(|k| &k.key)),
        ("role", handler.role.as_ref().map(|k| &k.key)),
        ("any_role", handler.any_role.as_ref().map(|k| &k.key)),
    ]
    .into_iter()
    .filter_map(|(n, k)| k.map(|k| (n, k)))
    .collect();
    let policy_access: Vec<&str> = [
        ("public", policy.public.is_some()),
        ("role", policy.role.is_some()),
        ("any_role", policy.any_role.is_some()),
    ]
    .into_iter()
    .filter_map(|(n, present)| present.then_some(n))
    .collect();
    for (key, ident) in &handler_access {
        for theirs in &policy_access {
            if key != theirs {
                errors.at(ident.span(), conflict_message(key, theirs, &name));
            }
        }
    }
    if handler_access.is_empty() {
        handler.public = policy.public.map(|k| from_policy(k, at));
        handler.role = policy.role.map(|k| from_policy(k, at));
        handler.any_role = policy.any_role.map(|k| from_policy(k, at));
    }

    macro_rules! inherit {
        ($($slot:ident),*) => {
            $(
                if handler.$slot.is_none() {
                    handler.$slot = policy.$slot.map(|k| from_policy(k, at));
                }
            )*
        };
    }
    scopes(&mut handler, policy.scope, policy.any_scope, at);
    inherit!(
        auth,
        rate,
        validate,
        owner,
        owner_refusal,
        krate,
        replay,
        idempotent,
        signed,
        deprecated,
        sunset,
        link,
        headers,
        csp,
        rate_key,
        on_store_error
    );

    let mut guards: Vec<_> = policy
        .guards
        .into_iter()
        .filter(|theirs| !handler.guards.iter().any(|ours| ours.key == theirs.key))
        .collect();
    guards.append(&mut handler.guards);
    handler.guards = guards;
    handler
}

/// The policy's scope key, unless the handler gives one of its own: like the role keys,
/// `scope` and `any_scope` replace each other rather than combine.
fn scopes(
    handler: &mut Args,
    scope: Option<Keyed<crate::args::ScopeList>>,
    any_scope: Option<Keyed<crate::args::ScopeList>>,
    at: Span,
) {
    if handler.scope.is_none() && handler.any_scope.is_none() {
        handler.scope = scope.map(|k| from_policy(k, at));
        handler.any_scope = any_scope.map(|k| from_policy(k, at));
    }
}

fn conflict_message(ours: &str, theirs: &str, policy: &str) -> String {
    let why = match (ours, theirs) {
        ("public", _) => format!(
            "policy `{policy}` requires `{theirs}`, and a public handler does not authenticate; remove `public`, or use a policy without `{theirs}`"
        ),
        (_, "public") => format!(
            "policy `{policy}` is public, so there is no principal whose roles could be checked; use a policy that authenticates"
        ),
        _ => format!(
            "give the same key as the policy to replace its roles (`{theirs} = ...`), or leave the roles to the policy"
        ),
    };
    format!("`{ours}` conflicts with `{theirs}` of policy `{policy}`: {why}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::args::parse_args;
    use syn::parse_quote;

    fn merged(policy: TokenStream, handler: TokenStream) -> (Args, Vec<String>) {
        let mut errors = Errors::default();
        let policy = ResolvedPolicy {
            name: parse_quote!(P),
            args: parse_args(policy, &mut errors),
        };
        let handler = parse_args(handler, &mut errors);
        let args = merge(handler, policy, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, messages)
    }

    #[test]
    fn transport_keys_of_a_policy_reach_the_handler() {
        let (args, errors) = merged(
            parse_quote!(
                role = "editor",
                replay,
                idempotent,
                signed,
                deprecated = "2026-01-01",
                sunset = "2027-01-01",
                link = "/v2/things",
                headers = "relaxed",
                csp = "default-src 'self'"
            ),
            parse_quote!(validate),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(args.replay.is_some() && args.idempotent.is_some());
        assert!(args.signed.is_some());
        assert_eq!(args.deprecated.unwrap().value.value(), "2026-01-01");
        assert_eq!(args.sunset.unwrap().value.value(), "2027-01-01");
        assert_eq!(args.link.unwrap().value.value(), "/v2/things");
        assert_eq!(args.headers.unwrap().value.value(), "relaxed");
        assert_eq!(args.csp.unwrap().value.value(), "default-src 'self'");
    }

    #[test]
    fn handler_keys_replace_and_add() {
        let (args, errors) = merged(
            parse_quote!(
                role = "admin",
                rate = "1/s",
                tenant(h = "a"),
                ip_allow(from = [])
            ),
            parse_quote!(policy = P, role = "editor", validate, tenant(h = "b")),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.role.unwrap().value.value(), "editor");
        assert_eq!(args.rate.unwrap().value.value(), "1/s");
        assert!(args.validate.is_some());
        let keys: Vec<String> = args.guards.iter().map(|g| g.key.to_string()).collect();
        assert_eq!(keys, ["ip_allow", "tenant"]);
        let value = &args.guards[1].fields[0].value;
        assert_eq!(quote::quote!(#value).to_string(), "\"b\"");
    }

    #[test]
    fn scopes_of_a_policy_reach_the_handler_unless_it_gives_its_own() {
        let (args, errors) = merged(parse_quote!(scope = "a"), parse_quote!(policy = P));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.scope.unwrap().value.scopes[0].value(), "a");
        let (args, errors) = merged(
            parse_quote!(scope = "a"),
            parse_quote!(policy = P, any_scope = ["b"]),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(args.scope.is_none());
        assert_eq!(args.any_scope.unwrap().value.scopes[0].value(), "b");
    }

    #[test]
    fn exclusive_keys_across_policy_and_handler_conflict() {
        let (_, errors) = merged(
            parse_quote!(role = "admin"),
            parse_quote!(policy = P, public),
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("`public` conflicts with `role` of policy `P`"));
        let (_, errors) = merged(
            parse_quote!(public),
            parse_quote!(policy = P, any_role = ["a"]),
        );
        assert!(errors[0].starts_with("`any_role` conflicts with `public` of policy `P`"));
        let (args, errors) = merged(parse_quote!(public), parse_quote!(policy = P));
        assert!(errors.is_empty());
        assert!(args.public.is_some());
    }

    #[test]
    fn policy_definitions_parse_and_refuse_pub() {
        let def = parse_def(parse_quote!(
            /// docs
            pub(crate) ADMIN: role = "admin"
        ))
        .unwrap();
        assert_eq!(def.name, "ADMIN");
        assert_eq!(def.attrs.len(), 1);
        assert!(parse_def(parse_quote!(pub ADMIN: role = "admin")).is_err());
        assert!(parse_def(parse_quote!(ADMIN role = "admin")).is_err());
    }
}
