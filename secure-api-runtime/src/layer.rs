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
//! Each request gets a [`RequestId`](crate::RequestId) (from the trusted inbound header when
//! one is configured, generated otherwise), available to handlers as an extractor, carried
//! by every refusal's problem+json body and by the audit events, and echoed in the
//! `X-Request-Id` response header. With
//! [`log_requests`](crate::SecurityBuilder::log_requests), one event per request is logged
//! with credentials redacted.
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

use crate::audit::{self, RequestId};
use crate::config::Security;
use crate::redact::RequestLog;

static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
static DENY: HeaderValue = HeaderValue::from_static("DENY");
static CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
static NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
static X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
        let request_id = self.security.request_id_of(&parts.headers);
        parts.extensions.insert(request_id.clone());
        parts.extensions.insert(self.security.clone());
        let log = self
            .security
            .0
            .log_requests
            .then(|| RequestLog::start(&parts));
        let body = Body::new(Limited::new(body, self.security.body_limit()));
        let request = Request::from_parts(parts, body);
        let inner = audit::with_request_id(&request_id, || self.inner.call(request));
        ResponseFuture {
            inner,
            credentialed,
            request_id,
            log,
        }
    }
}

impl Security {
    /// The request's id: the trusted header's value when configured and acceptable,
    /// otherwise a new one.
    fn request_id_of(&self, headers: &HeaderMap) -> RequestId {
        self.0
            .request_id_header
            .as_ref()
            .and_then(|name| headers.get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(RequestId::parse)
            .unwrap_or_else(RequestId::generate)
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
        request_id: RequestId,
        log: Option<RequestLog>,
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled = audit::with_request_id(this.request_id, move || inner.poll(cx));
        let mut response = match polled {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        apply_profile(response.headers_mut(), *this.credentialed);
        if let Ok(value) = HeaderValue::from_str(this.request_id.as_str()) {
            response.headers_mut().insert(X_REQUEST_ID.clone(), value);
        }
        if let Some(log) = this.log.take() {
            log.finish(response.status(), this.request_id);
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
