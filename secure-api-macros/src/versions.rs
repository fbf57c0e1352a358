//! `#[secure_versions(v1(keys), v2(keys))]`: parsing and checks. Each version becomes a
//! `#[secure]` handler of its own (`expand::versions`), so the keys of a version are
//! checked by `#[secure]` itself, with their own spans.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token};

use crate::args::{Handler, split_entries};
use crate::error::Errors;

const EXAMPLE: &str = "#[secure_versions(v1(role = \"viewer\"), v2(role = \"admin\"))]";

/// One version: its name and the `#[secure]` keys of its policy.
pub(crate) struct Version {
    pub(crate) name: Ident,
    pub(crate) keys: TokenStream,
}

/// The attribute's versions, in source order, and the `crate = "..."` override.
pub(crate) struct Versions {
    pub(crate) krate: Option<LitStr>,
    pub(crate) list: Vec<Version>,
}

enum Entry {
    Version(Version),
    Crate(LitStr),
}

fn entry(input: ParseStream<'_>) -> syn::Result<Entry> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(format!(
            "expected a version such as `v1(role = \"viewer\")`: {EXAMPLE}"
        )));
    }
    let name = input.call(Ident::parse_any)?;
    if name == "crate" && input.peek(Token![=]) {
        let _: Token![=] = input.parse()?;
        let lit: LitStr = input.parse()?;
        return Ok(Entry::Crate(lit));
    }
    let group = match input.parse::<TokenTree>() {
        Ok(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => group,
        _ => {
            return Err(syn::Error::new(
                name.span(),
                format_args!(
                    "`{}` needs the keys of its policy in parentheses, such as `{}(role = \"viewer\")`",
                    name.unraw(),
                    name.unraw()
                ),
            ));
        }
    };
    if !input.is_empty() {
        return Err(input.error("expected `,` between versions"));
    }
    Ok(Entry::Version(Version {
        name,
        keys: group.stream(),
    }))
}

/// `v` then a digit, then lower-case letters, digits or `_`: a path segment that needs no
/// escaping and an identifier suffix.
pub(crate) fn is_version_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes.len() <= 32
        && bytes[0] == b'v'
        && bytes[1].is_ascii_digit()
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// Parses and checks the attribute, recording every problem.
pub(crate) fn parse(attr: TokenStream, errors: &mut Errors) -> Versions {
    let mut versions = Versions {
        krate: None,
        list: Vec::new(),
    };
    let mut mistakes = false;
    for chunk in split_entries(attr) {
        match chunk.and_then(|chunk| entry.parse2(chunk)) {
            Ok(Entry::Crate(lit)) => {
                if versions.krate.is_some() {
                    mistakes = true;
                    errors.at(
                        lit.span(),
                        "duplicate key `crate`: each key may be given once",
                    );
                } else {
                    versions.krate = Some(lit);
                }
            }
            Ok(Entry::Version(version)) => {
                let name = version.name.unraw().to_string();
                if !is_version_name(&name) {
                    mistakes = true;
                    errors.at(
                        version.name.span(),
                        format_args!(
                            "`{name}` is not a version name: write `v` and a number, optionally followed by lower-case letters, digits or `_`, such as `v1` or `v2beta`"
                        ),
                    );
                } else if versions.list.iter().any(|v| v.name == version.name) {
                    mistakes = true;
                    errors.at(
                        version.name.span(),
                        format_args!("duplicate version `{name}`: each version may be given once"),
                    );
                } else {
                    versions.list.push(version);
                }
            }
            Err(error) => {
                mistakes = true;
                errors.push(error);
            }
        }
    }
    if versions.list.is_empty() && !mistakes {
        errors.at(
            proc_macro2::Span::call_site(),
            format_args!("`secure_versions` needs at least one version: {EXAMPLE}"),
        );
    }
    versions
}

/// The handler must not also carry `#[secure]`: each version's keys are its policy.
pub(crate) fn check_handler(handler: &Handler, errors: &mut Errors) {
    for attr in &handler.attrs {
        if attr
            .path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "secure" || s.ident == "secure_versions")
        {
            errors.spanned(
                attr,
                "a handler with `#[secure_versions]` takes no other `#[secure]` or `#[secure_versions]`: give each version its keys, `v1(role = \"viewer\")`",
            );
        }
    }
    if handler.sig.asyncness.is_none() {
        errors.spanned(
            handler.sig.fn_token,
            "`#[secure_versions]` applies to an `async fn` handler only",
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn parsed(attr: TokenStream) -> (Vec<String>, Vec<String>) {
        let mut errors = Errors::default();
        let versions = parse(attr, &mut errors);
        let names = versions.list.iter().map(|v| v.name.to_string()).collect();
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (names, messages)
    }

    #[test]
    fn versions_parse_in_order() {
        let (names, errors) = parsed(parse_quote!(
            v1(public),
            v2(role = "admin", rate = "1/s"),
            crate = "sa"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(names, ["v1", "v2"]);
    }

    #[test]
    fn mistakes_are_each_reported() {
        let (_, errors) = parsed(parse_quote!(v1(public), v1(public), V2(public), v3, "x"));
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].contains("duplicate version `v1`"));
        assert!(errors[1].contains("`V2` is not a version name"));
        assert!(errors[2].contains("`v3` needs the keys"));
        assert!(errors[3].contains("expected a version"));
        let (_, errors) = parsed(TokenStream::new());
        assert!(errors[0].contains("at least one version"), "{errors:?}");
    }
}
