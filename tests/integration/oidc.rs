//! OAuth2 / OpenID Connect resource server: keys from a real JWKS and discovery server on
//! loopback (an axum app started by each test), several issuers, rotating HMAC secrets,
//! the `typ` check and RFC 7662 introspection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secure_api::{FetchSettings, Introspection, JwtKey, Security, TrustedIssuer};
use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------------------------
// The identity provider

#[derive(Default)]
struct IdpState {
    issuer: Mutex<String>,
    /// The issuer the discovery document claims (normally `issuer`).
    discovery_issuer: Mutex<Option<String>>,
    keys: Mutex<Vec<Value>>,
    /// Extra bytes of padding in the JWKS document.
    padding: Mutex<usize>,
    delay: Mutex<Duration>,
    jwks_hits: AtomicU64,
    introspection_hits: AtomicU64,
    /// token -> introspection answer.
    answers: Mutex<Vec<(String, Value)>>,
}

struct Idp {
    url: String,
    state: Arc<IdpState>,
    server: tokio::task::JoinHandle<()>,
}

impl Idp {
    async fn start() -> Idp {
        let state = Arc::new(IdpState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        *state.issuer.lock().unwrap() = url.clone();
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/introspect", post(introspect))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Idp { url, state, server }
    }

    fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url)
    }

    fn set_keys(&self, keys: Vec<Value>) {
        *self.state.keys.lock().unwrap() = keys;
    }

    fn hits(&self) -> u64 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Stops the server: new connections are refused.
    fn stop(&self) {
        self.server.abort();
    }
}

async fn jwks(State(state): State<Arc<IdpState>>) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let keys = state.keys.lock().unwrap().clone();
    let padding = "x".repeat(*state.padding.lock().unwrap());
    axum::Json(json!({ "keys": keys, "padding": padding })).into_response()
}

async fn discovery(State(state): State<Arc<IdpState>>) -> Response {
    let issuer = state.issuer.lock().unwrap().clone();
    let claimed = state
        .discovery_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| issuer.clone());
    axum::Json(json!({ "issuer": claimed, "jwks_uri": format!("{issuer}/jwks") })).into_response()
}

async fn introspect(
    State(state): State<Arc<IdpState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    state.introspection_hits.fetch_add(1, Ordering::SeqCst);
    // Basic base64("orders-api:introspection-secret")
    let expected = "Basic b3JkZXJzLWFwaTppbnRyb3NwZWN0aW9uLXNlY3JldA==";
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let token = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default()
        .to_owned();
    let answer = state
        .answers
        .lock()
        .unwrap()
        .iter()
        .find(|(t, _)| *t == token)
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| json!({ "active": false }));
    axum::Json(answer).into_response()
}

// ---------------------------------------------------------------------------------------
// Keys and tokens

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).unwrap()
}

fn rsa_jwk(kid: &str) -> Value {
    jwk(&rsa_signing_key("rsa_private.pem"), Algorithm::RS256, kid)
}

fn rsa2_jwk(kid: &str) -> Value {
    jwk(&rsa_signing_key("rsa2_private.pem"), Algorithm::RS256, kid)
}

fn ec_jwk(kid: &str) -> Value {
    jwk(&ec_signing_key("ec_private.pem"), Algorithm::ES256, kid)
}

fn signed(claims: &Claims, alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims.to_value(), key).unwrap()
}

fn viewer(iss: &str) -> Claims {
    Claims::new("alice").iss(iss).roles(["viewer"])
}

fn rs256(iss: &str, kid: &str) -> String {
    signed(
        &viewer(iss),
        Algorithm::RS256,
        Some(kid),
        &rsa_signing_key("rsa_private.pem"),
    )
}

fn jwks_issuer(idp: &Idp) -> TrustedIssuer {
    TrustedIssuer::new(&idp.url)
        .audience(AUDIENCE)
        .jwks_url(idp.jwks_url())
        .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        .jwks_cooldown(Duration::from_millis(300))
}

fn secured(issuers: impl IntoIterator<Item = TrustedIssuer>) -> Security {
    let mut builder = Security::builder()
        .realm(REALM)
        .role_hierarchy("admin > editor > viewer");
    for issuer in issuers {
        builder = builder.trusted_issuer(issuer);
    }
    builder.build().unwrap()
}

async fn status(app: &Router, token: &str) -> u16 {
    Req::get("/v1/customers")
        .bearer(token)
        .send(app)
        .await
        .status
        .as_u16()
}

// ---------------------------------------------------------------------------------------
// JWKS

#[tokio::test]
async fn keys_rotate_mid_run_new_kid_appears_old_retires() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    let security = secured([jwks_issuer(&idp)]);
    let app = app_with(&security);

    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 200);
    assert_eq!(idp.hits(), 1);

    // The IdP publishes k2 next to k1: a token naming k2 triggers one refetch.
    idp.set_keys(vec![rsa_jwk("k1"), rsa2_jwk("k2")]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let k2 = signed(
        &viewer(&idp.url),
        Algorithm::RS256,
        Some("k2"),
        &rsa_signing_key("rsa2_private.pem"),
    );
    assert_eq!(status(&app, &k2).await, 200);
    assert_eq!(idp.hits(), 2);
    let old = rs256(&idp.url, "k1");
    assert_eq!(status(&app, &old).await, 200, "k1 still published");

    // k1 retires. Once the set is refetched, tokens naming k1 fail, even one verified (and
    // cached) before.
    idp.set_keys(vec![rsa2_jwk("k2")]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let unknown = rs256(&idp.url, "k3");
    assert_eq!(status(&app, &unknown).await, 401, "unknown kid");
    assert_eq!(idp.hits(), 3, "the unknown kid refetched the set");
    assert_eq!(
        status(&app, &old).await,
        401,
        "cached k1 token after k1 retired"
    );
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 401);
    assert_eq!(status(&app, &k2).await, 200);
}

#[tokio::test]
async fn a_key_replaced_under_the_same_kid_voids_the_tokens_the_old_one_verified() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    let security = secured([jwks_issuer(&idp)]);
    let app = app_with(&security);
    let old = rs256(&idp.url, "k1");
    assert_eq!(status(&app, &old).await, 200);
    assert_eq!(
        status(&app, &old).await,
        200,
        "now from the verified-token cache"
    );

    // The IdP puts other key material under the same kid (say, after a compromise).
    idp.set_keys(vec![rsa2_jwk("k1")]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(status(&app, &rs256(&idp.url, "k3")).await, 401);
    assert_eq!(idp.hits(), 2, "the unknown kid refetched the set");
    assert_eq!(
        status(&app, &old).await,
        401,
        "a token cached under the replaced key"
    );
    let new = signed(
        &viewer(&idp.url),
        Algorithm::RS256,
        Some("k1"),
        &rsa_signing_key("rsa2_private.pem"),
    );
    assert_eq!(status(&app, &new).await, 200);
}

#[tokio::test]
async fn kid_spray_costs_the_idp_one_fetch_per_cooldown() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    let security = secured([jwks_issuer(&idp).jwks_cooldown(Duration::from_secs(60))]);
    let app = app_with(&security);
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 200);
    assert_eq!(idp.hits(), 1);

    for i in 0..200 {
        let token = rs256(&idp.url, &format!("random-{i}"));
        assert_eq!(status(&app, &token).await, 401);
    }
    // The first unknown kid may refetch once (the initial fetch was an attempt, and it
    // falls inside the cooldown too): at most one fetch beyond the first.
    assert!(idp.hits() <= 2, "{} JWKS fetches", idp.hits());
    assert_eq!(security.jwks_fetches(), idp.hits());
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 200);
}

#[tokio::test]
async fn an_unreachable_idp_keeps_cached_keys_and_refuses_unknown_kids() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    let security = secured([jwks_issuer(&idp).jwks_refresh(Duration::from_millis(100))]);
    let app = app_with(&security);
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 200);

    idp.stop();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The set is stale (refresh due) and the IdP is gone: the cached key still verifies.
    for _ in 0..3 {
        let fresh = signed(
            &viewer(&idp.url).set("jti", json!(format!("{:?}", Instant::now()))),
            Algorithm::RS256,
            Some("k1"),
            &rsa_signing_key("rsa_private.pem"),
        );
        assert_eq!(status(&app, &fresh).await, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Past the cooldown, an unknown kid tries the IdP, fails, and is refused.
    let unknown = signed(
        &viewer(&idp.url),
        Algorithm::RS256,
        Some("k2"),
        &rsa_signing_key("rsa2_private.pem"),
    );
    assert_eq!(status(&app, &unknown).await, 401);
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 200);
}

#[tokio::test]
async fn an_rsa_public_key_used_as_an_hmac_secret_is_refused() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    let app = app_with(&secured([jwks_issuer(&idp)]));
    for secret in [
        fixture("rsa_public.pem"),
        fixture("rsa_public.pem").trim_ascii().to_vec(),
    ] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let forged = signed(&viewer(&idp.url), alg, Some("k1"), &hmac_key(&secret));
            let res = Req::get("/v1/customers").bearer(&forged).send(&app).await;
            assert_eq!(res.status, 401, "{alg:?}");
            res.assert_invalid_token();
        }
    }
    // A JWKS issuer cannot even be configured to allow HMAC.
    let err = Security::builder()
        .trusted_issuer(jwks_issuer(&idp).algorithms([Algorithm::RS256, Algorithm::HS256]))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer.algorithms");
    let err = Security::builder()
        .trusted_issuer(jwks_issuer(&idp).algorithms([Algorithm::HS256]))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer.algorithms");
}

#[tokio::test]
async fn an_ecdsa_signature_with_r_and_s_zero_is_refused() {
    let idp = Idp::start().await;
    idp.set_keys(vec![ec_jwk("e1")]);
    let app = app_with(&secured([jwks_issuer(&idp)]));
    let good = signed(
        &viewer(&idp.url),
        Algorithm::ES256,
        Some("e1"),
        &ec_signing_key("ec_private.pem"),
    );
    assert_eq!(status(&app, &good).await, 200);
    let [header, payload, _] = segments(&good);
    for signature in [vec![0u8; 64], vec![0u8; 8], vec![]] {
        let forged = format!("{header}.{payload}.{}", b64url(&signature));
        assert_eq!(
            status(&app, &forged).await,
            401,
            "{} bytes",
            signature.len()
        );
    }
    // An RSA key's kid with the EC algorithm is refused too (family mismatch).
    idp.set_keys(vec![ec_jwk("e1"), rsa_jwk("r1")]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mismatched = signed(
        &viewer(&idp.url),
        Algorithm::ES256,
        Some("r1"),
        &ec_signing_key("ec_private.pem"),
    );
    assert_eq!(status(&app, &mismatched).await, 401);
}

#[tokio::test]
async fn symmetric_keys_in_the_jwks_are_ignored() {
    let idp = Idp::start().await;
    let secret = b"published-in-the-jwks-0123456789abcdef";
    idp.set_keys(vec![
        json!({ "kty": "oct", "kid": "h1", "k": b64url(secret), "alg": "HS256" }),
        rsa_jwk("k1"),
    ]);
    let app = app_with(&secured([jwks_issuer(&idp)]));
    let forged = signed(
        &viewer(&idp.url),
        Algorithm::HS256,
        Some("h1"),
        &hmac_key(secret),
    );
    assert_eq!(status(&app, &forged).await, 401);
    // Encryption keys are ignored as well.
    let mut enc = rsa2_jwk("enc");
    enc["use"] = json!("enc");
    idp.set_keys(vec![enc, rsa_jwk("k1")]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let token = signed(
        &viewer(&idp.url),
        Algorithm::RS256,
        Some("enc"),
        &rsa_signing_key("rsa2_private.pem"),
    );
    assert_eq!(status(&app, &token).await, 401);
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 200);
}

#[tokio::test]
async fn a_jwk_alg_must_agree_with_the_token() {
    let idp = Idp::start().await;
    // The key says RS256; a PS256 token signed with the same key is refused.
    idp.set_keys(vec![rsa_jwk("k1")]);
    let app = app_with(&secured([
        jwks_issuer(&idp).algorithms([Algorithm::RS256, Algorithm::PS256])
    ]));
    let ps = signed(
        &viewer(&idp.url),
        Algorithm::PS256,
        Some("k1"),
        &rsa_signing_key("rsa_private.pem"),
    );
    assert_eq!(status(&app, &ps).await, 401);
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 200);
    // An algorithm off the allow-list is refused even when the key would verify it.
    let app = app_with(&secured([jwks_issuer(&idp).algorithms([Algorithm::ES256])]));
    assert_eq!(status(&app, &rs256(&idp.url, "k1")).await, 401);
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_refuses_another_issuer() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    let issuer = || TrustedIssuer::new(&idp.url).audience(AUDIENCE).discover();
    let security = secured([issuer()]);
    security.prefetch_keys().await.unwrap();
    assert_eq!(
        status(&app_with(&security), &rs256(&idp.url, "k1")).await,
        200
    );

    // The document names another issuer (even one differing by a trailing slash).
    *idp.state.discovery_issuer.lock().unwrap() = Some(format!("{}/", idp.url));
    let security = secured([issuer()]);
    let err = security.prefetch_keys().await.unwrap_err();
    assert!(err.message().contains("issuer"), "{err}");
    let security = secured([issuer()]);
    assert_eq!(
        status(&app_with(&security), &rs256(&idp.url, "k1")).await,
        401,
        "at first use"
    );
}

#[tokio::test]
async fn an_oversize_jwks_is_refused() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    *idp.state.padding.lock().unwrap() = 64 * 1024;
    let security =
        secured([jwks_issuer(&idp).fetch_settings(FetchSettings::default().max_bytes(16 * 1024))]);
    let err = security.prefetch_keys().await.unwrap_err();
    assert!(err.message().contains("size cap"), "{err}");
    assert_eq!(
        status(&app_with(&security), &rs256(&idp.url, "k1")).await,
        401
    );
}

#[tokio::test]
async fn a_slow_idp_hits_the_timeout() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    *idp.state.delay.lock().unwrap() = Duration::from_secs(5);
    let security = secured([jwks_issuer(&idp)
        .fetch_settings(FetchSettings::default().timeout(Duration::from_millis(300)))]);
    let started = Instant::now();
    let err = security.prefetch_keys().await.unwrap_err();
    assert!(err.message().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let started = Instant::now();
    assert_eq!(
        status(&app_with(&security), &rs256(&idp.url, "k1")).await,
        401
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn plain_http_is_only_for_loopback() {
    let err = Security::builder()
        .trusted_issuer(
            TrustedIssuer::new("https://idp.example")
                .audience(AUDIENCE)
                .jwks_url("http://idp.example/jwks"),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer.jwks_url");
    let err = Security::builder()
        .trusted_issuer(
            TrustedIssuer::new("http://idp.example")
                .audience(AUDIENCE)
                .discover(),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer.discover");
    Security::builder()
        .trusted_issuer(
            TrustedIssuer::new("https://idp.example")
                .audience(AUDIENCE)
                .jwks_url("https://idp.example/jwks"),
        )
        .build()
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Several issuers

#[tokio::test]
async fn each_issuer_verifies_with_its_own_keys() {
    let production = Idp::start().await;
    production.set_keys(vec![rsa_jwk("prod-1")]);
    let staging_iss = "https://staging.idp.example";
    let security = secured([
        jwks_issuer(&production),
        TrustedIssuer::new(staging_iss)
            .audience("staging-api")
            .jwt_key(JwtKey::ec_pem(fixture("ec_public.pem")))
            .algorithms([Algorithm::ES256]),
    ]);
    let app = app_with(&security);
    let ec = ec_signing_key("ec_private.pem");

    assert_eq!(status(&app, &rs256(&production.url, "prod-1")).await, 200);
    let staging = signed(
        &viewer(staging_iss).aud("staging-api"),
        Algorithm::ES256,
        None,
        &ec,
    );
    assert_eq!(status(&app, &staging).await, 200);

    // Claims issuer A, signed by B's key: A's keys do not verify it.
    let hits = production.hits();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let forged = signed(&viewer(&production.url), Algorithm::ES256, None, &ec);
    assert_eq!(status(&app, &forged).await, 401);
    let forged = signed(
        &viewer(&production.url),
        Algorithm::ES256,
        Some("prod-1"),
        &ec,
    );
    assert_eq!(status(&app, &forged).await, 401);
    // Each issuer's audience is its own.
    let wrong_aud = signed(&viewer(staging_iss), Algorithm::ES256, None, &ec);
    assert_eq!(status(&app, &wrong_aud).await, 401);
    // An unknown issuer is refused without any fetch.
    let before = production.hits();
    let stranger = rs256("https://stranger.example", "prod-1");
    assert_eq!(status(&app, &stranger).await, 401);
    let no_iss = signed(
        &viewer("x").without("iss"),
        Algorithm::RS256,
        Some("prod-1"),
        &rsa_signing_key("rsa_private.pem"),
    );
    assert_eq!(status(&app, &no_iss).await, 401);
    assert_eq!(production.hits(), before);
    assert!(production.hits() <= hits + 1);
}

#[test]
fn trusted_issuers_are_checked_at_build() {
    let err = builder()
        .trusted_issuer(
            TrustedIssuer::new("a")
                .audience("x")
                .hmac_secret("k", vec![1; 32]),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.setting(),
        "jwt.trusted_issuer",
        "mixed with the single key"
    );
    let err = Security::builder()
        .trusted_issuer(TrustedIssuer::new("a").hmac_secret("k", vec![1; 32]))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer.audience");
    let err = Security::builder()
        .trusted_issuer(TrustedIssuer::new("a").audience("x"))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer");
    let err = Security::builder()
        .trusted_issuer(
            TrustedIssuer::new("a")
                .audience("x")
                .hmac_secret("k", vec![1; 31]),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.key");
    let err = Security::builder()
        .trusted_issuer(
            TrustedIssuer::new("a")
                .audience("x")
                .hmac_secret("k", vec![1; 32])
                .jwt_key(JwtKey::hmac(vec![2; 32])),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer");
    let err = Security::builder()
        .trusted_issuer(
            TrustedIssuer::new("a")
                .audience("x")
                .hmac_secret("k", vec![1; 32]),
        )
        .trusted_issuer(
            TrustedIssuer::new("a")
                .audience("y")
                .hmac_secret("k", vec![1; 32]),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "jwt.trusted_issuer");
}

// ---------------------------------------------------------------------------------------
// typ

#[tokio::test]
async fn only_access_tokens_pass_the_typ_check() {
    let security = secured([TrustedIssuer::new(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret("k1", SECRET.to_vec())
        .require_access_token_typ()]);
    let app = app_with(&security);
    let with_typ = |typ: Option<&str>| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, &viewer(ISSUER).to_value(), &hmac_key(SECRET)).unwrap()
    };
    assert_eq!(status(&app, &with_typ(Some("at+jwt"))).await, 200);
    assert_eq!(
        status(&app, &with_typ(Some("application/at+JWT"))).await,
        200
    );
    assert_eq!(
        status(&app, &with_typ(Some("JWT"))).await,
        401,
        "an ID token"
    );
    assert_eq!(status(&app, &with_typ(None)).await, 401);

    // On the single-key configuration too.
    let app = app_with(&builder().require_access_token_typ().build().unwrap());
    assert_eq!(status(&app, &viewer(ISSUER).hs256()).await, 401);
}

// ---------------------------------------------------------------------------------------
// Rotating HMAC secrets

#[tokio::test]
async fn hmac_secrets_rotate_by_kid_and_retire_at_not_after() {
    let old = b"the-2026-10-secret-0123456789abcdef".to_vec();
    let current = b"the-2026-11-secret-0123456789abcdef".to_vec();
    let next = b"the-2026-12-secret-0123456789abcdef".to_vec();
    let now = std::time::SystemTime::now();
    let security = secured([TrustedIssuer::new(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret_until("2026-10", old.clone(), now - Duration::from_secs(1))
        .hmac_secret_until("2026-11", current.clone(), now + Duration::from_secs(3600))
        .hmac_secret("2026-12", next.clone())]);
    let app = app_with(&security);
    let token = |kid: Option<&str>, secret: &[u8]| {
        signed(&viewer(ISSUER), Algorithm::HS256, kid, &hmac_key(secret))
    };
    assert_eq!(status(&app, &token(Some("2026-11"), &current)).await, 200);
    assert_eq!(status(&app, &token(Some("2026-12"), &next)).await, 200);
    assert_eq!(
        status(&app, &token(Some("2026-10"), &old)).await,
        401,
        "past not-after"
    );
    assert_eq!(
        status(&app, &token(Some("2026-12"), &current)).await,
        401,
        "wrong secret for kid"
    );
    assert_eq!(
        status(&app, &token(None, &next)).await,
        401,
        "no kid with several secrets"
    );
    assert_eq!(
        status(&app, &token(Some("2027-01"), &next)).await,
        401,
        "unknown kid"
    );

    // A single secret needs no kid.
    let app = app_with(&secured([TrustedIssuer::new(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret("only", next.clone())]));
    assert_eq!(status(&app, &token(None, &next)).await, 200);
}

#[tokio::test]
async fn a_token_seen_before_is_refused_once_its_hmac_secret_retires() {
    // The requests after the first reuse its principal without checking the MAC again;
    // the retirement of the secret that signed the token still holds for them.
    let old = b"the-2026-10-secret-0123456789abcdef".to_vec();
    let next = b"the-2026-11-secret-0123456789abcdef".to_vec();
    let retires = std::time::SystemTime::now() + Duration::from_millis(2500);
    let security = secured([TrustedIssuer::new(ISSUER)
        .audience(AUDIENCE)
        .hmac_secret_until("2026-10", old.clone(), retires)
        .hmac_secret("2026-11", next)]);
    let app = app_with(&security);
    let token = signed(
        &viewer(ISSUER),
        Algorithm::HS256,
        Some("2026-10"),
        &hmac_key(&old),
    );
    assert_eq!(status(&app, &token).await, 200);
    assert_eq!(status(&app, &token).await, 200);
    let left = retires
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    assert_eq!(status(&app, &token).await, 401, "past not-after");
}

// ---------------------------------------------------------------------------------------
// Verified-token cache

#[tokio::test]
async fn a_cached_token_still_goes_through_every_later_check() {
    let idp = Idp::start().await;
    idp.set_keys(vec![rsa_jwk("k1")]);
    let app = app_with(&secured([jwks_issuer(&idp)]));
    let token = rs256(&idp.url, "k1");
    for _ in 0..3 {
        assert_eq!(status(&app, &token).await, 200);
        // Deleting needs admin: the role check runs on cache hits too.
        let res = Req::delete("/v1/customers/1")
            .bearer(&token)
            .send(&app)
            .await;
        assert_eq!(res.status, 403);
    }
    // A tampered copy of a cached token is not a hit.
    let [h, p, s] = segments(&token);
    let mut claims = decode_segment(p);
    claims["roles"] = json!(["admin"]);
    let tampered = format!("{h}.{}.{s}", b64url(claims.to_string().as_bytes()));
    let res = Req::delete("/v1/customers/1")
        .bearer(&tampered)
        .send(&app)
        .await;
    assert_eq!(res.status, 401);
}

// ---------------------------------------------------------------------------------------
// Introspection

#[tokio::test]
async fn opaque_tokens_are_introspected_cached_and_fail_closed() {
    let idp = Idp::start().await;
    let now = now();
    idp.state.answers.lock().unwrap().extend([
        (
            "opaque-active".to_owned(),
            json!({ "active": true, "sub": "bob", "roles": ["viewer"], "exp": now + 600, "iss": "as", "aud": ["orders", AUDIENCE] }),
        ),
        ("opaque-inactive".to_owned(), json!({ "active": false, "sub": "bob" })),
        (
            "opaque-expired".to_owned(),
            json!({ "active": true, "sub": "bob", "roles": ["viewer"], "exp": now - 5, "iss": "as", "aud": AUDIENCE }),
        ),
        (
            "opaque-other-aud".to_owned(),
            json!({ "active": true, "sub": "bob", "roles": ["viewer"], "exp": now + 600, "iss": "as", "aud": "other" }),
        ),
        ("opaque-late".to_owned(), json!({ "active": true, "sub": "carol", "roles": ["viewer"], "iss": "as", "aud": AUDIENCE })),
    ]);
    let introspection = |secret: &str| {
        Introspection::new(format!("{}/introspect", idp.url), "orders-api", secret)
            .issuer("as")
            .audience(AUDIENCE)
            .cache_ttl(Duration::from_secs(30))
    };
    let security = Security::builder()
        .introspection(introspection("introspection-secret"))
        .role_hierarchy("admin > editor > viewer")
        .build()
        .unwrap();
    let app = app_with(&security);
    let hits = || idp.state.introspection_hits.load(Ordering::SeqCst);

    let res = Req::get("/v1/me").bearer("opaque-active").send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["sub"], "bob");
    assert_eq!(hits(), 1);
    assert_eq!(status(&app, "opaque-active").await, 200);
    assert_eq!(hits(), 1, "answered from the cache");

    assert_eq!(status(&app, "opaque-inactive").await, 401);
    assert_eq!(status(&app, "opaque-inactive").await, 401);
    assert_eq!(hits(), 2, "inactive answers are cached too");
    assert_eq!(status(&app, "opaque-expired").await, 401);
    assert_eq!(status(&app, "opaque-other-aud").await, 401);
    assert_eq!(status(&app, "opaque-unknown").await, 401);

    // Wrong client credentials: the endpoint refuses, the request fails closed.
    let bad_client = Security::builder()
        .introspection(introspection("wrong-secret"))
        .build()
        .unwrap();
    assert_eq!(status(&app_with(&bad_client), "opaque-active").await, 503);

    // The endpoint goes down: cached answers hold, anything else is 503, never 200.
    idp.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(status(&app, "opaque-active").await, 200);
    let res = Req::get("/v1/customers")
        .bearer("opaque-late")
        .send(&app)
        .await;
    assert_eq!(res.status, 503);
    assert!(!res.text().contains(&idp.url), "no internals in the body");
}

#[test]
fn introspection_settings_are_checked() {
    let err = Security::builder()
        .introspection(Introspection::new(
            "http://idp.example/introspect",
            "api",
            "s",
        ))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "introspection.endpoint");
    let err = Security::builder()
        .introspection(Introspection::new(
            "https://idp.example/introspect",
            "api",
            "",
        ))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "introspection.client_secret");
    let err = Security::builder()
        .introspection(
            Introspection::new("https://idp.example/introspect", "api", "s")
                .cache_ttl(Duration::from_secs(3600)),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "introspection.cache_ttl");
}
