//! Extension points of `#[secure]`: custom guards and ownership checks.
//!
//! A custom guard is a type implementing [`RequestGuard`] whose public fields are the
//! arguments given in the attribute. `#[secure(tenant(header = "X-Tenant"))]` builds the
//! value `tenant { header: "X-Tenant" }` of the type named by the key, so an unknown key is
//! a "cannot find type" error naming it and an argument of the wrong type is a type error
//! at that argument. Array arguments (`["a", "b"]`) are passed as `&'static [T]`.
//!
//! ```
//! use secure_api_runtime::{GuardRequest, RequestGuard, SecurityError};
//!
//! /// Refuses requests whose `header` does not carry the principal's `tenant` claim.
//! #[allow(non_camel_case_types)]
//! pub struct tenant {
//!     pub header: &'static str,
//! }
//!
//! impl RequestGuard for tenant {
//!     async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
//!         let claimed = request.principal().and_then(|p| p.claim("tenant")?.as_str().map(str::to_owned));
//!         let sent = request.headers().get(self.header).and_then(|v| v.to_str().ok());
//!         match (claimed, sent) {
//!             (Some(claimed), Some(sent)) if claimed == sent => Ok(()),
//!             _ => Err(SecurityError::forbidden()),
//!         }
//!     }
//! }
//! ```
//!
//! Guards run inside the policy guard, after authentication, authorization (roles) and the
//! rate limits, in the order the attribute lists them; the ownership check runs last. A
//! refused request therefore still counts against the caller's rate limit, which also
//! throttles object-id enumeration and protects the database lookups of ownership checks.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::IntoResponse;
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use crate::error::SecurityError;
use crate::guard::ClientIp;
use crate::principal::Principal;
use crate::transport::RouteSlot;

/// A check of your own, run by the policy guard of every handler whose attribute names it.
///
/// The implementing type's name is the attribute key and its public fields are the
/// arguments: `#[secure(name(arg = value))]` builds `name { arg: value }`. Refuse a
/// request by returning a [`SecurityError`]; its response is rendered like every other
/// refusal.
///
/// ```
/// use secure_api_runtime::{GuardRequest, RequestGuard, SecurityError};
///
/// /// `#[secure(header_present(name = "X-Request-Id"))]`
/// #[allow(non_camel_case_types)]
/// pub struct header_present { pub name: &'static str }
///
/// impl RequestGuard for header_present {
///     async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
///         if request.headers().contains_key(self.name) {
///             Ok(())
///         } else {
///             Err(SecurityError::forbidden())
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a secure-api guard",
    label = "named as a guard in `#[secure(...)]`",
    note = "a custom key `name(arg = value, ...)` names a type implementing `secure_api::RequestGuard` whose public fields are the arguments: implement the trait for `{Self}`"
)]
pub trait RequestGuard: Send + Sync {
    /// Allows the request (`Ok`) or refuses it.
    fn check(
        &self,
        request: &mut GuardRequest<'_>,
    ) -> impl Future<Output = Result<(), SecurityError>> + Send;
}

/// What a [`RequestGuard`] or an ownership check sees of the request: the head (method,
/// URI, headers, extensions), the authenticated principal, the client address and the
/// configured clock. The body is never available: guards run before it is read.
///
/// ```
/// use secure_api_runtime::GuardRequest;
///
/// fn describe(request: &GuardRequest<'_>) -> String {
///     format!("{} {} by {:?}", request.method(), request.uri(), request.principal().map(|p| p.subject()))
/// }
/// ```
pub struct GuardRequest<'a> {
    parts: &'a mut Parts,
    handler: &'static str,
}

impl std::fmt::Debug for GuardRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardRequest")
            .field("method", &self.parts.method)
            .field("uri", &self.parts.uri)
            .field("handler", &self.handler)
            .finish_non_exhaustive()
    }
}

impl<'a> GuardRequest<'a> {
    /// The view of `parts` that guards get; `handler` names the route in logs.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// let request = secure_api_runtime::GuardRequest::new(&mut parts, "app::handler");
    /// assert_eq!(request.handler(), "app::handler");
    /// ```
    pub fn new(parts: &'a mut Parts, handler: &'static str) -> Self {
        GuardRequest { parts, handler }
    }

    /// The authenticated principal; `None` on public routes.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// assert!(secure_api_runtime::GuardRequest::new(&mut parts, "h").principal().is_none());
    /// ```
    pub fn principal(&self) -> Option<&Principal> {
        RouteSlot::principal_of(&self.parts.extensions)
    }

    /// The request method.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// assert_eq!(secure_api_runtime::GuardRequest::new(&mut parts, "h").method(), http::Method::GET);
    /// ```
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// The request URI.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// assert_eq!(secure_api_runtime::GuardRequest::new(&mut parts, "h").uri(), "/");
    /// ```
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The request headers.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// assert!(secure_api_runtime::GuardRequest::new(&mut parts, "h").headers().is_empty());
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The request head, for anything the other accessors do not cover.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// assert!(secure_api_runtime::GuardRequest::new(&mut parts, "h").parts().extensions.is_empty());
    /// ```
    pub fn parts(&self) -> &Parts {
        self.parts
    }

    /// The handler's path (`module::function`), for logs.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// assert_eq!(secure_api_runtime::GuardRequest::new(&mut parts, "m::f").handler(), "m::f");
    /// ```
    pub fn handler(&self) -> &'static str {
        self.handler
    }

    /// The client's address: the [`ClientIp`] extension if the application set one,
    /// otherwise the socket's peer address; `None` when neither is known.
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// parts.extensions.insert(secure_api_runtime::ClientIp("192.0.2.1".parse().unwrap()));
    /// let request = secure_api_runtime::GuardRequest::new(&mut parts, "h");
    /// assert_eq!(request.client_ip(), Some("192.0.2.1".parse().unwrap()));
    /// ```
    pub fn client_ip(&self) -> Option<IpAddr> {
        if let Some(ClientIp(ip)) = self.parts.extensions.get::<ClientIp>() {
            return Some(*ip);
        }
        self.parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
    }

    /// The current time from the configuration's [`WallClock`] (the system clock unless
    /// [`SecurityBuilder::wall_clock`](crate::SecurityBuilder::wall_clock) set another).
    ///
    /// ```
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// let now = secure_api_runtime::GuardRequest::new(&mut parts, "h").now();
    /// assert!(now > std::time::UNIX_EPOCH);
    /// ```
    pub fn now(&self) -> SystemTime {
        match RouteSlot::of(&self.parts.extensions) {
            Some(slot) => slot.security().0.wall_clock.now(),
            None => SystemTime::now(),
        }
    }

    /// Runs an extractor that needs no application state (`Path<T>`, `Query<T>`,
    /// `Extension<T>`, `HeaderMap`...) on the request head. A rejection becomes a
    /// problem+json refusal with the extractor's status and no echo of the input.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use axum::Extension;
    /// let (mut parts, ()) = http::Request::new(()).into_parts();
    /// parts.extensions.insert(7u32);
    /// let mut request = secure_api_runtime::GuardRequest::new(&mut parts, "h");
    /// let Extension(n) = request.extract::<Extension<u32>>().await.unwrap();
    /// assert_eq!(n, 7);
    /// # });
    /// ```
    pub async fn extract<E: FromRequestParts<()>>(&mut self) -> Result<E, SecurityError> {
        E::from_request_parts(self.parts, &())
            .await
            .map_err(|rejection| SecurityError::bad_request(rejection.into_response().status()))
    }
}

/// The clock that time-based guards read: the system clock, or a manual one for tests.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use secure_api_runtime::WallClock;
///
/// let clock = WallClock::manual(UNIX_EPOCH + Duration::from_secs(3600));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(3660));
/// assert!(WallClock::system().now() > UNIX_EPOCH);
/// ```
#[derive(Debug, Clone, Default)]
pub struct WallClock(Option<Arc<AtomicU64>>);

impl WallClock {
    /// The system clock.
    ///
    /// ```
    /// let _ = secure_api_runtime::WallClock::system();
    /// ```
    pub fn system() -> Self {
        WallClock(None)
    }

    /// A clock that stands still at `at` (whole seconds) until moved.
    ///
    /// ```
    /// let c = secure_api_runtime::WallClock::manual(std::time::UNIX_EPOCH);
    /// assert_eq!(c.now(), std::time::UNIX_EPOCH);
    /// ```
    pub fn manual(at: SystemTime) -> Self {
        let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        WallClock(Some(Arc::new(AtomicU64::new(secs))))
    }

    /// The current time.
    ///
    /// ```
    /// assert!(secure_api_runtime::WallClock::default().now() > std::time::UNIX_EPOCH);
    /// ```
    pub fn now(&self) -> SystemTime {
        match &self.0 {
            None => SystemTime::now(),
            Some(secs) => UNIX_EPOCH + Duration::from_secs(secs.load(Ordering::SeqCst)),
        }
    }

    /// Sets a manual clock (no effect on the system clock).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let c = secure_api_runtime::WallClock::manual(UNIX_EPOCH);
    /// c.set(UNIX_EPOCH + Duration::from_secs(5));
    /// assert_eq!(c.now(), UNIX_EPOCH + Duration::from_secs(5));
    /// ```
    pub fn set(&self, at: SystemTime) {
        if let Some(secs) = &self.0 {
            let at = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            secs.store(at, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let c = secure_api_runtime::WallClock::manual(UNIX_EPOCH);
    /// c.advance(Duration::from_secs(5));
    /// assert_eq!(c.now(), UNIX_EPOCH + Duration::from_secs(5));
    /// ```
    pub fn advance(&self, by: Duration) {
        if let Some(secs) = &self.0 {
            secs.fetch_add(by.as_secs(), Ordering::SeqCst);
        }
    }
}

/// What an ownership check answers: `bool`, or `Result<bool, SecurityError>` when the check
/// itself can fail (a database error refuses the request with that error).
///
/// ```
/// use secure_api_runtime::OwnerDecision;
/// assert_eq!(true.into_decision().unwrap(), true);
/// ```
pub trait OwnerDecision {
    /// `Ok(true)`: the principal owns the object.
    fn into_decision(self) -> Result<bool, SecurityError>;
}

impl OwnerDecision for bool {
    fn into_decision(self) -> Result<bool, SecurityError> {
        Ok(self)
    }
}

impl OwnerDecision for Result<bool, SecurityError> {
    fn into_decision(self) -> Result<bool, SecurityError> {
        self
    }
}

/// An ownership check named by `#[secure(owner = check)]`: an async function taking the
/// [`Principal`] and then up to eight extractors that need no application state —
/// typically the typed path parameters (`Path<u64>`) and shared handles
/// (`Extension<Db>`) — and answering an [`OwnerDecision`].
///
/// ```
/// use axum::extract::Path;
/// use secure_api_runtime::Principal;
///
/// /// Customer `id` belongs to the principal whose subject is `customer-{id}`.
/// async fn owns_customer(principal: Principal, Path(id): Path<u64>) -> bool {
///     principal.subject() == format!("customer-{id}")
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as an ownership check",
    label = "named by `owner = ...`",
    note = "an ownership check is an `async fn(Principal, Path<T>, ...) -> bool` (or `-> Result<bool, SecurityError>`): the principal first, then extractors that need no state, such as `Path<u64>`, `Query<Q>` or `Extension<Db>`"
)]
pub trait OwnerCheck<Args>: Send + Sync {
    /// Whether `principal` owns the object the request addresses.
    fn is_owner(
        &self,
        principal: Principal,
        request: &mut GuardRequest<'_>,
    ) -> impl Future<Output = Result<bool, SecurityError>> + Send;
}

macro_rules! owner_check_impls {
    ($($ty:ident),*) => {
        impl<F, Fut, R, $($ty,)*> OwnerCheck<($($ty,)*)> for F
        where
            F: Fn(Principal, $($ty,)*) -> Fut + Send + Sync,
            Fut: Future<Output = R> + Send,
            R: OwnerDecision,
            $($ty: FromRequestParts<()> + Send,)*
        {
            #[allow(non_snake_case, unused_variables)]
            async fn is_owner(
                &self,
                principal: Principal,
                request: &mut GuardRequest<'_>,
            ) -> Result<bool, SecurityError> {
                $(let $ty = request.extract::<$ty>().await?;)*
                (self)(principal, $($ty,)*).await.into_decision()
            }
        }
    };
}

owner_check_impls!();
owner_check_impls!(T1);
owner_check_impls!(T1, T2);
owner_check_impls!(T1, T2, T3);
owner_check_impls!(T1, T2, T3, T4);
owner_check_impls!(T1, T2, T3, T4, T5);
owner_check_impls!(T1, T2, T3, T4, T5, T6);
owner_check_impls!(T1, T2, T3, T4, T5, T6, T7);
owner_check_impls!(T1, T2, T3, T4, T5, T6, T7, T8);

/// How a failed ownership check is refused.
///
/// ```
/// use secure_api_runtime::OwnerRefusal;
/// assert_eq!(OwnerRefusal::NotFound.error().status(), 404);
/// assert_eq!(OwnerRefusal::Forbidden.error().status(), 403);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerRefusal {
    /// 404, as if the object did not exist: the caller learns nothing about other
    /// principals' objects (the default).
    NotFound,
    /// 403: the object exists but is not the caller's.
    Forbidden,
}

impl OwnerRefusal {
    /// The refusal.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::OwnerRefusal::NotFound.error().kind(), secure_api_runtime::ErrorKind::NotFound);
    /// ```
    pub fn error(self) -> SecurityError {
        match self {
            OwnerRefusal::NotFound => SecurityError::not_found(),
            OwnerRefusal::Forbidden => SecurityError::forbidden(),
        }
    }
}

/// Runs the ownership check `check` (generated code calls this; see [`OwnerCheck`]).
/// Without a principal (which the attribute rules out) the request is refused.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secure_api_runtime::{GuardRequest, OwnerRefusal, Principal, check_owner};
/// async fn never(_: Principal) -> bool { false }
/// let (mut parts, ()) = http::Request::new(()).into_parts();
/// parts.extensions.insert(Principal::new("a", ["viewer"], [] as [&str; 0]));
/// let mut request = GuardRequest::new(&mut parts, "h");
/// let refused = check_owner(&never, &mut request, OwnerRefusal::NotFound).await.unwrap_err();
/// assert_eq!(refused.status(), 404);
/// # });
/// ```
pub async fn check_owner<C, Args>(
    check: &C,
    request: &mut GuardRequest<'_>,
    refusal: OwnerRefusal,
) -> Result<(), SecurityError>
where
    C: OwnerCheck<Args>,
{
    let Some(principal) = request.principal().cloned() else {
        return Err(SecurityError::unauthorized());
    };
    if check.is_owner(principal.clone(), request).await? {
        Ok(())
    } else {
        tracing::info!(
            target: "secure_api::auth",
            handler = request.handler(),
            subject = principal.subject(),
            "request refused: not the owner of the object"
        );
        Err(refusal.error())
    }
}

/// Runs the guard `guard` (generated code calls this, spanned at the attribute's key, so
/// a type that is not a guard is reported there).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use secure_api_runtime::{GuardRequest, RequestGuard, SecurityError, run_guard};
/// struct Never;
/// impl RequestGuard for Never {
///     async fn check(&self, _: &mut GuardRequest<'_>) -> Result<(), SecurityError> { Err(SecurityError::forbidden()) }
/// }
/// let (mut parts, ()) = http::Request::new(()).into_parts();
/// let mut request = GuardRequest::new(&mut parts, "h");
/// assert!(run_guard(&Never, &mut request).await.is_err());
/// # });
/// ```
pub async fn run_guard<G: RequestGuard>(
    guard: &G,
    request: &mut GuardRequest<'_>,
) -> Result<(), SecurityError> {
    let result = guard.check(request).await;
    if let Err(error) = &result {
        tracing::info!(
            target: "secure_api::auth",
            handler = request.handler(),
            guard = std::any::type_name::<G>(),
            status = error.status().as_u16(),
            "request refused by a guard"
        );
    }
    result
}
