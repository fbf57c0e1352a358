//! API keys through a real Router: the accepted schemes of each route, the key format, the
//! store lookup, expiry, revocation, rotation, challenges and what never leaks.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::routing::get;
use secure_api::prelude::*;
use secure_api::{
    ApiKeyDigest, ApiKeyRecord, ApiKeyStore, AuthSchemes, FileApiKeyStore, MemoryApiKeyStore,
    StoreError, StoreResult, WallClock, generate_api_key,
};
use serde_json::{Value, json};

use crate::support::{Req, builder, token};

#[secure(auth = "api_key", role = "viewer")]
async fn key_report(principal: Principal) -> Json<Value> {
    Json(json!({
        "sub": principal.subject(),
        "roles": principal.roles(),
        "scopes": principal.scopes(),
        "scheme": principal.auth_scheme().map(|s| s.name()),
        "key_id": principal.api_key_id(),
    }))
}

#[secure(auth = "api_key", role = "admin")]
async fn key_admin() -> &'static str {
    "admin"
}

#[secure(auth = ["jwt", "api_key"])]
async fn either(principal: Principal) -> Json<Value> {
    Json(json!({
        "sub": principal.subject(),
        "scheme": principal.auth_scheme().map(|s| s.name()),
    }))
}

#[secure(auth = "jwt")]
async fn jwt_only() -> &'static str {
    "jwt"
}

#[secure(role = "viewer")]
async fn default_schemes() -> &'static str {
    "default"
}

#[secure(auth = "api_key", rate = "2/1m", rate_key = "api_key")]
async fn metered() -> &'static str {
    "metered"
}

fn routes() -> Router {
    Router::new()
        .route("/keys/report", get(key_report))
        .route("/keys/admin", get(key_admin))
        .route("/either", get(either))
        .route("/jwt-only", get(jwt_only))
        .route("/default", get(default_schemes))
        .route("/metered", get(metered))
}

const T0: u64 = 1_900_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A key for `owner` with `roles`, inserted into `store`; returns the plaintext and id.
fn issue(store: &MemoryApiKeyStore, owner: &str, roles: &[&str]) -> (String, String) {
    let (key, record) = generate_api_key("sak_test", owner, roles.iter().copied())
        .unwrap()
        .into_parts();
    store.insert(record.with_scopes(["customers:read"]));
    (key.expose().to_owned(), key.id().to_owned())
}

struct Fixture {
    app: Router,
    store: Arc<MemoryApiKeyStore>,
    clock: WallClock,
}

fn fixture_with(
    configure: impl FnOnce(secure_api::SecurityBuilder) -> secure_api::SecurityBuilder,
) -> Fixture {
    let store = Arc::new(MemoryApiKeyStore::new());
    let clock = WallClock::manual(at(T0));
    let security = configure(
        builder()
            .api_key_store(store.clone())
            .wall_clock(clock.clone()),
    )
    .build()
    .unwrap();
    Fixture {
        app: routes().layer(security.layer()),
        store,
        clock,
    }
}

fn fixture() -> Fixture {
    fixture_with(|b| b)
}

/// The secret part of a key: what must never appear in a log or a body.
fn secret_of(key: &str) -> &str {
    key.rsplit('_').nth(1).unwrap()
}

#[tokio::test]
async fn a_valid_key_authenticates_its_owner_with_the_records_roles_and_scopes() {
    let f = fixture();
    let (key, id) = issue(&f.store, "billing-service", &["viewer"]);
    let res = Req::get("/keys/report")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({
            "sub": "billing-service",
            "roles": ["viewer"],
            "scopes": ["customers:read"],
            "scheme": "api_key",
            "key_id": id,
        })
    );
}

#[tokio::test]
async fn roles_come_from_the_record_through_the_hierarchy() {
    let f = fixture();
    let (viewer, _) = issue(&f.store, "reader", &["viewer"]);
    let (admin, _) = issue(&f.store, "operator", &["admin"]);
    let res = Req::get("/keys/admin")
        .header("x-api-key", &viewer)
        .send(&f.app)
        .await;
    res.problem(403, "insufficient_scope");
    let challenge = res.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("ApiKey realm="), "{challenge}");
    assert!(challenge.contains("scope=\"admin\""), "{challenge}");
    let res = Req::get("/keys/admin")
        .header("x-api-key", &admin)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
    // admin > viewer: the admin key reaches the viewer route too.
    let res = Req::get("/keys/report")
        .header("x-api-key", &admin)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
}

/// Counts lookups, to show which refusals happen before the store is asked.
#[derive(Default)]
struct Counting {
    inner: MemoryApiKeyStore,
    lookups: AtomicUsize,
}

impl ApiKeyStore for Counting {
    fn find<'a>(&'a self, digest: &'a ApiKeyDigest) -> StoreResult<'a, Option<ApiKeyRecord>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find(digest)
    }
}

#[tokio::test]
async fn a_wrong_checksum_or_garbage_is_refused_before_any_lookup() {
    let store = Arc::new(Counting::default());
    let security = builder().api_key_store(store.clone()).build().unwrap();
    let app = routes().layer(security.layer());
    let (key, _) = issue(&store.inner, "svc", &["viewer"]);

    let mut typo = key.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [
        typo.as_str(),
        "garbage",
        "sak_test_x_y_z",
        &key[..key.len() - 1],
    ] {
        let res = Req::get("/keys/report")
            .header("x-api-key", bad)
            .send(&app)
            .await;
        let problem = res.problem(401, "invalid_token");
        assert!(!res.text().contains(bad), "{problem}");
        let challenge = res.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("ApiKey realm="), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 0);

    let res = Req::get("/keys/report")
        .header("x-api-key", &key)
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unknown_key_is_refused() {
    let f = fixture();
    let unknown = generate_api_key("sak_test", "nobody", ["admin"]).unwrap();
    let res = Req::get("/keys/report")
        .header("x-api-key", unknown.key().expose())
        .send(&f.app)
        .await;
    res.problem(401, "invalid_token");
}

#[tokio::test]
async fn an_expired_key_is_refused_from_its_expiry_on() {
    let f = fixture();
    let (key, id) = issue(&f.store, "svc", &["viewer"]);
    assert!(f.store.expire(&id, at(T0 + 60)));
    let res = Req::get("/keys/report")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
    f.clock.set(at(T0 + 60));
    let res = Req::get("/keys/report")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    let problem = res.problem(401, "invalid_token");
    assert!(!res.text().contains(secret_of(&key)), "{problem}");
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    let f = fixture();
    let (key, id) = issue(&f.store, "svc", &["viewer"]);
    let res = Req::get("/keys/report")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
    assert!(f.store.revoke(&id));
    let res = Req::get("/keys/report")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    res.problem(401, "invalid_token");
}

#[tokio::test]
async fn rotation_keeps_both_keys_until_the_old_ones_expiry() {
    let f = fixture();
    let (old, old_id) = issue(&f.store, "svc", &["viewer"]);
    let (new, _) = issue(&f.store, "svc", &["viewer"]);
    f.store.expire(&old_id, at(T0 + 100));
    for key in [&old, &new] {
        let res = Req::get("/keys/report")
            .header("x-api-key", key)
            .send(&f.app)
            .await;
        assert_eq!(res.status, 200);
        assert_eq!(res.json()["sub"], "svc");
    }
    f.clock.set(at(T0 + 99));
    let res = Req::get("/keys/report")
        .header("x-api-key", &old)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
    f.clock.set(at(T0 + 100));
    let res = Req::get("/keys/report")
        .header("x-api-key", &old)
        .send(&f.app)
        .await;
    res.problem(401, "invalid_token");
    let res = Req::get("/keys/report")
        .header("x-api-key", &new)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn the_key_header_is_configurable() {
    let f = fixture_with(|b| b.api_key_header("X-Service-Key"));
    let (key, _) = issue(&f.store, "svc", &["viewer"]);
    let res = Req::get("/keys/report")
        .header("x-service-key", &key)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    // The default header is nothing special any more.
    let res = Req::get("/keys/report")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    res.problem(401, "missing_credentials");
    let challenge = res.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("header=\"x-service-key\""),
        "{challenge}"
    );

    let err = builder().api_key_header("bad header").build().unwrap_err();
    assert_eq!(err.setting(), "api_keys.header");
    let err = builder()
        .api_key_header("Authorization")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "api_keys.header");
    // Request logs redact credential-like headers only: a name that is not one is refused.
    let err = builder().api_key_header("x-client").build().unwrap_err();
    assert_eq!(err.setting(), "api_keys.header");
}

#[tokio::test]
async fn a_key_and_a_bearer_token_together_are_a_bad_request() {
    let f = fixture();
    let (key, _) = issue(&f.store, "svc", &["viewer"]);
    let jwt = token("alice", ["viewer"]);
    for path in ["/either", "/keys/report", "/jwt-only"] {
        let res = Req::get(path)
            .header("x-api-key", &key)
            .bearer(&jwt)
            .send(&f.app)
            .await;
        let problem = res.problem(400, "invalid_request");
        assert!(!res.text().contains(secret_of(&key)), "{problem}");
    }
}

#[tokio::test]
async fn each_route_refuses_the_scheme_it_does_not_accept() {
    let f = fixture();
    let (key, _) = issue(&f.store, "svc", &["admin"]);
    let jwt = token("alice", ["admin"]);

    let res = Req::get("/jwt-only")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    res.problem(401, "missing_credentials");
    let challenge = res.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(!challenge.contains("ApiKey"), "{challenge}");
    // Routes without `auth` accept the default, bearer tokens only.
    let res = Req::get("/default")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    res.problem(401, "missing_credentials");

    let res = Req::get("/keys/report").bearer(&jwt).send(&f.app).await;
    res.problem(401, "missing_credentials");
    let challenge = res.header("www-authenticate").unwrap();
    assert_eq!(
        challenge,
        "ApiKey realm=\"customer-api\", header=\"x-api-key\""
    );

    // A route accepting both takes either, and names both when given neither.
    let res = Req::get("/either").bearer(&jwt).send(&f.app).await;
    assert_eq!(res.json()["scheme"], "jwt");
    let res = Req::get("/either")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    assert_eq!(res.json()["scheme"], "api_key");
    let res = Req::get("/either").send(&f.app).await;
    res.problem(401, "missing_credentials");
    assert_eq!(
        res.header("www-authenticate").unwrap(),
        "Bearer realm=\"customer-api\", ApiKey realm=\"customer-api\", header=\"x-api-key\""
    );
    let res = Req::get("/jwt-only").bearer(&jwt).send(&f.app).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn the_default_schemes_are_configurable() {
    let f = fixture_with(|b| b.default_auth(AuthSchemes::JWT.and(AuthSchemes::API_KEY)));
    let (key, _) = issue(&f.store, "svc", &["viewer"]);
    let res = Req::get("/default")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
    let res = Req::get("/default")
        .bearer(&token("alice", ["viewer"]))
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
    // A route naming its schemes keeps them.
    let res = Req::get("/jwt-only")
        .header("x-api-key", &key)
        .send(&f.app)
        .await;
    res.problem(401, "missing_credentials");

    let err = builder()
        .default_auth(AuthSchemes::API_KEY)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "default_auth");
}

/// A store whose backend is down.
struct Down;

impl ApiKeyStore for Down {
    fn find<'a>(&'a self, _: &'a ApiKeyDigest) -> StoreResult<'a, Option<ApiKeyRecord>> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
}

#[tokio::test]
async fn a_store_that_cannot_answer_fails_closed() {
    let security = builder().api_key_store(Down).build().unwrap();
    let app = routes().layer(security.layer());
    let key = generate_api_key("sak_test", "svc", ["viewer"]).unwrap();
    let res = Req::get("/keys/report")
        .header("x-api-key", key.key().expose())
        .send(&app)
        .await;
    let problem = res.problem(503, "unavailable");
    assert!(!res.text().contains("connection refused"), "{problem}");
}

#[tokio::test]
async fn keys_in_the_url_are_refused() {
    let f = fixture();
    let (key, _) = issue(&f.store, "svc", &["viewer"]);
    for query in ["api_key", "apikey", "x-api-key", "api-key"] {
        let res = Req::get(&format!("/keys/report?{query}={key}"))
            .send(&f.app)
            .await;
        let problem = res.problem(400, "invalid_request");
        assert!(!res.text().contains(secret_of(&key)), "{problem}");
    }
}

#[tokio::test]
async fn rate_key_api_key_keys_on_the_authenticated_key() {
    let f = fixture();
    let (first, _) = issue(&f.store, "svc", &["viewer"]);
    let (second, _) = issue(&f.store, "svc", &["viewer"]);
    for _ in 0..2 {
        let res = Req::get("/metered")
            .header("x-api-key", &first)
            .send(&f.app)
            .await;
        assert_eq!(res.status, 200);
    }
    let res = Req::get("/metered")
        .header("x-api-key", &first)
        .send(&f.app)
        .await;
    res.problem(429, "rate_limited");
    // Same owner, another key: its own bucket.
    let res = Req::get("/metered")
        .header("x-api-key", &second)
        .send(&f.app)
        .await;
    assert_eq!(res.status, 200);
}

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_key_material_reaches_the_logs_and_the_audit_names_the_key_id() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    crate::support::steady_tracing();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = fixture_with(|b| b.log_requests(true));
    let (good, good_id) = issue(&f.store, "svc", &["viewer"]);
    let (revoked, revoked_id) = issue(&f.store, "svc", &["viewer"]);
    f.store.revoke(&revoked_id);
    let unknown = generate_api_key("sak_test", "x", ["viewer"]).unwrap();
    let unknown = unknown.key().expose().to_owned();
    let keys = [&good, &revoked, &unknown];
    for key in keys {
        Req::get("/keys/report")
            .header("x-api-key", key)
            .send(&f.app)
            .await;
        Req::get("/keys/admin")
            .header("x-api-key", key)
            .send(&f.app)
            .await;
        Req::get("/jwt-only")
            .header("x-api-key", key)
            .send(&f.app)
            .await;
        Req::get(&format!("/keys/report?api_key={key}"))
            .send(&f.app)
            .await;
    }
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("secure_api::audit"), "the audit was captured");
    for key in keys {
        assert!(
            !text.contains(secret_of(key)),
            "a key's secret was logged:\n{text}"
        );
    }
    assert!(
        text.contains(&format!("api_key_id=\"{good_id}\""))
            || text.contains(&format!("api_key_id={good_id}")),
        "{text}"
    );
    assert!(text.contains(&revoked_id), "{text}");
}

#[tokio::test]
async fn the_file_store_reads_gen_lines_and_names_the_malformed_line() {
    let dir = std::env::temp_dir().join(format!("secure-api-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys");
    let new = generate_api_key("sak_test", "svc", ["viewer"]).unwrap();
    std::fs::write(
        &path,
        format!("# service keys\n\n{}\n", new.record().to_line()),
    )
    .unwrap();
    let store = Arc::new(FileApiKeyStore::open(&path).unwrap());
    let security = builder().api_key_store(store.clone()).build().unwrap();
    let app = routes().layer(security.layer());
    let res = Req::get("/keys/report")
        .header("x-api-key", new.key().expose())
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());

    // Revoked in the file: refused once the file is read again.
    std::fs::write(&path, format!("{} revoked\n", new.record().to_line())).unwrap();
    store.reload().unwrap();
    let res = Req::get("/keys/report")
        .header("x-api-key", new.key().expose())
        .send(&app)
        .await;
    res.problem(401, "invalid_token");

    for (contents, line) in [
        ("# ok\nnot-a-record\n", 2),
        ("\n\nabc sha256:1234 owner=a\n", 3),
        (
            &format!("{}\n{}\n", new.record().to_line(), new.record().to_line()),
            2,
        ),
        (&format!("{} colour=blue\n", new.record().to_line()), 1),
        (&format!("{} expires=tomorrow\n", new.record().to_line()), 1),
    ] {
        std::fs::write(&path, contents).unwrap();
        let err = FileApiKeyStore::open(&path).unwrap_err();
        assert_eq!(err.setting(), "api_keys.file");
        let place = format!("{}:{line}:", path.display());
        assert!(
            err.message().contains(&place),
            "{place} in {}",
            err.message()
        );
        // A broken file after start-up: lookups fail closed until it is fixed.
        assert!(store.reload().is_err());
        let res = Req::get("/keys/report")
            .header("x-api-key", new.key().expose())
            .send(&app)
            .await;
        res.problem(503, "unavailable");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_inventory_lists_the_schemes_of_each_route() {
    let inventory = secure_api::policies();
    let json = inventory.to_json();
    let auth_of = |json: &Value, name: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["handler"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("api_keys::{name}"))
            })
            .unwrap()["auth"]
            .clone()
    };
    assert_eq!(auth_of(&json, "key_report"), json!(["api_key"]));
    assert_eq!(auth_of(&json, "either"), json!(["bearer", "api_key"]));
    assert_eq!(auth_of(&json, "jwt_only"), json!(["bearer"]));
    assert_eq!(auth_of(&json, "default_schemes"), json!(["bearer"]));
    let both = inventory
        .with_default_auth(AuthSchemes::JWT.and(AuthSchemes::API_KEY))
        .to_json();
    assert_eq!(
        auth_of(&both, "default_schemes"),
        json!(["bearer", "api_key"])
    );
    assert_eq!(auth_of(&both, "jwt_only"), json!(["bearer"]));
}

#[cfg(feature = "openapi")]
#[tokio::test]
async fn the_openapi_document_names_the_schemes_each_operation_accepts() {
    use secure_api::openapi::utoipa::openapi::path::OperationBuilder;
    use secure_api::openapi::utoipa::openapi::{
        HttpMethod, OpenApiBuilder, PathItem, PathsBuilder, Response,
    };
    use secure_api::openapi::{API_KEY_SCHEME, BEARER_SCHEME, secure_openapi};

    let document = || {
        let mut paths = PathsBuilder::new();
        for path in ["/keys/report", "/either", "/jwt-only", "/default"] {
            paths = paths.path(
                path,
                PathItem::new(
                    HttpMethod::Get,
                    OperationBuilder::new().response("200", Response::new("OK")),
                ),
            );
        }
        OpenApiBuilder::new().paths(paths).build()
    };
    let security_of = |doc: &Value, path: &str| doc["paths"][path]["get"]["security"].clone();

    let f = fixture_with(|b| b.api_key_header("X-Service-Key"));
    let doc = secure_openapi(document(), &f.app).await.unwrap();
    let doc: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"][API_KEY_SCHEME],
        json!({ "type": "apiKey", "in": "header", "name": "x-service-key",
                "description": "An API key `<prefix>_<id>_<secret>_<checksum>`; never in the URL." })
    );
    assert_eq!(
        security_of(&doc, "/keys/report"),
        json!([{ API_KEY_SCHEME: [] }])
    );
    assert_eq!(
        security_of(&doc, "/either"),
        json!([{ BEARER_SCHEME: [] }, { API_KEY_SCHEME: [] }])
    );
    assert_eq!(
        security_of(&doc, "/jwt-only"),
        json!([{ BEARER_SCHEME: [] }])
    );
    assert_eq!(
        security_of(&doc, "/default"),
        json!([{ BEARER_SCHEME: [] }])
    );

    // The default of the Security in front of the router applies to routes without `auth`.
    let f = fixture_with(|b| b.default_auth(AuthSchemes::JWT.and(AuthSchemes::API_KEY)));
    let doc = secure_openapi(document(), &f.app).await.unwrap();
    let doc: Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"][API_KEY_SCHEME]["name"],
        "X-API-Key"
    );
    assert_eq!(
        security_of(&doc, "/default"),
        json!([{ BEARER_SCHEME: [] }, { API_KEY_SCHEME: [] }])
    );
}
