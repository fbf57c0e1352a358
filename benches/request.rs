//! Per-request cost through a real `Router` (in-process `oneshot`), in one run:
//!
//! - `bare`: the handler alone, sent the same request (token included) and answering with
//!   the same body;
//! - `secure`: the same handler with `#[secure(role = ..., rate = ..., validate)]` (HS256,
//!   a rate far above the load, the JSON body validated) behind `Security::layer`;
//! - `hand`: the same policy assembled by hand (jsonwebtoken middleware, role check,
//!   tower_governor keyed by subject, validator on the body);
//! - `jsonwebtoken_decode`: jsonwebtoken's own `decode` of the same token, the floor of any
//!   JWT check.
//!
//! Then the guard's stages one by one (`stages/*`), so that a regression points at its
//! stage. At the end the ratios the project holds itself to are printed from the medians
//! of this run:
//!
//! ```text
//! cargo bench --bench request
//! ```
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub, dead_code)]

#[path = "common/apps.rs"]
mod apps;

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use criterion::Criterion;
use jsonwebtoken::{DecodingKey, Validation};
use secure_api::{MemoryStore, Rate, RateCheck, RoleHierarchy};
use tower::ServiceExt;
use validator::Validate;

const SECRET: &[u8] = b"bench-hmac-secret-of-at-least-32-bytes!!";
const BODY: &str = r#"{"name":"Grace Hopper","email":"grace@example.com"}"#;

fn post(token: Option<&str>, path: &str) -> Request<Body> {
    let mut builder = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::from(BODY)).unwrap()
}

fn get(token: Option<&str>, path: &str) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

/// Sends one request and drains the body, as a server would.
async fn send(app: &Router, request: Request<Body>, want: StatusCode) {
    let response = app.clone().oneshot(request).await.unwrap();
    debug_assert_eq!(response.status(), want);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    black_box(body);
}

struct Apps {
    bare: Router,
    secure: Router,
    hand: Router,
    /// `GET /ping` answering "ok", without and with `Security::layer` (no `#[secure]`):
    /// what the layer alone costs (request id, route slot, response header profile).
    ping: Router,
    ping_layered: Router,
}

/// Every app as a server runs it: `axum::serve` turns the router into a service with
/// `with_state(())`, which makes each handler a route once, layers included; a router
/// called without it does that again on every request.
fn apps() -> Apps {
    let security = apps::security(SECRET).unwrap();
    Apps {
        bare: Router::new()
            .route("/secured", axum::routing::post(apps::bare_post))
            .route(
                "/bare/{id}",
                axum::routing::get(apps::bare_get_with_subject),
            )
            .with_state(()),
        secure: apps::secured_app(&security).with_state(()),
        hand: apps::hand_app(SECRET).unwrap().with_state(()),
        ping: ping_app().with_state(()),
        ping_layered: ping_app().layer(security.layer()).with_state(()),
    }
}

fn ping_app() -> Router {
    Router::new().route("/ping", axum::routing::get(|| async { "ok" }))
}

/// Every app answers the requests of the bench as the contract says, before any timing.
fn check(rt: &tokio::runtime::Runtime, apps: &Apps, token: &str) {
    rt.block_on(async {
        for (name, app) in [("secure", &apps.secure), ("hand", &apps.hand)] {
            let res = app
                .clone()
                .oneshot(post(Some(token), "/secured"))
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::CREATED, "{name}: POST /secured");
            let res = app
                .clone()
                .oneshot(get(Some(token), "/secured/7"))
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{name}: GET /secured/7");
            let res = app.clone().oneshot(post(None, "/secured")).await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}: no token");
        }
        let res = apps
            .bare
            .clone()
            .oneshot(post(None, "/secured"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "bare POST");
        // The bare and the secured GET answer with the same body: the handlers do the
        // same work, and the difference between the two cases is the pipeline's.
        let mut bodies = Vec::new();
        for (app, path) in [(&apps.bare, "/bare/7"), (&apps.secure, "/secured/7")] {
            let res = app.clone().oneshot(get(Some(token), path)).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            bodies.push(
                axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(bodies[0], bodies[1], "bare and secured GET bodies");
        let res = apps.ping.clone().oneshot(get(None, "/ping")).await.unwrap();
        assert!(!res.headers().contains_key("x-content-type-options"));
        let res = apps
            .ping_layered
            .clone()
            .oneshot(get(None, "/ping"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "layered ping");
        for name in ["x-content-type-options", "cache-control", "x-request-id"] {
            assert!(res.headers().contains_key(name), "layered ping: {name}");
        }
    });
}

/// The request cases, `route/app`, each a request and the status it must get.
const CASES: [&str; 8] = [
    "post/bare",
    "post/secure",
    "post/hand",
    "get/bare",
    "get/secure",
    "get/hand",
    "ping/bare",
    "ping/layer",
];

/// Sends the request of case `name` (one of [`CASES`]) to its app.
fn run(rt: &tokio::runtime::Runtime, apps: &Apps, token: &str, name: &str) {
    let (app, request, want) = match name {
        // The bare handler gets the same request, token included: the client sends it
        // either way, so building and dropping it is not the pipeline's cost.
        "post/bare" => (
            &apps.bare,
            post(Some(token), "/secured"),
            StatusCode::CREATED,
        ),
        "post/secure" => (
            &apps.secure,
            post(Some(token), "/secured"),
            StatusCode::CREATED,
        ),
        "post/hand" => (
            &apps.hand,
            post(Some(token), "/secured"),
            StatusCode::CREATED,
        ),
        "get/bare" => (&apps.bare, get(Some(token), "/bare/7"), StatusCode::OK),
        "get/secure" => (&apps.secure, get(Some(token), "/secured/7"), StatusCode::OK),
        "get/hand" => (&apps.hand, get(Some(token), "/secured/7"), StatusCode::OK),
        "ping/bare" => (&apps.ping, get(None, "/ping"), StatusCode::OK),
        "ping/layer" => (&apps.ping_layered, get(None, "/ping"), StatusCode::OK),
        other => panic!("unknown case {other}"),
    };
    rt.block_on(send(app, request, want));
}

fn request_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, apps: &Apps, token: &str) {
    let mut group = c.benchmark_group("request");
    for name in CASES {
        group.bench_function(name, |b| b.iter(|| run(rt, apps, token, name)));
    }
    let key = DecodingKey::from_secret(SECRET).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[apps::ISSUER]);
    validation.set_audience(&[apps::ISSUER]);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<apps::Claims>(black_box(token), &key, &validation).unwrap()
        })
    });
    group.finish();
}

/// The guard's stages in isolation, through the same entry points the guard uses.
fn stage_benches(c: &mut Criterion, token: &str) {
    let security = apps::security(SECRET).unwrap();
    let request = get(Some(token), "/secured/7");
    let (parts, _) = request.into_parts();
    let mut group = c.benchmark_group("stages");
    group.bench_function("extract", |b| {
        b.iter(|| {
            secure_api::__entry::bearer_token(black_box(&parts))
                .unwrap()
                .len()
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| secure_api::__entry::verify_bearer(&security, black_box(token)).unwrap())
    });
    // Every request a token never seen before: with the verified-token cache off, the
    // claims are read and the principal built each time (what `verify` does once a token).
    let uncached = apps::security_builder(SECRET)
        .verified_token_cache(0)
        .build()
        .unwrap();
    group.bench_function("verify/first_sight", |b| {
        b.iter(|| secure_api::__entry::verify_bearer(&uncached, black_box(token)).unwrap())
    });
    let principal = secure_api::__entry::verify_bearer(&security, token).unwrap();
    group.bench_function("authorize", |b| {
        b.iter(|| {
            ["editor", "viewer"]
                .iter()
                .any(|role| black_box(&principal).has_role(role))
        })
    });
    let hierarchy = "admin > editor > viewer".parse::<RoleHierarchy>().unwrap();
    group.bench_function("authorize/expand_roles", |b| {
        b.iter(|| hierarchy.expand(black_box(["editor"])))
    });
    let store = MemoryStore::new(10_000);
    let rates = [Rate::new(1_000_000_000, 1)];
    group.bench_function("throttle", |b| {
        b.iter(|| {
            store
                .check_now(&RateCheck::new("bench", black_box("sub:alice"), &rates))
                .allowed()
        })
    });
    group.bench_function("validate", |b| {
        b.iter(|| {
            let item: apps::NewItem = serde_json::from_str(black_box(BODY)).unwrap();
            item.validate().is_ok()
        })
    });
    group.finish();
}

/// Medians (µs per request) of each of `cases`, measured in `rounds` rounds that take the
/// cases in turn, 100 requests each: a drift of the machine during the summary (another
/// build starting, the CPU's clock changing) weighs on every case alike instead of on
/// whichever ran at that moment.
fn interleaved_medians(rounds: usize, cases: &mut [Box<dyn FnMut() + '_>]) -> Vec<f64> {
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    for _ in 0..rounds {
        for (case, out) in cases.iter_mut().zip(&mut samples) {
            let start = Instant::now();
            for _ in 0..100 {
                case();
            }
            out.push(start.elapsed().as_secs_f64() * 1e6 / 100.0);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

/// The project's targets, from medians measured here in the same run:
/// (secure − bare) ≤ 1.25 × jsonwebtoken decode, and secure ≤ hand.
fn summary(rt: &tokio::runtime::Runtime, apps: &Apps, token: &str) {
    let key = DecodingKey::from_secret(SECRET).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[apps::ISSUER]);
    validation.set_audience(&[apps::ISSUER]);
    // In the order of `CASES`, then `decode`.
    let mut cases: Vec<Box<dyn FnMut() + '_>> = CASES
        .iter()
        .map(|name| Box::new(move || run(rt, apps, token, name)) as Box<dyn FnMut() + '_>)
        .collect();
    cases.push(Box::new(|| {
        black_box(jsonwebtoken::decode::<apps::Claims>(token, &key, &validation).unwrap());
    }));
    let m = interleaved_medians(51, &mut cases);
    let [
        bare,
        secure,
        hand,
        get_bare,
        get_secure,
        get_hand,
        ping,
        ping_layered,
        decode,
    ] = m[..]
    else {
        unreachable!("one median per case")
    };
    let overhead = secure - bare;
    println!("\nPOST /secured, medians of this run (µs per request)");
    println!(
        "  bare {bare:.2}  secure {secure:.2}  hand {hand:.2}  jsonwebtoken decode {decode:.2}"
    );
    println!(
        "  secure - bare = {overhead:.2} µs = {:.2} x decode (target <= 1.25)",
        overhead / decode
    );
    println!("  secure / hand = {:.2} (target <= 1.00)", secure / hand);
    println!("GET /secured/{{id}}, medians of this run (µs per request)");
    println!("  bare {get_bare:.2}  secure {get_secure:.2}  hand {get_hand:.2}");
    println!(
        "  secure - bare = {:.2} µs = {:.2} x decode; secure / hand = {:.2}",
        get_secure - get_bare,
        (get_secure - get_bare) / decode,
        get_secure / get_hand
    );
    println!(
        "Security::layer alone, GET /ping without #[secure]: {ping:.2} -> {ping_layered:.2} µs \
         (+{:.2} µs: request id, route slot, response header profile)",
        ping_layered - ping
    );
}

fn profile(rt: &tokio::runtime::Runtime, apps: &Apps, token: &str, case: &str) {
    let n: usize = std::env::var("BENCH_PROFILE_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    if case == "decode" {
        // jsonwebtoken alone, set up as in the summary.
        let key = DecodingKey::from_secret(SECRET).unwrap();
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&[apps::ISSUER]);
        validation.set_audience(&[apps::ISSUER]);
        for _ in 0..n {
            black_box(jsonwebtoken::decode::<apps::Claims>(token, &key, &validation).unwrap());
        }
        return;
    }
    assert!(CASES.contains(&case), "unknown case {case}");
    for _ in 0..n {
        run(rt, apps, token, case);
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let token = apps::mint(SECRET, apps::BENCH_SUBJECT, &["editor"], 3600).unwrap();
    let apps = apps();
    check(&rt, &apps, &token);
    if let Ok(case) = std::env::var("BENCH_PROFILE") {
        // One case in a loop and nothing else, for an instruction profiler:
        // BENCH_PROFILE=post/secure valgrind --tool=callgrind target/release/deps/request-*
        profile(&rt, &apps, &token, &case);
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    request_benches(&mut c, &rt, &apps, &token);
    stage_benches(&mut c, &token);
    c.final_summary();
    summary(&rt, &apps, &token);
}
