//! The policy inventory and route coverage.
//!
//! Every `#[secure]` handler registers its policy while compiling (through `inventory`),
//! so [`policies`] lists every policy of the program — handler path, authentication,
//! roles, rate limits, validation — without any list kept by hand:
//!
//! ```
//! let inventory = secure_api_runtime::policies();
//! println!("{inventory}");               // a table
//! let json = inventory.to_json();        // the same, as JSON
//! assert!(json.is_array());
//! ```
//!
//! A router can be checked for routes that no policy guards:
//! [`assert_routes_covered`] finds every path and method of a router and asks each which
//! policy guards it, so a handler mounted without `#[secure]` (a public one must say
//! `#[secure(public)]`) fails the application's own test suite.

use std::fmt;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::authn::{AuthScheme, AuthSchemes};
use crate::policy::{Access, Policy};

/// One policy in the inventory; `#[secure]` submits one per handler. Not built by hand.
///
/// ```
/// use secure_api_runtime::{Policy, PolicyRegistration};
/// static P: Policy = Policy::public("app::health");
/// let registration = PolicyRegistration::new(&P);
/// assert_eq!(registration.policy().handler(), "app::health");
/// ```
#[derive(Debug)]
pub struct PolicyRegistration {
    policy: &'static Policy,
}

impl PolicyRegistration {
    /// A registration of `policy`.
    ///
    /// ```
    /// static P: secure_api_runtime::Policy = secure_api_runtime::Policy::public("h");
    /// let _ = secure_api_runtime::PolicyRegistration::new(&P);
    /// ```
    pub const fn new(policy: &'static Policy) -> Self {
        PolicyRegistration { policy }
    }

    /// The registered policy.
    ///
    /// ```
    /// static P: secure_api_runtime::Policy = secure_api_runtime::Policy::public("h");
    /// assert!(secure_api_runtime::PolicyRegistration::new(&P).policy().is_public());
    /// ```
    pub const fn policy(&self) -> &'static Policy {
        self.policy
    }
}

inventory::collect!(PolicyRegistration);

/// Every policy registered by `#[secure]` in the program, sorted by handler path.
///
/// ```
/// for policy in secure_api_runtime::policies().iter() {
///     println!("{} public={}", policy.handler(), policy.is_public());
/// }
/// ```
pub fn policies() -> PolicyInventory {
    let mut list: Vec<&'static Policy> = inventory::iter::<PolicyRegistration>
        .into_iter()
        .map(|r| r.policy)
        .collect();
    list.sort_by_key(|p| p.handler());
    list.dedup_by_key(|p| p.handler());
    PolicyInventory(list, AuthSchemes::JWT)
}

/// The list returned by [`policies`]: printed as a table by `Display`, as JSON by
/// [`to_json`](Self::to_json).
///
/// ```
/// let inventory = secure_api_runtime::policies();
/// assert_eq!(inventory.len(), inventory.iter().count());
/// assert!(inventory.to_string().starts_with("HANDLER"));
/// ```
#[derive(Debug, Clone)]
pub struct PolicyInventory(Vec<&'static Policy>, AuthSchemes);

impl PolicyInventory {
    /// Shows `schemes` for the routes whose attribute has no `auth` key (pass the
    /// configured [`SecurityBuilder::default_auth`](crate::SecurityBuilder::default_auth));
    /// bearer JWTs otherwise.
    ///
    /// ```
    /// use secure_api_runtime::{AuthSchemes, policies};
    /// let inventory = policies().with_default_auth(AuthSchemes::JWT.and(AuthSchemes::API_KEY));
    /// # let _ = inventory;
    /// ```
    pub fn with_default_auth(mut self, schemes: AuthSchemes) -> Self {
        self.1 = schemes;
        self
    }

    /// The policies, sorted by handler path.
    ///
    /// ```
    /// assert!(secure_api_runtime::policies().iter().all(|p| !p.handler().is_empty()));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &'static Policy> + '_ {
        self.0.iter().copied()
    }

    /// How many policies there are.
    ///
    /// ```
    /// let _ = secure_api_runtime::policies().len();
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    ///
    /// ```
    /// let _ = secure_api_runtime::policies().is_empty();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The policy of the handler with this path (`module::function`).
    ///
    /// ```
    /// assert!(secure_api_runtime::policies().get("no::such::handler").is_none());
    /// ```
    pub fn get(&self, handler: &str) -> Option<&'static Policy> {
        self.iter().find(|p| p.handler() == handler)
    }

    /// The inventory as a JSON array, one object per policy: `handler`, `access`
    /// (`public` or `authenticated`), `auth` (accepted schemes), `roles` (any of),
    /// `scopes` with `scopes_match` (`all` or `any`),
    /// `rates` (`count`, `period_secs`), `validate`, `replay`, `idempotent`, `deprecated`,
    /// `sunset`, `signed` and `version` (of a `#[secure_versions]` variant, or null).
    ///
    /// ```
    /// let json = secure_api_runtime::policies().to_json();
    /// assert!(json.as_array().is_some());
    /// ```
    pub fn to_json(&self) -> Value {
        Value::Array(self.iter().map(|p| policy_json(p, self.1)).collect())
    }
}

/// The JSON object of one policy, as in [`PolicyInventory::to_json`].
fn policy_json(policy: &Policy, default_auth: AuthSchemes) -> Value {
    json!({
        "handler": policy.handler(),
        "access": access_word(policy),
        "auth": auth_schemes(policy, default_auth),
        "roles": policy.roles(),
        "scopes": policy.scopes(),
        "scopes_match": if policy.any_scope_suffices() { "any" } else { "all" },
        "rates": policy.rates().iter().map(|r| json!({
            "count": r.count(),
            "period_secs": r.period_secs(),
        })).collect::<Vec<_>>(),
        "validate": policy.validates(),
        "replay": policy.requires_single_use_tokens(),
        "idempotent": policy.is_idempotent(),
        "deprecated": policy.deprecation(),
        "sunset": policy.sunset(),
        "signed": policy.requires_signature(),
        "version": policy.version(),
    })
}

/// `replay`, `idempotent`, `deprecated`, `sunset` as one table cell.
fn lifecycle(policy: &Policy) -> String {
    let mut words = Vec::new();
    if policy.requires_single_use_tokens() {
        words.push("replay".to_owned());
    }
    if policy.is_idempotent() {
        words.push("idempotent".to_owned());
    }
    if policy.requires_signature() {
        words.push("signed".to_owned());
    }
    if let Some(version) = policy.version() {
        words.push(format!("version={version}"));
    }
    if let Some(at) = policy.deprecation() {
        words.push(format!("deprecated@{at}"));
    }
    if let Some(at) = policy.sunset() {
        words.push(format!("sunset@{at}"));
    }
    words.join(",")
}

/// The scopes as one table cell: `a+b` when all are required, `a|b` when one suffices.
fn scope_cell(policy: &Policy) -> String {
    let separator = if policy.any_scope_suffices() {
        "|"
    } else {
        "+"
    };
    policy.scopes().join(separator)
}

fn access_word(policy: &Policy) -> &'static str {
    match policy.access() {
        Access::Public => "public",
        Access::Authenticated => "authenticated",
    }
}

/// The authentication schemes a policy accepts: `bearer` (JWT) and `api_key`.
pub(crate) fn auth_schemes(policy: &Policy, default_auth: AuthSchemes) -> Vec<&'static str> {
    if policy.is_public() {
        return Vec::new();
    }
    policy
        .auth_schemes()
        .unwrap_or(default_auth)
        .iter()
        .map(|scheme| match scheme {
            AuthScheme::ApiKey => "api_key",
            _ => "bearer",
        })
        .collect()
}

impl fmt::Display for PolicyInventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = [
            "HANDLER",
            "ACCESS",
            "AUTH",
            "ROLES",
            "SCOPES",
            "RATES",
            "VALIDATE",
            "LIFECYCLE",
        ];
        let rows: Vec<[String; 8]> = self
            .iter()
            .map(|p| {
                let or_dash = |s: String| if s.is_empty() { "-".to_owned() } else { s };
                [
                    p.handler().to_owned(),
                    access_word(p).to_owned(),
                    or_dash(auth_schemes(p, self.1).join(",")),
                    or_dash(p.roles().join("|")),
                    or_dash(scope_cell(p)),
                    or_dash(
                        p.rates()
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    if p.validates() { "yes" } else { "no" }.to_owned(),
                    or_dash(lifecycle(p)),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        let mut line = |cells: &[&str]| -> fmt::Result {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    out.push_str(cell);
                } else {
                    out.push_str(&format!("{cell:<w$}  "));
                }
            }
            writeln!(f, "{}", out.trim_end())
        };
        line(&header)?;
        for row in &rows {
            line(&row.each_ref().map(String::as_str))?;
        }
        Ok(())
    }
}

/// Asks a guard which policy it applies. The guard answers and refuses at once, before
/// reading credentials, counting, logging or reaching the handler.
#[derive(Clone, Default)]
pub(crate) struct PolicyProbe(
    Arc<Mutex<Option<&'static Policy>>>,
    Arc<Mutex<Option<ProbedAuth>>>,
);

/// The configured default schemes and API-key header of the `Security` in front of a
/// probed route.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "openapi"), allow(dead_code))]
pub(crate) struct ProbedAuth {
    pub(crate) default_auth: AuthSchemes,
    pub(crate) api_key_header: String,
}

impl PolicyProbe {
    pub(crate) fn answer(&self, policy: &'static Policy, security: Option<&crate::Security>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(policy);
        if let Some(security) = security {
            *self.1.lock().unwrap_or_else(|e| e.into_inner()) = Some(ProbedAuth {
                default_auth: security.0.api_keys.default_auth,
                api_key_header: security.0.api_keys.header.as_str().to_owned(),
            });
        }
    }

    fn probed_auth(&self) -> Option<ProbedAuth> {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn answered(&self) -> Option<&'static Policy> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What guards one route of a router.
#[derive(Debug, Clone, Copy)]
pub enum RouteCoverage {
    /// A `#[secure]` guard with this policy (public routes included).
    Guarded(&'static Policy),
    /// The route answered without any guard being reached: the handler has no policy.
    Unguarded(StatusCode),
    /// The router has no route for this method and path (404 or 405 without a guard).
    NoRoute,
}

/// Which policy guards `method path` in `router` (path parameters such as `{id}` may be
/// left as written). The probe request carries no credentials and no body; a guard answers
/// it without running the handler, but a handler mounted without a guard does run, exactly
/// as for an anonymous client.
///
/// ```
/// # async fn demo() {
/// use axum::{Router, routing::get};
/// use secure_api_runtime::{RouteCoverage, policy_of};
/// let router: Router = Router::new().route("/open", get(|| async { "no policy" }));
/// let coverage = policy_of(&router, http::Method::GET, "/open").await;
/// assert!(matches!(coverage, RouteCoverage::Unguarded(_)));
/// # }
/// ```
pub async fn policy_of(router: &Router, method: Method, path: &str) -> RouteCoverage {
    probe_route(router, method, path).await.0
}

#[cfg_attr(not(feature = "openapi"), allow(dead_code))]
/// [`policy_of`], with the authentication settings of the `Security` in front of the
/// route when there is one.
pub(crate) async fn probe_route(
    router: &Router,
    method: Method,
    path: &str,
) -> (RouteCoverage, Option<ProbedAuth>) {
    let probe = PolicyProbe::default();
    let coverage = probe_with(&probe, router, method, path).await;
    (coverage, probe.probed_auth())
}

async fn probe_with(
    probe: &PolicyProbe,
    router: &Router,
    method: Method,
    path: &str,
) -> RouteCoverage {
    let uri = concrete_path(path);
    let Ok(mut request) = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
    else {
        return RouteCoverage::NoRoute;
    };
    request.extensions_mut().insert(probe.clone());
    // The probe stands for a request over HTTPS, so `require_https` lets it reach the guard.
    request
        .extensions_mut()
        .insert(crate::https::RequestScheme::Https);
    let mut service = router.clone();
    let response = match tower::Service::call(&mut service, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    match probe.answered() {
        Some(policy) => RouteCoverage::Guarded(policy),
        None if matches!(
            response.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) =>
        {
            RouteCoverage::NoRoute
        }
        None => RouteCoverage::Unguarded(response.status()),
    }
}

/// `/v1/customers/{id}` -> `/v1/customers/0`: any value reaches the guard, which runs
/// before the path is decoded.
fn concrete_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match (c, in_param) {
            ('{', false) => in_param = true,
            ('}', true) => {
                in_param = false;
                out.push('0');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// Every path mounted on `router`, as written in `Router::route` (`/v1/customers/{id}`).
///
/// axum has no API that lists routes; this reads them from the router's `Debug` output,
/// which names each path. The format is axum 0.8's, checked by this crate's tests; an
/// empty list means it could not be read.
///
/// ```
/// use axum::{Router, routing::get};
/// let router: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .route("/v1/customers/{id}", get(|| async { "one" }));
/// let mut paths = secure_api_runtime::route_paths(&router);
/// paths.sort();
/// assert_eq!(paths, ["/health", "/v1/customers/{id}"]);
/// ```
pub fn route_paths(router: &Router) -> Vec<String> {
    let debug = format!("{router:?}");
    let Some(start) = debug.find("node: Node { paths: {") else {
        return Vec::new();
    };
    let mut rest = &debug[start + "node: Node { paths: {".len()..];
    let mut paths = Vec::new();
    // Entries: `RouteId(N): "path"`, separated by `, `, closed by `}`.
    while let Some(after_id) = rest.strip_prefix("RouteId(") {
        let Some(colon) = after_id.find("): \"") else {
            break;
        };
        let mut chars = after_id[colon + 4..].char_indices();
        let mut path = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        path.push(escaped);
                    }
                }
                '"' => {
                    end = Some(colon + 4 + i + 1);
                    break;
                }
                c => path.push(c),
            }
        }
        let Some(end) = end else { break };
        paths.push(path);
        rest = after_id[end..].trim_start_matches(", ");
    }
    paths.sort();
    paths.dedup();
    paths
}

/// The methods a coverage check probes on every path (`HEAD` is served by `GET`).
const PROBED_METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Every route of `router` (path and method) with the policy that guards it, sorted by path.
///
/// # Panics
///
/// When a route answers without a `#[secure]` guard, listing every such route (public
/// routes must say `#[secure(public)]`), or when no route could be found. Meant for the
/// application's test suite:
///
/// ```
/// # async fn demo() {
/// use axum::{Router, routing::get};
/// use secure_api_runtime::{Guard, Policy, PolicySource};
///
/// struct Health;
/// impl PolicySource for Health { const POLICY: &'static Policy = &Policy::public("app::health"); }
/// async fn health(_: Guard<Health>) -> &'static str { "ok" }
///
/// let router: Router = Router::new().route("/health", get(health));
/// let routes = secure_api_runtime::assert_routes_covered(&router).await;
/// assert_eq!(routes[0].2.handler(), "app::health");
/// # }
/// ```
pub async fn assert_routes_covered(router: &Router) -> Vec<(Method, String, &'static Policy)> {
    let paths = route_paths(router);
    assert!(
        !paths.is_empty(),
        "no route found in the router (is it empty, or did axum's Debug format change?)"
    );
    let mut covered = Vec::new();
    let mut uncovered = Vec::new();
    for path in paths {
        for method in PROBED_METHODS {
            match policy_of(router, method.clone(), &path).await {
                RouteCoverage::Guarded(policy) => covered.push((method, path.clone(), policy)),
                RouteCoverage::Unguarded(status) => {
                    uncovered.push(format!("{method} {path} (answered {status})"));
                }
                RouteCoverage::NoRoute => {}
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "routes without a #[secure] policy (a public route must say #[secure(public)]):\n  {}",
        uncovered.join("\n  ")
    );
    covered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_concrete_segments() {
        assert_eq!(concrete_path("/v1/customers/{id}"), "/v1/customers/0");
        assert_eq!(concrete_path("/files/{*rest}"), "/files/0");
        assert_eq!(concrete_path("/health"), "/health");
    }
}
