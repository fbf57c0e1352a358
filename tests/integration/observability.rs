//! Audit events, request ids, redacted logs, metrics, the policy inventory and route
//! coverage, observed through a real Router with a tracing subscriber that captures
//! everything.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use secure_api::prelude::*;
use secure_api::{ManualClock, RouteCoverage, policies, policy_of};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::support::*;

// ---------------------------------------------------------------------------------------
// Capturing every log line and every event

/// One event as recorded: target, level and fields as text.
#[derive(Debug, Clone)]
struct Event {
    target: String,
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

impl Event {
    fn get(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map_or_else(|| panic!("no field {name} in {self:?}"), String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Event>>>,
    text: Arc<Mutex<Vec<u8>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(Event {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
    }
}

#[derive(Clone)]
struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Captures, on this thread until the guard drops, every event of every target at
    /// every level: as structured events, and as the text a `fmt` subscriber writes.
    fn install() -> (Capture, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let writer = Writer(capture.text.clone());
        let subscriber = tracing_subscriber::registry()
            .with(capture.clone())
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            )
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        crate::support::steady_tracing();
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
    }

    fn audit(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.target == secure_api::AUDIT_TARGET)
            .cloned()
            .collect()
    }

    /// The audit events of one request, by its `X-Request-Id`.
    fn audit_of(&self, res: &Resp) -> Vec<Event> {
        let id = res.header("x-request-id").expect("X-Request-Id");
        self.audit()
            .into_iter()
            .filter(|e| e.get("request_id") == id)
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }
}

fn assert_utc(time: &str) {
    // 2025-01-31T12:34:56.789Z
    let bytes = time.as_bytes();
    assert_eq!(bytes.len(), 24, "{time}");
    assert!(time.ends_with('Z') && bytes[10] == b'T', "{time}");
}

// ---------------------------------------------------------------------------------------
// Audit events

#[tokio::test]
async fn every_guard_decision_is_exactly_one_audit_event() {
    let (capture, _guard) = Capture::install();
    let app = app();
    let viewer = token("vera", ["viewer"]);
    let forged = Claims::new("mallory").roles(["admin"]).sign(
        jsonwebtoken::Algorithm::HS256,
        &hmac_key(b"another-secret-of-at-least-32-bytes!!"),
    );
    // (request, status, reason, route, policy, principal, scheme)
    let cases = vec![
        (
            Req::get("/v1/customers").bearer(&viewer),
            200,
            "ok",
            "/v1/customers",
            "list_customers",
            "vera",
            "bearer",
        ),
        (
            Req::get("/v1/customers"),
            401,
            "missing_credentials",
            "/v1/customers",
            "list_customers",
            "",
            "none",
        ),
        (
            Req::get("/v1/customers").bearer(&forged),
            401,
            "invalid_token",
            "/v1/customers",
            "list_customers",
            "",
            "bearer",
        ),
        (
            Req::get(&format!("/v1/me?access_token={viewer}")),
            400,
            "invalid_request",
            "/v1/me",
            "me",
            "",
            "none",
        ),
        (
            Req::delete("/v1/customers/1").bearer(&viewer),
            403,
            "insufficient_scope",
            "/v1/customers/{id}",
            "delete_customer",
            "vera",
            "bearer",
        ),
        (
            Req::get("/v1/customers").header("authorization", "Basic dXNlcjpwYXNz"),
            401,
            "missing_credentials",
            "/v1/customers",
            "list_customers",
            "",
            "basic",
        ),
        (
            Req::get("/health"),
            200,
            "ok",
            "/health",
            "health",
            "",
            "none",
        ),
    ];
    for (req, status, reason, route, policy, principal, scheme) in cases {
        let res = req.client_ip("192.0.2.10").send(&app).await;
        assert_eq!(res.status.as_u16(), status, "{}", res.text());
        let events = capture.audit_of(&res);
        assert_eq!(events.len(), 1, "one event per decision: {events:?}");
        let e = &events[0];
        assert_eq!(e.level, tracing::Level::INFO);
        assert_eq!(e.get("stage"), "guard");
        assert_eq!(
            e.get("outcome"),
            if status == 200 { "allowed" } else { "refused" }
        );
        assert_eq!(e.get("reason"), reason);
        assert_eq!(e.get("status"), status.to_string());
        assert_eq!(e.get("route"), route);
        assert_eq!(e.get("policy"), format!("integration::handlers::{policy}"));
        assert_eq!(e.get("principal"), principal);
        assert_eq!(e.get("client_ip"), "192.0.2.10");
        assert_eq!(e.get("auth_scheme"), scheme);
        assert_utc(e.get("time"));
    }

    // Throttling: three allowed, the fourth refused, each one event.
    for n in 1..=4 {
        let res = Req::get("/v1/ping")
            .client_ip("198.51.100.7")
            .send(&app)
            .await;
        let events = capture.audit_of(&res);
        assert_eq!(events.len(), 1);
        let expected = if n <= 3 { "ok" } else { "rate_limited" };
        assert_eq!(events[0].get("reason"), expected);
    }

    // Without the layer: refused (500), and still one event.
    let bare = routes();
    let res = Req::get("/v1/customers").bearer(&viewer).send(&bare).await;
    assert_eq!(res.status, 500);
    let refused: Vec<Event> = capture
        .audit()
        .into_iter()
        .filter(|e| e.get("reason") == "server_error")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
}

#[tokio::test]
async fn audit_events_name_the_route_however_the_layer_is_mounted() {
    let (capture, _guard) = Capture::install();
    let security = security();
    let viewer = token("vera", ["viewer"]);
    // The route the guard sees, whether the layer wraps each route, one service in front
    // of a nested router, or the whole router (where no route is matched yet).
    let nested = Router::new()
        .nest_service("/outer", routes())
        .layer(security.layer());
    let whole = Router::new().fallback_service(tower::Layer::layer(&security.layer(), routes()));
    // One layered service (one per-route cache) behind two routes, alternating.
    let shared = tower::Layer::layer(&security.layer(), routes());
    let shared = Router::new()
        .route_service("/v1/customers", shared.clone())
        .route_service("/v1/me", shared);
    // There axum reports the outer route's path joined to the inner router's: the
    // service's own route is not the one the guard serves.
    let joined = [
        ("/v1/customers", "/v1/customers/v1/customers"),
        ("/v1/me", "/v1/me/v1/me"),
    ];
    let plain = [
        ("/v1/customers", "/v1/customers"),
        ("/v1/customers/1", "/v1/customers/{id}"),
    ];
    for (app, prefix, cases) in [
        (app_with(&security), "", plain),
        (nested, "/outer", plain),
        (whole, "", plain),
        (shared, "", joined),
    ] {
        for _ in 0..2 {
            for (path, route) in cases {
                let res = Req::get(&format!("{prefix}{path}"))
                    .bearer(&viewer)
                    .send(&app)
                    .await;
                assert_eq!(res.status.as_u16(), 200, "{prefix}{path}: {}", res.text());
                let events = capture.audit_of(&res);
                assert_eq!(events.len(), 1, "{events:?}");
                assert_eq!(events[0].get("route"), format!("{prefix}{route}"));
            }
        }
    }
}

#[tokio::test]
async fn input_refusals_are_audited_with_the_guard_context() {
    let (capture, _guard) = Capture::install();
    let app = app();
    let editor = token("eddie", ["editor"]);
    let res = Req::post("/v1/customers")
        .bearer(&editor)
        .client_ip("192.0.2.20")
        .json(&json!({ "name": "", "email": "nope" }))
        .send(&app)
        .await;
    res.problem(422, "invalid_input");
    let events = capture.audit_of(&res);
    let stages: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.get("stage"), e.get("reason")))
        .collect();
    assert_eq!(stages, [("guard", "ok"), ("input", "invalid_input")]);
    let input = &events[1];
    assert_eq!(input.get("principal"), "eddie");
    assert_eq!(input.get("route"), "/v1/customers");
    assert_eq!(input.get("client_ip"), "192.0.2.20");
}

#[tokio::test]
async fn failed_authentications_are_counted_per_client_and_a_burst_stands_out() {
    let (capture, _guard) = Capture::install();
    let clock = ManualClock::new();
    let security = builder()
        .rate_limit_clock(clock.clone())
        .audit_burst_threshold(3)
        .audit_window(Duration::from_secs(60))
        .audit_tracked_clients(2)
        .build()
        .unwrap();
    let app = app_with(&security);
    let failures = |res: &Resp| capture.audit_of(res)[0].get("client_failures").to_owned();

    let mut counts = Vec::new();
    for _ in 0..4 {
        let res = Req::get("/v1/me")
            .bearer("a.b.c")
            .client_ip("203.0.113.1")
            .send(&app)
            .await;
        counts.push(failures(&res));
    }
    assert_eq!(counts, ["1", "2", "3", "4"]);
    let bursts: Vec<Event> = capture
        .audit()
        .into_iter()
        .filter(|e| e.get("outcome") == "burst")
        .collect();
    assert_eq!(
        bursts.len(),
        1,
        "reported once, when the threshold is reached"
    );
    assert_eq!(bursts[0].level, tracing::Level::WARN);
    assert_eq!(bursts[0].get("client_ip"), "203.0.113.1");

    // Another client has its own count; allowed requests are not counted.
    let res = Req::get("/v1/me").client_ip("203.0.113.2").send(&app).await;
    assert_eq!(failures(&res), "1");
    let ok = Req::get("/v1/me")
        .bearer(&token("alice", []))
        .client_ip("203.0.113.2")
        .send(&app)
        .await;
    assert_eq!(failures(&ok), "0");

    // Bounded: with two clients tracked, a third is not counted while their windows live.
    let res = Req::get("/v1/me").client_ip("203.0.113.3").send(&app).await;
    assert_eq!(failures(&res), "0");
    assert_eq!(security.audited_clients(), 2);

    // A new window starts from zero, and expired windows make room.
    clock.advance(Duration::from_secs(61));
    let res = Req::get("/v1/me").client_ip("203.0.113.3").send(&app).await;
    assert_eq!(failures(&res), "1");
    let res = Req::get("/v1/me").client_ip("203.0.113.1").send(&app).await;
    assert_eq!(failures(&res), "1");
    assert!(security.audited_clients() <= 2);
}

// ---------------------------------------------------------------------------------------
// Request ids

#[tokio::test]
async fn generated_request_ids_are_echoed_in_headers_and_problems() {
    let app = app();
    let a = Req::get("/v1/customers").send(&app).await;
    let b = Req::get("/v1/customers").send(&app).await;
    let id = a.header("x-request-id").unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_ne!(Some(id.as_str()), b.header("x-request-id"));
    assert_eq!(a.problem(401, "missing_credentials")["request_id"], id);
    // Successes carry the header too.
    let ok = Req::get("/health").send(&app).await;
    assert_eq!(ok.header("x-request-id").map(str::len), Some(32));
}

#[tokio::test]
async fn an_inbound_request_id_is_used_only_from_a_trusted_header_and_only_when_clean() {
    let untrusted = app();
    let res = Req::get("/v1/customers")
        .header("x-request-id", "client-chosen")
        .send(&untrusted)
        .await;
    assert_ne!(res.header("x-request-id"), Some("client-chosen"));

    let trusted = app_with(
        &builder()
            .trust_request_id_header("X-Request-Id")
            .build()
            .unwrap(),
    );
    let res = Req::get("/v1/customers")
        .header("x-request-id", "gw-7f3a:1/2")
        .send(&trusted)
        .await;
    assert_eq!(res.header("x-request-id"), Some("gw-7f3a:1/2"));
    assert_eq!(
        res.problem(401, "missing_credentials")["request_id"],
        "gw-7f3a:1/2"
    );

    for bad in ["has space", "quote\"", "<script>", &"x".repeat(129), ""] {
        let res = Req::get("/v1/customers")
            .header("x-request-id", bad)
            .send(&trusted)
            .await;
        let id = res.header("x-request-id").unwrap();
        assert_eq!(id.len(), 32, "{bad:?} must be replaced, got {id}");
        assert_eq!(res.json()["request_id"], id);
    }
    // Non-UTF-8 bytes are replaced as well.
    let res = Req::get("/v1/customers")
        .header_bytes("x-request-id", b"id\xff")
        .send(&trusted)
        .await;
    assert_eq!(res.header("x-request-id").map(str::len), Some(32));
}

#[test]
fn an_invalid_request_id_header_name_is_a_configuration_error() {
    let err = builder()
        .trust_request_id_header("bad header")
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "request_id.header");
}

// ---------------------------------------------------------------------------------------
// Secrets never reach the logs

#[tokio::test]
async fn no_log_line_of_a_full_request_cycle_contains_a_credential() {
    let (capture, _guard) = Capture::install();
    let clock = ManualClock::new();
    let security = builder()
        .rate_limit_clock(clock)
        .log_requests(true)
        .build()
        .unwrap();
    let app = app_with(&security);
    let editor = token("eddie", ["editor"]);
    let viewer = token("vera", ["viewer"]);
    let expired = Claims::new("eddie").exp_in(-3600).hs256();
    let forged = Claims::new("eddie").roles(["admin"]).sign(
        jsonwebtoken::Algorithm::HS256,
        &hmac_key(b"another-secret-of-at-least-32-bytes!!"),
    );
    let cookie = "session=cookie-secret-5a1d9e";
    let api_key = "sk_live_api_key_secret_77c2";
    let query_secret = "client-secret-in-query-e41b";

    let mut requests = vec![
        Req::get("/v1/customers").bearer(&viewer),
        Req::get("/v1/customers").bearer(&expired),
        Req::get("/v1/customers").bearer(&forged),
        Req::get("/v1/customers"),
        Req::get(&format!("/v1/customers?access_token={viewer}&page=2")),
        Req::get(&format!("/v1/customers?client_secret={query_secret}")).bearer(&viewer),
        Req::get("/v1/customers").bearer(&viewer).bearer(&viewer),
        Req::get("/v1/customers").header("authorization", &format!("Basic {api_key}")),
        Req::get("/v1/customers").header("authorization", &viewer),
        Req::get("/v1/customers")
            .header("x-api-key", api_key)
            .header("cookie", cookie),
        Req::delete("/v1/customers/1").bearer(&viewer),
        Req::post("/v1/customers")
            .bearer(&editor)
            .json(&json!({ "name": "", "email": "x" })),
        Req::post("/v1/customers")
            .bearer(&editor)
            .header("content-type", "application/json")
            .body("{broken"),
    ];
    for _ in 0..6 {
        requests.push(
            Req::post("/v1/customers")
                .bearer(&editor)
                .json(&json!({ "name": "Bob", "email": "bob@example.com" })),
        );
    }
    let mut statuses = std::collections::BTreeSet::new();
    for req in requests {
        statuses.insert(req.client_ip("192.0.2.30").send(&app).await.status.as_u16());
    }
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [200, 201, 400, 401, 403, 422, 429],
        "every kind of decision was logged"
    );

    let text = capture.text();
    let fields = format!("{:?}", capture.events.lock().unwrap());
    // The logs are there (so the check below is not vacuous) and redacted.
    assert!(text.contains("secure_api::request"), "{text}");
    assert!(text.contains("secure_api::audit"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
    for all in [&text, &fields] {
        let secret = std::str::from_utf8(SECRET).unwrap();
        assert!(!all.contains(secret), "the HMAC secret leaked");
        for token in [&editor, &viewer, &expired, &forged] {
            for segment in token.split('.').filter(|s| s.len() >= 8) {
                assert!(
                    !all.contains(segment),
                    "a token segment leaked: {segment}\n{all}"
                );
            }
        }
        for secret in ["cookie-secret-5a1d9e", api_key, query_secret] {
            assert!(!all.contains(secret), "{secret} leaked:\n{all}");
        }
    }
}

#[test]
fn credential_types_print_redacted() {
    let key = JwtKey::hmac(SECRET.to_vec());
    let secret = std::str::from_utf8(SECRET).unwrap();
    for shown in [
        format!("{key:?}"),
        format!("{:?}", builder()),
        format!("{:?}", security()),
        format!("{:?}", Principal::new("alice", ["viewer"], ["read"])),
    ] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains("105, 110, 116"), "secret bytes in {shown}");
    }
}

// ---------------------------------------------------------------------------------------
// Metrics

#[test]
fn decisions_throttling_and_authentication_time_are_measured() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let (security, _clock) = security_with_clock();
                let app = app_with(&security);
                let viewer = token("vera", ["viewer"]);
                Req::get("/v1/customers").bearer(&viewer).send(&app).await;
                Req::get("/v1/customers").bearer(&viewer).send(&app).await;
                Req::get("/v1/customers").send(&app).await;
                for _ in 0..4 {
                    Req::get("/v1/ping")
                        .client_ip("192.0.2.40")
                        .send(&app)
                        .await;
                }
            });
    });
    let text = handle.render();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_owned()
    };
    let decisions = |route: &str, outcome: &str, reason: &str| {
        let want = "secure_api_decisions_total{";
        text.lines()
            .filter(|l| l.starts_with(want))
            .find(|l| {
                l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("outcome=\"{outcome}\""))
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .unwrap_or_else(|| panic!("no decision {route} {outcome} {reason} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(decisions("/v1/customers", "allowed", "ok"), "2");
    assert_eq!(
        decisions("/v1/customers", "refused", "missing_credentials"),
        "1"
    );
    assert_eq!(decisions("/v1/ping", "allowed", "ok"), "3");
    assert_eq!(decisions("/v1/ping", "refused", "rate_limited"), "1");
    assert!(line("secure_api_throttled_total{route=\"/v1/ping\"}").ends_with(" 1"));
    assert!(
        line("secure_api_authentication_seconds_count{route=\"/v1/customers\"}").ends_with(" 3"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Policy inventory and route coverage

#[test]
fn every_secure_handler_is_in_the_inventory_with_its_policy() {
    let inventory = policies();
    let create = inventory
        .get("integration::handlers::create_customer")
        .expect("registered at compile time");
    assert_eq!(create.roles(), ["editor"]);
    assert_eq!(create.rates()[0].count(), 5);
    assert_eq!(create.rates()[0].period_secs(), 60);
    assert!(create.validates());
    assert!(
        inventory
            .get("integration::handlers::health")
            .unwrap()
            .is_public()
    );

    let json = inventory.to_json();
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["handler"] == "integration::handlers::create_customer")
        .unwrap();
    assert_eq!(
        *entry,
        json!({
            "handler": "integration::handlers::create_customer",
            "access": "authenticated",
            "auth": ["bearer"],
            "roles": ["editor"],
            "scopes": [],
            "scopes_match": "all",
            "rates": [{ "count": 5, "period_secs": 60 }],
            "validate": true,
            "replay": false,
            "idempotent": false,
            "deprecated": null,
            "sunset": null,
            "signed": false,
            "version": null,
        })
    );
    let table = inventory.to_string();
    let row = table
        .lines()
        .find(|l| l.starts_with("integration::handlers::report "))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "integration::handlers::report",
            "authenticated",
            "bearer",
            "editor|auditor",
            "-",
            "-",
            "no",
            "-"
        ]
    );
}

#[tokio::test]
async fn the_coverage_check_finds_every_route_and_its_policy() {
    let app = app();
    let mut paths = secure_api::route_paths(&app);
    paths.sort();
    assert_eq!(paths.len(), 10, "{paths:?}");
    let covered = secure_api::assert_routes_covered(&app).await;
    let find = |method: &str, path: &str| {
        covered
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, policy)| policy.handler())
    };
    assert_eq!(
        find("GET", "/health"),
        Some("integration::handlers::health")
    );
    assert_eq!(
        find("POST", "/v1/customers"),
        Some("integration::handlers::create_customer")
    );
    assert_eq!(
        find("DELETE", "/v1/customers/{id}"),
        Some("integration::handlers::delete_customer")
    );
    assert_eq!(find("PUT", "/v1/customers/{id}"), None);
    assert_eq!(covered.len(), 12);
}

#[tokio::test]
async fn a_route_without_a_policy_fails_the_coverage_check() {
    let ran = Arc::new(Mutex::new(0));
    let counter = ran.clone();
    let router: Router = routes()
        .route(
            "/v1/admin/unguarded",
            get(move || async move {
                *counter.lock().unwrap() += 1;
                "no policy"
            }),
        )
        .layer(security().layer());
    assert!(matches!(
        policy_of(&router, axum::http::Method::GET, "/v1/admin/unguarded").await,
        RouteCoverage::Unguarded(status) if status == 200
    ));
    assert!(matches!(
        policy_of(&router, axum::http::Method::GET, "/v1/nowhere").await,
        RouteCoverage::NoRoute
    ));
    // Guards answer the probe without running their handler or counting a decision.
    assert!(matches!(
        policy_of(&router, axum::http::Method::DELETE, "/v1/customers/{id}").await,
        RouteCoverage::Guarded(p) if p.roles() == ["admin"]
    ));

    let check = tokio::spawn(async move {
        secure_api::assert_routes_covered(&router).await;
    })
    .await;
    let panic = check.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("GET /v1/admin/unguarded"), "{message}");
    assert!(!message.contains("/v1/customers"), "{message}");
}
