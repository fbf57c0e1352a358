//! Deny by default: a router that only mounts handlers carrying `#[secure(...)]`.
//!
//! [`SecureRouter`] wraps axum's `Router` and its method routers ([`get`], [`post`], ...
//! in this module) accept only [`SecuredHandler`]s: functions whose first argument is the
//! [`Guard`] that `#[secure]` injects. Mounting a handler without the attribute is a compile
//! error that says what to add, so no route can be left unprotected by omission. A handler
//! that is meant to be open says so with `#[secure(public)]`.
//!
//! ```
//! use secure_api_runtime::routing::{SecureRouter, get};
//! use secure_api_runtime::{Guard, Policy, PolicySource};
//!
//! // What `#[secure(public)]` generates, written out by hand:
//! struct HealthPolicy;
//! impl PolicySource for HealthPolicy {
//!     const POLICY: &'static Policy = &Policy::public("app::health");
//! }
//! async fn health(_: Guard<HealthPolicy>) -> &'static str { "ok" }
//!
//! let app: axum::Router = SecureRouter::new().route("/health", get(health)).into_router();
//! ```
//!
//! The same handler without its guard does not compile on a secured router:
//!
//! ```compile_fail
//! use secure_api_runtime::routing::{SecureRouter, get};
//!
//! async fn health() -> &'static str { "ok" }
//! let app: axum::Router = SecureRouter::new().route("/health", get(health)).into_router();
//! ```

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use tower::{Layer, Service};

use crate::guard::Guard;

/// A handler that carries `#[secure(...)]`: an axum handler whose first extractor is the
/// policy [`Guard`]. Only these can be mounted on a [`SecureRouter`].
///
/// Implemented for every async function of up to 16 arguments whose first argument is a
/// `Guard<P>`, which is what the attribute generates; there is nothing to implement by hand.
///
/// ```
/// use secure_api_runtime::routing::SecuredHandler;
/// use secure_api_runtime::{Guard, Policy, PolicySource};
///
/// struct Ping;
/// impl PolicySource for Ping { const POLICY: &'static Policy = &Policy::public("app::ping"); }
/// async fn ping(_: Guard<Ping>) -> &'static str { "pong" }
///
/// fn assert_secured<H: SecuredHandler<T, ()>, T>(_: H) {}
/// assert_secured(ping);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[secure]` handler, so a secured router does not accept it",
    label = "this handler has no `#[secure(...)]` attribute",
    note = "add `#[secure(...)]` to the handler to declare who may call it, such as `#[secure(role = \"viewer\")]`, or `#[secure(public)]` if anyone may",
    note = "if the handler already carries `#[secure]`, one of its arguments is not an extractor or the router's state type differs: `#[axum::debug_handler]` on the handler points at the argument"
)]
pub trait SecuredHandler<T, S>: Handler<T, S> {}

macro_rules! secured_handler_impls {
    ($($ty:ident),*) => {
        impl<F, P, M, S, $($ty,)*> SecuredHandler<(M, Guard<P>, $($ty,)*), S> for F
        where
            F: Handler<(M, Guard<P>, $($ty,)*), S>,
        {
        }
    };
}

secured_handler_impls!();
secured_handler_impls!(T2);
secured_handler_impls!(T2, T3);
secured_handler_impls!(T2, T3, T4);
secured_handler_impls!(T2, T3, T4, T5);
secured_handler_impls!(T2, T3, T4, T5, T6);
secured_handler_impls!(T2, T3, T4, T5, T6, T7);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8, T9);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8, T9, T10);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8, T9, T10, T11);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14);
secured_handler_impls!(T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15);
secured_handler_impls!(
    T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16
);

/// The handlers of one path, by method, all of them [`SecuredHandler`]s. Start one with
/// [`get`], [`post`], ... of this module and chain the others.
///
/// ```
/// use secure_api_runtime::routing::{SecureMethodRouter, get};
/// use secure_api_runtime::{Guard, Policy, PolicySource};
///
/// struct Open;
/// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::open"); }
/// async fn read(_: Guard<Open>) -> &'static str { "read" }
/// async fn write(_: Guard<Open>) -> &'static str { "write" }
///
/// let methods: SecureMethodRouter = get(read).post(write).delete(write);
/// ```
#[must_use = "a method router does nothing until it is mounted with `SecureRouter::route`"]
pub struct SecureMethodRouter<S = ()>(MethodRouter<S>);

impl<S> std::fmt::Debug for SecureMethodRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SecureMethodRouter").field(&self.0).finish()
    }
}

impl<S> Clone for SecureMethodRouter<S> {
    fn clone(&self) -> Self {
        SecureMethodRouter(self.0.clone())
    }
}

macro_rules! method_fns {
    ($($method:ident),*) => {
        $(
            #[doc = concat!(
                "Routes `", stringify!($method), "` requests to a `#[secure]` handler.\n\n",
                "```\n",
                "use secure_api_runtime::{Guard, Policy, PolicySource};\n",
                "struct Open;\n",
                "impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public(\"app::h\"); }\n",
                "async fn h(_: Guard<Open>) {}\n",
                "let methods: secure_api_runtime::routing::SecureMethodRouter = secure_api_runtime::routing::",
                stringify!($method), "(h);\n",
                "```"
            )]
            pub fn $method<H, T, S>(handler: H) -> SecureMethodRouter<S>
            where
                H: SecuredHandler<T, S>,
                T: 'static,
                S: Clone + Send + Sync + 'static,
            {
                SecureMethodRouter(axum::routing::$method(handler))
            }
        )*

        impl<S: Clone + Send + Sync + 'static> SecureMethodRouter<S> {
            $(
                #[doc = concat!(
                    "Adds a `#[secure]` handler for `", stringify!($method), "` requests.\n\n",
                    "```\n",
                    "use secure_api_runtime::{Guard, Policy, PolicySource};\n",
                    "use secure_api_runtime::routing::SecureMethodRouter;\n",
                    "struct Open;\n",
                    "impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public(\"app::h\"); }\n",
                    "async fn h(_: Guard<Open>) {}\n",
                    "let methods: SecureMethodRouter = SecureMethodRouter::new().",
                    stringify!($method), "(h);\n",
                    "```"
                )]
                pub fn $method<H, T>(self, handler: H) -> Self
                where
                    H: SecuredHandler<T, S>,
                    T: 'static,
                {
                    SecureMethodRouter(self.0.$method(handler))
                }
            )*
        }
    };
}

method_fns!(get, post, put, patch, delete, head, options, trace, connect);

/// Routes requests of every method to a `#[secure]` handler.
///
/// ```
/// use secure_api_runtime::{Guard, Policy, PolicySource};
/// struct Open;
/// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::h"); }
/// async fn h(_: Guard<Open>) {}
/// let methods: secure_api_runtime::routing::SecureMethodRouter = secure_api_runtime::routing::any(h);
/// ```
pub fn any<H, T, S>(handler: H) -> SecureMethodRouter<S>
where
    H: SecuredHandler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    SecureMethodRouter(axum::routing::any(handler))
}

impl<S: Clone + Send + Sync + 'static> Default for SecureMethodRouter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> SecureMethodRouter<S> {
    /// A method router without handlers (every method answers 405 until one is added).
    ///
    /// ```
    /// let methods: secure_api_runtime::routing::SecureMethodRouter =
    ///     secure_api_runtime::routing::SecureMethodRouter::new();
    /// ```
    pub fn new() -> Self {
        SecureMethodRouter(MethodRouter::new())
    }

    /// The `#[secure]` handler for methods that have none here, instead of 405.
    ///
    /// ```
    /// use secure_api_runtime::{Guard, Policy, PolicySource};
    /// use secure_api_runtime::routing::get;
    /// struct Open;
    /// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::h"); }
    /// async fn h(_: Guard<Open>) {}
    /// let methods: secure_api_runtime::routing::SecureMethodRouter = get(h).fallback(h);
    /// ```
    pub fn fallback<H, T>(self, handler: H) -> Self
    where
        H: SecuredHandler<T, S>,
        T: 'static,
    {
        SecureMethodRouter(self.0.fallback(handler))
    }

    /// The axum method router, to mount on a plain `Router` (every handler in it is secured).
    ///
    /// ```
    /// use secure_api_runtime::{Guard, Policy, PolicySource};
    /// use secure_api_runtime::routing::get;
    /// struct Open;
    /// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::h"); }
    /// async fn h(_: Guard<Open>) {}
    /// let plain: axum::Router = axum::Router::new().route("/", get(h).into_method_router());
    /// ```
    pub fn into_method_router(self) -> MethodRouter<S> {
        self.0
    }
}

/// An axum `Router` that mounts only `#[secure]` handlers.
///
/// Its routes come from the method routers of this module ([`get`], [`post`], ...), which
/// accept only [`SecuredHandler`]s; nested and merged routers must be `SecureRouter`s too.
/// Finish with [`into_router`](Self::into_router) (or `Router::from`) to serve it.
///
/// ```
/// use secure_api_runtime::routing::{SecureRouter, get, post};
/// use secure_api_runtime::{Guard, Policy, PolicySource, Security};
///
/// struct Open;
/// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::h"); }
/// async fn list(_: Guard<Open>) -> &'static str { "[]" }
/// async fn create(_: Guard<Open>) -> &'static str { "created" }
///
/// let security = Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build()?;
/// let v1 = SecureRouter::new().route("/customers", get(list).post(create));
/// let app: axum::Router = SecureRouter::new()
///     .nest("/v1", v1)
///     .layer(security.layer())
///     .into_router();
/// # Ok::<(), secure_api_runtime::ConfigError>(())
/// ```
///
/// An unannotated handler is refused when the program is compiled:
///
/// ```compile_fail
/// use secure_api_runtime::routing::{SecureRouter, post};
/// async fn create() -> &'static str { "created" }
/// let app = SecureRouter::<()>::new().route("/customers", post(create));
/// ```
#[must_use = "a router does nothing until it is served"]
pub struct SecureRouter<S = ()>(Router<S>);

impl<S> std::fmt::Debug for SecureRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SecureRouter").field(&self.0).finish()
    }
}

impl<S> Clone for SecureRouter<S> {
    fn clone(&self) -> Self {
        SecureRouter(self.0.clone())
    }
}

impl<S: Clone + Send + Sync + 'static> Default for SecureRouter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> SecureRouter<S> {
    /// An empty router.
    ///
    /// ```
    /// let router: secure_api_runtime::routing::SecureRouter = secure_api_runtime::routing::SecureRouter::new();
    /// ```
    pub fn new() -> Self {
        SecureRouter(Router::new())
    }

    /// Mounts the secured handlers of `methods` at `path` (axum's path syntax, `{param}`).
    /// Like `Router::route`, an invalid or overlapping path panics when the router is built.
    ///
    /// ```
    /// use secure_api_runtime::{Guard, Policy, PolicySource};
    /// use secure_api_runtime::routing::{SecureRouter, get};
    /// struct Open;
    /// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::h"); }
    /// async fn h(_: Guard<Open>) {}
    /// let router: SecureRouter = SecureRouter::new().route("/items/{id}", get(h));
    /// ```
    pub fn route(self, path: &str, methods: SecureMethodRouter<S>) -> Self {
        SecureRouter(self.0.route(path, methods.0))
    }

    /// Mounts another secured router under `path`.
    ///
    /// ```
    /// use secure_api_runtime::routing::SecureRouter;
    /// let router: SecureRouter = SecureRouter::new().nest("/v1", SecureRouter::new());
    /// ```
    pub fn nest(self, path: &str, router: impl IntoSecureRouter<S>) -> Self {
        SecureRouter(self.0.nest(path, router.into_secure_router().0))
    }

    /// Merges the routes of another secured router.
    ///
    /// ```
    /// use secure_api_runtime::routing::SecureRouter;
    /// let router: SecureRouter = SecureRouter::new().merge(SecureRouter::new());
    /// ```
    pub fn merge(self, other: impl IntoSecureRouter<S>) -> Self {
        SecureRouter(self.0.merge(other.into_secure_router().0))
    }

    /// The `#[secure]` handler of requests that match no route (instead of a bare 404).
    ///
    /// ```
    /// use secure_api_runtime::{Guard, Policy, PolicySource};
    /// use secure_api_runtime::routing::SecureRouter;
    /// struct Open;
    /// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::h"); }
    /// async fn not_found(_: Guard<Open>) -> http::StatusCode { http::StatusCode::NOT_FOUND }
    /// let router: SecureRouter = SecureRouter::new().fallback(not_found);
    /// ```
    pub fn fallback<H, T>(self, handler: H) -> Self
    where
        H: SecuredHandler<T, S>,
        T: 'static,
    {
        SecureRouter(self.0.fallback(handler))
    }

    /// Wraps every route (and the fallback) in `layer`, as `Router::layer` does.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// let router: secure_api_runtime::routing::SecureRouter =
    ///     secure_api_runtime::routing::SecureRouter::new().layer(security.layer());
    /// ```
    pub fn layer<L>(self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        SecureRouter(self.0.layer(layer))
    }

    /// Wraps the matched routes only in `layer`, as `Router::route_layer` does.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// use secure_api_runtime::{Guard, Policy, PolicySource};
    /// use secure_api_runtime::routing::{SecureRouter, get};
    /// struct Open;
    /// impl PolicySource for Open { const POLICY: &'static Policy = &Policy::public("app::h"); }
    /// async fn h(_: Guard<Open>) {}
    /// let router: SecureRouter = SecureRouter::new().route("/", get(h)).route_layer(security.layer());
    /// ```
    pub fn route_layer<L>(self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        SecureRouter(self.0.route_layer(layer))
    }

    /// Provides the state, as `Router::with_state` does.
    ///
    /// ```
    /// use secure_api_runtime::routing::SecureRouter;
    /// let router: SecureRouter = SecureRouter::<u32>::new().with_state(7);
    /// ```
    pub fn with_state<S2>(self, state: S) -> SecureRouter<S2> {
        SecureRouter(self.0.with_state(state))
    }

    /// The axum router, to serve or to combine with routes that are deliberately left
    /// outside the secured set.
    ///
    /// ```
    /// let router: axum::Router = secure_api_runtime::routing::SecureRouter::new().into_router();
    /// ```
    pub fn into_router(self) -> Router<S> {
        self.0
    }
}

/// What [`SecureRouter::nest`] and [`SecureRouter::merge`] accept: another
/// `SecureRouter`, never a plain axum `Router`, whose handlers nothing has checked.
///
/// ```
/// use secure_api_runtime::routing::{IntoSecureRouter, SecureRouter};
/// let router: SecureRouter = SecureRouter::new().into_secure_router();
/// ```
#[diagnostic::on_unimplemented(
    message = "only a `SecureRouter` can be nested in or merged into a `SecureRouter`",
    label = "the handlers of this router are not known to carry `#[secure]`",
    note = "build this router as a `SecureRouter` with the method routers of `secure_api::routing`, so that each of its handlers is checked; to serve unchecked routes next to the secured ones, convert the secured router with `into_router()` first and merge them deliberately"
)]
pub trait IntoSecureRouter<S> {
    /// The router.
    fn into_secure_router(self) -> SecureRouter<S>;
}

impl<S> IntoSecureRouter<S> for SecureRouter<S> {
    fn into_secure_router(self) -> SecureRouter<S> {
        self
    }
}

impl<S> From<SecureRouter<S>> for Router<S> {
    fn from(router: SecureRouter<S>) -> Self {
        router.0
    }
}
