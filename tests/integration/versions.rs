//! `#[secure_versions]` and `SecureRouter::version`: one handler body under `/v1` and
//! `/v2` with a policy per version, through a real Router.

use axum::Router;
use axum::extract::Path;
use axum::http::Method;
use secure_api::prelude::*;
use secure_api::routing::{SecureRouter, get};
use secure_api::versions::ApiVersion;
use secure_api::{RouteCoverage, policy_of};
use serde_json::Value;

use crate::support::{Req, builder, token};

/// One body, two policies: v1 was public, v2 needs an admin and is throttled.
#[secure_versions(v1(public), v2(role = "admin", rate = "2/1m"))]
async fn report() -> &'static str {
    "report"
}

/// A route-level deprecation on one version only, and a path parameter.
#[secure_versions(
    v1(
        role = "viewer",
        deprecated = "2026-01-01",
        sunset = "2099-12-31",
        link = "/v2/items"
    ),
    v2(role = "editor")
)]
async fn item(Path(id): Path<u64>) -> String {
    format!("item {id}")
}

fn app() -> Router {
    let security = builder().build().unwrap();
    SecureRouter::new()
        .version(
            ApiVersion::new("v1")
                .deprecated_at(1_767_225_600)
                .link("/v2/report"),
            SecureRouter::new()
                .route("/report", get(report_v1))
                .route("/items/{id}", get(item_v1)),
        )
        .version(
            ApiVersion::new("v2"),
            SecureRouter::new()
                .route("/report", get(report_v2))
                .route("/items/{id}", get(item_v2)),
        )
        .layer(security.layer())
        .into_router()
}

#[tokio::test]
async fn the_same_handler_enforces_each_versions_policy() {
    let app = app();
    let res = Req::get("/v1/report").send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "report");

    Req::get("/v2/report")
        .send(&app)
        .await
        .problem(401, "missing_credentials");
    Req::get("/v2/report")
        .bearer(&token("vera", ["viewer"]))
        .send(&app)
        .await
        .problem(403, "insufficient_scope");
    let admin = token("ada", ["admin"]);
    for _ in 0..2 {
        let res = Req::get("/v2/report").bearer(&admin).send(&app).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    // v2's rate, which v1 does not have.
    Req::get("/v2/report")
        .bearer(&admin)
        .send(&app)
        .await
        .problem(429, "rate_limited");
    for _ in 0..5 {
        assert_eq!(Req::get("/v1/report").send(&app).await.status, 200);
    }

    let viewer = token("vera", ["viewer"]);
    let res = Req::get("/v1/items/4").bearer(&viewer).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "item 4");
    Req::get("/v2/items/4")
        .bearer(&viewer)
        .send(&app)
        .await
        .problem(403, "insufficient_scope");
    let editor = token("eddie", ["editor"]);
    assert_eq!(
        Req::get("/v2/items/4")
            .bearer(&editor)
            .send(&app)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_deprecated_version_says_so_on_every_response() {
    let app = app();
    let res = Req::get("/v1/report").send(&app).await;
    assert_eq!(res.header("deprecation"), Some("@1767225600"));
    assert_eq!(
        res.header("link"),
        Some("</v2/report>; rel=\"deprecation\"")
    );
    // Refusals of the version too.
    let res = Req::get("/v1/items/1").send(&app).await;
    res.problem(401, "missing_credentials");
    assert!(res.header("deprecation").is_some());
    // The route's own keys take precedence over the version's.
    let res = Req::get("/v1/items/1")
        .bearer(&token("vera", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.header("deprecation"), Some("@1767225600"));
    assert_eq!(res.header("sunset"), Some("Thu, 31 Dec 2099 00:00:00 GMT"));
    let links: Vec<&str> = res
        .headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        links.contains(&"</v2/items>; rel=\"deprecation\""),
        "{links:?}"
    );

    let res = Req::get("/v2/report")
        .bearer(&token("ada", ["admin"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("deprecation"), None);
    assert_eq!(res.header("link"), None);
}

#[tokio::test]
async fn a_variant_mounted_under_another_version_refuses_with_500() {
    let security = builder().build().unwrap();
    let app: Router = SecureRouter::new()
        // v2's admin-only variant under /v1 by mistake, and v1's public one under /v2.
        .version(
            ApiVersion::new("v1"),
            SecureRouter::new().route("/report", get(report_v2)),
        )
        .version(
            ApiVersion::new("v2"),
            SecureRouter::new().route("/report", get(report_v1)),
        )
        .layer(security.layer())
        .into_router();
    Req::get("/v2/report")
        .send(&app)
        .await
        .problem(500, "server_error");
    Req::get("/v1/report")
        .bearer(&token("ada", ["admin"]))
        .send(&app)
        .await
        .problem(500, "server_error");
}

#[tokio::test]
async fn an_invalid_version_name_is_refused_not_mounted() {
    let security = builder().build().unwrap();
    let app: Router = SecureRouter::new()
        .version(
            ApiVersion::new("v1/../admin"),
            SecureRouter::new()
                .route("/report", get(report_v1))
                .route("/status", get(status)),
        )
        .layer(security.layer())
        .into_router();
    assert_eq!(Req::get("/v1/../admin/report").send(&app).await.status, 404);
    // Versioned or not, nothing under a mistyped version is served.
    for path in ["/invalid-version/report", "/invalid-version/status"] {
        Req::get(path).send(&app).await.problem(500, "server_error");
    }
}

/// A handler that belongs to no version.
#[secure(public)]
async fn status() -> &'static str {
    "up"
}

#[tokio::test]
async fn coverage_and_the_inventory_list_each_variant_with_its_version() {
    let app = app();
    for (path, version, public) in [
        ("/v1/report", "v1", true),
        ("/v2/report", "v2", false),
        ("/v1/items/{id}", "v1", false),
        ("/v2/items/{id}", "v2", false),
    ] {
        match policy_of(&app, Method::GET, path).await {
            RouteCoverage::Guarded(policy) => {
                assert_eq!(policy.version(), Some(version), "{path}");
                assert_eq!(policy.is_public(), public, "{path}");
                assert!(policy.handler().ends_with(&format!("_{version}")), "{path}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    let json = secure_api::policies().to_json();
    let find = |suffix: &str| -> Value {
        json.as_array()
            .unwrap()
            .iter()
            .find(|p| p["handler"].as_str().unwrap().ends_with(suffix))
            .cloned()
            .unwrap_or_else(|| panic!("{suffix} not in the inventory"))
    };
    assert_eq!(find("versions::report_v1")["version"], "v1");
    assert_eq!(find("versions::report_v1")["access"], "public");
    assert_eq!(find("versions::report_v2")["version"], "v2");
    assert_eq!(find("versions::report_v2")["roles"][0], "admin");
    assert_eq!(find("versions::item_v1")["version"], "v1");
    let table = secure_api::policies().to_string();
    let line = table
        .lines()
        .find(|l| l.contains("versions::item_v2"))
        .unwrap();
    assert!(line.contains("version=v2"), "{line}");
}
