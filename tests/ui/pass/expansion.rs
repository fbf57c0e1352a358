//! Every shape of handler `#[secure]` must keep compiling and mounting on a `Router`.
#![deny(warnings)]

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Form, Json};
use secure_api::secure;
use serde::Deserialize;
use validator::Validate;

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[derive(Deserialize, Validate)]
struct NewThing {
    #[validate(length(min = 1, max = 100))]
    name: String,
}

#[derive(Deserialize, Validate)]
struct Paging {
    #[validate(range(min = 1, max = 100))]
    limit: u32,
}

#[derive(Deserialize, Validate)]
struct ThingId {
    #[validate(range(min = 1))]
    id: u64,
}

// The brief's own example.
#[secure(role = "admin", rate = "100/15m", validate)]
async fn create(Json(body): Json<NewThing>) -> impl IntoResponse {
    (StatusCode::CREATED, body.name)
}

// No arguments at all: the guard is the only one.
#[secure(public)]
async fn health() -> &'static str {
    "ok"
}

// Any authenticated principal, rate only.
#[secure(rate = "5/m")]
async fn me() -> StatusCode {
    StatusCode::OK
}

mod handlers {
    use super::*;

    /// Docs, other attributes and restricted visibility survive the expansion.
    #[secure(any_role = ["editor", "auditor"], validate)]
    #[allow(clippy::unused_async)]
    #[inline]
    pub(crate) async fn listed(
        State(state): State<AppState>,
        Query(paging): Query<Paging>,
        headers: axum::http::HeaderMap,
    ) -> String {
        format!("{} {} {}", state.greeting, paging.limit, headers.len())
    }

    /// Generics and a where-clause, with `State<S>` next to validated extractors and a
    /// `Result` return.
    #[secure(role = "editor", validate, rate = "10/1s")]
    pub async fn update<S>(
        State(state): State<S>,
        axum::extract::Path(id): axum::extract::Path<ThingId>,
        Json(mut body): Json<NewThing>,
    ) -> Result<Json<String>, StatusCode>
    where
        S: Clone + Send + Sync + 'static,
    {
        let _ = state.clone();
        body.name.push('!');
        if id.id == 0 {
            Err(StatusCode::NOT_FOUND)
        } else {
            Ok(Json(body.name))
        }
    }
}

// A scalar path next to a validated body: the id is decoded (problem+json on a bad
// segment), the body validated.
#[secure(role = "editor", validate)]
async fn rename(Path(id): Path<u64>, Json(body): Json<NewThing>) -> String {
    format!("{id} {}", body.name)
}

// Replay protection, idempotency, deprecation and per-route headers.
#[secure(role = "editor", validate, replay, idempotent)]
async fn transfer(Json(body): Json<NewThing>) -> (StatusCode, String) {
    (StatusCode::CREATED, body.name)
}

#[secure(role = "viewer", deprecated = "2026-01-01", sunset = "2027-12-31", link = "/v1/things")]
async fn old_things() -> &'static str {
    "[]"
}

#[secure(public, headers = "relaxed", csp = "default-src 'self'; img-src 'self' data:")]
async fn docs() -> &'static str {
    "<html></html>"
}

// A renamed facade.
mod renamed {
    use secure_api as sa;

    use super::*;

    #[sa::secure(crate = "sa", role = "viewer", validate, rate = "1000/1h")]
    pub(crate) async fn submit(
        Form(form): Form<NewThing>,
    ) -> Result<impl IntoResponse, StatusCode> {
        Ok(form.name)
    }

    #[sa::secure(crate = "::secure_api", role = "admin", rate = "2/1d")]
    pub(crate) async fn remove(Path(id): Path<u64>) -> StatusCode {
        let _ = id;
        StatusCode::NO_CONTENT
    }
}

fn app() -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .route("/things", post(create).get(handlers::listed))
        .route("/things/{id}", post(handlers::update::<AppState>))
        .route("/submit", post(renamed::submit))
        .route("/things/{id}/rename", post(rename))
        .route("/transfers", post(transfer))
        .route("/v0/things", get(old_things))
        .route("/docs", get(docs))
        .route("/things/{id}/remove", delete(renamed::remove))
        .with_state(AppState { greeting: "hi" })
}

fn main() {
    let _ = app();
}
