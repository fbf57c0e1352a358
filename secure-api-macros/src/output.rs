//! `#[derive(AuthorizedOutput)]`: field-level output authorization.
//!
//! Parses `#[visible(...)]` on each field into a typed rule, checks role names like the
//! attribute does (declared roles and scopes included), and emits an `AuthorizedOutput`
//! impl that writes a restricted field only for a principal that qualifies.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Lit, LitStr, Token};

use crate::declared::Declared;
use crate::error::Errors;

/// What one field's `#[visible(...)]` says.
#[derive(Default)]
struct Rule {
    roles: Vec<LitStr>,
    scopes: Vec<LitStr>,
    nested: bool,
    restricted: bool,
}

pub(crate) fn derive(
    input: DeriveInput,
    declared: Option<&Declared>,
    errors: &mut Errors,
) -> TokenStream {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        errors.at(
            name.span(),
            "`AuthorizedOutput` is derived for structs with named fields, whose fields it can show or hide",
        );
        return TokenStream::new();
    };
    let Fields::Named(fields) = &data.fields else {
        errors.at(
            name.span(),
            "`AuthorizedOutput` is derived for structs with named fields, whose fields it can show or hide",
        );
        return TokenStream::new();
    };
    let krate = quote!(::secure_api);
    let mut shows = Vec::new();
    let mut writes = Vec::new();
    for (index, field) in fields.named.iter().enumerate() {
        let rule = rule(field, declared, errors);
        let Some(ident) = &field.ident else { continue };
        let key = LitStr::new(&ident.unraw_string(), ident.span());
        let show = if rule.restricted {
            let roles = &rule.roles;
            let scopes = &rule.scopes;
            quote!(#krate::visible_to(__viewer, &[#(#roles),*], &[#(#scopes),*]))
        } else {
            quote!(true)
        };
        shows.push(show);
        let value = if rule.nested {
            quote_spanned!(field.ty.span()=> &#krate::View { value: &self.#ident, viewer: __viewer })
        } else {
            quote_spanned!(field.ty.span()=> &self.#ident)
        };
        writes.push(quote! {
            if __show[#index] {
                __state.serialize_field(#key, #value)?;
            } else {
                __state.skip_field(#key)?;
            }
        });
    }
    let struct_name = LitStr::new(&name.to_string(), name.span());
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let tracked = crate::expand::track(declared.map(Declared::path).as_deref());
    quote! {
        #tracked

        impl #impl_generics #krate::AuthorizedOutput for #name #ty_generics #where_clause {
            fn serialize_for<__S: #krate::__private::serde::Serializer>(
                &self,
                __viewer: ::core::option::Option<&#krate::Principal>,
                __serializer: __S,
            ) -> ::core::result::Result<__S::Ok, __S::Error> {
                use #krate::__private::serde::ser::SerializeStruct as _;
                let __show = [#(#shows),*];
                let __count = __show.iter().filter(|shown| **shown).count();
                let mut __state = __serializer.serialize_struct(#struct_name, __count)?;
                #(#writes)*
                __state.end()
            }
        }

        impl #impl_generics #krate::__private::RestrictedFieldsMustNotBeSerializeDirectly
            for #name #ty_generics #where_clause {}
    }
}

trait UnrawString {
    fn unraw_string(&self) -> String;
}

impl UnrawString for syn::Ident {
    fn unraw_string(&self) -> String {
        syn::ext::IdentExt::unraw(self).to_string()
    }
}

fn rule(field: &syn::Field, declared: Option<&Declared>, errors: &mut Errors) -> Rule {
    let mut rule = Rule::default();
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("visible")) {
        let parsed = attr
            .parse_args_with(syn::punctuated::Punctuated::<syn::Meta, Token![,]>::parse_terminated);
        let metas = match parsed {
            Ok(metas) => metas,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for meta in metas {
            let key = meta
                .path()
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match (key.as_str(), &meta) {
                ("role", syn::Meta::NameValue(nv)) => match string(&nv.value) {
                    Some(lit) => {
                        check_role(&lit, declared, errors);
                        rule.roles.push(lit);
                        rule.restricted = true;
                    }
                    None => errors.spanned(&nv.value, "`role` expects a string literal, such as `role = \"admin\"`"),
                },
                ("any_role", syn::Meta::NameValue(nv)) => match &nv.value {
                    Expr::Array(array) if !array.elems.is_empty() => {
                        for elem in &array.elems {
                            match string(elem) {
                                Some(lit) => {
                                    check_role(&lit, declared, errors);
                                    rule.roles.push(lit);
                                }
                                None => errors.spanned(elem, "a role must be a string literal, such as `\"admin\"`"),
                            }
                        }
                        rule.restricted = true;
                    }
                    other => errors.spanned(other, "`any_role` expects a non-empty array of string literals, such as `any_role = [\"admin\", \"support\"]`"),
                },
                ("scope", syn::Meta::NameValue(nv)) => match string(&nv.value) {
                    Some(lit) => {
                        check_scope(&lit, declared, errors);
                        rule.scopes.push(lit);
                        rule.restricted = true;
                    }
                    None => errors.spanned(&nv.value, "`scope` expects a string literal, such as `scope = \"customers:pii\"`"),
                },
                ("nested", syn::Meta::Path(_)) => rule.nested = true,
                _ => errors.spanned(
                    meta.path(),
                    format_args!(
                        "unknown `visible` key `{}`: the keys are `role = \"...\"`, `any_role = [...]`, `scope = \"...\"` and `nested`",
                        quote::ToTokens::to_token_stream(meta.path()).to_string().replace(' ', "")
                    ),
                ),
            }
        }
    }
    rule
}

fn string(expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        _ => None,
    }
}

fn check_role(lit: &LitStr, declared: Option<&Declared>, errors: &mut Errors) {
    let value = lit.value();
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.at(
            lit.span(),
            "a role name cannot be empty or contain whitespace",
        );
        return;
    }
    if let Some(declared) = declared {
        crate::validate::check_declared_role(lit, declared, errors);
    }
}

fn check_scope(lit: &LitStr, declared: Option<&Declared>, errors: &mut Errors) {
    let value = lit.value();
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.at(
            lit.span(),
            "a scope name cannot be empty or contain whitespace",
        );
        return;
    }
    let Some(declared) = declared.filter(|d| !d.scopes.is_empty()) else {
        return;
    };
    if declared.scopes.contains(&value) {
        return;
    }
    let all = crate::declared::list(&declared.scopes);
    let file = crate::declared::FILE;
    match crate::declared::closest(&value, &declared.scopes) {
        Some(close) => errors.at(
            lit.span(),
            format_args!("scope `{value}` is not declared in {file}: did you mean `{close}`? The declared scopes are {all}"),
        ),
        None => errors.at(
            lit.span(),
            format_args!("scope `{value}` is not declared in {file}: the declared scopes are {all}"),
        ),
    }
}
