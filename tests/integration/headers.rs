//! The response header profile of the layer, on successes, refusals and 404s alike.

use serde_json::json;

use crate::support::*;

fn assert_profile(res: &Resp, what: &str) {
    assert_eq!(
        res.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(res.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"), "{what}");
    let csp = res
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(res.header("server").is_none(), "{what}");
    assert!(res.header("x-powered-by").is_none(), "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_header_profile() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    let viewer = token("v", ["viewer"]);
    let editor = token("ed", ["editor"]);

    let ok = Req::get("/v1/customers").bearer(&viewer).send(&app).await;
    assert_eq!(ok.status, 200);
    assert_profile(&ok, "200");

    let public = Req::get("/health").send(&app).await;
    assert_eq!(public.status, 200);
    assert_profile(&public, "public 200");

    let unauthenticated = Req::get("/v1/customers").send(&app).await;
    assert_eq!(unauthenticated.status, 401);
    assert_profile(&unauthenticated, "401");

    let malformed = Req::get("/v1/customers?access_token=x").send(&app).await;
    assert_eq!(malformed.status, 400);
    assert_profile(&malformed, "400");

    let forbidden = Req::delete("/v1/customers/1")
        .bearer(&viewer)
        .send(&app)
        .await;
    assert_eq!(forbidden.status, 403);
    assert_profile(&forbidden, "403");

    let not_found = Req::get("/no/such/route").send(&app).await;
    assert_eq!(not_found.status, 404);
    assert_profile(&not_found, "404 (unknown route)");

    let wrong_method = Req::delete("/health").send(&app).await;
    assert_eq!(wrong_method.status, 405);
    assert_profile(&wrong_method, "405");

    let invalid = Req::post("/v1/customers")
        .bearer(&editor)
        .json(&json!({ "name": "", "email": "x" }))
        .send(&app)
        .await;
    assert_eq!(invalid.status, 422);
    assert_profile(&invalid, "422");

    // The 422 above already spent one of the five: the limit runs in the guard, before the
    // body is read.
    for _ in 0..4 {
        let res = Req::post("/v1/customers")
            .bearer(&editor)
            .json(&json!({ "name": "Bob", "email": "bob@example.com" }))
            .send(&app)
            .await;
        assert_eq!(res.status, 201);
        assert_profile(&res, "201");
    }
    let throttled = Req::post("/v1/customers")
        .bearer(&editor)
        .json(&json!({ "name": "Bob", "email": "bob@example.com" }))
        .send(&app)
        .await;
    assert_eq!(throttled.status, 429);
    assert_profile(&throttled, "429");
}

#[tokio::test]
async fn an_authenticated_response_is_no_store_whatever_the_handler_said() {
    let res = Req::get("/v1/cached")
        .bearer(&token("v", ["viewer"]))
        .send(&app())
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "cached");
    let cache_control: Vec<_> = res.headers.get_all("cache-control").iter().collect();
    assert_eq!(cache_control, ["no-store"]);
    assert_profile(&res, "handler set Server, X-Powered-By and max-age");
}

#[tokio::test]
async fn every_refusal_is_no_store() {
    let app = app();
    for req in [
        Req::get("/v1/cached"),
        Req::get("/v1/cached").bearer("a.b.c"),
        Req::get("/v1/cached").bearer(&token("nobody", ["guest"])),
    ] {
        let res = req.send(&app).await;
        assert!(res.status.is_client_error());
        assert_eq!(res.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn a_public_response_without_credentials_keeps_the_handlers_cache_policy() {
    // Documented: `no-store` is forced only when the request carried credentials or the
    // handler set no policy; a public, anonymous response may be cached as it says.
    let app = app();
    let res = Req::get("/v1/public-cached").send(&app).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("cache-control"), Some("max-age=3600"));
    assert_profile(&res, "public cached");
    // The same public route asked with credentials is not cacheable.
    let res = Req::get("/v1/public-cached")
        .bearer(&token("v", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let res = Req::get("/v1/public-cached")
        .header("cookie", "session=abc")
        .send(&app)
        .await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_response_without_a_cache_policy_gets_no_store() {
    let res = Req::get("/health").send(&app()).await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_body_changed_outside_the_layer_gets_its_own_content_length() {
    // Middleware between the layer and the router may replace the body; the length on
    // the wire must be the new body's, which the router computes after every layer.
    let app = axum::Router::new()
        .route("/short", axum::routing::get(|| async { "short" }))
        .layer(security().layer())
        .layer(axum::middleware::map_response(
            |response: axum::response::Response| async move {
                response.map(|_| axum::body::Body::from("a longer body than the handler's"))
            },
        ));
    let res = Req::get("/short").send(&app).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "a longer body than the handler's");
    assert_eq!(res.header("content-length"), Some("32"));
    assert_profile(&res, "body replaced outside the layer");
}

#[tokio::test]
async fn the_handlers_content_type_and_length_are_kept() {
    let app = axum::Router::new()
        .route(
            "/typed",
            axum::routing::get(|| async {
                (
                    [
                        ("content-type", "text/csv"),
                        ("content-length", "3"),
                        ("etag", "\"v1\""),
                    ],
                    "a,b",
                )
            }),
        )
        .route(
            "/empty",
            axum::routing::get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .layer(security().layer());
    let res = Req::get("/typed").send(&app).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/csv"));
    assert_eq!(res.header("content-length"), Some("3"));
    assert_eq!(res.header("etag"), Some("\"v1\""));
    assert_profile(&res, "typed");
    let res = Req::get("/empty").send(&app).await;
    assert_eq!(res.status, 204);
    assert!(res.header("content-type").is_none(), "{:?}", res.headers);
    assert!(
        res.headers
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "{:?}",
        res.headers
    );
    assert!(
        res.headers.values().all(|v| !v.is_empty()),
        "{:?}",
        res.headers
    );
    assert_profile(&res, "204");
}

mod one_path_two_policies {
    use axum::Router;
    use axum::routing::get;
    use secure_api::prelude::*;

    #[secure(public, csp = "default-src 'self'")]
    async fn read() -> &'static str {
        "read"
    }

    #[secure(public, deprecated = "2026-01-01")]
    async fn write() -> &'static str {
        "write"
    }

    #[tokio::test]
    async fn two_handlers_behind_one_service_each_get_their_own_route_headers() {
        // The layer around a whole router is one service in front of both handlers: the
        // first policy seen is kept for the service, and the other handler's requests must
        // still get their own headers, in whichever order they come.
        use tower::Layer;
        let inner = Router::new().route("/doc", get(read).post(write));
        let app = Router::new().fallback_service(crate::support::security().layer().layer(inner));
        for _ in 0..2 {
            let res = crate::support::Req::get("/doc").send(&app).await;
            assert_eq!(res.text(), "read");
            assert_eq!(
                res.header("content-security-policy"),
                Some("default-src 'self'")
            );
            assert!(
                res.header("deprecation").is_none(),
                "{:?}",
                res.header("deprecation")
            );
            let res = crate::support::Req::post("/doc").send(&app).await;
            assert_eq!(res.text(), "write");
            assert!(res.header("deprecation").is_some());
            let csp = res.header("content-security-policy").unwrap_or_default();
            assert!(csp.contains("default-src 'none'"), "{csp}");
        }
    }
}
