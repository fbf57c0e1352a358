//! Authentication through the guard: the status of each outcome, the RFC 6750 challenge,
//! the principal handed to the handler, and "deny" when the layer is missing.

use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::handlers;
use crate::support::*;

#[tokio::test]
async fn a_valid_token_reaches_the_handler() {
    let res = Req::get("/v1/customers")
        .bearer(&token("alice", ["viewer"]))
        .send(&app())
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.json()[0]["name"], "Ada");
}

#[tokio::test]
async fn no_credentials_is_401_with_a_bare_bearer_challenge() {
    let res = Req::get("/v1/customers").send(&app()).await;
    res.assert_missing_credentials();
    // RFC 6750 3.1: no error code when the request carried no credentials at all.
    assert!(!res.www_authenticate().contains("error="));
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_bad_token_is_401_invalid_token() {
    let res = Req::get("/v1/customers")
        .bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
        .send(&app())
        .await;
    res.assert_invalid_token();
}

#[tokio::test]
async fn a_malformed_authorization_header_is_400_invalid_request() {
    let app = app();
    for value in [
        "Bearer a b c",
        "Bearer abc=def",
        "Bearer {json}",
        "Bearer",
        "Bearer\tabc.def.ghi",
        "Bearerabc.def.ghi",
    ] {
        let res = Req::get("/v1/customers")
            .header("authorization", value)
            .send(&app)
            .await;
        res.assert_invalid_request();
    }
}

#[tokio::test]
async fn a_missing_role_is_403_insufficient_scope_naming_the_role() {
    let res = Req::post("/v1/customers")
        .bearer(&token("vera", ["viewer"]))
        .json(&json!({ "name": "Bob", "email": "bob@example.com" }))
        .send(&app())
        .await;
    res.assert_forbidden();
    assert!(
        res.www_authenticate().contains("scope=\"editor\""),
        "{}",
        res.www_authenticate()
    );
}

#[tokio::test]
async fn the_principal_extractor_sees_subject_roles_and_scopes() {
    let token = Claims::new("alice")
        .roles(["editor"])
        .scope("customers:read customers:write")
        .jti("id-1")
        .hs256();
    let res = Req::get("/v1/me").bearer(&token).send(&app()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let me = res.json();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["roles"], json!(["editor"]));
    // The hierarchy adds what editor holds, but `roles` stays as granted.
    assert_eq!(me["effective_roles"], json!(["editor", "viewer"]));
    assert_eq!(me["scopes"], json!(["customers:read", "customers:write"]));
}

#[tokio::test]
async fn an_authenticated_route_without_roles_accepts_a_token_without_roles() {
    let res = Req::get("/v1/me")
        .bearer(&Claims::new("svc").hs256())
        .send(&app())
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["roles"], json!([]));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = app();
    let token = token("alice", ["viewer"]);
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let res = Req::get("/v1/me")
            .header("authorization", &format!("{scheme} {token}"))
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{scheme}: {}", res.text());
    }
}

#[tokio::test]
async fn public_routes_need_no_credentials() {
    let res = Req::get("/health").send(&app()).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "ok");
}

#[tokio::test]
async fn public_routes_ignore_a_bad_token() {
    // A public route reads no credentials, so a broken one cannot lock a client out.
    let res = Req::get("/health").bearer("not.a.token").send(&app()).await;
    assert_eq!(res.status, 200);
}

// ---------------------------------------------------------------------------------------
// The guard runs before the body is read.

#[tokio::test]
async fn an_unauthenticated_post_with_broken_json_is_401_not_400() {
    let res = Req::post("/v1/customers")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send(&app())
        .await;
    res.assert_missing_credentials();
}

#[tokio::test]
async fn an_unauthenticated_post_with_a_wrong_content_type_is_401_not_415() {
    let res = Req::post("/v1/customers")
        .header("content-type", "text/plain")
        .body("hello")
        .send(&app())
        .await;
    res.assert_missing_credentials();
}

#[tokio::test]
async fn an_unauthenticated_post_over_the_body_limit_is_401_not_413() {
    let app = app_with(&builder().body_limit(1024).build().unwrap());
    let body = format!(
        r#"{{"name": "{}", "email": "a@example.com"}}"#,
        "x".repeat(8192)
    );
    let res = Req::post("/v1/customers")
        .header("content-type", "application/json")
        .header("content-length", &body.len().to_string())
        .body(body)
        .send(&app)
        .await;
    res.assert_missing_credentials();
}

#[tokio::test]
async fn a_forbidden_post_with_an_invalid_body_is_403_not_422() {
    let res = Req::post("/v1/customers")
        .bearer(&token("vera", ["viewer"]))
        .json(&json!({ "name": "", "email": "nope" }))
        .send(&app())
        .await;
    res.assert_forbidden();
}

#[tokio::test]
async fn an_authenticated_post_over_the_body_limit_is_413_problem() {
    let app = app_with(&builder().body_limit(1024).build().unwrap());
    let body = format!(
        r#"{{"name": "{}", "email": "a@example.com"}}"#,
        "x".repeat(8192)
    );
    let res = Req::post("/v1/customers")
        .bearer(&token("ed", ["editor"]))
        .header("content-type", "application/json")
        .header("content-length", &body.len().to_string())
        .body(body)
        .send(&app)
        .await;
    res.problem(413, "bad_request");
}

#[tokio::test]
async fn an_authenticated_post_over_the_body_limit_without_content_length_is_413() {
    // A streamed body declares no length; the cap must still bite while reading.
    let app = app_with(&builder().body_limit(1024).build().unwrap());
    let body = format!(
        r#"{{"name": "{}", "email": "a@example.com"}}"#,
        "x".repeat(8192)
    );
    let stream = body_of_unknown_length(body.into_bytes());
    let res = Req::post("/v1/customers")
        .bearer(&token("ed", ["editor"]))
        .header("content-type", "application/json")
        .body(stream)
        .send(&app)
        .await;
    res.problem(413, "bad_request");
}

/// A body that does not declare its length (as a chunked upload would not): `MapFrame`
/// gives no size hint, unlike `Full`.
fn body_of_unknown_length(bytes: Vec<u8>) -> axum::body::Body {
    use http_body_util::{BodyExt, Full};
    let body = Full::new(axum::body::Bytes::from(bytes)).map_frame(|frame| frame);
    assert!(axum::body::HttpBody::size_hint(&body).exact().is_none());
    axum::body::Body::new(body)
}

#[tokio::test]
async fn an_authenticated_post_with_broken_json_is_400_problem() {
    let res = Req::post("/v1/customers")
        .bearer(&token("ed", ["editor"]))
        .header("content-type", "application/json")
        .body("{\"name\": \"secret-value-xyz")
        .send(&app())
        .await;
    let problem = res.problem(400, "bad_request");
    assert!(!res.text().contains("secret-value-xyz"), "{problem}");
}

#[tokio::test]
async fn an_authenticated_post_with_a_wrong_content_type_is_415_problem() {
    let res = Req::post("/v1/customers")
        .bearer(&token("ed", ["editor"]))
        .header("content-type", "text/plain")
        .body(r#"{"name": "Bob", "email": "bob@example.com"}"#)
        .send(&app())
        .await;
    res.problem(415, "bad_request");
}

// ---------------------------------------------------------------------------------------
// Credentials in the URL

#[tokio::test]
async fn credentials_in_the_query_string_are_refused_with_400() {
    let app = app();
    let token = token("alice", ["viewer"]);
    for query in [
        format!("access_token={token}"),
        "api_key=k-123".to_owned(),
        format!("ACCESS_TOKEN={token}"),
        "Api_Key=k-123".to_owned(),
        format!("access%5Ftoken={token}"),
        format!("%61ccess_token={token}"),
        "page=2&apikey=k-123".to_owned(),
        "x-api-key".to_owned(),
        format!("access_token[]={token}"),
        format!("access_token%5B0%5D={token}"),
    ] {
        let uri = format!("/v1/customers?{query}");
        // Without a header, and with a valid one: a leaked credential is refused either way.
        let res = Req::get(&uri).send(&app).await;
        res.assert_invalid_request();
        res.assert_leaks_nothing_of(&token);
        let res = Req::get(&uri).bearer(&token).send(&app).await;
        res.assert_invalid_request();
    }
}

#[tokio::test]
async fn credentials_in_the_query_string_are_refused_on_public_routes_too() {
    let app = app();
    for uri in [
        "/health?access_token=abc",
        "/health?API_KEY=abc",
        "/v1/ping?token=abc",
    ] {
        let res = Req::get(uri).client_ip("192.0.2.1").send(&app).await;
        res.assert_invalid_request();
    }
}

#[tokio::test]
async fn ordinary_query_parameters_are_not_mistaken_for_credentials() {
    let res = Req::get("/v1/customers?page=2&sort=name&tokens=3")
        .bearer(&token("alice", ["viewer"]))
        .send(&app())
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

// ---------------------------------------------------------------------------------------
// Fail closed

#[tokio::test]
async fn a_secured_handler_without_the_layer_refuses_with_500() {
    // The layer was forgotten: the handler must not run, with or without a valid token.
    let app = Router::new()
        .route("/v1/customers", get(handlers::list_customers))
        .route("/health", get(handlers::health));
    for req in [
        Req::get("/v1/customers").bearer(&token("alice", ["admin"])),
        Req::get("/v1/customers"),
        Req::get("/health"),
    ] {
        let res = req.send(&app).await;
        let problem = res.problem(500, "server_error");
        let text = res.text().to_lowercase();
        for internal in ["layer", "security", "handler", "list_customers", "panic"] {
            assert!(!text.contains(internal), "{internal} leaked: {problem}");
        }
    }
}

#[tokio::test]
async fn a_per_ip_limit_without_a_known_client_address_refuses_with_500() {
    // No ConnectInfo and no ClientIp: the limit cannot be applied, so the route is denied
    // rather than left unthrottled.
    let res = Req::get("/v1/ping").send(&app()).await;
    res.problem(500, "server_error");
}

#[tokio::test]
async fn a_principal_the_application_puts_in_the_extensions_is_extracted_behind_the_layer() {
    use secure_api::Principal;
    // A route without `#[secure]`, behind the layer, whose own middleware authenticates:
    // the guard keeps its principals in the request's slot, and the extractor still finds
    // this one.
    async fn whoami(principal: Option<Principal>) -> String {
        principal.map_or_else(|| "nobody".to_owned(), |p| p.subject().to_owned())
    }
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route_layer(axum::middleware::map_request(
            |mut request: axum::extract::Request| async move {
                if request.headers().contains_key("x-service") {
                    request.extensions_mut().insert(Principal::new(
                        "svc",
                        ["viewer"],
                        [] as [&str; 0],
                    ));
                }
                request
            },
        ))
        .layer(security().layer());
    let res = Req::get("/whoami")
        .header("x-service", "1")
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "svc");
    let res = Req::get("/whoami").send(&app).await;
    assert_eq!(res.text(), "nobody");
}

#[tokio::test]
async fn a_principal_in_the_extensions_neither_authenticates_nor_replaces_the_tokens() {
    use secure_api::Principal;
    // Middleware inside the layer puts its own principal in every request: on a `#[secure]`
    // route the guard still authenticates the token alone, and the handler gets the token's
    // principal.
    let app = Router::new()
        .route("/v1/me", get(handlers::me))
        .route_layer(axum::middleware::map_request(
            |mut request: axum::extract::Request| async move {
                request.extensions_mut().insert(Principal::new(
                    "mallory",
                    ["admin"],
                    [] as [&str; 0],
                ));
                request
            },
        ))
        .layer(security().layer());
    let res = Req::get("/v1/me")
        .bearer(&token("alice", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["sub"], "alice");
    assert_eq!(res.json()["roles"], json!(["viewer"]));
    Req::get("/v1/me")
        .send(&app)
        .await
        .assert_missing_credentials();
}

#[tokio::test]
async fn a_handler_with_two_guards_is_held_to_both_policies() {
    use secure_api::{Guard, Policy, PolicySource, Principal};
    // Two policies on one handler, each checked by its own guard against the same token:
    // the request needs the roles of both, and the handler sees the token's principal.
    struct Viewers;
    impl PolicySource for Viewers {
        const POLICY: &'static Policy =
            &Policy::authenticated("auth::two_guards").any_of_roles(&["viewer"]);
    }
    struct Admins;
    impl PolicySource for Admins {
        const POLICY: &'static Policy =
            &Policy::authenticated("auth::two_guards").any_of_roles(&["admin"]);
    }
    async fn both(_: Guard<Viewers>, _: Guard<Admins>, principal: Principal) -> String {
        principal.subject().to_owned()
    }
    let app = Router::new()
        .route("/both", get(both))
        .layer(security().layer());
    let res = Req::get("/both")
        .bearer(&token("alice", ["viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 403, "{}", res.text());
    let res = Req::get("/both")
        .bearer(&token("root", ["admin", "viewer"]))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "root");
}

#[tokio::test]
async fn a_token_seen_before_is_refused_once_its_expiry_has_passed() {
    // The second request finds the principal built by the first: the expiry still holds.
    let security = builder().leeway(std::time::Duration::ZERO).build().unwrap();
    let app = app_with(&security);
    let token = Claims::new("ann").roles(["viewer"]).exp_in(1).hs256();
    let res = Req::get("/v1/customers").bearer(&token).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let res = Req::get("/v1/customers").bearer(&token).send(&app).await;
    res.assert_invalid_token();
}

#[tokio::test]
async fn claims_seen_before_do_not_vouch_for_another_signature() {
    // A token accepted once is reused without its MAC being checked again, but only as the
    // very same token: its `header.payload` with any other signature is 401, warm cache
    // or not, and the token itself keeps working.
    let app = app();
    let token = token("sam", ["viewer"]);
    let res = Req::get("/v1/customers").bearer(&token).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let mut altered = signature.as_bytes().to_vec();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for forged in [
        format!("{signing_input}.{altered}"),
        format!("{signing_input}.{}", &signature[..signature.len() - 2]),
    ] {
        Req::get("/v1/customers")
            .bearer(&forged)
            .send(&app)
            .await
            .assert_invalid_token();
    }
    let res = Req::get("/v1/customers").bearer(&token).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn a_signature_seen_before_does_not_vouch_for_other_claims() {
    // The signature of an accepted token, put on claims of the client's choosing: it does
    // not verify over them, and a reused principal belongs to its own `header.payload`
    // only, so the forgery is 401 with a warm cache.
    let app = app();
    let viewer = token("vera", ["viewer"]);
    let res = Req::get("/v1/customers").bearer(&viewer).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let admin = token("vera", ["admin"]);
    let [_, admin_payload, _]: [&str; 3] = admin.split('.').collect::<Vec<_>>().try_into().unwrap();
    let [viewer_header, _, viewer_signature]: [&str; 3] =
        viewer.split('.').collect::<Vec<_>>().try_into().unwrap();
    let forged = format!("{viewer_header}.{admin_payload}.{viewer_signature}");
    let res = Req::delete("/v1/customers/1")
        .bearer(&forged)
        .send(&app)
        .await;
    res.assert_invalid_token();
    // Each token keeps its own principal: the viewer, seen before, is still no admin.
    let res = Req::delete("/v1/customers/1")
        .bearer(&viewer)
        .send(&app)
        .await;
    assert_eq!(res.status, 403, "{}", res.text());
    let res = Req::delete("/v1/customers/1")
        .bearer(&admin)
        .send(&app)
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let res = Req::delete("/v1/customers/1")
        .bearer(&viewer)
        .send(&app)
        .await;
    assert_eq!(res.status, 403, "{}", res.text());
}
