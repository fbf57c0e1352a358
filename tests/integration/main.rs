//! Integration tests of secure-api: every request goes through a real axum `Router` with
//! the `Security` layer, as an application would mount it.
#![allow(clippy::unwrap_used)]

mod api_keys;
mod auth;
mod bench_server;
mod config;
mod declared;
mod example_process;
mod extending;
mod handlers;
mod headers;
mod jwt_attacks;
mod jwt_attacks_http;
mod key_families;
mod observability;
mod oidc;
mod openapi;
mod output;
mod properties;
mod rbac;
#[cfg(feature = "redis")]
mod redis_store;
mod revocation;
mod scopes;
mod secrets;
mod signatures;
mod support;
mod throttling;
mod throttling_scale;
mod tls;
mod transport;
mod validation;
mod versions;
