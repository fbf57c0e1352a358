//! The tower layer that puts a [`Security`] in front of a router.
//!
//! For every request it makes the configuration available to the `#[secure]` guards and
//! caps the body (the cap only bites when a handler reads the body, so the guard still
//! answers 401 to an unauthenticated request with a huge body). On every response,
//! errors and 404s included, it sets the API header profile:
//!
//! | header | value |
//! | --- | --- |
//! | `X-Content-Type-Options` | `nosniff` |
//! | `X-Frame-Options` | `DENY` |
//! | `Content-Security-Policy` | `default-src 'none'; frame-ancestors 'none'` (unless the handler set one) |
//! | `Referrer-Policy` | `no-referrer` |
//! | `Cache-Control` | `no-store` when the request carried credentials, or when the handler set none |
//!
//! and removes `Server` and `X-Powered-By`.
//!
//! ```
//! use axum::{routing::get, Router};
//! # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
//! let app: Router = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(security.layer());
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, REFERRER_POLICY, SERVER,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::Limited;
use tower::{Layer, Service};

use crate::config::Security;
use crate::ratelimit_headers::RateLimitSlot;

static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
static DENY: HeaderValue = HeaderValue::from_static("DENY");
static CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
static NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
static X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Layer installing a [`Security`]; made by [`Security::layer`].
///
/// ```
/// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
/// let layer = secure_api_runtime::SecurityLayer::new(security);
/// ```
#[derive(Clone, Debug)]
pub struct SecurityLayer {
    security: Security,
}

impl SecurityLayer {
    /// A layer for `security`.
    ///
    /// ```
    /// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
    /// let app: axum::Router = axum::Router::new().layer(secure_api_runtime::SecurityLayer::new(security));
    /// ```
    pub fn new(security: Security) -> Self {
        SecurityLayer { security }
    }
}

impl<S> Layer<S> for SecurityLayer {
    type Service = SecurityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityService {
            inner,
            security: self.security.clone(),
        }
    }
}

/// The service made by [`SecurityLayer`].
///
/// ```
/// use tower::Layer;
/// # let security = secure_api_runtime::Security::builder().hmac_secret(vec![1; 32]).issuer("i").audience("a").build().unwrap();
/// let service = security.layer().layer(axum::Router::<()>::new());
/// ```
#[derive(Clone, Debug)]
pub struct SecurityService<S> {
    inner: S,
    security: Security,
}

impl<S> Service<Request> for SecurityService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let credentialed = carries_credentials(request.headers());
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(self.security.clone());
        let rate_limit = self.security.rate_limit_slot();
        if let Some(slot) = &rate_limit {
            parts.extensions.insert(slot.clone());
        }
        let body = Body::new(Limited::new(body, self.security.body_limit()));
        let request = Request::from_parts(parts, body);
        ResponseFuture {
            inner: self.inner.call(request),
            credentialed,
            rate_limit,
        }
    }
}

fn carries_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION)
        || headers.contains_key(&X_API_KEY)
        || headers.contains_key(COOKIE)
}

pin_project_lite::pin_project! {
    /// Response future of [`SecurityService`]: sets the header profile on the response.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        credentialed: bool,
        rate_limit: Option<RateLimitSlot>,
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        apply_profile(response.headers_mut(), *this.credentialed);
        if let Some(slot) = this.rate_limit {
            slot.apply(response.headers_mut());
        }
        Poll::Ready(Ok(response))
    }
}

fn apply_profile(headers: &mut HeaderMap, credentialed: bool) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF.clone());
    headers.insert(X_FRAME_OPTIONS, DENY.clone());
    headers.insert(REFERRER_POLICY, NO_REFERRER.clone());
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(CONTENT_SECURITY_POLICY, CSP.clone());
    }
    if credentialed || !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, NO_STORE.clone());
    }
    headers.remove(SERVER);
    headers.remove(&X_POWERED_BY);
}
