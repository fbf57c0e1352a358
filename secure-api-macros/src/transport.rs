//! Checks of the response-shaping keys: `replay`, `idempotent`, `deprecated`, `sunset`,
//! `link`, `headers` and `csp`. Dates, links and Content-Security-Policy strings are
//! validated here, at compile time, so a typo never reaches a response header.

use syn::LitStr;

use crate::args::Args;
use crate::error::Errors;

/// `headers = "..."`: which header profile the layer applies to this route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    Api,
    Relaxed,
}

/// What the transport keys add to the model.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) replay: bool,
    pub(crate) idempotent: bool,
    /// Seconds since the Unix epoch (midnight UTC of the given day).
    pub(crate) deprecated_at: Option<i64>,
    pub(crate) sunset_at: Option<i64>,
    pub(crate) link: Option<String>,
    pub(crate) profile: Profile,
    pub(crate) csp: Option<String>,
}

pub(crate) fn build(args: &Args, public: bool, errors: &mut Errors) -> Transport {
    if let (Some(replay), true) = (&args.replay, public) {
        errors.at(
            replay.key.span(),
            "`replay` makes each token's `jti` single-use, so it needs an authenticated route; remove `public` or `replay`",
        );
    }
    let deprecated_at = args
        .deprecated
        .as_ref()
        .and_then(|d| date(&d.value, "deprecated", errors));
    let sunset_at = args
        .sunset
        .as_ref()
        .and_then(|d| date(&d.value, "sunset", errors));
    if let (Some(dep), Some(sun), Some(sunset)) = (deprecated_at, sunset_at, &args.sunset)
        && sun < dep
    {
        errors.at(
            sunset.value.span(),
            "`sunset` is before `deprecated`: a route is deprecated first and removed later",
        );
    }
    let link = args.link.as_ref().and_then(|l| {
        let value = l.value.value();
        match check_link(&value) {
            Ok(()) => Some(value),
            Err(why) => {
                errors.at(l.value.span(), format_args!("invalid `link`: {why}"));
                None
            }
        }
    });
    if let (Some(link), None, None) = (&args.link, &args.deprecated, &args.sunset) {
        errors.at(
            link.key.span(),
            "`link` points clients to what replaces a route; it needs `deprecated` or `sunset`",
        );
    }
    let profile = match &args.headers {
        None => Profile::Api,
        Some(h) => match h.value.value().as_str() {
            "api" => Profile::Api,
            "relaxed" => Profile::Relaxed,
            other => {
                errors.at(
                    h.value.span(),
                    format_args!(
                        "unknown header profile `{other}`: expected `\"api\"` (the default, for JSON APIs) or `\"relaxed\"` (for documentation pages)"
                    ),
                );
                Profile::Api
            }
        },
    };
    let csp = args.csp.as_ref().and_then(|c| {
        let value = c.value.value();
        match check_csp(&value) {
            Ok(()) => Some(value),
            Err(why) => {
                errors.at(
                    c.value.span(),
                    format_args!("invalid Content-Security-Policy: {why}"),
                );
                None
            }
        }
    });
    Transport {
        replay: args.replay.is_some(),
        idempotent: args.idempotent.is_some(),
        deprecated_at,
        sunset_at,
        link,
        profile,
        csp,
    }
}

fn date(lit: &LitStr, key: &str, errors: &mut Errors) -> Option<i64> {
    let text = lit.value();
    match parse_date(&text) {
        Some(secs) => Some(secs),
        None => {
            errors.at(
                lit.span(),
                format_args!(
                    "invalid date `{text}` for `{key}`: expected a calendar date YYYY-MM-DD, such as `{key} = \"2027-06-30\"`"
                ),
            );
            None
        }
    }
}

/// `YYYY-MM-DD` (years 1970 to 9999) to seconds since the epoch at 00:00 UTC.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if year < 1970 || !(1..=12).contains(&month) {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A link is an absolute `https://` URL or a path on this API (`/v1/customers`), with no
/// character that could break out of `Link: <...>`.
fn check_link(link: &str) -> Result<(), &'static str> {
    if link.is_empty() {
        return Err("it is empty");
    }
    if !link
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\' | b'`'))
    {
        return Err("it may only hold visible ASCII without `<`, `>`, quotes or backslashes");
    }
    if link.starts_with("https://") && link.len() > "https://".len() {
        return Ok(());
    }
    if link.starts_with('/') && !link.starts_with("//") {
        return Ok(());
    }
    Err("expected an absolute `https://` URL or a path starting with `/`")
}

/// Directives a policy may hold (CSP Level 3).
const DIRECTIVES: &[&str] = &[
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "sandbox",
    "upgrade-insecure-requests",
    "report-uri",
    "report-to",
    "require-trusted-types-for",
    "trusted-types",
];

/// Directives that stand alone or may have an empty value.
const VALUELESS: &[&str] = &["upgrade-insecure-requests", "sandbox"];

fn check_csp(policy: &str) -> Result<(), String> {
    if !policy.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err("only visible ASCII and spaces may appear in a header".to_owned());
    }
    if policy.contains(',') {
        return Err(
            "`,` separates several policies; give one policy, directives separated by `;`"
                .to_owned(),
        );
    }
    let mut seen: Vec<&str> = Vec::new();
    for directive in policy.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut words = directive.split_ascii_whitespace();
        let name = words.next().unwrap_or_default();
        let lowered = name.to_ascii_lowercase();
        let Some(known) = DIRECTIVES.iter().find(|d| **d == lowered) else {
            return Err(format!("unknown directive `{name}`"));
        };
        if seen.contains(known) {
            return Err(format!("directive `{known}` is given twice"));
        }
        seen.push(known);
        let sources: Vec<&str> = words.collect();
        if sources.is_empty() && !VALUELESS.contains(known) {
            return Err(format!(
                "directive `{known}` has no source (use `'none'` to allow nothing)"
            ));
        }
        for source in &sources {
            let keyword = source.starts_with('\'');
            if keyword && (!source.ends_with('\'') || source.len() < 3) {
                return Err(format!("source `{source}` has unbalanced quotes"));
            }
            let bare = source.trim_matches('\'').to_ascii_lowercase();
            if keyword && matches!(bare.as_str(), "none") && sources.len() > 1 {
                return Err(format!(
                    "`'none'` in `{known}` cannot be combined with other sources"
                ));
            }
        }
    }
    if seen.is_empty() {
        return Err("the policy has no directive".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_calendar_dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2027-01-01"), Some(1_798_761_600));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-04-31",
            "27-01-01",
            "2027/01/01",
            "2027-1-01",
            "",
            "1969-12-31",
            "2027-01-0a",
            "+027-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn links_are_https_or_local_paths() {
        assert!(check_link("https://api.example.com/v2").is_ok());
        assert!(check_link("/v1/customers").is_ok());
        for bad in [
            "http://x",
            "//evil.example",
            "v1",
            "/a b",
            "/a>b",
            "https://",
            "",
        ] {
            assert!(check_link(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csp_strings_are_checked() {
        assert!(check_csp("default-src 'none'; frame-ancestors 'none'").is_ok());
        assert!(
            check_csp("default-src 'self'; img-src 'self' data:; upgrade-insecure-requests")
                .is_ok()
        );
        for bad in [
            "",
            "default-src",
            "defualt-src 'self'",
            "default-src 'self'; default-src 'none'",
            "default-src 'self', script-src 'none'",
            "default-src 'none' 'self'",
            "script-src 'self",
            "default-src 'self'\n",
        ] {
            assert!(check_csp(bad).is_err(), "{bad:?}");
        }
    }
}
