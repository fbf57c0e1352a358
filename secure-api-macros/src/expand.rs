//! Code generation: the only module that builds tokens.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{FnArg, LitStr, Pat, PatType, Type};

use crate::args::Handler;
use crate::validate::{Access, Model, RateKey};

/// What the macro emits on any error: the item exactly as written, so editors keep resolving
/// it, followed by every error.
pub(crate) fn unchanged(item: TokenStream, error: &syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote! {
        #item
        #errors
    }
}

/// The policy type with its const `Policy`, and the handler with the guard as its first
/// argument and validated extractors wrapped in `Valid`.
pub(crate) fn handler(model: &Model, handler: Handler) -> TokenStream {
    let Handler {
        attrs,
        vis,
        mut sig,
        body,
    } = handler;
    let krate = &model.krate;
    let name = sig.ident.unraw();
    let policy_ident = format_ident!("__secure_api_policy_{}", name);
    let handler_name = LitStr::new(&name.to_string(), name.span());

    let constructor = match model.access {
        Access::Public => quote!(public),
        Access::Authenticated | Access::AnyOf(_) => quote!(authenticated),
    };
    let roles = match &model.access {
        Access::AnyOf(roles) => quote!(.any_of_roles(&[#(#roles),*])),
        Access::Public | Access::Authenticated => TokenStream::new(),
    };
    let scopes = match &model.scopes {
        Some(scopes) if scopes.any => {
            let list = &scopes.list;
            quote!(.any_of_scopes(&[#(#list),*]))
        }
        Some(scopes) => {
            let list = &scopes.list;
            quote!(.all_of_scopes(&[#(#list),*]))
        }
        None => TokenStream::new(),
    };
    let auth = model.auth.as_ref().and_then(|schemes| {
        let mut schemes = schemes.iter().map(|scheme| match scheme {
            crate::auth::Scheme::Jwt => quote!(#krate::__private::AuthSchemes::JWT),
            crate::auth::Scheme::ApiKey => quote!(#krate::__private::AuthSchemes::API_KEY),
        });
        let first = schemes.next()?;
        Some(quote!(.authenticated_by(#first #(.and(#schemes))*)))
    });
    let rates = if model.rates.is_empty() {
        TokenStream::new()
    } else {
        let rates = model.rates.iter().map(|rate| {
            let count = Literal::u32_suffixed(rate.count);
            let period = Literal::u64_suffixed(rate.period_secs);
            quote!(#krate::__private::Rate::new(#count, #period))
        });
        quote!(.rate_limits(&[#(#rates),*]))
    };
    let rate_key = model.rate_key.as_ref().map(|key| {
        let source = match key {
            RateKey::Principal => quote!(Principal),
            RateKey::Ip => quote!(Ip),
            RateKey::ApiKey => quote!(ApiKey),
            RateKey::Header(name) => quote!(Header(#name)),
            // Spanned at the user's path, so a function of the wrong type is reported there.
            RateKey::Function(path) => {
                quote_spanned!(path.span()=> Custom(#path))
            }
        };
        quote!(.rate_key(#krate::__private::RateKeySource::#source))
    });
    let store_failure = if model.store_open {
        quote!(.on_store_error(#krate::__private::StoreFailure::Open))
    } else {
        TokenStream::new()
    };
    let validated = if model.validate {
        quote!(.validated())
    } else {
        TokenStream::new()
    };
    let mut transport = transport(&model.transport);
    if model.signed {
        transport.extend(quote!(.signed()));
    }
    if let Some(version) = &model.version {
        transport.extend(quote!(.in_version(#version)));
    }

    let guard: FnArg = syn::parse_quote!(_: #krate::__private::Guard<#policy_ident>);
    let mut inputs = Punctuated::new();
    inputs.push(guard);
    for (index, input) in std::mem::take(&mut sig.inputs).into_iter().enumerate() {
        let validated = model.validated_args.iter().any(|arg| arg.index == index);
        let decoded = model.decoded_args.contains(&index);
        inputs.push(match input {
            FnArg::Typed(pat_type) if validated => {
                FnArg::Typed(wrap(krate, quote!(Valid), pat_type))
            }
            FnArg::Typed(pat_type) if decoded => {
                FnArg::Typed(wrap(krate, quote!(Decoded), pat_type))
            }
            other => other,
        });
    }
    sig.inputs = inputs;

    // One call per validated argument, spanned at its inner type so that an unimplemented
    // `Validatable` is reported on the user's type rather than on the attribute.
    let assertions = model.validated_args.iter().map(|arg| {
        let inner = &arg.inner;
        quote_spanned!(inner.span()=> #krate::__private::assert_validatable::<#inner>();)
    });

    let checks = checks(model);
    let tracked = track(model.declared_file.as_deref());

    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, unreachable_pub)]
        #vis struct #policy_ident;

        impl #krate::__private::PolicySource for #policy_ident {
            const POLICY: &'static #krate::__private::Policy =
                &#krate::__private::Policy::#constructor(
                    ::core::concat!(::core::module_path!(), "::", #handler_name)
                )
                #roles
                #scopes
                #auth
                #rates
                #rate_key
                #store_failure
                #validated
                #transport;
            #checks
        }

        #krate::__private::inventory::submit! {
            #krate::__private::PolicyRegistration::new(
                <#policy_ident as #krate::__private::PolicySource>::POLICY
            )
        }

        #tracked

        #(#attrs)*
        #vis #sig {
            #(#assertions)*
            #body
        }
    }
}

/// The const builder calls of the replay, idempotency, deprecation and header keys.
fn transport(t: &crate::transport::Transport) -> TokenStream {
    let mut out = TokenStream::new();
    if t.replay {
        out.extend(quote!(.single_use_tokens()));
    }
    if t.idempotent {
        out.extend(quote!(.idempotent()));
    }
    if let Some(at) = t.deprecated_at {
        let at = Literal::i64_suffixed(at);
        out.extend(quote!(.deprecated_at(#at)));
    }
    if let Some(at) = t.sunset_at {
        let at = Literal::i64_suffixed(at);
        out.extend(quote!(.sunset_at(#at)));
    }
    if let Some(link) = &t.link {
        out.extend(quote!(.deprecation_link(#link)));
    }
    if t.profile == crate::transport::Profile::Relaxed {
        out.extend(quote!(.relaxed_headers()));
    }
    if let Some(csp) = &t.csp {
        out.extend(quote!(.content_security_policy(#csp)));
    }
    out
}

/// `run_checks`: each guard in order, then the ownership check. Each call is spanned at
/// the user's key so that "not a guard" or "not an ownership check" is reported there, and
/// each argument keeps its own span so that a wrong type is reported at the argument.
fn checks(model: &Model) -> TokenStream {
    if model.guards.is_empty() && model.owner.is_none() {
        return TokenStream::new();
    }
    let krate = &model.krate;
    let request = quote!(__secure_api_request);
    let guards = model.guards.iter().map(|guard| {
        let key = &guard.key;
        let ty = match key.to_string().as_str() {
            "ip_allow" => quote_spanned!(key.span()=> #krate::guards::IpAllow),
            "time_window" => quote_spanned!(key.span()=> #krate::guards::TimeWindow),
            "maintenance" => quote_spanned!(key.span()=> #krate::guards::Maintenance),
            _ => quote!(#key),
        };
        let fields = guard.fields.iter().map(|field| {
            let name = &field.name;
            let value = match &field.value {
                // An array literal is passed as a `&'static [T]`.
                syn::Expr::Array(array) => quote_spanned!(array.span()=> &#array),
                other => quote!(#other),
            };
            quote!(#name: #value)
        });
        let run = quote_spanned!(key.span()=>
            #krate::__private::run_guard(&__secure_api_guard, #request).await?;
        );
        quote! {
            {
                let __secure_api_guard = #ty { #(#fields),* };
                #run
            }
        }
    });
    let owner = model.owner.as_ref().map(|(check, forbidden)| {
        let refusal = if *forbidden {
            quote!(Forbidden)
        } else {
            quote!(NotFound)
        };
        quote_spanned!(check.span()=>
            #krate::__private::check_owner(&#check, #request, #krate::__private::OwnerRefusal::#refusal).await?;
        )
    });
    quote! {
        async fn run_checks(
            #request: &mut #krate::__private::GuardRequest<'_>,
        ) -> ::core::result::Result<(), #krate::__private::SecurityError> {
            #(#guards)*
            #owner
            ::core::result::Result::Ok(())
        }
    }
}

/// `#[secure_versions]`: one `#[secure]` handler per version, named `<handler>_<version>`,
/// with the same attributes, signature and body, and the version's keys plus the hidden
/// version entry. Each variant is then checked and expanded by `#[secure]` on its own.
pub(crate) fn versions(versions: &crate::versions::Versions, handler: &Handler) -> TokenStream {
    let Handler {
        attrs,
        vis,
        sig,
        body,
    } = handler;
    let krate: syn::Path = match &versions.krate {
        Some(lit) => lit
            .parse()
            .unwrap_or_else(|_| syn::parse_quote!(::secure_api)),
        None => syn::parse_quote!(::secure_api),
    };
    let krate_key = versions.krate.as_ref().map(|lit| quote!(crate = #lit,));
    let base = sig.ident.unraw();
    let variants = versions.list.iter().map(|version| {
        let name = version.name.unraw();
        let tag = LitStr::new(&name.to_string(), version.name.span());
        let keys = &version.keys;
        let mut sig = sig.clone();
        sig.ident = format_ident!("{}_{}", base, name, span = sig.ident.span());
        quote! {
            #[#krate::secure(__secure_api_version = #tag, #krate_key #keys)]
            #(#attrs)*
            #vis #sig #body
        }
    });
    quote!(#(#variants)*)
}

/// Includes the declaration file's bytes so that cargo rebuilds when it changes.
pub(crate) fn track(file: Option<&str>) -> TokenStream {
    match file {
        Some(file) => quote! {
            const _: &[u8] = ::core::include_bytes!(#file);
        },
        None => TokenStream::new(),
    }
}

/// The first pass of a handler naming a policy: hand the attribute and the function to the
/// policy's `macro_rules!`, which calls `#[secure]` again with its own keys added.
pub(crate) fn delegate(policy: &syn::Path, attr: TokenStream, item: TokenStream) -> TokenStream {
    quote_spanned! {policy.span()=>
        #policy! { @secure_api [#attr] #item }
    }
}

/// `policy!(NAME: keys)`: a `macro_rules!` that re-applies `#[secure]` with the policy's
/// keys, re-exported under the policy's name so that it is imported like any item.
pub(crate) fn policy(
    krate: &syn::Path,
    attrs: &[syn::Attribute],
    vis: &syn::Visibility,
    name: &syn::Ident,
    keys: TokenStream,
    doc: &str,
) -> TokenStream {
    let hidden = format_ident!("__secure_api_policy_macro_{}", name);
    let misuse = LitStr::new(
        &format!(
            "`{name}` is a secure-api policy: use it as `#[secure(policy = {name})]` on a handler"
        ),
        name.span(),
    );
    let resolved = format_ident!("__secure_api_policy");
    quote! {
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #hidden {
            (@secure_api [$($args:tt)*] $($item:tt)*) => {
                #[#krate::secure(#resolved(#name: #keys), $($args)*)]
                $($item)*
            };
            ($($other:tt)*) => {
                ::core::compile_error!(#misuse);
            };
        }
        #(#attrs)*
        #[doc = #doc]
        #[allow(unused_imports)]
        #vis use #hidden as #name;
    }
}

/// The stand-in for a policy whose keys have errors: handlers naming it expand to their
/// function unchanged, so the errors are reported once, at the policy.
pub(crate) fn policy_passthrough(vis: &syn::Visibility, name: &syn::Ident) -> TokenStream {
    let hidden = format_ident!("__secure_api_policy_macro_{}", name);
    quote! {
        #[doc(hidden)]
        #[allow(unused_macros)]
        macro_rules! #hidden {
            (@secure_api [$($args:tt)*] $($item:tt)*) => { $($item)* };
        }
        #[allow(unused_imports)]
        #vis use #hidden as #name;
    }
}

/// `pat: ty` becomes `__private::W(pat): __private::W<ty>`.
fn wrap(krate: &syn::Path, wrapper: TokenStream, pat_type: PatType) -> PatType {
    let PatType {
        attrs,
        pat,
        colon_token,
        ty,
    } = pat_type;
    let pat: Pat = syn::parse_quote!(#krate::__private::#wrapper(#pat));
    let ty: Type = syn::parse_quote!(#krate::__private::#wrapper<#ty>);
    PatType {
        attrs,
        pat: Box::new(pat),
        colon_token,
        ty: Box::new(ty),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::args::{parse_args, parse_handler};
    use crate::error::Errors;
    use crate::validate::build;
    use syn::parse_quote;

    fn expand(attr: TokenStream, item: TokenStream) -> syn::File {
        let mut errors = Errors::default();
        let args = parse_args(attr, &mut errors);
        let handler = parse_handler(item).unwrap();
        let model = build(args, Some(&handler), &mut errors);
        errors.finish().unwrap();
        syn::parse2(super::handler(&model, handler)).unwrap()
    }

    fn compact(tokens: impl quote::ToTokens) -> String {
        tokens.to_token_stream().to_string().replace(' ', "")
    }

    #[test]
    fn full_example_expands_to_policy_guard_and_validation() {
        let file = expand(
            parse_quote!(role = "admin", rate = "100/15m", validate),
            parse_quote!(
                /// docs
                #[some_attr]
                pub(crate) async fn create<T: Clone>(
                    State(s): State<AppState>,
                    Json(body): Json<NewThing>,
                ) -> Result<impl IntoResponse, E>
                where
                    T: Send,
                {
                    body
                }
            ),
        );
        assert_eq!(file.items.len(), 4);
        let syn::Item::Struct(policy) = &file.items[0] else {
            panic!("expected the policy struct first")
        };
        assert_eq!(policy.ident, "__secure_api_policy_create");
        assert_eq!(compact(&policy.vis), "pub(crate)");

        let policy_impl = compact(&file.items[1]);
        assert!(
            policy_impl.contains(
                "&::secure_api::__private::Policy::authenticated(::core::concat!(::core::module_path!(),\"::\",\"create\")).any_of_roles(&[\"admin\"]).rate_limits(&[::secure_api::__private::Rate::new(100u32,900u64)]).validated();"
            ),
            "{policy_impl}"
        );

        let registration = compact(&file.items[2]);
        assert!(
            registration.contains("::secure_api::__private::inventory::submit!{::secure_api::__private::PolicyRegistration::new(<__secure_api_policy_createas::secure_api::__private::PolicySource>::POLICY)}"),
            "{registration}"
        );

        let syn::Item::Fn(function) = &file.items[3] else {
            panic!("expected the handler last")
        };
        assert_eq!(function.attrs.len(), 2);
        assert_eq!(compact(&function.vis), "pub(crate)");
        assert_eq!(compact(&function.sig.generics.params), "T:Clone");
        assert_eq!(compact(&function.sig.generics.where_clause), "whereT:Send,");
        let inputs: Vec<String> = function.sig.inputs.iter().map(compact).collect();
        assert_eq!(
            inputs,
            [
                "_:::secure_api::__private::Guard<__secure_api_policy_create>",
                "State(s):State<AppState>",
                "::secure_api::__private::Valid(Json(body)):::secure_api::__private::Valid<Json<NewThing>>",
            ]
        );
        assert_eq!(
            compact(&function.sig.output),
            "->Result<implIntoResponse,E>"
        );
        assert_eq!(
            compact(&function.block),
            "{::secure_api::__private::assert_validatable::<NewThing>();{body}}"
        );
    }

    #[test]
    fn public_handler_without_arguments_gets_only_the_guard() {
        let file = expand(
            parse_quote!(public),
            parse_quote!(
                async fn health() -> &'static str {
                    "ok"
                }
            ),
        );
        let policy_impl = compact(&file.items[1]);
        assert!(
            policy_impl.contains(
                "Policy::public(::core::concat!(::core::module_path!(),\"::\",\"health\"));"
            ),
            "{policy_impl}"
        );
        let syn::Item::Fn(function) = &file.items[3] else {
            panic!("expected the handler last")
        };
        let inputs: Vec<String> = function.sig.inputs.iter().map(compact).collect();
        assert_eq!(
            inputs,
            ["_:::secure_api::__private::Guard<__secure_api_policy_health>"]
        );
        assert_eq!(compact(&function.block), "{{\"ok\"}}");
    }

    #[test]
    fn crate_override_is_used_for_every_path() {
        let file = expand(
            parse_quote!(crate = "sa", any_role = ["editor", "auditor"]),
            parse_quote!(
                async fn f(Query(q): Query<Q>) {}
            ),
        );
        let all = compact(&file);
        assert!(!all.contains("secure_api::"), "{all}");
        assert!(all.contains("implsa::__private::PolicySource"), "{all}");
        assert!(
            all.contains(".any_of_roles(&[\"editor\",\"auditor\"])"),
            "{all}"
        );
        assert!(all.contains("_:sa::__private::Guard<"), "{all}");
        assert!(!all.contains("Valid"), "{all}");
    }

    #[test]
    fn raw_identifier_names_are_unraw_in_generated_names() {
        let file = expand(
            TokenStream::new(),
            parse_quote!(
                async fn r#type() {}
            ),
        );
        let all = compact(&file);
        assert!(all.contains("__secure_api_policy_type"), "{all}");
        assert!(all.contains("\"::\",\"type\""), "{all}");
        assert!(all.contains("asyncfnr#type("), "{all}");
    }
}
