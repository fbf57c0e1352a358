//! The target of `scripts/load-throttle`: the same public handler unthrottled, throttled
//! in memory, and throttled in Redis, so that one load run measures what a rate-limit
//! check costs in each store.
//!
//! ```text
//! cargo run --release --features redis --example throttle_load
//! ```
//!
//! Settings (environment): `ADDR` (default `127.0.0.1:3003`); `REDIS_URL` to serve
//! `/redis` (needs `--features redis`).
//!
//! | route | policy |
//! | --- | --- |
//! | `GET /bare` | public, no rate limit (the baseline) |
//! | `GET /memory` | public, a per-IP rate far above any load, in the in-memory store |
//! | `GET /redis` | the same, in Redis |

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use secure_api::prelude::*;

#[secure(public)]
async fn bare() -> &'static str {
    "ok"
}

/// A billion a second: never refused, so every request pays for one full check.
#[secure(public, rate = "1000000000/1s")]
async fn limited() -> &'static str {
    "ok"
}

fn security() -> secure_api::SecurityBuilder {
    Security::builder()
        .hmac_secret(b"throttle-load-secret-of-32-bytes!!".to_vec())
        .issuer("load")
        .audience("load")
}

async fn run() -> Result<(), String> {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3003".to_owned())
        .parse()
        .map_err(|_| "ADDR: not an address like 127.0.0.1:3003".to_owned())?;
    let memory = security().build().map_err(|e| e.to_string())?;
    let mut app = Router::new()
        .route("/bare", get(bare))
        .route("/memory", get(limited))
        .layer(memory.layer());
    if let Ok(url) = std::env::var("REDIS_URL") {
        app = app.merge(redis_routes(&url).await?);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("ADDR: cannot listen on {addr}: {e}"))?;
    println!("throttle_load listening on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}

#[cfg(feature = "redis")]
async fn redis_routes(url: &str) -> Result<Router, String> {
    let store = secure_api::RedisStore::builder(url)
        .key_prefix("throttle-load")
        .connect()
        .await
        .map_err(|e| format!("REDIS_URL: {}", e.message()))?;
    let redis = security()
        .rate_limit_store(store)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route("/redis", get(limited))
        .layer(redis.layer()))
}

#[cfg(not(feature = "redis"))]
async fn redis_routes(_: &str) -> Result<Router, String> {
    Err("REDIS_URL: built without `--features redis`".to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("throttle_load: {message}");
            ExitCode::FAILURE
        }
    }
}
