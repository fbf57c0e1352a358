//! Integration tests of secure-api: every request goes through a real axum `Router` with
//! the `Security` layer, as an application would mount it.
#![allow(clippy::unwrap_used)]

mod auth;
mod config;
mod declared;
mod extending;
mod handlers;
mod headers;
mod jwt_attacks;
mod key_families;
mod observability;
mod openapi;
mod output;
mod rbac;
#[cfg(feature = "redis")]
mod redis_store;
mod secrets;
mod signatures;
mod support;
mod throttling;
mod throttling_scale;
mod tls;
mod transport;
mod validation;
mod versions;
