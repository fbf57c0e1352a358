//! `auth = "api_key"` / `auth = ["jwt", "api_key"]`: the schemes a handler accepts.

use crate::args::Args;
use crate::error::Errors;

/// A scheme named by `auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Jwt,
    ApiKey,
}

/// The scheme names, for messages and suggestions.
const SCHEMES: &[&str] = &["jwt", "api_key"];

/// Checks `auth`: known names, no repeats, not empty, not on a public handler. `None`
/// when the key is absent (the configured default applies) or wrong.
pub(crate) fn check(args: &Args, errors: &mut Errors) -> Option<Vec<Scheme>> {
    let auth = args.auth.as_ref()?;
    let mut ok = true;
    if let Some(public) = &args.public {
        let at = if auth.position > public.position {
            &auth.key
        } else {
            &public.key
        };
        errors.at(
            at.span(),
            "`auth` cannot be combined with `public`: a public handler reads no credentials; remove `auth`, or remove `public` to authenticate",
        );
        ok = false;
    }
    if auth.value.roles.is_empty() {
        errors.at(
            auth.value.span,
            "`auth` needs at least one scheme, such as `auth = \"api_key\"` or `auth = [\"jwt\", \"api_key\"]`; leave it out for the configured default",
        );
        return None;
    }
    let mut schemes = Vec::new();
    for lit in &auth.value.roles {
        let name = lit.value();
        let scheme = match name.as_str() {
            "jwt" => Scheme::Jwt,
            "api_key" => Scheme::ApiKey,
            _ => {
                errors.at(lit.span(), unknown_message(&name));
                ok = false;
                continue;
            }
        };
        if schemes.contains(&scheme) {
            errors.at(
                lit.span(),
                format_args!("scheme {name:?} is given twice in `auth`"),
            );
            ok = false;
            continue;
        }
        schemes.push(scheme);
    }
    if let (Some(replay), [Scheme::ApiKey]) = (&args.replay, schemes.as_slice()) {
        errors.at(
            replay.key.span(),
            "`replay` makes each token's `jti` single-use, and an API key has none: on a route with `auth = \"api_key\"` every request would be refused; accept `\"jwt\"` too, or remove `replay`",
        );
        ok = false;
    }
    ok.then_some(schemes)
}

fn unknown_message(name: &str) -> String {
    let lowered = name.to_ascii_lowercase();
    let close = match lowered.as_str() {
        "bearer" | "token" | "oauth" | "oauth2" => Some("jwt"),
        _ => SCHEMES
            .iter()
            .map(|s| (crate::args::levenshtein(&lowered.replace('-', "_"), s), *s))
            .filter(|(d, s)| *d <= (s.len() / 3).max(1))
            .min_by_key(|(d, _)| *d)
            .map(|(_, s)| s),
    };
    let hint = close
        .map(|s| format!(" did you mean \"{s}\"?"))
        .unwrap_or_default();
    format!("unknown authentication scheme {name:?}:{hint} the schemes are \"jwt\" and \"api_key\"")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::args::parse_args;
    use proc_macro2::TokenStream;
    use syn::parse_quote;

    fn check_of(attr: TokenStream) -> (Option<Vec<Scheme>>, Vec<String>) {
        let mut errors = Errors::default();
        let args = parse_args(attr, &mut errors);
        let schemes = check(&args, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (schemes, messages)
    }

    #[test]
    fn schemes_are_read_in_order() {
        let (schemes, errors) = check_of(parse_quote!(auth = ["api_key", "jwt"]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(schemes.unwrap(), [Scheme::ApiKey, Scheme::Jwt]);
        let (schemes, _) = check_of(parse_quote!(auth = "api_key"));
        assert_eq!(schemes.unwrap(), [Scheme::ApiKey]);
        let (schemes, _) = check_of(parse_quote!(role = "a"));
        assert!(schemes.is_none());
    }

    #[test]
    fn mistakes_are_reported() {
        let (_, errors) = check_of(parse_quote!(auth = ["apikey", "jwt", "jwt", "bearer"]));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("did you mean \"api_key\"?"),
            "{errors:?}"
        );
        assert!(errors[1].contains("given twice"), "{errors:?}");
        assert!(errors[2].contains("did you mean \"jwt\"?"), "{errors:?}");
        let (_, errors) = check_of(parse_quote!(auth = []));
        assert!(errors[0].contains("at least one scheme"), "{errors:?}");
        let (_, errors) = check_of(parse_quote!(public, auth = "jwt"));
        assert!(
            errors[0].contains("cannot be combined with `public`"),
            "{errors:?}"
        );
        let (_, errors) = check_of(parse_quote!(auth = "api_key", replay));
        assert!(
            errors[0].contains("`replay` makes each token"),
            "{errors:?}"
        );
        let (_, errors) = check_of(parse_quote!(auth = ["api_key", "jwt"], replay));
        assert!(errors.is_empty(), "{errors:?}");
        let (_, errors) = check_of(parse_quote!(auth = 5));
        assert!(errors[0].contains("`auth` expects a scheme"), "{errors:?}");
    }
}
