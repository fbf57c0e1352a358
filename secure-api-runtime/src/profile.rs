//! The response header profile, as header maps made once per configuration.
//!
//! Every response through the layer gets the same dozen headers. Inserting them one by one
//! hashes each name and grows the handler's map past its first allocation; instead, a
//! response's headers start as a copy of a template made when the configuration is built,
//! and the handler's own headers are merged into the copy under the profile's rules:
//!
//! - the profile's values replace the handler's for `X-Content-Type-Options`,
//!   `X-Frame-Options`, `Referrer-Policy`, `Cross-Origin-Opener-Policy`,
//!   `Cross-Origin-Resource-Policy`, `X-Request-Id`, `Strict-Transport-Security` (when the
//!   request came over HTTPS and HTTPS is required) and the `RateLimit` fields the layer
//!   writes; `Server` and `X-Powered-By` are dropped;
//! - the handler's `Content-Type` and `Content-Security-Policy` are kept, and so is its
//!   `Cache-Control` unless the request carried credentials (then it is `no-store`);
//! - every other header of the handler is kept, every value of it, in order.
//!
//! A route's own CSP, the relaxed profile and the deprecation headers are applied after
//! the merge, over the handler's, as they always were.

use http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, SERVER,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::policy::Policy;
use crate::ratelimit_headers::{
    RATELIMIT, RATELIMIT_LIMIT, RATELIMIT_POLICY, RateLimitHeaders, RateLimitSlot, draft10_values,
};
use crate::transport::{
    CROSS_ORIGIN_OPENER_POLICY, CROSS_ORIGIN_RESOURCE_POLICY, SAME_ORIGIN, apply_route_headers,
};

static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
static DENY: HeaderValue = HeaderValue::from_static("DENY");
static CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
static NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
/// The value of a template slot until the response's own value is written there.
static UNSET: HeaderValue = HeaderValue::from_static("");
static X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Template entries whose value belongs to the response: the handler's `Content-Type`
/// and `Content-Length`, the request id and the draft-10 `RateLimit` fields. Each is
/// filled per response, or removed when nothing fills it; in place, the response's own
/// headers need no room beyond the copy's. The layer never writes `Content-Length`
/// itself (middleware outside it may change the body): when the handler gave none, its
/// removed slot leaves room for the one the router adds after the layer, in a table that
/// would otherwise have to grow to twice its size.
const SLOTS: usize = 5;
const REQUEST_ID_SLOT: usize = 2;
const RATELIMIT_POLICY_SLOT: usize = 3;
const RATELIMIT_SLOT: usize = 4;

fn slot_names() -> [&'static HeaderName; SLOTS] {
    [
        &CONTENT_TYPE,
        &CONTENT_LENGTH,
        &X_REQUEST_ID,
        &RATELIMIT_POLICY,
        &RATELIMIT,
    ]
}

fn slot_of(name: &HeaderName) -> Option<usize> {
    slot_names().iter().position(|slot| *slot == name)
}

/// The header maps a configuration's responses start from.
pub(crate) struct HeaderProfile {
    /// Indexed by `hsts | draft10 << 1`: with `Strict-Transport-Security` or not, with the
    /// draft-10 `RateLimit` fields or not.
    templates: [HeaderMap; 4],
    /// Where each template's slots are, by [`slot_of`] order, in its iteration order
    /// (which its copies keep); `None` for a slot the template lacks.
    slots: [[Option<usize>; SLOTS]; 4],
    /// Whether HTTPS is required, so that the HSTS templates carry the header.
    hsts: bool,
}

impl std::fmt::Debug for HeaderProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderProfile")
            .field("hsts", &self.hsts)
            .finish_non_exhaustive()
    }
}

/// What the layer knows about a response when it sets its headers.
pub(crate) struct ResponseFacts<'a> {
    /// The request carried credentials (`Authorization`, an API key or a cookie).
    pub(crate) credentialed: bool,
    /// The request came over HTTPS to a configuration that requires it.
    pub(crate) hsts: bool,
    /// The `X-Request-Id` value.
    pub(crate) request_id: Option<HeaderValue>,
    /// The tightest quota the guard saw, for the `RateLimit` fields.
    pub(crate) rate_limit: Option<&'a RateLimitSlot>,
    /// The route's policy, once its guard ran.
    pub(crate) policy: Option<&'a Policy>,
}

impl HeaderProfile {
    /// The templates for a configuration whose HSTS value is `hsts` (when HTTPS is
    /// required).
    pub(crate) fn new(hsts: Option<&HeaderValue>) -> Self {
        let template = |with_hsts: bool, draft10: bool| {
            let mut map = HeaderMap::with_capacity(13);
            map.insert(CONTENT_TYPE, UNSET.clone());
            map.insert(&CROSS_ORIGIN_OPENER_POLICY, SAME_ORIGIN.clone());
            map.insert(&CROSS_ORIGIN_RESOURCE_POLICY, SAME_ORIGIN.clone());
            map.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone());
            map.insert(X_FRAME_OPTIONS, DENY.clone());
            map.insert(REFERRER_POLICY, NO_REFERRER.clone());
            map.insert(CONTENT_SECURITY_POLICY, CSP.clone());
            map.insert(CACHE_CONTROL, NO_STORE.clone());
            map.insert(&X_REQUEST_ID, UNSET.clone());
            if draft10 {
                map.insert(&RATELIMIT_POLICY, UNSET.clone());
                map.insert(&RATELIMIT, UNSET.clone());
            }
            if let Some(value) = hsts.filter(|_| with_hsts) {
                map.insert(STRICT_TRANSPORT_SECURITY, value.clone());
            }
            // Last: usually removed (the router writes it after the layer), and removing
            // the last entry moves no other.
            map.insert(CONTENT_LENGTH, UNSET.clone());
            map
        };
        let templates = [
            template(false, false),
            template(true, false),
            template(false, true),
            template(true, true),
        ];
        let slots = templates.each_ref().map(|map| {
            let mut slots = [None; SLOTS];
            for (at, name) in map.keys().enumerate() {
                if let Some(slot) = slot_of(name) {
                    slots[slot] = Some(at);
                }
            }
            slots
        });
        HeaderProfile {
            templates,
            slots,
            hsts: hsts.is_some(),
        }
    }

    /// Sets the profile on a response whose handler wrote `headers`.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, facts: ResponseFacts<'_>) {
        let handler = std::mem::take(headers);
        let mut has_rate_limit = false;
        for name in handler.keys() {
            has_rate_limit |= *name == RATELIMIT || *name == RATELIMIT_LIMIT;
        }
        // The fields of the tightest quota, unless the handler (a 429) wrote its own.
        let quota = facts
            .rate_limit
            .filter(|_| !has_rate_limit)
            .and_then(RateLimitSlot::take);
        let mut ours: [Option<HeaderValue>; SLOTS] = Default::default();
        ours[REQUEST_ID_SLOT] = facts.request_id;
        let mut other_format = None;
        let mut draft10 = false;
        match quota {
            Some((RateLimitHeaders::Draft10, state)) => {
                let [policy, fields] = draft10_values(&state);
                ours[RATELIMIT_POLICY_SLOT] = policy;
                ours[RATELIMIT_SLOT] = fields;
                draft10 = true;
            }
            Some((format, state)) => other_format = Some((format, state)),
            None => {}
        }
        let hsts = facts.hsts && self.hsts;
        let shape = usize::from(hsts) | usize::from(draft10) << 1;
        *headers = self.templates[shape].clone();

        // The slots the layer fills itself, found by position (no name is compared or
        // hashed); the handler's values for them are dropped.
        let mut filled = [false; SLOTS];
        for (at, value) in headers.values_mut().enumerate() {
            if let Some(slot) = self.slots[shape].iter().position(|&s| s == Some(at))
                && let Some(ours) = ours[slot].take()
            {
                *value = ours;
                filled[slot] = true;
            }
        }
        let owned = |name: &HeaderName, filled: &[bool; SLOTS]| {
            name == X_CONTENT_TYPE_OPTIONS
                || name == X_FRAME_OPTIONS
                || name == REFERRER_POLICY
                || *name == CROSS_ORIGIN_OPENER_POLICY
                || *name == CROSS_ORIGIN_RESOURCE_POLICY
                || name == SERVER
                || *name == X_POWERED_BY
                || (facts.credentialed && name == CACHE_CONTROL)
                || (hsts && name == STRICT_TRANSPORT_SECURITY)
                || slot_of(name).is_some_and(|slot| filled[slot])
        };

        // The handler's headers: the first value of a name replaces the template's (or is
        // added), the next ones are appended; a name the profile owns is dropped whole.
        let mut kept: Option<HeaderName> = None;
        for (name, value) in handler {
            match name {
                Some(name) => {
                    if owned(&name, &filled) {
                        kept = None;
                    } else {
                        if let Some(slot) = slot_of(&name) {
                            filled[slot] = true;
                        }
                        headers.insert(name.clone(), value);
                        kept = Some(name);
                    }
                }
                None => {
                    if let Some(name) = &kept {
                        headers.append(name.clone(), value);
                    }
                }
            }
        }
        // Slots nothing filled leave the response.
        for (slot, name) in slot_names().into_iter().enumerate() {
            if self.slots[shape][slot].is_some() && !filled[slot] {
                headers.remove(name);
            }
        }

        if let Some(policy) = facts.policy {
            apply_route_headers(headers, policy);
        }
        if let Some((format, state)) = other_format {
            format.apply(headers, &state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit_headers::{QuotaName, QuotaState};

    /// The profile as the layer set it one insert at a time: the oracle the templates
    /// must agree with.
    fn reference(
        headers: &mut HeaderMap,
        credentialed: bool,
        hsts: Option<&HeaderValue>,
        request_id: Option<HeaderValue>,
        quota: Option<(RateLimitHeaders, QuotaState)>,
        policy: Option<&Policy>,
    ) {
        headers.insert(&CROSS_ORIGIN_OPENER_POLICY, SAME_ORIGIN.clone());
        headers.insert(&CROSS_ORIGIN_RESOURCE_POLICY, SAME_ORIGIN.clone());
        if let Some(policy) = policy {
            apply_route_headers(headers, policy);
        }
        headers.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone());
        headers.insert(X_FRAME_OPTIONS, DENY.clone());
        headers.insert(REFERRER_POLICY, NO_REFERRER.clone());
        headers
            .entry(CONTENT_SECURITY_POLICY)
            .or_insert_with(|| CSP.clone());
        if credentialed {
            headers.insert(CACHE_CONTROL, NO_STORE.clone());
        } else {
            headers
                .entry(CACHE_CONTROL)
                .or_insert_with(|| NO_STORE.clone());
        }
        headers.remove(SERVER);
        headers.remove(&X_POWERED_BY);
        if let Some((format, state)) = quota
            && !headers.contains_key(&RATELIMIT)
            && !headers.contains_key(&RATELIMIT_LIMIT)
        {
            format.apply(headers, &state);
        }
        if let Some(value) = hsts {
            headers.insert(STRICT_TRANSPORT_SECURITY, value.clone());
        }
        if let Some(value) = request_id {
            headers.insert(&X_REQUEST_ID, value);
        }
    }

    /// Every name with its values in order, names sorted.
    fn fields(headers: &HeaderMap) -> Vec<(String, Vec<String>)> {
        let mut names: Vec<&HeaderName> = headers.keys().collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        names
            .into_iter()
            .map(|name| {
                let values = headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                (name.as_str().to_owned(), values)
            })
            .collect()
    }

    /// Headers a handler may write, some of them more than once.
    const HANDLER_HEADERS: &[(&str, &[&str])] = &[
        ("content-type", &["application/json"]),
        ("content-length", &["42"]),
        (
            "content-security-policy",
            &["default-src 'self'", "img-src *"],
        ),
        ("cache-control", &["max-age=60", "public"]),
        ("server", &["nginx"]),
        ("x-powered-by", &["php"]),
        ("x-frame-options", &["SAMEORIGIN"]),
        ("x-request-id", &["handler-id"]),
        ("ratelimit", &["\"h\";r=1;t=2"]),
        ("ratelimit-limit", &["9"]),
        ("ratelimit-policy", &["\"h\";q=9;w=1"]),
        ("strict-transport-security", &["max-age=1"]),
        ("set-cookie", &["a=1", "b=2"]),
        ("location", &["/v1/customers/7"]),
        ("cross-origin-resource-policy", &["cross-origin"]),
        ("deprecation", &["@1"]),
        ("link", &["</a>; rel=\"next\""]),
    ];

    static POLICIES: [Policy; 4] = [
        Policy::public("plain"),
        Policy::public("csp").content_security_policy("default-src 'self'"),
        Policy::public("relaxed").relaxed_headers(),
        Policy::public("old")
            .deprecated_at(1_700_000_000)
            .sunset_at(4_000_000_000)
            .deprecation_link("https://example.com/v2"),
    ];

    fn quota(remaining: u32) -> QuotaState {
        QuotaState {
            policy: QuotaName::Route(0),
            limit: 100,
            window_secs: 60,
            remaining,
            reset_secs: 30,
        }
    }

    /// Every handler header set of up to three of [`HANDLER_HEADERS`], and all of them,
    /// under every combination of credentials, HSTS, request id, `RateLimit` format and
    /// route policy: the templates give exactly what one insert per header gave.
    #[test]
    fn the_templates_agree_with_inserting_one_header_at_a_time() {
        let n = HANDLER_HEADERS.len();
        let mut subsets: Vec<Vec<usize>> = vec![vec![], (0..n).collect()];
        for a in 0..n {
            subsets.push(vec![a]);
            for b in a + 1..n {
                subsets.push(vec![a, b]);
                for c in b + 1..n {
                    subsets.push(vec![a, b, c]);
                }
            }
        }
        let hsts_value = HeaderValue::from_static("max-age=31536000; includeSubDomains");
        let mut checked = 0;
        for configured_hsts in [None, Some(&hsts_value)] {
            let profile = HeaderProfile::new(configured_hsts);
            for subset in &subsets {
                let mut handler = HeaderMap::new();
                for &i in subset {
                    let (name, values) = HANDLER_HEADERS[i];
                    for value in values {
                        handler.append(
                            HeaderName::from_static(name),
                            HeaderValue::from_static(value),
                        );
                    }
                }
                for credentialed in [false, true] {
                    for hsts in [false, true] {
                        for request_id in [None, Some(HeaderValue::from_static("id-1"))] {
                            for format in [
                                None,
                                Some(RateLimitHeaders::Draft10),
                                Some(RateLimitHeaders::Draft06),
                            ] {
                                for policy in [None, Some(&POLICIES[0]), Some(&POLICIES[1])]
                                    .into_iter()
                                    .chain(POLICIES[2..].iter().map(Some))
                                {
                                    let slot = format.and_then(RateLimitSlot::new);
                                    if let Some(slot) = &slot {
                                        slot.offer(quota(7));
                                    }
                                    let mut got = handler.clone();
                                    profile.apply(
                                        &mut got,
                                        ResponseFacts {
                                            credentialed,
                                            hsts,
                                            request_id: request_id.clone(),
                                            rate_limit: slot.as_ref(),
                                            policy,
                                        },
                                    );
                                    let mut want = handler.clone();
                                    reference(
                                        &mut want,
                                        credentialed,
                                        configured_hsts.filter(|_| hsts),
                                        request_id.clone(),
                                        format.map(|f| (f, quota(7))),
                                        policy,
                                    );
                                    assert_eq!(
                                        fields(&got),
                                        fields(&want),
                                        "handler {subset:?}, credentialed {credentialed}, \
                                         hsts {hsts} ({configured_hsts:?}), id {request_id:?}, \
                                         {format:?}, {:?}",
                                        policy.map(Policy::handler)
                                    );
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    #[test]
    fn a_response_without_a_content_type_gets_none() {
        let profile = HeaderProfile::new(None);
        let mut headers = HeaderMap::new();
        profile.apply(
            &mut headers,
            ResponseFacts {
                credentialed: false,
                hsts: false,
                request_id: None,
                rate_limit: None,
                policy: None,
            },
        );
        assert!(!headers.contains_key(CONTENT_TYPE));
        assert!(!headers.contains_key(CONTENT_LENGTH));
        assert!(!headers.contains_key(&X_REQUEST_ID));
        assert!(headers.values().all(|v| !v.is_empty()), "{headers:?}");
        assert_eq!(headers.get(X_FRAME_OPTIONS), Some(&DENY));
    }
}
