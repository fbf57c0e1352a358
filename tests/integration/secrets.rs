//! No refusal gives away the token, the secret or the server's internals.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn no_refusal_contains_the_token_or_the_secret() {
    let (security, _clock) = security_with_clock();
    let app = app_with(&security);
    let good = token("alice", ["viewer"]);
    let expired = Claims::new("alice").exp_in(-3600).hs256();
    let forged = Claims::new("alice").roles(["admin"]).sign(
        jsonwebtoken::Algorithm::HS256,
        &hmac_key(b"another-secret-of-at-least-32-bytes!!"),
    );
    let oversized = Claims::new("alice")
        .set("padding", json!("p".repeat(9000)))
        .hs256();
    let editor = token("ed", ["editor"]);

    let mut cases: Vec<(String, Req)> = vec![
        (expired.clone(), Req::get("/v1/customers").bearer(&expired)),
        (forged.clone(), Req::get("/v1/customers").bearer(&forged)),
        (
            oversized.clone(),
            Req::get("/v1/customers").bearer(&oversized),
        ),
        (
            good.clone(),
            Req::get(&format!("/v1/customers?access_token={good}")),
        ),
        (
            good.clone(),
            Req::get(&format!("/v1/customers?access_token={good}")).bearer(&good),
        ),
        (
            good.clone(),
            Req::get("/v1/customers").bearer(&good).bearer(&good),
        ),
        (good.clone(), Req::delete("/v1/customers/1").bearer(&good)),
        (
            good.clone(),
            Req::get("/v1/customers").header("authorization", &format!("Basic {good}")),
        ),
        (
            good.clone(),
            Req::get("/v1/customers").header("authorization", &format!("Bearer {good} extra")),
        ),
        (
            editor.clone(),
            Req::post("/v1/customers")
                .bearer(&editor)
                .json(&json!({ "name": "", "email": "x" })),
        ),
        (
            editor.clone(),
            Req::post("/v1/customers")
                .bearer(&editor)
                .header("content-type", "application/json")
                .body("{broken"),
        ),
    ];
    for _ in 0..6 {
        cases.push((
            editor.clone(),
            Req::post("/v1/customers")
                .bearer(&editor)
                .json(&json!({ "name": "Bob", "email": "bob@example.com" })),
        ));
    }
    let mut statuses = std::collections::BTreeSet::new();
    for (token, req) in cases {
        let res = req.send(&app).await;
        statuses.insert(res.status.as_u16());
        if res.status.is_success() {
            continue;
        }
        res.assert_leaks_nothing_of(&token);
        let text = res.text();
        for internal in [
            "jsonwebtoken",
            "InvalidSignature",
            "ExpiredSignature",
            "serde",
            "src/",
            "panicked",
        ] {
            assert!(!text.contains(internal), "{internal} in {text}");
        }
    }
    // Every kind of refusal was produced (and checked).
    let expected = [201, 400, 401, 403, 422, 429];
    assert_eq!(statuses.into_iter().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn the_invalid_token_challenge_says_nothing_about_the_reason() {
    let app = app();
    let expired = Claims::new("alice").exp_in(-3600).hs256();
    let res = Req::get("/v1/me").bearer(&expired).send(&app).await;
    res.assert_invalid_token();
    let all = res.everything().to_lowercase();
    for reason in [
        "expired signature",
        "exp claim",
        "signature is invalid",
        "issuer",
        "audience",
    ] {
        assert!(!all.contains(reason), "{reason}: {all}");
    }
}
