//! The JWT attack catalogue: each forged, stale or misdirected token is refused with the
//! same 401 (400 when the request itself is malformed), and the handler never runs.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use secure_api::JwtKey;
use serde_json::{Value, json};

use crate::support::*;

/// A route any authenticated principal may call, so only authentication is exercised.
const ROUTE: &str = "/v1/me";

async fn assert_refused_401(app: &axum::Router, token: &str, what: &str) {
    let res = Req::get(ROUTE).bearer(token).send(app).await;
    assert_eq!(res.status, 401, "{what} must be refused: {}", res.text());
    res.assert_invalid_token();
    res.assert_leaks_nothing_of(token);
}

/// The app configured for RS256 with the first RSA fixture.
fn rs256_app() -> axum::Router {
    let security = builder()
        .jwt_key(JwtKey::rsa_pem(fixture("rsa_public.pem")))
        .build()
        .unwrap();
    app_with(&security)
}

#[tokio::test]
async fn the_reference_token_is_accepted() {
    // Every attack below starts from this token; it must pass untouched.
    let res = Req::get(ROUTE)
        .bearer(&token("alice", ["viewer"]))
        .send(&app())
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

// ---------------------------------------------------------------------------------------
// Claims

#[tokio::test]
async fn an_expired_token_is_refused() {
    // Well beyond the 30 s leeway.
    let token = Claims::new("alice").exp_in(-120).hs256();
    assert_refused_401(&app(), &token, "expired").await;
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_still_accepted() {
    let token = Claims::new("alice").exp_in(-5).hs256();
    let res = Req::get(ROUTE).bearer(&token).send(&app()).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let token = Claims::new("alice").nbf_in(3600).hs256();
    assert_refused_401(&app(), &token, "future nbf").await;
}

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    let token = Claims::new("alice").iss("https://evil.example").hs256();
    assert_refused_401(&app(), &token, "wrong iss").await;
}

#[tokio::test]
async fn a_missing_issuer_is_refused() {
    let token = Claims::new("alice").without("iss").hs256();
    assert_refused_401(&app(), &token, "missing iss").await;
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    let app = app();
    let token = Claims::new("alice").aud("billing-api").hs256();
    assert_refused_401(&app, &token, "wrong aud").await;
    let token = Claims::new("alice")
        .set("aud", json!(["billing-api", "other"]))
        .hs256();
    assert_refused_401(&app, &token, "wrong aud list").await;
}

#[tokio::test]
async fn a_missing_audience_is_refused() {
    let token = Claims::new("alice").without("aud").hs256();
    assert_refused_401(&app(), &token, "missing aud").await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let token = Claims::new("alice").without("exp").hs256();
    assert_refused_401(&app(), &token, "missing exp").await;
}

#[tokio::test]
async fn a_token_without_a_subject_is_refused() {
    let app = app();
    let token = Claims::new("alice").without("sub").hs256();
    assert_refused_401(&app, &token, "missing sub").await;
    let token = Claims::new("alice").set("sub", json!("")).hs256();
    assert_refused_401(&app, &token, "empty sub").await;
    let token = Claims::new("alice").set("sub", json!(42)).hs256();
    assert_refused_401(&app, &token, "numeric sub").await;
}

#[tokio::test]
async fn time_claims_of_the_wrong_json_type_are_refused() {
    let app = app();
    let far = json!("9999999999");
    for (what, claims) in [
        ("exp as a string", Claims::new("a").set("exp", far.clone())),
        ("nbf as a string", Claims::new("a").set("nbf", json!("0"))),
        ("exp as a bool", Claims::new("a").set("exp", json!(true))),
        (
            "exp as an object",
            Claims::new("a").set("exp", json!({ "$gt": 0 })),
        ),
        (
            "exp as an array",
            Claims::new("a").set("exp", json!([9_999_999_999u64])),
        ),
        ("exp as null", Claims::new("a").set("exp", Value::Null)),
        ("exp negative", Claims::new("a").set("exp", json!(-1))),
        (
            "exp as a float in the past",
            Claims::new("a").set("exp", json!(1.5)),
        ),
        (
            "exp as a float beyond any date",
            Claims::new("a").set("exp", json!(1e300)),
        ),
        ("nbf as an object", Claims::new("a").set("nbf", json!({}))),
    ] {
        assert_refused_401(&app, &claims.hs256(), what).await;
    }
}

#[tokio::test]
async fn roles_of_the_wrong_json_type_are_refused() {
    let app = app();
    for roles in [json!("admin"), json!([1, 2]), json!({ "admin": true })] {
        let token = Claims::new("alice").set("roles", roles.clone()).hs256();
        assert_refused_401(&app, &token, &format!("roles = {roles}")).await;
    }
}

/// HS256 over a payload written verbatim (JSON that `Claims` could not express).
fn hs256_raw(header: &str, payload: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &hmac_key(SECRET),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{signing_input}.{signature}")
}

const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The registered members of a valid payload, as JSON text, to write raw payloads with.
fn registered() -> String {
    format!(
        r#""iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"iat":{}"#,
        now() + 600,
        now()
    )
}

#[tokio::test]
async fn a_raw_payload_signed_like_the_others_is_accepted() {
    // The writer of the raw payloads below is itself sound.
    let token = hs256_raw(
        HS256_HEADER,
        &format!(r#"{{"sub":"alice","roles":["viewer"],{}}}"#, registered()),
    );
    let res = Req::get(ROUTE).bearer(&token).send(&app()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["roles"], json!(["viewer"]));
}

#[tokio::test]
async fn a_claim_given_twice_is_refused() {
    // RFC 7519 4: duplicate names make a token ambiguous; a reader taking the last one
    // would grant `admin` below.
    let app = app();
    for (what, members) in [
        (
            "roles twice",
            r#""sub":"alice","roles":["viewer"],"roles":["admin"]"#,
        ),
        (
            "sub twice",
            r#""sub":"alice","sub":"root","roles":["viewer"]"#,
        ),
        (
            "scope twice",
            r#""sub":"alice","scope":"a","scope":"admin""#,
        ),
    ] {
        let token = hs256_raw(HS256_HEADER, &format!("{{{members},{}}}", registered()));
        assert_refused_401(&app, &token, what).await;
    }
    let token = hs256_raw(
        HS256_HEADER,
        &format!(
            r#"{{"sub":"alice",{},"exp":{}}}"#,
            registered(),
            now() + 99_999
        ),
    );
    assert_refused_401(&app, &token, "exp twice").await;
}

#[tokio::test]
async fn a_header_or_payload_that_is_not_a_json_object_is_refused() {
    let app = app();
    let payload = format!(r#"{{"sub":"alice",{}}}"#, registered());
    for (what, header, payload) in [
        (
            "header as an array",
            r#"["HS256"]"#.to_owned(),
            payload.clone(),
        ),
        (
            "header as a string",
            r#""HS256""#.to_owned(),
            payload.clone(),
        ),
        (
            "header with two algs",
            r#"{"alg":"HS256","alg":"none"}"#.to_owned(),
            payload.clone(),
        ),
        (
            "payload as an array",
            HS256_HEADER.to_owned(),
            format!(r#"["alice",{}]"#, now() + 600),
        ),
        (
            "trailing bytes after the payload",
            HS256_HEADER.to_owned(),
            format!("{payload}{{}}"),
        ),
        (
            "nesting beyond the JSON depth limit",
            HS256_HEADER.to_owned(),
            format!(
                r#"{{"sub":"alice",{},"x":{}{}}}"#,
                registered(),
                "[".repeat(200),
                "]".repeat(200)
            ),
        ),
    ] {
        assert_refused_401(&app, &hs256_raw(&header, &payload), what).await;
    }
}

#[tokio::test]
async fn every_claim_reaches_the_handler_as_signed() {
    // Claims the verifier does not read itself are kept, escapes and nesting included.
    let token = Claims::new("al\"ice")
        .roles(["viewer"])
        .set("tenant", json!({ "id": 7, "tags": ["a\u{e9}", null] }))
        .set("exp", json!(now() as f64 + 600.25))
        .hs256();
    let res = Req::get(ROUTE).bearer(&token).send(&app()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["sub"], "al\"ice");
    assert_eq!(
        body["claims"]["tenant"],
        json!({ "id": 7, "tags": ["a\u{e9}", null] })
    );
    assert_eq!(body["claims"]["iss"], ISSUER);
}

// ---------------------------------------------------------------------------------------
// Keys and algorithms

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let token = Claims::new("alice").roles(["admin"]).sign(
        Algorithm::HS256,
        &hmac_key(b"another-secret-of-at-least-32-bytes!!"),
    );
    assert_refused_401(&app(), &token, "wrong key").await;
}

#[tokio::test]
async fn alg_none_is_refused_in_every_spelling() {
    let app = app();
    let claims = Claims::new("mallory").roles(["admin"]);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT" });
        for signature in ["", "c2lnbmF0dXJl", "AAAA"] {
            let token = claims.unsigned(&header, signature);
            assert_refused_401(&app, &token, &format!("alg {alg}, sig {signature:?}")).await;
        }
    }
}

#[tokio::test]
async fn an_algorithm_outside_the_allow_list_is_refused_even_with_the_right_key() {
    let app = app();
    let claims = Claims::new("alice").roles(["viewer"]);
    for alg in [Algorithm::HS512, Algorithm::HS384] {
        let token = claims.sign(alg, &hmac_key(SECRET));
        assert_refused_401(&app, &token, &format!("{alg:?}")).await;
    }
}

#[tokio::test]
async fn key_confusion_hs256_signed_with_the_rsa_public_key_is_refused() {
    // The classic: the server verifies RS256 with a public key; the attacker uses that
    // public key's PEM bytes as an HMAC secret.
    let app = rs256_app();
    let pem = fixture("rsa_public.pem");
    let claims = Claims::new("mallory").roles(["admin"]);
    let token = claims.sign(Algorithm::HS256, &hmac_key(&pem));
    assert_refused_401(&app, &token, "HS256 with the PEM as secret").await;
    let trimmed = String::from_utf8(pem).unwrap();
    let token = claims.sign(Algorithm::HS256, &hmac_key(trimmed.trim().as_bytes()));
    assert_refused_401(&app, &token, "HS256 with the trimmed PEM as secret").await;
    // And the legitimate RS256 token passes the same app.
    let good = claims.sign(Algorithm::RS256, &rsa_signing_key("rsa_private.pem"));
    let res = Req::get(ROUTE).bearer(&good).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

// ---------------------------------------------------------------------------------------
// Tampering

#[tokio::test]
async fn a_stripped_signature_is_refused() {
    let token = token("alice", ["viewer"]);
    let [h, p, _] = segments(&token);
    assert_refused_401(&app(), &format!("{h}.{p}."), "a.b.").await;
}

#[tokio::test]
async fn a_truncated_signature_is_refused() {
    let app = app();
    let token = token("alice", ["viewer"]);
    for cut in [1, 4, 20] {
        let truncated = &token[..token.len() - cut];
        assert_refused_401(&app, truncated, &format!("{cut} chars cut")).await;
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let token = token("vera", ["viewer"]);
    let [h, p, s] = segments(&token);
    let mut claims = decode_segment(p);
    claims["roles"] = json!(["admin"]);
    let forged = format!("{h}.{}.{s}", b64url(claims.to_string().as_bytes()));
    assert_refused_401(&app(), &forged, "roles flipped to admin").await;
}

#[tokio::test]
async fn a_tampered_header_is_refused() {
    let app = app();
    let token = token("vera", ["viewer"]);
    let [h, p, s] = segments(&token);
    let mut header = decode_segment(h);
    header["kid"] = json!("other");
    let forged = format!("{}.{p}.{s}", b64url(header.to_string().as_bytes()));
    assert_refused_401(&app, &forged, "kid added to the header").await;
    let mut header = decode_segment(h);
    header["alg"] = json!("HS512");
    let forged = format!("{}.{p}.{s}", b64url(header.to_string().as_bytes()));
    assert_refused_401(&app, &forged, "alg changed in the header").await;
}

#[tokio::test]
async fn extra_segments_and_padding_are_refused() {
    let app = app();
    let token = token("alice", ["viewer"]);
    assert_refused_401(&app, &format!("{token}.AAAA"), "four segments").await;
    let [h, p, s] = segments(&token);
    assert_refused_401(&app, &format!("{h}.{p}"), "two segments").await;
    assert_refused_401(&app, &format!("{token}="), "padded signature").await;
    assert_refused_401(&app, &format!("{h}.{p}.{s}+/"), "standard base64 alphabet").await;
    // `=` inside the value is not a b64token at all: the header is malformed.
    let res = Req::get(ROUTE)
        .bearer(&format!("{h}=.{p}.{s}"))
        .send(&app)
        .await;
    res.assert_invalid_request();
}

// ---------------------------------------------------------------------------------------
// Header-supplied keys: never trusted

#[tokio::test]
async fn an_embedded_jwk_signed_with_the_attackers_key_is_refused() {
    // Asymmetric server: the attacker embeds their own RSA public key and signs with it.
    let app = rs256_app();
    let attacker = rsa_signing_key("rsa2_private.pem");
    let jwk = Jwk::from_encoding_key(&attacker, Algorithm::RS256).unwrap();
    let header = json!({ "alg": "RS256", "typ": "JWT", "jwk": jwk });
    let token = Claims::new("mallory").roles(["admin"]).sign_with_header(
        &header,
        Algorithm::RS256,
        &attacker,
    );
    assert_refused_401(&app, &token, "embedded RSA jwk").await;
    // Control: the same header on a token the configured key signed is accepted, so the
    // refusal above is the signature check, not a header the parser chokes on.
    let control = Claims::new("alice").sign_with_header(
        &header,
        Algorithm::RS256,
        &rsa_signing_key("rsa_private.pem"),
    );
    let res = Req::get(ROUTE).bearer(&control).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());

    // HMAC server: the attacker embeds an `oct` key and signs with that secret.
    let attacker_secret = b"attacker-chosen-hmac-secret-0123456789";
    let oct = json!({ "kty": "oct", "k": b64url(attacker_secret) });
    let header = json!({ "alg": "HS256", "typ": "JWT", "jwk": oct });
    let token = Claims::new("mallory").roles(["admin"]).sign_with_header(
        &header,
        Algorithm::HS256,
        &hmac_key(attacker_secret),
    );
    let hmac_app = crate::support::app();
    assert_refused_401(&hmac_app, &token, "embedded oct jwk").await;
    let control =
        Claims::new("alice").sign_with_header(&header, Algorithm::HS256, &hmac_key(SECRET));
    let res = Req::get(ROUTE).bearer(&control).send(&hmac_app).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn jku_and_x5u_pointing_elsewhere_are_ignored() {
    let app = rs256_app();
    let attacker = rsa_signing_key("rsa2_private.pem");
    for header in [
        json!({ "alg": "RS256", "jku": "https://attacker.example/jwks.json" }),
        json!({ "alg": "RS256", "x5u": "https://attacker.example/cert.pem" }),
        json!({ "alg": "RS256", "jku": "https://attacker.example/jwks.json", "kid": "1" }),
    ] {
        let token = Claims::new("mallory").roles(["admin"]).sign_with_header(
            &header,
            Algorithm::RS256,
            &attacker,
        );
        assert_refused_401(&app, &token, &header.to_string()).await;
        let control = Claims::new("alice").sign_with_header(
            &header,
            Algorithm::RS256,
            &rsa_signing_key("rsa_private.pem"),
        );
        let res = Req::get(ROUTE).bearer(&control).send(&app).await;
        assert_eq!(res.status, 200, "{header}: {}", res.text());
    }
}

#[tokio::test]
async fn kid_tricks_are_refused() {
    let app = app();
    let claims = Claims::new("mallory").roles(["admin"]);
    // HMAC pads keys with zeros to the block size, so a one-zero-byte key gives exactly the
    // MAC of an empty key (the secret "read" from /dev/null); jsonwebtoken refuses to build
    // an empty EncodingKey.
    let empty_secret = EncodingKey::from_secret(&[0u8]).unwrap();
    for (kid, key) in [
        ("../../dev/null", &empty_secret),
        ("/dev/null", &empty_secret),
        ("' UNION SELECT 'x", &hmac_key(b"x")),
        (
            "default",
            &hmac_key(b"attacker-chosen-hmac-secret-0123456789"),
        ),
        ("rsa_public.pem", &hmac_key(&fixture("rsa_public.pem"))),
    ] {
        let header = json!({ "alg": "HS256", "typ": "JWT", "kid": kid });
        let token = claims.sign_with_header(&header, Algorithm::HS256, key);
        assert_refused_401(&app, &token, &format!("kid {kid:?}")).await;
    }
    // A kid on a correctly signed token is simply ignored: the configured key decides.
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": "../../dev/null" });
    let token = Claims::new("alice").sign_with_header(&header, Algorithm::HS256, &hmac_key(SECRET));
    let res = Req::get(ROUTE).bearer(&token).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn an_unknown_critical_header_is_refused() {
    // RFC 7515 4.1.11: a `crit` extension the server does not understand must fail, even
    // when the signature is good.
    let header = json!({ "alg": "HS256", "crit": ["exp"], "exp": 0 });
    let token = Claims::new("alice").sign_with_header(&header, Algorithm::HS256, &hmac_key(SECRET));
    assert_refused_401(&app(), &token, "crit").await;
}

#[tokio::test]
async fn an_unencoded_payload_header_is_refused() {
    let header = json!({ "alg": "HS256", "b64": false, "crit": ["b64"] });
    let token = Claims::new("alice").sign_with_header(&header, Algorithm::HS256, &hmac_key(SECRET));
    assert_refused_401(&app(), &token, "b64: false").await;
}

// ---------------------------------------------------------------------------------------
// The Authorization header itself

#[tokio::test]
async fn another_scheme_is_401_without_an_error_code() {
    let app = app();
    for value in [
        "Basic YWxpY2U6c2VjcmV0",
        "Digest username=\"alice\"",
        "Token abc",
    ] {
        let res = Req::get(ROUTE)
            .header("authorization", value)
            .send(&app)
            .await;
        res.assert_missing_credentials();
    }
}

#[tokio::test]
async fn two_authorization_headers_are_400() {
    let good = token("alice", ["viewer"]);
    let res = Req::get(ROUTE)
        .bearer(&good)
        .bearer(&good)
        .send(&app())
        .await;
    res.assert_invalid_request();
    res.assert_leaks_nothing_of(&good);
}

#[tokio::test]
async fn bearer_without_a_token_is_400() {
    let app = app();
    for value in ["Bearer", "Bearer ", "Bearer    ", "Bearer ===="] {
        let res = Req::get(ROUTE)
            .header("authorization", value)
            .send(&app)
            .await;
        res.assert_invalid_request();
    }
}

#[tokio::test]
async fn a_token_longer_than_8_kib_is_refused_even_if_correctly_signed() {
    let token = Claims::new("alice")
        .set("padding", json!("p".repeat(9 * 1024)))
        .hs256();
    assert!(token.len() > 8 * 1024);
    assert_refused_401(&app(), &token, "9 KiB token").await;
}

#[tokio::test]
async fn a_non_ascii_authorization_header_is_400() {
    let token = token("alice", ["viewer"]);
    let value = format!("Bearer {token}\u{e9}");
    let res = Req::get(ROUTE)
        .header_bytes("authorization", value.as_bytes())
        .send(&app())
        .await;
    res.assert_invalid_request();
    res.assert_leaks_nothing_of(&token);
}

// ---------------------------------------------------------------------------------------
// One answer for every failure

#[tokio::test]
async fn bad_signature_and_expiry_get_byte_identical_refusals() {
    let app = app();
    let bad_signature = Claims::new("alice").sign(
        Algorithm::HS256,
        &hmac_key(b"another-secret-of-at-least-32-bytes!!"),
    );
    let expired = Claims::new("alice").exp_in(-3600).hs256();
    let wrong_issuer = Claims::new("alice").iss("https://evil.example").hs256();
    let a = Req::get(ROUTE).bearer(&bad_signature).send(&app).await;
    let b = Req::get(ROUTE).bearer(&expired).send(&app).await;
    let c = Req::get(ROUTE).bearer(&wrong_issuer).send(&app).await;
    a.assert_invalid_token();
    // Identical but for the id of each request.
    let (a_body, b_body, c_body) = (
        a.without_request_id(),
        b.without_request_id(),
        c.without_request_id(),
    );
    assert_eq!(a_body, b_body, "{} vs {}", a.text(), b.text());
    assert_eq!(a_body, c_body, "{} vs {}", a.text(), c.text());
    assert_eq!(a.www_authenticate(), b.www_authenticate());
    assert_eq!(a.www_authenticate(), c.www_authenticate());
}
