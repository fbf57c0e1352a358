//! Rate limits: exact under concurrency, keyed by principal or client IP, replenished over
//! the period (driven by a manual clock, never by sleeping), with bounded keyed state.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use tower::{Service, ServiceExt};

use crate::support::*;

fn create_request(token: &str) -> Req {
    Req::post("/v1/customers")
        .bearer(token)
        .json(&json!({ "name": "Bob", "email": "bob@example.com" }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_requests_of_one_principal_let_exactly_five_through() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    let token = token("ed", ["editor"]);
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let app = app.clone();
            let request = create_request(&token).build();
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
}

#[tokio::test]
async fn the_429_carries_retry_after_and_ratelimit_headers() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    let token = token("ed", ["editor"]);
    for _ in 0..5 {
        assert_eq!(create_request(&token).send(&app).await.status, 201);
    }
    let res = create_request(&token).send(&app).await;
    res.problem(429, "rate_limited");
    // 5 per minute: one request comes back every 12 s, and the clock has not moved.
    assert_eq!(res.header("retry-after"), Some("12"));
    assert_eq!(res.header("ratelimit-policy"), Some("\"default\";q=5;w=60"));
    assert_eq!(res.header("ratelimit"), Some("\"default\";r=0;t=12"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    res.assert_leaks_nothing_of(&token);
}

#[tokio::test]
async fn retry_after_counts_down_in_whole_seconds() {
    let (security, clock) = security_with_clock();
    let app = app_with(&security);
    let token = token("ed", ["editor"]);
    for _ in 0..5 {
        create_request(&token).send(&app).await;
    }
    clock.advance(Duration::from_millis(2500));
    let res = create_request(&token).send(&app).await;
    assert_eq!(res.status, 429);
    // 9.5 s left, rounded up.
    assert_eq!(res.header("retry-after"), Some("10"));
}

#[tokio::test]
async fn each_principal_has_its_own_bucket() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    let ed = token("ed", ["editor"]);
    let eve = token("eve", ["editor"]);
    for _ in 0..5 {
        assert_eq!(create_request(&ed).send(&app).await.status, 201);
    }
    assert_eq!(create_request(&ed).send(&app).await.status, 429);
    for _ in 0..5 {
        assert_eq!(create_request(&eve).send(&app).await.status, 201);
    }
    assert_eq!(create_request(&eve).send(&app).await.status, 429);
}

#[tokio::test]
async fn a_fresh_token_for_the_same_subject_shares_the_bucket() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    for i in 0..5 {
        let token = Claims::new("ed")
            .roles(["editor"])
            .jti(&format!("t{i}"))
            .hs256();
        assert_eq!(create_request(&token).send(&app).await.status, 201);
    }
    let other = Claims::new("ed").roles(["admin"]).jti("new").hs256();
    assert_eq!(create_request(&other).send(&app).await.status, 429);
}

#[tokio::test]
async fn refused_requests_do_not_consume_the_quota() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    // 403s and 401s are decided before the limiter.
    let viewer = token("ed", ["viewer"]);
    for _ in 0..10 {
        assert_eq!(create_request(&viewer).send(&app).await.status, 403);
    }
    let editor = token("ed", ["editor"]);
    for _ in 0..5 {
        assert_eq!(create_request(&editor).send(&app).await.status, 201);
    }
}

#[tokio::test]
async fn attempts_with_an_invalid_body_count_against_the_quota() {
    // The limit runs in the guard, before the body is read, so failed validation cannot be
    // probed for free.
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    let token = token("ed", ["editor"]);
    for _ in 0..5 {
        let res = Req::post("/v1/customers")
            .bearer(&token)
            .json(&json!({ "name": "", "email": "x" }))
            .send(&app)
            .await;
        assert_eq!(res.status, 422);
    }
    let res = create_request(&token).send(&app).await;
    res.problem(429, "rate_limited");
}

#[tokio::test]
async fn after_period_over_n_one_more_request_passes() {
    let (security, clock) = security_with_clock();
    let app = app_with(&security);
    let token = token("ed", ["editor"]);
    for _ in 0..5 {
        assert_eq!(create_request(&token).send(&app).await.status, 201);
    }
    assert_eq!(create_request(&token).send(&app).await.status, 429);
    clock.advance(Duration::from_secs(11));
    assert_eq!(create_request(&token).send(&app).await.status, 429);
    clock.advance(Duration::from_secs(1));
    assert_eq!(create_request(&token).send(&app).await.status, 201);
    assert_eq!(create_request(&token).send(&app).await.status, 429);
    // A whole period restores the whole burst, and no more.
    clock.advance(Duration::from_secs(600));
    for _ in 0..5 {
        assert_eq!(create_request(&token).send(&app).await.status, 201);
    }
    assert_eq!(create_request(&token).send(&app).await.status, 429);
}

// ---------------------------------------------------------------------------------------
// Public routes: keyed by client IP

#[tokio::test]
async fn a_public_route_allows_three_per_ip_then_429() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    for _ in 0..3 {
        let res = Req::get("/v1/ping")
            .client_ip("192.0.2.10")
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.json(), json!({ "pong": true }));
    }
    let res = Req::get("/v1/ping")
        .client_ip("192.0.2.10")
        .send(&app)
        .await;
    res.problem(429, "rate_limited");
    assert_eq!(res.header("retry-after"), Some("20"));
    assert_eq!(res.header("ratelimit-policy"), Some("\"default\";q=3;w=60"));
    let res = Req::get("/v1/ping")
        .client_ip("192.0.2.11")
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "another address has its own bucket");
}

#[tokio::test]
async fn the_socket_address_keys_the_limit_when_no_client_ip_is_set() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    for port in [40000, 40001, 40002] {
        // Another port of the same host is the same client.
        let addr = format!("198.51.100.7:{port}");
        let res = Req::get("/v1/ping").connect_info(&addr).send(&app).await;
        assert_eq!(res.status, 200);
    }
    let res = Req::get("/v1/ping")
        .connect_info("198.51.100.7:40003")
        .send(&app)
        .await;
    assert_eq!(res.status, 429);
    let res = Req::get("/v1/ping")
        .connect_info("198.51.100.8:40000")
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_do_not_buy_a_new_bucket() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    for i in 0..10 {
        let forged = format!("203.0.113.{i}");
        let res = Req::get("/v1/ping")
            .connect_info("198.51.100.7:5000")
            .header("x-forwarded-for", &forged)
            .header("forwarded", &format!("for={forged}"))
            .header("x-real-ip", &forged)
            .send(&app)
            .await;
        let expected = if i < 3 { 200 } else { 429 };
        assert_eq!(
            res.status, expected,
            "request {i} with X-Forwarded-For {forged}"
        );
    }
}

#[tokio::test]
async fn ipv6_clients_are_bucketed_by_their_slash_64() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
        let res = Req::get("/v1/ping").client_ip(host).send(&app).await;
        assert_eq!(res.status, 200);
    }
    let res = Req::get("/v1/ping")
        .client_ip("2001:db8:1:2::4")
        .send(&app)
        .await;
    assert_eq!(res.status, 429, "rotating within the /64 buys nothing");
    let res = Req::get("/v1/ping")
        .client_ip("2001:db8:1:3::1")
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn each_app_configuration_has_its_own_limiters() {
    let (first, _c1) = security_with_clock();
    let (second, _c2) = security_with_clock();
    let (a, b) = (app_with(&first), app_with(&second));
    for _ in 0..3 {
        Req::get("/v1/ping").client_ip("192.0.2.1").send(&a).await;
    }
    assert_eq!(
        Req::get("/v1/ping")
            .client_ip("192.0.2.1")
            .send(&a)
            .await
            .status,
        429
    );
    assert_eq!(
        Req::get("/v1/ping")
            .client_ip("192.0.2.1")
            .send(&b)
            .await
            .status,
        200
    );
}

// ---------------------------------------------------------------------------------------
// Bounded memory

#[tokio::test]
async fn idle_keys_are_purged_so_keyed_state_stays_bounded() {
    const CLIENTS: u32 = 100_000;
    let (security, clock) = security_with_clock();
    let mut app = app_with(&security);
    for i in 0..CLIENTS {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        let request = Req::get("/v1/burst").client_ip(&ip).build();
        let service = ServiceExt::<axum::extract::Request>::ready(&mut app)
            .await
            .unwrap();
        let response = service.call(request).await.unwrap();
        assert_eq!(response.status(), 200, "client {ip}");
    }
    assert_eq!(security.tracked_rate_limit_keys(), CLIENTS as usize);
    // Nothing is idle yet: a purge now must keep every key.
    security.purge_idle_rate_limits();
    assert_eq!(security.tracked_rate_limit_keys(), CLIENTS as usize);
    clock.advance(Duration::from_secs(2));
    security.purge_idle_rate_limits();
    assert_eq!(security.tracked_rate_limit_keys(), 0);
    // A purged client starts again with a full bucket.
    for _ in 0..5 {
        let res = Req::get("/v1/burst").client_ip("10.0.0.1").send(&app).await;
        assert_eq!(res.status, 200);
    }
    let res = Req::get("/v1/burst").client_ip("10.0.0.1").send(&app).await;
    assert_eq!(res.status, 429);
}
