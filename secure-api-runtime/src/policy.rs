//! The policy of one handler, as the `#[secure]` attribute declares it.
//!
//! The attribute turns its arguments into a `const` [`Policy`] at compile time; the guard
//! reads it on every request. Policies can also be written by hand for handlers that are
//! mounted without the attribute:
//!
//! ```
//! use secure_api_runtime::{Policy, Rate};
//!
//! const CREATE: Policy = Policy::authenticated("app::create")
//!     .any_of_roles(&["admin"])
//!     .rate_limits(&[Rate::new(100, 15 * 60)])
//!     .validated();
//! assert!(!CREATE.is_public());
//! assert_eq!(CREATE.roles(), &["admin"]);
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Anyone; no credentials are read.
    Public,
    /// Any authenticated principal, further restricted by roles.
    Authenticated,
}

/// A rate: `count` requests with a burst of `count`, replenished over `period_secs`.
///
/// ```
/// use secure_api_runtime::Rate;
///
/// let rate: Rate = "100/15m".parse().unwrap();
/// assert_eq!(rate, Rate::new(100, 900));
/// assert_eq!(rate.to_string(), "100/900s");
/// assert!("0/1m".parse::<Rate>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    count: u32,
    period_secs: u64,
}

impl Rate {
    /// A rate of `count` requests per `period_secs` seconds. Both must be positive; the
    /// attribute checks this at compile time, [`FromStr`] at run time. A zero given here is
    /// raised to one so that a hand-written policy can never mean "unlimited".
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Rate::new(5, 60).count(), 5);
    /// ```
    pub const fn new(count: u32, period_secs: u64) -> Rate {
        Rate {
            count: if count == 0 { 1 } else { count },
            period_secs: if period_secs == 0 { 1 } else { period_secs },
        }
    }

    /// Requests allowed per period (also the burst).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Rate::new(3, 60).count(), 3);
    /// ```
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The period in seconds.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Rate::new(3, 60).period_secs(), 60);
    /// ```
    pub const fn period_secs(&self) -> u64 {
        self.period_secs
    }

    /// The period as a [`Duration`].
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Rate::new(3, 60).period().as_secs(), 60);
    /// ```
    pub const fn period(&self) -> Duration {
        Duration::from_secs(self.period_secs)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.count, self.period_secs)
    }
}

impl Rate {
    /// Parses several rates separated by `;` (`"10/1s; 1000/1h"`), the grammar of the
    /// attribute's `rate` key. Spaces around each rate are allowed; an empty list is not.
    ///
    /// ```
    /// use secure_api_runtime::Rate;
    /// assert_eq!(Rate::parse_list("10/1s; 1000/1h").unwrap(), [Rate::new(10, 1), Rate::new(1000, 3600)]);
    /// assert!(Rate::parse_list("10/1s;").is_err());
    /// ```
    pub fn parse_list(s: &str) -> Result<Vec<Rate>, RateParseError> {
        s.split(';')
            .map(|part| part.trim_matches(' ').parse())
            .collect()
    }
}

/// Why a rate string was refused.
///
/// ```
/// let err = "ten/1m".parse::<secure_api_runtime::Rate>().unwrap_err();
/// assert!(err.to_string().contains("N/PERIOD"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateParseError {
    input: String,
}

impl fmt::Display for RateParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid rate {:?}: expected \"N/PERIOD\" such as \"100/15m\" - N a positive \
             integer, PERIOD an optional positive multiplier and a unit s, m, h or d",
            self.input
        )
    }
}

impl std::error::Error for RateParseError {}

impl FromStr for Rate {
    type Err = RateParseError;

    /// The grammar of the attribute's `rate` key: `N/PERIOD` where N is a positive integer
    /// and PERIOD an optional positive multiplier followed by `s`, `m`, `h` or `d`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || RateParseError {
            input: s.to_owned(),
        };
        let (count, period) = s.split_once('/').ok_or_else(err)?;
        let count: u32 = parse_positive(count).ok_or_else(err)?;
        // The unit is the last character; splitting at a byte offset would panic inside a
        // multi-byte one (`"1/٣"`).
        let split = period.char_indices().last().map_or(0, |(i, _)| i);
        let (digits, unit) = period.split_at(split);
        let unit_secs: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(err()),
        };
        let multiplier: u64 = if digits.is_empty() {
            1
        } else {
            parse_positive(digits).ok_or_else(err)?
        };
        let period_secs = multiplier.checked_mul(unit_secs).ok_or_else(err)?;
        Ok(Rate::new(count, period_secs))
    }
}

fn parse_positive<T: FromStr + Default + PartialEq>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: T = s.parse().ok()?;
    (v != T::default()).then_some(v)
}

/// The security policy of one handler.
///
/// Built by `#[secure(...)]` as a constant; see the attribute's documentation for the keys.
///
/// ```
/// use secure_api_runtime::Policy;
/// const P: Policy = Policy::public("app::ping");
/// assert!(P.is_public());
/// assert_eq!(P.handler(), "app::ping");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    handler: &'static str,
    access: Access,
    roles: &'static [&'static str],
    rates: &'static [Rate],
    validate: bool,
    rate_key: RateKeySource,
    on_store_error: StoreFailure,
    transport: RouteTransport,
    scopes: ScopeRule,
    auth: Option<crate::authn::AuthSchemes>,
}

/// The OAuth2 scopes a route requires: all of them, or any one.
#[derive(Debug, Clone, Copy)]
struct ScopeRule {
    scopes: &'static [&'static str],
    any: bool,
}

const NO_SCOPES: ScopeRule = ScopeRule {
    scopes: &[],
    any: false,
};

/// Replay, idempotency, deprecation and header settings of a route.
#[derive(Debug, Clone, Copy)]
struct RouteTransport {
    single_use_tokens: bool,
    idempotent: bool,
    deprecated_at: Option<i64>,
    sunset_at: Option<i64>,
    link: Option<&'static str>,
    relaxed_headers: bool,
    csp: Option<&'static str>,
    signed: bool,
    version: Option<&'static str>,
}

const NO_TRANSPORT: RouteTransport = RouteTransport {
    single_use_tokens: false,
    idempotent: false,
    deprecated_at: None,
    sunset_at: None,
    link: None,
    relaxed_headers: false,
    csp: None,
    signed: false,
    version: None,
};

impl Policy {
    /// A public route: no credentials are read; rate limits are keyed by client IP.
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::public("h").is_public());
    /// ```
    pub const fn public(handler: &'static str) -> Policy {
        Policy {
            handler,
            access: Access::Public,
            roles: &[],
            rates: &[],
            validate: false,
            rate_key: RateKeySource::Default,
            on_store_error: StoreFailure::Closed,
            transport: NO_TRANSPORT,
            scopes: NO_SCOPES,
            auth: None,
        }
    }

    /// A route for any authenticated principal; rate limits are keyed by principal.
    ///
    /// ```
    /// assert!(!secure_api_runtime::Policy::authenticated("h").is_public());
    /// ```
    pub const fn authenticated(handler: &'static str) -> Policy {
        Policy {
            handler,
            access: Access::Authenticated,
            roles: &[],
            rates: &[],
            validate: false,
            rate_key: RateKeySource::Default,
            on_store_error: StoreFailure::Closed,
            transport: NO_TRANSPORT,
            scopes: NO_SCOPES,
            auth: None,
        }
    }

    /// `auth = ...`: the schemes this route accepts, instead of the configured default.
    ///
    /// ```
    /// use secure_api_runtime::{AuthSchemes, Policy};
    /// const P: Policy = Policy::authenticated("h").authenticated_by(AuthSchemes::API_KEY);
    /// assert_eq!(P.auth_schemes(), Some(AuthSchemes::API_KEY));
    /// ```
    pub const fn authenticated_by(mut self, schemes: crate::authn::AuthSchemes) -> Policy {
        self.auth = Some(schemes);
        self
    }

    /// The schemes the route accepts, when its attribute names them (`None`: the
    /// configured default, see
    /// [`SecurityBuilder::default_auth`](crate::SecurityBuilder::default_auth)).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Policy::authenticated("h").auth_schemes(), None);
    /// ```
    pub const fn auth_schemes(&self) -> Option<crate::authn::AuthSchemes> {
        self.auth
    }

    /// Requires any one of `roles` (honouring the configured hierarchy).
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::authenticated("h").any_of_roles(&["editor", "auditor"]);
    /// assert_eq!(p.roles().len(), 2);
    /// ```
    pub const fn any_of_roles(mut self, roles: &'static [&'static str]) -> Policy {
        self.roles = roles;
        self
    }

    /// Requires every one of `scopes` (the attribute's `scope`); checked after the roles.
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::authenticated("h").all_of_scopes(&["customers:read", "customers:write"]);
    /// assert_eq!(p.scopes().len(), 2);
    /// assert!(!p.any_scope_suffices());
    /// ```
    pub const fn all_of_scopes(mut self, scopes: &'static [&'static str]) -> Policy {
        self.scopes = ScopeRule { scopes, any: false };
        self
    }

    /// Requires any one of `scopes` (the attribute's `any_scope`); checked after the roles.
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::authenticated("h").any_of_scopes(&["customers:read", "customers:admin"]);
    /// assert!(p.any_scope_suffices());
    /// ```
    pub const fn any_of_scopes(mut self, scopes: &'static [&'static str]) -> Policy {
        self.scopes = ScopeRule { scopes, any: true };
        self
    }

    /// The scopes the route requires (empty: no scope condition).
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::authenticated("h").scopes().is_empty());
    /// ```
    pub const fn scopes(&self) -> &'static [&'static str] {
        self.scopes.scopes
    }

    /// Whether one of [`scopes`](Self::scopes) suffices (`any_scope`) rather than all of
    /// them (`scope`).
    ///
    /// ```
    /// assert!(!secure_api_runtime::Policy::authenticated("h").any_scope_suffices());
    /// ```
    pub const fn any_scope_suffices(&self) -> bool {
        self.scopes.any
    }

    /// Whether a principal holding `granted` satisfies the route's scopes.
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::authenticated("h").all_of_scopes(&["a", "b"]);
    /// assert!(p.scopes_satisfied_by(|s| s == "a" || s == "b"));
    /// assert!(!p.scopes_satisfied_by(|s| s == "a"));
    /// ```
    pub fn scopes_satisfied_by(&self, granted: impl Fn(&str) -> bool) -> bool {
        let scopes = self.scopes.scopes;
        if scopes.is_empty() {
            true
        } else if self.scopes.any {
            scopes.iter().any(|s| granted(s))
        } else {
            scopes.iter().all(|s| granted(s))
        }
    }

    /// Applies each of `rates`; a request must pass all of them.
    ///
    /// ```
    /// use secure_api_runtime::{Policy, Rate};
    /// const P: Policy = Policy::public("h").rate_limits(&[Rate::new(3, 60)]);
    /// assert_eq!(P.rates()[0].count(), 3);
    /// ```
    pub const fn rate_limits(mut self, rates: &'static [Rate]) -> Policy {
        self.rates = rates;
        self
    }

    /// Marks the handler's extractors as validated.
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::public("h").validated().validates());
    /// ```
    pub const fn validated(mut self) -> Policy {
        self.validate = true;
        self
    }

    /// `replay`: each token's `jti` may be used once on this route.
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::authenticated("h").single_use_tokens().requires_single_use_tokens());
    /// ```
    pub const fn single_use_tokens(mut self) -> Policy {
        self.transport.single_use_tokens = true;
        self
    }

    /// `idempotent`: requests need an `Idempotency-Key`; repeats get the stored response.
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::authenticated("h").idempotent().is_idempotent());
    /// ```
    pub const fn idempotent(mut self) -> Policy {
        self.transport.idempotent = true;
        self
    }

    /// `deprecated = "YYYY-MM-DD"`, as seconds since the Unix epoch.
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::public("h").deprecated_at(1_798_761_600);
    /// assert_eq!(p.deprecation(), Some(1_798_761_600));
    /// ```
    pub const fn deprecated_at(mut self, epoch_secs: i64) -> Policy {
        self.transport.deprecated_at = Some(epoch_secs);
        self
    }

    /// `sunset = "YYYY-MM-DD"`, as seconds since the Unix epoch: from then on the route
    /// answers 410 Gone.
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::public("h").sunset_at(1_814_400_000);
    /// assert_eq!(p.sunset(), Some(1_814_400_000));
    /// ```
    pub const fn sunset_at(mut self, epoch_secs: i64) -> Policy {
        self.transport.sunset_at = Some(epoch_secs);
        self
    }

    /// `link = "..."`: where deprecated clients should go (`Link: <...>; rel="deprecation"`).
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::public("h").deprecation_link("/v1/customers");
    /// assert_eq!(p.link(), Some("/v1/customers"));
    /// ```
    pub const fn deprecation_link(mut self, link: &'static str) -> Policy {
        self.transport.link = Some(link);
        self
    }

    /// `headers = "relaxed"`: the header profile for documentation pages.
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::public("docs").relaxed_headers().has_relaxed_headers());
    /// ```
    pub const fn relaxed_headers(mut self) -> Policy {
        self.transport.relaxed_headers = true;
        self
    }

    /// `csp = "..."`: this route's Content-Security-Policy (checked at compile time).
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::public("h").content_security_policy("default-src 'self'");
    /// assert_eq!(p.csp(), Some("default-src 'self'"));
    /// ```
    pub const fn content_security_policy(mut self, csp: &'static str) -> Policy {
        self.transport.csp = Some(csp);
        self
    }

    /// `signed`: requests need an HTTP Message Signature (RFC 9421) by a key of the
    /// authenticated principal; see [`signature`](crate::signature).
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::authenticated("h").signed().requires_signature());
    /// ```
    pub const fn signed(mut self) -> Policy {
        self.transport.signed = true;
        self
    }

    /// Whether requests need an HTTP Message Signature.
    ///
    /// ```
    /// assert!(!secure_api_runtime::Policy::public("h").requires_signature());
    /// ```
    pub const fn requires_signature(&self) -> bool {
        self.transport.signed
    }

    /// The API version this variant of a handler serves (`#[secure_versions]`); see
    /// [`versions`](crate::versions).
    ///
    /// ```
    /// let p = secure_api_runtime::Policy::public("app::list_v1").in_version("v1");
    /// assert_eq!(p.version(), Some("v1"));
    /// ```
    pub const fn in_version(mut self, version: &'static str) -> Policy {
        self.transport.version = Some(version);
        self
    }

    /// The API version of this handler variant, if it is one.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Policy::public("h").version(), None);
    /// ```
    pub const fn version(&self) -> Option<&'static str> {
        self.transport.version
    }

    /// Whether each token's `jti` is single-use on this route.
    ///
    /// ```
    /// assert!(!secure_api_runtime::Policy::public("h").requires_single_use_tokens());
    /// ```
    pub const fn requires_single_use_tokens(&self) -> bool {
        self.transport.single_use_tokens
    }

    /// Whether the route is idempotent by `Idempotency-Key`.
    ///
    /// ```
    /// assert!(!secure_api_runtime::Policy::public("h").is_idempotent());
    /// ```
    pub const fn is_idempotent(&self) -> bool {
        self.transport.idempotent
    }

    /// The deprecation date (seconds since the epoch), if any.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Policy::public("h").deprecation(), None);
    /// ```
    pub const fn deprecation(&self) -> Option<i64> {
        self.transport.deprecated_at
    }

    /// The sunset date (seconds since the epoch), if any.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Policy::public("h").sunset(), None);
    /// ```
    pub const fn sunset(&self) -> Option<i64> {
        self.transport.sunset_at
    }

    /// The deprecation link, if any.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Policy::public("h").link(), None);
    /// ```
    pub const fn link(&self) -> Option<&'static str> {
        self.transport.link
    }

    /// Whether the relaxed header profile applies.
    ///
    /// ```
    /// assert!(!secure_api_runtime::Policy::public("h").has_relaxed_headers());
    /// ```
    pub const fn has_relaxed_headers(&self) -> bool {
        self.transport.relaxed_headers
    }

    /// The route's own Content-Security-Policy, if any.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Policy::public("h").csp(), None);
    /// ```
    pub const fn csp(&self) -> Option<&'static str> {
        self.transport.csp
    }

    /// What the route's rates are keyed by (default: the principal on authenticated routes,
    /// the client IP on public ones).
    ///
    /// ```
    /// use secure_api_runtime::{Policy, Rate, RateKeySource};
    /// const P: Policy = Policy::authenticated("h")
    ///     .rate_limits(&[Rate::new(100, 60)])
    ///     .rate_key(RateKeySource::Header("x-tenant"));
    /// assert_eq!(P.rate_key_source(), RateKeySource::Header("x-tenant"));
    /// ```
    pub const fn rate_key(mut self, source: RateKeySource) -> Policy {
        self.rate_key = source;
        self
    }

    /// What the route's rates are keyed by.
    ///
    /// ```
    /// use secure_api_runtime::{Policy, RateKeySource};
    /// assert_eq!(Policy::public("h").rate_key_source(), RateKeySource::Default);
    /// ```
    pub const fn rate_key_source(&self) -> RateKeySource {
        self.rate_key
    }

    /// What to do when the rate-limit store cannot answer (default: refuse with 503).
    ///
    /// ```
    /// use secure_api_runtime::{Policy, StoreFailure};
    /// const P: Policy = Policy::public("h").on_store_error(StoreFailure::Open);
    /// assert_eq!(P.store_failure(), StoreFailure::Open);
    /// ```
    pub const fn on_store_error(mut self, failure: StoreFailure) -> Policy {
        self.on_store_error = failure;
        self
    }

    /// What to do when the rate-limit store cannot answer.
    ///
    /// ```
    /// use secure_api_runtime::{Policy, StoreFailure};
    /// assert_eq!(Policy::public("h").store_failure(), StoreFailure::Closed);
    /// ```
    pub const fn store_failure(&self) -> StoreFailure {
        self.on_store_error
    }

    /// The handler's path (`module::function`).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::Policy::public("m::f").handler(), "m::f");
    /// ```
    pub const fn handler(&self) -> &'static str {
        self.handler
    }

    /// Who may call the route.
    ///
    /// ```
    /// use secure_api_runtime::{Access, Policy};
    /// assert_eq!(Policy::public("h").access(), Access::Public);
    /// ```
    pub const fn access(&self) -> Access {
        self.access
    }

    /// Whether the route is public.
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::public("h").is_public());
    /// ```
    pub const fn is_public(&self) -> bool {
        matches!(self.access, Access::Public)
    }

    /// The roles of which the principal needs one (empty: any principal).
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::authenticated("h").roles().is_empty());
    /// ```
    pub const fn roles(&self) -> &'static [&'static str] {
        self.roles
    }

    /// The rate limits of the route.
    ///
    /// ```
    /// assert!(secure_api_runtime::Policy::public("h").rates().is_empty());
    /// ```
    pub const fn rates(&self) -> &'static [Rate] {
        self.rates
    }

    /// Whether the handler's extractors are validated.
    ///
    /// ```
    /// assert!(!secure_api_runtime::Policy::public("h").validates());
    /// ```
    pub const fn validates(&self) -> bool {
        self.validate
    }
}

/// A user function that keys a route's rate limits: it gets the request head and, on
/// authenticated routes, the principal. `None` falls back to the client IP.
pub type RateKeyFn = fn(&http::request::Parts, Option<&crate::Principal>) -> Option<String>;

/// What a route's rates are keyed by (the attribute's `rate_key`).
///
/// When the source is absent from a request (no such header, no API key, the function
/// returned `None`), the request is keyed by its client IP instead, in a separate
/// namespace: it is still throttled, never let through unkeyed.
///
/// ```
/// use secure_api_runtime::RateKeySource;
/// let by_tenant = RateKeySource::Header("x-tenant");
/// assert_ne!(by_tenant, RateKeySource::Ip);
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RateKeySource {
    /// The principal on authenticated routes, the client IP on public ones.
    Default,
    /// The authenticated principal's subject (authenticated routes only).
    Principal,
    /// The client IP (IPv6 bucketed by the configured prefix, /64 by default).
    Ip,
    /// The id of the authenticated API key; when the request was not authenticated by an
    /// API key, the value of the API-key header (hashed by the stores, never logged).
    ApiKey,
    /// The value of this request header (lower-case name).
    Header(&'static str),
    /// A user function.
    Custom(RateKeyFn),
}

impl PartialEq for RateKeySource {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (RateKeySource::Header(a), RateKeySource::Header(b)) => a == b,
            (RateKeySource::Custom(a), RateKeySource::Custom(b)) => std::ptr::fn_addr_eq(*a, *b),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for RateKeySource {}

/// What a policy does when the rate-limit store cannot answer (the attribute's
/// `on_store_error`). Either way the event is logged and counted.
///
/// ```
/// assert_eq!(secure_api_runtime::StoreFailure::default(), secure_api_runtime::StoreFailure::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum StoreFailure {
    /// Refuse with 503 problem+json (the default: fail closed).
    #[default]
    Closed,
    /// Let the request through unthrottled.
    Open,
}

/// A type that names a handler's policy; `#[secure]` generates one per handler.
///
/// ```
/// use secure_api_runtime::{Policy, PolicySource};
///
/// struct Health;
/// impl PolicySource for Health {
///     const POLICY: &'static Policy = &Policy::public("app::health");
/// }
/// assert!(Health::POLICY.is_public());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a secure-api policy",
    note = "policies are generated by `#[secure(...)]` on the handler"
)]
pub trait PolicySource: Send + Sync + 'static {
    /// The policy.
    const POLICY: &'static Policy;

    /// The handler's custom guards and ownership check, run by the policy guard after
    /// authentication, authorization and the rate limits. `#[secure]` generates it when
    /// the attribute names any; by default there is nothing to run.
    ///
    /// ```
    /// use secure_api_runtime::{GuardRequest, Policy, PolicySource, SecurityError};
    ///
    /// struct WeekdaysOnly;
    /// impl PolicySource for WeekdaysOnly {
    ///     const POLICY: &'static Policy = &Policy::public("app::report");
    ///     async fn run_checks(request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
    ///         let days = request.now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
    ///         // 1970-01-01 was a Thursday.
    ///         if (days + 3) % 7 < 5 { Ok(()) } else { Err(SecurityError::forbidden()) }
    ///     }
    /// }
    /// ```
    fn run_checks(
        request: &mut crate::extend::GuardRequest<'_>,
    ) -> impl std::future::Future<Output = Result<(), crate::error::SecurityError>> + Send {
        let _ = request;
        std::future::ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_grammar_accepts_the_documented_forms() {
        assert_eq!("100/15m".parse::<Rate>(), Ok(Rate::new(100, 900)));
        assert_eq!("10/1s".parse::<Rate>(), Ok(Rate::new(10, 1)));
        assert_eq!("5/m".parse::<Rate>(), Ok(Rate::new(5, 60)));
        assert_eq!("1000/1h".parse::<Rate>(), Ok(Rate::new(1000, 3600)));
        assert_eq!("2/1d".parse::<Rate>(), Ok(Rate::new(2, 86_400)));
    }

    #[test]
    fn rate_grammar_refuses_malformed_and_zero() {
        for bad in [
            "",
            "5",
            "/m",
            "5/",
            "0/m",
            "5/0m",
            "-5/m",
            "5/-1m",
            "5/1x",
            "5 /m",
            "5/ m",
            "+5/m",
            "5/1.5m",
            "99999999999/m",
            "5/99999999999999999999d",
            "5/m/m",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} must be refused");
        }
    }
}
