//! Shared test machinery: the test application, token minting, requests and the checks
//! every refusal must pass.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secure_api::prelude::*;
use secure_api::{ManualClock, SecurityBuilder};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

/// The HMAC secret of the test configuration; long and recognisable so that a leak of it
/// into a response is easy to spot.
pub(crate) const SECRET: &[u8] = b"integration-test-hmac-secret-3f9a1c7e5b2d4086";
pub(crate) const ISSUER: &str = "customer-api";
pub(crate) const AUDIENCE: &str = "customer-api";
pub(crate) const REALM: &str = "customer-api";

// ---------------------------------------------------------------------------------------
// Fixtures

/// A fixture file of `tests/fixtures/`.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {path}: {e}"))
}

pub(crate) fn rsa_signing_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture(name)).unwrap()
}

pub(crate) fn ec_signing_key(name: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(&fixture(name)).unwrap()
}

pub(crate) fn ed_signing_key(name: &str) -> EncodingKey {
    EncodingKey::from_ed_pem(&fixture(name)).unwrap()
}

pub(crate) fn hmac_key(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret).unwrap()
}

// ---------------------------------------------------------------------------------------
// Tokens

pub(crate) fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// The claims of a token, valid for the test configuration unless changed.
#[derive(Debug, Clone)]
pub(crate) struct Claims(Map<String, Value>);

impl Claims {
    /// `sub`, `iat`, `exp` in ten minutes, the expected `iss` and `aud`, no roles.
    pub(crate) fn new(sub: &str) -> Self {
        let now = now();
        let mut map = Map::new();
        map.insert("sub".into(), json!(sub));
        map.insert("iat".into(), json!(now));
        map.insert("exp".into(), json!(now + 600));
        map.insert("iss".into(), json!(ISSUER));
        map.insert("aud".into(), json!(AUDIENCE));
        Claims(map)
    }

    pub(crate) fn roles<const N: usize>(self, roles: [&str; N]) -> Self {
        self.set("roles", json!(roles.as_slice()))
    }

    pub(crate) fn scope(self, scope: &str) -> Self {
        self.set("scope", json!(scope))
    }

    pub(crate) fn jti(self, jti: &str) -> Self {
        self.set("jti", json!(jti))
    }

    pub(crate) fn iss(self, iss: &str) -> Self {
        self.set("iss", json!(iss))
    }

    pub(crate) fn aud(self, aud: &str) -> Self {
        self.set("aud", json!(aud))
    }

    /// `exp` relative to now, in seconds (negative: in the past).
    pub(crate) fn exp_in(self, secs: i64) -> Self {
        self.set("exp", json!(now() + secs))
    }

    /// `nbf` relative to now, in seconds.
    pub(crate) fn nbf_in(self, secs: i64) -> Self {
        self.set("nbf", json!(now() + secs))
    }

    /// Any member, with any JSON value (including values of the wrong type).
    pub(crate) fn set(mut self, name: &str, value: Value) -> Self {
        self.0.insert(name.into(), value);
        self
    }

    pub(crate) fn without(mut self, name: &str) -> Self {
        self.0.remove(name);
        self
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// HS256 with the configured secret: the token a legitimate issuer would mint.
    pub(crate) fn hs256(&self) -> String {
        self.sign(Algorithm::HS256, &hmac_key(SECRET))
    }

    /// Signed by `jsonwebtoken::encode` with a plain header (`typ`, `alg`).
    pub(crate) fn sign(&self, alg: Algorithm, key: &EncodingKey) -> String {
        jsonwebtoken::encode(&Header::new(alg), &self.0, key).unwrap()
    }

    /// Signed with an arbitrary header, written as JSON (attacks put `jwk`, `jku`, `kid`...
    /// there); `alg` is the algorithm actually used to sign.
    pub(crate) fn sign_with_header(
        &self,
        header: &Value,
        alg: Algorithm,
        key: &EncodingKey,
    ) -> String {
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(self.to_value().to_string().as_bytes())
        );
        let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key, alg).unwrap();
        format!("{signing_input}.{signature}")
    }

    /// An unsigned token: the given header and these claims, with `signature` verbatim.
    pub(crate) fn unsigned(&self, header: &Value, signature: &str) -> String {
        format!(
            "{}.{}.{signature}",
            b64url(header.to_string().as_bytes()),
            b64url(self.to_value().to_string().as_bytes())
        )
    }
}

/// A valid HS256 token for `sub` holding `roles`.
pub(crate) fn token<const N: usize>(sub: &str, roles: [&str; N]) -> String {
    Claims::new(sub).roles(roles).hs256()
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url (RFC 4648 section 5), as JWS compact serialization uses it.
pub(crate) fn b64url(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

/// Inverse of [`b64url`].
pub(crate) fn b64url_decode(input: &str) -> Vec<u8> {
    let value = |c: u8| {
        B64URL
            .iter()
            .position(|x| *x == c)
            .unwrap_or_else(|| panic!("not base64url: {:?}", char::from(c))) as u32
    };
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    for chunk in input.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | value(*c) << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The three segments of a compact token.
pub(crate) fn segments(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
    [parts[0], parts[1], parts[2]]
}

/// A segment decoded as JSON.
pub(crate) fn decode_segment(segment: &str) -> Value {
    serde_json::from_slice(&b64url_decode(segment)).unwrap()
}

// ---------------------------------------------------------------------------------------
// The application under test

/// The configuration of the test app: HS256, issuer/audience `customer-api`, the
/// admin > editor > viewer hierarchy.
pub(crate) fn builder() -> SecurityBuilder {
    Security::builder()
        .hmac_secret(SECRET.to_vec())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .realm(REALM)
        .role_hierarchy("admin > editor > viewer")
}

pub(crate) fn security() -> Security {
    builder().build().unwrap()
}

/// The test configuration with its rate limiters on a manual clock (and the background
/// purge pushed far away so that only the test decides when keys are dropped).
pub(crate) fn security_with_clock() -> (Security, ManualClock) {
    let clock = ManualClock::new();
    let security = builder()
        .rate_limit_clock(clock.clone())
        .rate_limit_cleanup_interval(Duration::from_secs(24 * 3600))
        .build()
        .unwrap();
    (security, clock)
}

/// Every route of the test app, without the security layer.
pub(crate) fn routes() -> Router {
    use crate::handlers::*;
    Router::new()
        .route("/health", get(health))
        .route("/v1/ping", get(ping))
        .route("/v1/burst", get(burst))
        .route("/v1/me", get(me))
        .route("/v1/customers", get(list_customers).post(create_customer))
        .route(
            "/v1/customers/{id}",
            get(get_customer).delete(delete_customer),
        )
        .route("/v1/reports", get(report))
        .route("/v1/cached", get(cached))
        .route("/v1/public-cached", get(public_cached))
        .route("/v1/echo", post(echo))
}

pub(crate) fn app_with(security: &Security) -> Router {
    routes().layer(security.layer())
}

pub(crate) fn app() -> Router {
    app_with(&security())
}

// ---------------------------------------------------------------------------------------
// Requests and responses

/// A request being built.
#[must_use]
pub(crate) struct Req(Request<Body>);

impl Req {
    pub(crate) fn new(method: Method, uri: &str) -> Self {
        Req(Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap())
    }

    pub(crate) fn get(uri: &str) -> Self {
        Self::new(Method::GET, uri)
    }

    pub(crate) fn post(uri: &str) -> Self {
        Self::new(Method::POST, uri)
    }

    pub(crate) fn delete(uri: &str) -> Self {
        Self::new(Method::DELETE, uri)
    }

    /// Appends a header (a second call with the same name adds a second value).
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.0.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    /// Appends a header whose value is raw bytes (non-ASCII allowed).
    pub(crate) fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.0.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
        self
    }

    pub(crate) fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body with its content type.
    pub(crate) fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }

    pub(crate) fn body(mut self, body: impl Into<Body>) -> Self {
        *self.0.body_mut() = body.into();
        self
    }

    /// The client address as the application knows it.
    pub(crate) fn client_ip(mut self, ip: &str) -> Self {
        let ip: IpAddr = ip.parse().unwrap();
        self.0.extensions_mut().insert(ClientIp(ip));
        self
    }

    /// Any request extension, as a server or an outer layer would set it.
    pub(crate) fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.0.extensions_mut().insert(value);
        self
    }

    /// The peer address as `into_make_service_with_connect_info` records it.
    pub(crate) fn connect_info(mut self, addr: &str) -> Self {
        let addr: SocketAddr = addr.parse().unwrap();
        self.0.extensions_mut().insert(ConnectInfo(addr));
        self
    }

    pub(crate) fn build(self) -> Request<Body> {
        self.0
    }

    pub(crate) async fn send(self, app: &Router) -> Resp {
        let response = app.clone().oneshot(self.0).await.unwrap();
        Resp::read(response).await
    }
}

/// A response read to the end.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) async fn read(response: axum::response::Response) -> Self {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// Asserts the status and the problem+json shape, and returns the problem.
    pub(crate) fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "status; body: {}",
            self.text()
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of a {status}"
        );
        let problem = self.json();
        assert_eq!(problem["status"], status, "{problem}");
        assert_eq!(problem["code"], code, "{problem}");
        assert!(problem["type"].is_string(), "{problem}");
        assert!(problem["title"].is_string(), "{problem}");
        assert!(problem["detail"].is_string(), "{problem}");
        problem
    }

    /// The body with its `request_id` member removed, after checking that it is the id
    /// of the `X-Request-Id` header: what is left must not depend on the request.
    pub(crate) fn without_request_id(&self) -> Value {
        let mut body = self.json();
        let id = body
            .as_object_mut()
            .and_then(|o| o.remove("request_id"))
            .unwrap_or_else(|| panic!("no request_id in {}", self.text()));
        assert_eq!(Some(id.as_str().unwrap()), self.header("x-request-id"));
        body
    }

    /// Everything the client sees, headers and body, as one string (for leak checks).
    pub(crate) fn everything(&self) -> String {
        let mut all = String::new();
        for (name, value) in &self.headers {
            all.push_str(name.as_str());
            all.push_str(": ");
            all.push_str(&String::from_utf8_lossy(value.as_bytes()));
            all.push('\n');
        }
        all.push_str(&self.text());
        all
    }

    pub(crate) fn www_authenticate(&self) -> &str {
        self.header("www-authenticate")
            .unwrap_or_else(|| panic!("no WWW-Authenticate on a {}", self.status))
    }

    /// 401 `invalid_token`, with the RFC 6750 challenge naming the error.
    pub(crate) fn assert_invalid_token(&self) {
        self.problem(401, "invalid_token");
        let challenge = self.www_authenticate();
        assert!(
            challenge.starts_with(&format!("Bearer realm=\"{REALM}\"")),
            "{challenge}"
        );
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }

    /// 401 with a bare challenge: no credentials this API accepts were presented.
    pub(crate) fn assert_missing_credentials(&self) {
        self.problem(401, "missing_credentials");
        assert_eq!(self.www_authenticate(), format!("Bearer realm=\"{REALM}\""));
    }

    /// 400 `invalid_request`, with the challenge naming the error.
    pub(crate) fn assert_invalid_request(&self) {
        self.problem(400, "invalid_request");
        let challenge = self.www_authenticate();
        assert!(
            challenge.starts_with(&format!("Bearer realm=\"{REALM}\"")),
            "{challenge}"
        );
        assert!(
            challenge.contains("error=\"invalid_request\""),
            "{challenge}"
        );
    }

    /// 403 `insufficient_scope`, with the challenge naming the error.
    pub(crate) fn assert_forbidden(&self) {
        self.problem(403, "insufficient_scope");
        let challenge = self.www_authenticate();
        assert!(
            challenge.starts_with(&format!("Bearer realm=\"{REALM}\"")),
            "{challenge}"
        );
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
    }

    /// Neither the token (nor any of its segments) nor the HMAC secret appears anywhere in
    /// the response.
    pub(crate) fn assert_leaks_nothing_of(&self, token: &str) {
        let all = self.everything();
        let secret = std::str::from_utf8(SECRET).unwrap();
        assert!(!all.contains(secret), "the HMAC secret leaked:\n{all}");
        assert!(
            !all.contains(&b64url(SECRET)),
            "the HMAC secret leaked (base64url):\n{all}"
        );
        for segment in token.split('.').filter(|s| s.len() >= 8) {
            assert!(
                !all.contains(segment),
                "a token segment leaked ({segment}):\n{all}"
            );
        }
    }
}

#[test]
fn base64url_round_trips_every_length() {
    for len in 0..40usize {
        let input: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        let encoded = b64url(&input);
        assert!(!encoded.contains('='));
        assert_eq!(b64url_decode(&encoded), input, "length {len}");
    }
    assert_eq!(b64url(b"\xfb\xff"), "-_8");
    assert_eq!(b64url(br#"{"alg":"none"}"#), "eyJhbGciOiJub25lIn0");
}

/// Installs, once per test binary, a global subscriber interested in every event.
///
/// Tests that capture logs install their own subscriber for their thread only
/// (`set_default`). tracing caches, per callsite, whether any subscriber wants its events;
/// with several thread-local subscribers coming and going in parallel tests that cache can
/// be rebuilt while one of them is between registration and use, and an event a capturing
/// test waits for is then skipped. A permanent subscriber that wants everything keeps every
/// callsite's interest at "always", so each test's own subscriber sees each of its events.
pub(crate) fn steady_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a global subscriber exists already, which serves as well.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
}
