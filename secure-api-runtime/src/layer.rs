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
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use aws_lc_rs::digest;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName};
use http_body::Body as _;
use http_body_util::{BodyExt, Limited};

use tower::{Layer, Service};

use crate::audit::{self, RequestId, RouteKeys};
use crate::config::Security;
use crate::guard::ClientIp;
use crate::https::{RequestScheme, scheme_of};
use crate::profile::ResponseFacts;
use crate::redact::RequestLog;
use crate::replay::StoredResponse;
use crate::signature::BodyDigest;
use crate::transport::{IDEMPOTENCY_KEY, RequestFingerprint, RouteOf, RouteSlot};

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
            served: Arc::new(Served {
                security: self.security.clone(),
                route: OnceLock::new(),
            }),
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
    /// Behind one reference count: the router clones the service for every request, and
    /// every request's slot keeps it.
    served: Arc<Served>,
}

/// What the requests through one [`SecurityService`] share.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) security: Security,
    /// The matched path of the route this service wraps (`Router::layer` wraps each route
    /// in its own service) and its metric keys, made once.
    pub(crate) route: OnceLock<Arc<RouteKeys>>,
}

impl<S> Service<Request> for SecurityService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let security = &self.served.security;
        let credentialed = carries_credentials(request.headers())
            || request.headers().contains_key(&security.0.api_keys.header);
        let idempotent = request.headers().contains_key(&IDEMPOTENCY_KEY);
        let signed = crate::signature::wants_body_digest(request.headers());
        let (mut parts, body) = request.into_parts();
        let request_id = security.request_id_of(&parts.headers);
        let route = match parts.extensions.get::<MatchedPath>() {
            None => RouteOf::None,
            Some(path) => match self.served.route.get() {
                Some(route) if *route.path == *path.as_str() => RouteOf::Served,
                Some(_) => RouteOf::Own(Arc::new(RouteKeys::new(path.as_str()))),
                None => {
                    // The first request names the route for the ones after it.
                    let route = Arc::new(RouteKeys::new(path.as_str()));
                    match self.served.route.set(route.clone()) {
                        Ok(()) => RouteOf::Served,
                        Err(_) => RouteOf::Own(route),
                    }
                }
            },
        };
        let log = security
            .0
            .log_requests
            .then(|| Box::new(RequestLog::start(&parts)));
        // The configuration, the id, the route and the log travel in the slot: one
        // extension, and a response future the router boxes for every request that stays
        // within the allocator's per-thread cache.
        let slot = RouteSlot::new(&self.served, request_id, route, log);
        let mut hsts = false;
        let kind = if let Some(https) = security.0.https.as_ref().filter(|_| {
            scheme_of(&parts, &security.0.throttle.trusted_proxies) == RequestScheme::Http
        }) {
            let response = audit::with_request_id(&slot.0.request_id, || {
                https.refuse_plain(&parts, credentialed)
            });
            Kind::Ready {
                response: Some(response),
            }
        } else {
            hsts = security.0.https.is_some();
            // The client as the trusted-proxy settings resolve it, once, for the limits,
            // the audit, the guards and the idempotency scope alike.
            if let Some(ip) = security.client_addr(&parts) {
                parts.extensions.insert(ClientIp(ip));
            }
            parts.extensions.insert(slot.clone());
            let limit = security.body_limit();
            if idempotent || signed {
                // A request with an Idempotency-Key or a signature is read first (within
                // the body cap) so that its fingerprint and body digest are known to the
                // guard; the inner service was made
                // ready by `poll_ready`, so it is the one that runs, and a fresh clone takes
                // its place.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let slot = slot.clone();
                Kind::Boxed {
                    future: Box::pin(async move {
                        let (fingerprint, digest, body) = fingerprint(&parts, body, limit).await;
                        parts.extensions.insert(RequestFingerprint(fingerprint));
                        parts.extensions.insert(digest);
                        let response = inner.call(Request::from_parts(parts, body)).await?;
                        Ok(record_idempotent(&slot, response).await)
                    }),
                }
            } else {
                // A body already at its end (a GET's, a zero Content-Length) has nothing to
                // cap: by the `Body` contract it yields no more frames, and hyper sets it
                // from the request's framing, which the client cannot overstate. Its
                // declared size is not trusted the same way: a wrapper that transforms a
                // body may pass its inner body's size hint on, and the cap would then
                // believe a bound that is not one.
                let body = if body.is_end_stream() {
                    body
                } else {
                    Body::new(Limited::new(body, limit))
                };
                let request = Request::from_parts(parts, body);
                let inner = audit::with_request_id(&slot.0.request_id, || self.inner.call(request));
                Kind::Plain { inner }
            }
        };
        ResponseFuture {
            kind,
            credentialed,
            hsts,
            slot,
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

/// SHA-256 over method, target and body, and the body's own digest; the body is handed
/// on unchanged (or, when it is over the cap, as a body that fails with the length error
/// when read).
async fn fingerprint(
    parts: &http::request::Parts,
    body: Body,
    limit: usize,
) -> (Option<[u8; 32]>, BodyDigest, Body) {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(parts.method.as_str().as_bytes());
            ctx.update(&[0]);
            ctx.update(
                parts
                    .uri
                    .path_and_query()
                    .map_or("", |p| p.as_str())
                    .as_bytes(),
            );
            ctx.update(&[0]);
            ctx.update(&bytes);
            let mut out = [0u8; 32];
            out.copy_from_slice(ctx.finish().as_ref());
            (Some(out), BodyDigest::of(&bytes), Body::from(bytes))
        }
        Err(_) => (
            None,
            BodyDigest::too_large(),
            Body::new(Limited::new(Body::from(Bytes::from_static(b"\0")), 0)),
        ),
    }
}

/// Largest response recorded for an `Idempotency-Key`; a larger one releases the key.
const MAX_RECORDED_RESPONSE: usize = 1024 * 1024;

/// Records the response of the request that started an idempotency key (not 5xx: a
/// server failure releases the key so the client may retry).
async fn record_idempotent(slot: &RouteSlot, response: Response) -> Response {
    let ticket = slot
        .0
        .ticket
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some(ticket) = ticket else {
        return response;
    };
    if response.status().is_server_error() {
        release(ticket, "the request failed").await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::warn!(target: "secure_api", %error, "response body failed");
            release(ticket, "the response body failed").await;
            return Response::from_parts(parts, Body::empty());
        }
    };
    if bytes.len() > MAX_RECORDED_RESPONSE {
        release(ticket, "the response is too large to record").await;
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut ticket = ticket;
    let stored = StoredResponse::new(parts.status, parts.headers.clone(), bytes.clone());
    match ticket.store.complete(&ticket.key, stored).await {
        Ok(()) => ticket.done = true,
        Err(error) => {
            tracing::warn!(target: "secure_api", %error, "could not record an idempotent response");
            release(ticket, "the response could not be recorded").await;
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Forgets the key now, so that the client's retry runs again instead of meeting 409.
async fn release(mut ticket: crate::transport::Ticket, why: &'static str) {
    tracing::debug!(target: "secure_api", why, "idempotency key released");
    if let Err(error) = ticket.store.abandon(&ticket.key).await {
        tracing::warn!(target: "secure_api", %error, "could not release an idempotency key");
    }
    ticket.done = true;
}

fn carries_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION)
        || headers.contains_key(&X_API_KEY)
        || headers.contains_key(COOKIE)
}

type BoxedResponse<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

pin_project_lite::pin_project! {
    /// Response future of [`SecurityService`]: sets the header profile on the response.
    pub struct ResponseFuture<F, E> {
        #[pin]
        kind: Kind<F, E>,
        credentialed: bool,
        // Whether the response gets HSTS.
        hsts: bool,
        slot: RouteSlot,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, E> {
        // The usual path.
        Plain {
            #[pin]
            inner: F,
        },
        // Requests with an `Idempotency-Key`, whose body is read first.
        Boxed {
            future: BoxedResponse<E>,
        },
        // Answered by the layer itself (plain HTTP when HTTPS is required).
        Ready {
            response: Option<Response>,
        },
    }
}

impl<F, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let kind = this.kind;
        // Refusals rendered while the request runs carry its id.
        let slot = &this.slot.0;
        let polled = audit::with_request_id(&slot.request_id, move || match kind.project() {
            KindProj::Plain { inner } => inner.poll(cx),
            KindProj::Boxed { future } => future.as_mut().poll(cx),
            KindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| crate::SecurityError::misconfigured().into_response()))),
        });
        let mut response = match polled {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        slot.security().0.profile.apply(
            response.headers_mut(),
            ResponseFacts {
                credentialed: *this.credentialed,
                hsts: *this.hsts,
                request_id: slot.request_id.header_value(),
                rate_limit: slot.rate_limit.as_ref(),
                policy: slot.policy.get().copied(),
            },
        );
        let status = response.status();
        crate::signature::hint(response.headers_mut(), status, slot.policy.get().copied());
        if let Some(log) = &slot.log {
            log.finish(response.status(), &slot.request_id);
        }
        Poll::Ready(Ok(response))
    }
}
