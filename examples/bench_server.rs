//! The `#[secure]` stack reduced to what a load test needs, and the same routes assembled
//! by hand, so that both can be measured under one load (`scripts/load-bench` does).
//!
//! ```text
//! JWT_SECRET=... cargo run --release --example bench_server            # #[secure]
//! JWT_SECRET=... cargo run --release --example bench_server -- --hand  # assembled by hand
//! JWT_SECRET=... cargo run --release --example bench_server -- --hand-headers
//! JWT_SECRET=... cargo run --release --example bench_server -- --mint editor
//! ```
//!
//! - `ADDR`: listen address, default `127.0.0.1:3002`.
//! - `JWT_SECRET`: HS256 secret (at least 32 bytes); issuer and audience `bench`; claims
//!   `sub`, `exp`, `roles`; hierarchy admin > editor > viewer.
//! - `--hand`: serve the hand-assembled app (jsonwebtoken middleware, role check,
//!   tower_governor keyed by subject, validator) instead of the `#[secure]` one.
//! - `--hand-headers`: the hand-assembled app whose secured responses also carry the
//!   headers `#[secure]` responses carry (as static values), so that the two can be
//!   compared with equal responses.
//! - `--mint ROLE`: print a token for subject `bench-ROLE` with that role, valid one hour,
//!   and exit.
//!
//! | route | policy | success |
//! | --- | --- | --- |
//! | `GET /bare/{id}` | none | 200 `{"id": id}` |
//! | `GET /secured/{id}` | role viewer, rate per principal far above any load | 200 `{"id": id, "sub": sub}` |
//! | `POST /secured` | role editor, validate, same rate | 201 echoing `{"name", "email"}` |

#[path = "../benches/common/apps.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod apps;

use std::net::SocketAddr;
use std::process::ExitCode;

const DEFAULT_ADDR: &str = "127.0.0.1:3002";

enum Mode {
    Secure,
    Hand,
    HandHeaders,
    Mint(String),
}

fn mode() -> Result<Mode, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Ok(Mode::Secure),
        ["--hand"] => Ok(Mode::Hand),
        ["--hand-headers"] => Ok(Mode::HandHeaders),
        ["--mint", role] if matches!(*role, "admin" | "editor" | "viewer") => {
            Ok(Mode::Mint((*role).to_owned()))
        }
        _ => Err(format!(
            "unexpected arguments {args:?}; usage: bench_server [--hand | --hand-headers | --mint admin|editor|viewer]"
        )),
    }
}

async fn run() -> Result<(), String> {
    let mode = mode()?;
    let secret = match std::env::var("JWT_SECRET") {
        Ok(secret) => secret.into_bytes(),
        Err(std::env::VarError::NotPresent) => {
            return Err("JWT_SECRET is not set (an HS256 secret of at least 32 bytes)".into());
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err("JWT_SECRET: not valid UTF-8".into());
        }
    };
    let addr: SocketAddr = match std::env::var("ADDR") {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("ADDR: {value:?} is not an address like {DEFAULT_ADDR}"))?,
        Err(std::env::VarError::NotPresent) => DEFAULT_ADDR
            .parse()
            .map_err(|_| "the default address is invalid".to_owned())?,
        Err(std::env::VarError::NotUnicode(_)) => return Err("ADDR: not valid UTF-8".into()),
    };
    // The secure-api configuration checks the secret for both apps, so that they accept
    // exactly the same tokens.
    let security = apps::security(&secret).map_err(|e| match e.setting() {
        "jwt.key" => format!("JWT_SECRET: {}", e.message()),
        _ => e.to_string(),
    })?;
    let (router, name) = match mode {
        Mode::Mint(role) => {
            let token = apps::mint(&secret, &format!("bench-{role}"), &[&role], 3600)
                .map_err(|e| format!("cannot sign a token: {e}"))?;
            println!("{token}");
            return Ok(());
        }
        Mode::Secure => (apps::secured_app(&security), "#[secure]"),
        Mode::Hand => (
            apps::hand_app(&secret).map_err(|e| format!("JWT_SECRET: {e}"))?,
            "hand-assembled",
        ),
        Mode::HandHeaders => (
            apps::hand_app_with_headers(&secret).map_err(|e| format!("JWT_SECRET: {e}"))?,
            "hand-assembled, with the same response headers",
        ),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("ADDR: cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("ADDR: cannot read the bound address: {e}"))?;
    println!("bench_server ({name}) listening on http://{local}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| format!("server error: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_server: {message}");
            ExitCode::FAILURE
        }
    }
}
