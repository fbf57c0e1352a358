//! Versioned routers: `/v1`, `/v2`... sharing handler bodies with a policy per version.
//!
//! `#[secure_versions(v1(...), v2(...))]` turns one handler into one `#[secure]` handler
//! per version (`list_v1`, `list_v2`), each with its own policy, which records its version.
//! [`SecureRouter::version`] nests a version's router under `/<version>`, marks its
//! requests with the version (so a handler of another version mounted there by mistake
//! refuses with 500 instead of running under the wrong policy), and can announce the
//! version's deprecation on every response.
//!
//! ```
//! use secure_api_runtime::routing::{SecureRouter, get};
//! use secure_api_runtime::versions::ApiVersion;
//! use secure_api_runtime::{Guard, Policy, PolicySource};
//!
//! // What `#[secure_versions(v1(public), v2(role = "viewer"))]` generates, by hand:
//! struct ListV1;
//! impl PolicySource for ListV1 {
//!     const POLICY: &'static Policy = &Policy::public("app::list_v1").in_version("v1");
//! }
//! struct ListV2;
//! impl PolicySource for ListV2 {
//!     const POLICY: &'static Policy =
//!         &Policy::authenticated("app::list_v2").any_of_roles(&["viewer"]).in_version("v2");
//! }
//! async fn list_v1(_: Guard<ListV1>) -> &'static str { "[]" }
//! async fn list_v2(_: Guard<ListV2>) -> &'static str { "[]" }
//!
//! let app: axum::Router = SecureRouter::new()
//!     .version(
//!         ApiVersion::new("v1").deprecated_at(1_767_225_600).link("/v2/items"),
//!         SecureRouter::new().route("/items", get(list_v1)),
//!     )
//!     .version(ApiVersion::new("v2"), SecureRouter::new().route("/items", get(list_v2)))
//!     .into_router();
//! ```

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::SecurityError;
use crate::policy::Policy;
use crate::routing::{IntoSecureRouter, SecureRouter};

static DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
static SUNSET: HeaderName = HeaderName::from_static("sunset");

/// One version of an API: its name (the path prefix, without the slash) and, optionally,
/// its deprecation and sunset dates (seconds since the Unix epoch) and a link to what
/// replaces it, announced on every response of the version as `Deprecation`, `Sunset`
/// and `Link: <...>; rel="deprecation"`. A route's own `deprecated`/`sunset`/`link` keys
/// take precedence over these.
///
/// ```
/// use secure_api_runtime::versions::ApiVersion;
/// let v1 = ApiVersion::new("v1").deprecated_at(1_767_225_600).sunset_at(1_830_211_200);
/// assert_eq!(v1.name(), "v1");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ApiVersion {
    name: &'static str,
    deprecated_at: Option<i64>,
    sunset_at: Option<i64>,
    link: Option<&'static str>,
}

impl ApiVersion {
    /// The version `name`, mounted at `/name`. The name must be what `#[secure_versions]`
    /// calls the version (`v1`, `v2beta`...).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::versions::ApiVersion::new("v2").name(), "v2");
    /// ```
    pub const fn new(name: &'static str) -> Self {
        ApiVersion {
            name,
            deprecated_at: None,
            sunset_at: None,
            link: None,
        }
    }

    /// The version is deprecated since `epoch_secs`.
    ///
    /// ```
    /// let v = secure_api_runtime::versions::ApiVersion::new("v1").deprecated_at(1_767_225_600);
    /// ```
    pub const fn deprecated_at(mut self, epoch_secs: i64) -> Self {
        self.deprecated_at = Some(epoch_secs);
        self
    }

    /// The version goes away at `epoch_secs`.
    ///
    /// ```
    /// let v = secure_api_runtime::versions::ApiVersion::new("v1").sunset_at(1_830_211_200);
    /// ```
    pub const fn sunset_at(mut self, epoch_secs: i64) -> Self {
        self.sunset_at = Some(epoch_secs);
        self
    }

    /// Where clients of this version should go.
    ///
    /// ```
    /// let v = secure_api_runtime::versions::ApiVersion::new("v1").link("/v2/docs");
    /// ```
    pub const fn link(mut self, link: &'static str) -> Self {
        self.link = Some(link);
        self
    }

    /// The version's name.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::versions::ApiVersion::new("v1").name(), "v1");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    fn is_valid_name(&self) -> bool {
        let name = self.name.as_bytes();
        name.len() >= 2
            && name.len() <= 32
            && name[0] == b'v'
            && name[1].is_ascii_digit()
            && name[2..]
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
    }

    fn apply(&self, headers: &mut HeaderMap) {
        if let Some(at) = self.deprecated_at
            && !headers.contains_key(&DEPRECATION)
            && let Ok(value) = HeaderValue::from_str(&format!("@{at}"))
        {
            headers.insert(&DEPRECATION, value);
        }
        if let Some(at) = self.sunset_at
            && !headers.contains_key(&SUNSET)
            && let Some(value) = u64::try_from(at)
                .ok()
                .and_then(|secs| {
                    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
                })
                .and_then(|t| HeaderValue::from_str(&httpdate::fmt_http_date(t)).ok())
        {
            headers.insert(&SUNSET, value);
        }
        if let Some(link) = self.link
            && let Ok(value) = HeaderValue::from_str(&format!("<{link}>; rel=\"deprecation\""))
        {
            headers.append(http::header::LINK, value);
        }
    }
}

/// The version a request was routed under; set by [`SecureRouter::version`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct MountedVersion(&'static str);

async fn refuse_invalid_version(_request: Request, _next: Next) -> Response {
    SecurityError::misconfigured().into_response()
}

async fn mark_version(
    State(version): State<ApiVersion>,
    mut request: Request,
    next: Next,
) -> Response {
    request
        .extensions_mut()
        .insert(MountedVersion(version.name));
    let mut response = next.run(request).await;
    version.apply(response.headers_mut());
    response
}

/// A handler of one version mounted under another refuses (500): its policy was written
/// for the other version.
pub(crate) fn check_mounted(policy: &Policy, parts: &Parts) -> Result<(), SecurityError> {
    match (policy.version(), parts.extensions.get::<MountedVersion>()) {
        (Some(own), Some(MountedVersion(mounted))) if own != *mounted => {
            tracing::error!(
                target: "secure_api",
                handler = policy.handler(),
                version = own,
                mounted,
                "a handler of one API version is mounted under another; refusing"
            );
            Err(SecurityError::misconfigured())
        }
        _ => Ok(()),
    }
}

impl<S: Clone + Send + Sync + 'static> SecureRouter<S> {
    /// Nests the secured `router` under `/<version name>`, marks its requests with the
    /// version, and adds the version's deprecation headers to its responses.
    ///
    /// A version name that is not `v` followed by a digit and lower-case letters, digits
    /// or `_` is logged and its router is nested under `/invalid-version`, where every
    /// request is refused with 500 (fail closed rather than panic).
    ///
    /// ```
    /// use secure_api_runtime::routing::SecureRouter;
    /// use secure_api_runtime::versions::ApiVersion;
    /// let router: SecureRouter = SecureRouter::new()
    ///     .version(ApiVersion::new("v1"), SecureRouter::new())
    ///     .version(ApiVersion::new("v2"), SecureRouter::new());
    /// ```
    pub fn version(self, version: ApiVersion, router: impl IntoSecureRouter<S>) -> Self {
        let router = router.into_secure_router();
        if !version.is_valid_name() {
            tracing::error!(
                target: "secure_api",
                version = version.name,
                "invalid API version name; its routes are refused"
            );
            // Every route of the router is refused, versioned or not: a typo in a version
            // name must not leave the routes reachable under a path nobody meant.
            return self.nest(
                "/invalid-version",
                router.layer(axum::middleware::from_fn(refuse_invalid_version)),
            );
        }
        let prefix = format!("/{}", version.name);
        let router = router.layer(axum::middleware::from_fn_with_state(version, mark_version));
        self.nest(&prefix, router)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names() {
        for good in ["v1", "v2", "v10", "v2beta", "v3_internal"] {
            assert!(ApiVersion::new(good).is_valid_name(), "{good}");
        }
        for bad in ["", "v", "1", "V1", "vx", "v1/x", "v1-beta", "v1 "] {
            assert!(!ApiVersion::new(bad).is_valid_name(), "{bad}");
        }
    }
}
