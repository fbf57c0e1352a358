//! The Redis store against a real `redis-server` that each test starts on a free loopback
//! port: instances sharing one Redis, Redis stopped (SIGSTOP) and killed mid-run, Redis
//! back, key layout and expiry, and GCRA semantics against the reference model.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use proptest::test_runner::{Config, TestRunner};
use secure_api::{GlobalRateLimit, ManualClock, RateCheck, RedisStore, Security, StoreFailure};
use serde_json::json;
use tower::ServiceExt;

use crate::support::*;
use crate::throttling_scale::{Model, arrivals, assert_window_bound, rates, throttle_routes};

/// A `redis-server` of this test, killed when dropped.
pub(crate) struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    pub(crate) fn start() -> Self {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "secure-api-redis-{}-{port}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}); scripts/test installs it with \
                     `apt-get install -y redis-server`"
                )
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port, dir }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    fn kill(mut self) -> u16 {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.port
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) const TIMEOUT: Duration = Duration::from_millis(200);

/// How late a decision may come after the timeout on a loaded machine.
const SLACK: Duration = Duration::from_millis(800);

async fn redis_security(server: &RedisServer, prefix: &str) -> Security {
    let store = RedisStore::builder(server.url())
        .timeout(TIMEOUT)
        .key_prefix(prefix)
        .connect()
        .await
        .unwrap();
    builder().rate_limit_store(store).build().unwrap()
}

fn app_of(security: &Security) -> Router {
    throttle_routes().layer(security.layer())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_one_redis_let_exactly_n_of_m_through() {
    let server = RedisServer::start();
    let first = app_of(&redis_security(&server, "shared").await);
    let second = app_of(&redis_security(&server, "shared").await);
    let token = token("ed", ["editor"]);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let app = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let request = Req::post("/v1/customers")
                .bearer(&token)
                .json(&json!({ "name": "Bob", "email": "bob@example.com" }))
                .build();
            tokio::spawn(async move { app.oneshot(request).await.unwrap().status() })
        })
        .collect();
    let mut created = 0;
    let mut throttled = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, throttled), (5, 35));
    // The 429 of either instance tells the same story, from Redis's clock.
    let res = Req::post("/v1/customers")
        .bearer(&token)
        .json(&json!({ "name": "Bob", "email": "bob@example.com" }))
        .send(&second)
        .await;
    res.problem(429, "rate_limited");
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
}

async fn timed(app: &Router, path: &str, ip: &str) -> (u16, Duration, Resp) {
    let started = Instant::now();
    let res = Req::get(path).client_ip(ip).send(app).await;
    (res.status.as_u16(), started.elapsed(), res)
}

/// Polls until a fresh client gets a 200 again.
async fn wait_for_recovery(app: &Router, round: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        let ip = format!("198.18.{round}.{n}");
        if Req::get("/t/closed").client_ip(&ip).send(app).await.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three requests pass, the fourth is refused: normal service.
async fn assert_normal(app: &Router, ip: &str) {
    for _ in 0..3 {
        assert_eq!(
            Req::get("/t/closed").client_ip(ip).send(app).await.status,
            200
        );
    }
    Req::get("/t/closed")
        .client_ip(ip)
        .send(app)
        .await
        .problem(429, "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_or_killed_mid_run_gives_the_declared_answer_in_time_then_recovers() {
    let server = RedisServer::start();
    let security = redis_security(&server, "outage").await;
    let app = app_of(&security);
    assert_normal(&app, "192.0.2.1").await;

    // Stopped: the connection stays open and nothing answers.
    server.signal("-STOP");
    let (status, took, res) = timed(&app, "/t/closed", "192.0.2.2").await;
    assert_eq!(status, 503, "fails closed");
    res.problem(503, "unavailable");
    assert!(took < TIMEOUT + SLACK, "answered after {took:?}");
    let (status, took, _) = timed(&app, "/t/open", "192.0.2.2").await;
    assert_eq!(status, 200, "fails open");
    assert!(took < TIMEOUT + SLACK, "answered after {took:?}");
    let counts = security.rate_limit_store_errors();
    assert_eq!((counts.refused(), counts.allowed()), (1, 1));

    server.signal("-CONT");
    wait_for_recovery(&app, "1").await;
    assert_normal(&app, "192.0.2.3").await;

    // Killed: connections are refused.
    let port = server.kill();
    let (status, took, _) = timed(&app, "/t/closed", "192.0.2.4").await;
    assert_eq!(status, 503);
    assert!(took < TIMEOUT + SLACK, "answered after {took:?}");
    let (status, _, _) = timed(&app, "/t/open", "192.0.2.4").await;
    assert_eq!(status, 200);

    // Back on the same address: the store reconnects by itself.
    let _server = RedisServer::start_on(port);
    wait_for_recovery(&app, "2").await;
    assert_normal(&app, "192.0.2.5").await;
    let counts = security.rate_limit_store_errors();
    assert!(counts.refused() >= 2 && counts.allowed() >= 2, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_limit_in_redis_fails_as_configured() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    let open = builder()
        .rate_limit_store(store.clone())
        .global_rate_limit(
            GlobalRateLimit::per_ip("edge", "100/1m").on_store_error(StoreFailure::Open),
        )
        .build()
        .unwrap();
    let closed = builder()
        .rate_limit_store(store)
        .global_rate_limit(GlobalRateLimit::per_ip("edge", "100/1m"))
        .build()
        .unwrap();
    let (open, closed) = (app_of(&open), app_of(&closed));
    assert_eq!(status_of(&closed, "/t/none").await, 200);
    server.signal("-STOP");
    assert_eq!(status_of(&open, "/t/none").await, 200);
    assert_eq!(status_of(&closed, "/t/none").await, 503);
    server.signal("-CONT");
}

async fn status_of(app: &Router, path: &str) -> u16 {
    Req::get(path)
        .client_ip("192.0.2.60")
        .send(app)
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn keys_are_hashed_share_a_cluster_slot_and_expire_when_idle() {
    let server = RedisServer::start();
    let app = app_of(&redis_security(&server, "layout").await);
    let res = Req::get("/t/stacked")
        .client_ip("192.0.2.77")
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
    let keys = server.cli(&["--scan"]);
    let mut keys: Vec<&str> = keys.lines().collect();
    keys.sort_unstable();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let tags: Vec<&str> = keys
        .iter()
        .map(|k| {
            assert!(k.starts_with("layout:{"), "{k}");
            assert!(!k.contains("192.0.2.77"), "the client key is hashed: {k}");
            &k[k.find('{').unwrap()..=k.find('}').unwrap()]
        })
        .collect();
    assert_eq!(tags[0], tags[1], "one hash tag for every rate of a check");
    assert_eq!(tags[0].len(), 42, "{{40 hex digits}}");
    assert!(keys[0].ends_with(":2/1:0"), "{keys:?}");
    assert!(keys[1].ends_with(":3/3600:1"), "{keys:?}");
    // One request of 2/1s: whole again after 500 ms; of 3/1h: after 20 minutes.
    let ttl = |k: &str| -> i64 { server.cli(&["pttl", k]).trim().parse().unwrap() };
    let short = ttl(keys[0]);
    assert!((1..=500).contains(&short), "{short}");
    let long = ttl(keys[1]);
    assert!((1_190_000..=1_200_000).contains(&long), "{long}");
}

#[test]
fn a_redis_store_that_cannot_connect_is_a_startup_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = free_port();
    let err = rt
        .block_on(
            RedisStore::builder(format!("redis://:hunter2hunter2@127.0.0.1:{port}/"))
                .timeout(TIMEOUT)
                .connect(),
        )
        .unwrap_err();
    assert_eq!(err.setting(), "redis_url");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = rt
        .block_on(RedisStore::connect("http://127.0.0.1/"))
        .unwrap_err();
    assert_eq!(err.setting(), "redis_url");
    let err = rt
        .block_on(
            RedisStore::builder("redis://127.0.0.1/")
                .timeout(Duration::ZERO)
                .connect(),
        )
        .unwrap_err();
    assert_eq!(err.setting(), "redis_timeout");
}

#[test]
fn the_redis_store_decides_exactly_as_the_model() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let store = rt
        .block_on(
            RedisStore::builder(server.url())
                .clock(clock.clone())
                .connect(),
        )
        .unwrap();
    let case = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    runner
        .run(&(rates(), arrivals()), |(rate, times)| {
            let key = format!("case-{}", case.fetch_add(1, Ordering::Relaxed));
            let mut model = Model::new(rate.count(), rate.period_secs() * 1_000_000);
            let start = clock.elapsed();
            let rates = [rate];
            let mut allowed_at = Vec::new();
            for t in times {
                let now = start + Duration::from_millis(t);
                clock.advance(now - clock.elapsed());
                let decision = rt
                    .block_on(secure_api::RateLimitStore::check(
                        &store,
                        RateCheck::new("prop", &key, &rates),
                    ))
                    .unwrap();
                let expected = model.arrive(t * 1000);
                assert_eq!(decision.allowed(), expected.is_ok(), "{rate} at {t} ms");
                match expected {
                    Err(retry) => assert_eq!(decision.reset(), Duration::from_micros(retry)),
                    Ok(()) => allowed_at.push(t),
                }
            }
            assert_window_bound(rate, &allowed_at);
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// Single-use state (replay, Idempotency-Key) in Redis

mod single_use {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Json;
    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use secure_api::prelude::*;
    use secure_api::{RedisStore, Security};
    use serde_json::{Value, json};

    use super::{RedisServer, TIMEOUT};
    use crate::support::{Claims, Req, builder};

    #[derive(Clone, Default)]
    struct Calls(Arc<AtomicUsize>);

    #[secure(role = "editor", replay)]
    async fn spend(State(calls): State<Calls>) -> StatusCode {
        calls.0.fetch_add(1, Ordering::SeqCst);
        StatusCode::CREATED
    }

    #[secure(role = "editor", idempotent)]
    async fn pay(State(calls): State<Calls>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        let n = calls.0.fetch_add(1, Ordering::SeqCst) + 1;
        (
            StatusCode::CREATED,
            Json(json!({ "payment": n, "echo": body })),
        )
    }

    async fn instance(server: &RedisServer, calls: &Calls) -> Router {
        let redis = RedisStore::builder(server.url())
            .timeout(TIMEOUT)
            .key_prefix("single-use")
            .connect()
            .await
            .unwrap();
        let security: Security = builder()
            .nonce_store(Arc::new(redis.nonce_store()))
            .idempotency_store(Arc::new(
                redis.idempotency_store(std::time::Duration::from_secs(3600)),
            ))
            .rate_limit_store(redis)
            .build()
            .unwrap();
        Router::new()
            .route("/spend", post(spend))
            .route("/pay", post(pay))
            .with_state(calls.clone())
            .layer(security.layer())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jti_spent_on_one_instance_is_refused_on_every_other() {
        let server = RedisServer::start();
        let calls = Calls::default();
        let (one, two) = (
            instance(&server, &calls).await,
            instance(&server, &calls).await,
        );
        let token = Claims::new("eddie")
            .roles(["editor"])
            .jti("shared-jti")
            .hs256();
        assert_eq!(
            Req::post("/spend").bearer(&token).send(&one).await.status,
            201
        );
        Req::post("/spend")
            .bearer(&token)
            .send(&two)
            .await
            .assert_invalid_token();
        Req::post("/spend")
            .bearer(&token)
            .send(&one)
            .await
            .assert_invalid_token();
        assert_eq!(calls.0.load(Ordering::SeqCst), 1);
        // The token id itself is not stored in Redis, only its digest.
        assert!(!server.cli(&["KEYS", "*"]).contains("shared-jti"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_parallel_replays_across_two_instances_let_exactly_one_through() {
        let server = RedisServer::start();
        let calls = Calls::default();
        let apps = [
            instance(&server, &calls).await,
            instance(&server, &calls).await,
        ];
        let token = Claims::new("eddie").roles(["editor"]).jti("race").hs256();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let app = apps[i % 2].clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                Req::post("/spend")
                    .bearer(&token)
                    .send(&app)
                    .await
                    .status
                    .as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 401).count(),
            49,
            "{statuses:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idempotency_key_is_shared_by_every_instance() {
        let server = RedisServer::start();
        let calls = Calls::default();
        let (one, two) = (
            instance(&server, &calls).await,
            instance(&server, &calls).await,
        );
        let token = Claims::new("eddie").roles(["editor"]).hs256();
        let pay = |body: Value| {
            Req::post("/pay")
                .bearer(&token)
                .header("idempotency-key", "order-7")
                .json(&body)
        };
        let first = pay(json!({ "cents": 100 })).send(&one).await;
        assert_eq!(first.status, 201, "{}", first.text());
        let repeat = pay(json!({ "cents": 100 })).send(&two).await;
        assert_eq!(repeat.status, 201);
        assert_eq!(repeat.json(), first.json());
        assert_eq!(repeat.header("idempotent-replayed"), Some("true"));
        assert_eq!(repeat.header("content-type"), Some("application/json"));
        pay(json!({ "cents": 999 }))
            .send(&two)
            .await
            .problem(422, "idempotency_mismatch");
        assert_eq!(calls.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_use_state_fails_closed_while_redis_is_stopped() {
        let server = RedisServer::start();
        let calls = Calls::default();
        let app = instance(&server, &calls).await;
        server.signal("-STOP");
        let token = Claims::new("eddie")
            .roles(["editor"])
            .jti("while-down")
            .hs256();
        Req::post("/spend")
            .bearer(&token)
            .send(&app)
            .await
            .problem(503, "unavailable");
        let token = Claims::new("eddie").roles(["editor"]).hs256();
        Req::post("/pay")
            .bearer(&token)
            .header("idempotency-key", "k-down")
            .json(&json!({}))
            .send(&app)
            .await
            .problem(503, "unavailable");
        server.signal("-CONT");
        assert_eq!(calls.0.load(Ordering::SeqCst), 0, "nothing ran unrecorded");
        // Back to normal. (The timed-out `SET` of "while-down" may still land once Redis
        // resumes: that token is then spent without its action having run, which errs on
        // the safe side; a client retries a 503 with a fresh token.)
        let token = Claims::new("eddie")
            .roles(["editor"])
            .jti("after-recovery")
            .hs256();
        let mut status = 0;
        for _ in 0..50 {
            status = Req::post("/spend")
                .bearer(&token)
                .send(&app)
                .await
                .status
                .as_u16();
            if status != 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 201);
    }
}
