//! The JWT attack catalogue over real HTTP against the running quickstart
//! (`examples/customer_api.rs`, started on a free loopback port with a known secret). Every
//! forged, stale or misdirected token is refused, and none reaches a handler: the attacks
//! POST a valid customer with an admin claim, and afterwards the customer list is
//! unchanged, `/metrics` counts no new allowed decision on the attacked route, and the
//! audit log never names the attacker's subject (it is only logged once a token verified).

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::example_process::ExampleProcess;
use crate::support::*;

const ATTACKER: &str = "mallory-over-http";
const ROUTE: &str = "/v1/customers";
const BODY: &str = r#"{"name":"Mallory","email":"mallory@example.com"}"#;

/// The attacker's claims: every role, valid times, the right issuer and audience.
fn claims() -> Claims {
    Claims::new(ATTACKER).roles(["admin", "editor", "viewer"])
}

fn unsigned_header(alg: &str) -> Value {
    json!({ "alg": alg, "typ": "JWT" })
}

/// Every attack of the catalogue, named.
fn catalogue() -> Vec<(String, String)> {
    let mut attacks: Vec<(String, String)> = Vec::new();
    let mut add = |what: &str, token: String| attacks.push((what.to_owned(), token));
    let attacker_secret = hmac_key(b"attacker-chosen-hmac-secret-0123456789");

    // alg none in every spelling, with empty, blank and made-up signatures.
    for alg in ["none", "None", "NONE", "nOnE"] {
        add(
            &format!("alg {alg}, empty signature"),
            claims().unsigned(&unsigned_header(alg), ""),
        );
        add(
            &format!("alg {alg}, signature AA"),
            claims().unsigned(&unsigned_header(alg), "AA"),
        );
    }
    // A correct header with the signature stripped, null, or blank.
    let honest = claims().hs256();
    let [h, p, _] = segments(&honest);
    add("stripped signature", format!("{h}.{p}."));
    add("signature `null`", format!("{h}.{p}.null"));
    add(
        "signature of zero bytes",
        format!("{h}.{p}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    add("two segments", format!("{h}.{p}"));
    // Signed with another key or algorithm.
    add(
        "another HMAC secret",
        claims().sign(Algorithm::HS256, &attacker_secret),
    );
    add(
        "RS256 by the attacker",
        claims().sign(Algorithm::RS256, &rsa_signing_key("rsa2_private.pem")),
    );
    add(
        "RS/HS confusion: HS256 keyed with an RSA public key",
        claims().sign(Algorithm::HS256, &hmac_key(&fixture("rsa_public.pem"))),
    );
    add(
        "HS512 with the attacker's key",
        claims().sign(Algorithm::HS512, &attacker_secret),
    );
    // Keys and key locations in the header.
    let attacker_k = b64url(b"attacker-chosen-hmac-secret-0123456789");
    add(
        "embedded oct jwk",
        claims().sign_with_header(
            &json!({ "alg": "HS256", "jwk": { "kty": "oct", "k": attacker_k } }),
            Algorithm::HS256,
            &attacker_secret,
        ),
    );
    for header in [
        json!({ "alg": "HS256", "jku": "http://127.0.0.1:9/jwks.json" }),
        json!({ "alg": "HS256", "x5u": "http://127.0.0.1:9/cert.pem" }),
        json!({ "alg": "HS256", "jku": "http://127.0.0.1:9/jwks.json", "kid": "1" }),
    ] {
        add(
            &format!("header {header}"),
            claims().sign_with_header(&header, Algorithm::HS256, &attacker_secret),
        );
    }
    // kid injection: the key "read" from /dev/null, SQL, a file name.
    let empty_secret = EncodingKey::from_secret(&[0u8]).unwrap();
    for (kid, key) in [
        ("../../../../../../dev/null", &empty_secret),
        ("/dev/null", &empty_secret),
        ("' UNION SELECT 'x' --", &hmac_key(b"x")),
        ("1; DROP TABLE keys", &hmac_key(b"x")),
        ("rsa_public.pem", &hmac_key(&fixture("rsa_public.pem"))),
    ] {
        add(
            &format!("kid {kid:?}"),
            claims().sign_with_header(
                &json!({ "alg": "HS256", "kid": kid }),
                Algorithm::HS256,
                key,
            ),
        );
    }
    // Claims of the wrong type, stale or misdirected, signed with the real secret.
    for (what, claims) in [
        ("exp as a string", claims().set("exp", json!("9999999999"))),
        ("exp as an object", claims().set("exp", json!({ "$gt": 0 }))),
        ("nbf as a string", claims().set("nbf", json!("0"))),
        ("roles as a string", claims().set("roles", json!("admin"))),
        (
            "roles as an object",
            claims().set("roles", json!({ "admin": true })),
        ),
        (
            "aud as a foreign array",
            claims().set("aud", json!(["billing-api", "other"])),
        ),
        (
            "aud as a nested array",
            claims().set("aud", json!([["customer-api"]])),
        ),
        ("aud as a number", claims().set("aud", json!(42))),
        ("sub as a number", claims().set("sub", json!(42))),
        ("expired", claims().exp_in(-3600)),
        ("nbf in the future", claims().nbf_in(3600)),
        ("foreign audience", claims().aud("billing-api")),
        ("foreign issuer", claims().iss("https://attacker.example")),
        ("no exp", claims().without("exp")),
        ("unknown crit header", claims()),
    ] {
        let token = if what == "unknown crit header" {
            claims.sign_with_header(
                &json!({ "alg": "HS256", "crit": ["exp-ext"], "exp-ext": true }),
                Algorithm::HS256,
                &hmac_key(SECRET),
            )
        } else {
            claims.hs256()
        };
        add(what, token);
    }
    // Oversize: a correctly signed token beyond 8 KiB.
    add(
        "oversize token",
        claims().set("pad", json!("x".repeat(9 * 1024))).hs256(),
    );
    // Duplicate claims: a viewer token whose payload repeats `roles` and `sub`, signed with
    // the real secret, hoping a lenient parser keeps the second one.
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let now = now();
    let payload = format!(
        r#"{{"sub":"viewer-1","roles":["viewer"],"iss":"customer-api","aud":"customer-api","exp":{},"sub":"{ATTACKER}","roles":["admin"]}}"#,
        now + 600
    );
    let input = format!("{header}.{}", b64url(payload.as_bytes()));
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &hmac_key(SECRET), Algorithm::HS256).unwrap();
    add("duplicate sub and roles", format!("{input}.{signature}"));
    attacks
}

/// `secure_api_decisions_total` with outcome `allowed` on `route`, summed over its labels.
fn allowed_decisions(metrics: &str, route: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("secure_api_decisions_total{"))
        .filter(|l| l.contains(&format!("route=\"{route}\"")) && l.contains("outcome=\"allowed\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn the_attack_catalogue_is_refused_over_http_and_reaches_no_handler() {
    let secret = std::str::from_utf8(SECRET).unwrap();
    let server = ExampleProcess::start(
        "customer_api",
        &[],
        "SECURE_API_ADDR",
        &[("SECURE_API_JWT_SECRET", secret), ("RUST_LOG", "info")],
        "customer_api listening",
    );
    let admin = format!("Bearer {}", token("auditor-control", ["admin"]));
    let viewer = format!("Bearer {}", token("viewer-control", ["viewer"]));
    let list = |server: &ExampleProcess| {
        let (status, body) = server.request("GET", ROUTE, &[("Authorization", &viewer)], None);
        assert_eq!(status, 200, "{body}");
        body
    };
    let metrics = |server: &ExampleProcess| {
        let (status, body) = server.request("GET", "/metrics", &[("Authorization", &admin)], None);
        assert_eq!(status, 200, "{body}");
        body
    };
    let customers_before = list(&server);
    let allowed_before = allowed_decisions(&metrics(&server), ROUTE);
    assert!(
        allowed_before >= 1.0,
        "the control request is counted as allowed"
    );

    let attacks = catalogue();
    assert!(attacks.len() >= 40, "{} attacks", attacks.len());
    for (what, token) in &attacks {
        let bearer = format!("Bearer {token}");
        let (status, body) =
            server.request("POST", ROUTE, &[("Authorization", &bearer)], Some(BODY));
        // 401 for every bad token; 400 or 431 only where the request itself is refused
        // before the token is read (an oversize header).
        let refused = status == 401 || (what == "oversize token" && matches!(status, 400 | 431));
        assert!(refused, "{what}: status {status}: {body}");
        assert!(
            !body.contains(token.as_str()),
            "{what}: the token is echoed"
        );
        assert!(!body.contains(secret), "{what}: the secret is echoed");
        let (status, _) = server.request("GET", "/v1/me", &[("Authorization", &bearer)], None);
        assert!(
            status == 401 || status == 400 || status == 431,
            "{what}: GET /v1/me {status}"
        );
    }

    // Nothing reached a handler.
    assert_eq!(
        list(&server),
        customers_before,
        "an attack created a customer"
    );
    let after = metrics(&server);
    // The two list calls are the only allowed decisions since.
    assert_eq!(
        allowed_decisions(&after, ROUTE),
        allowed_before + 1.0,
        "{after}"
    );
    assert_eq!(allowed_decisions(&after, "/v1/me"), 0.0, "{after}");
    let log = server.log();
    assert!(
        log.contains("viewer-control"),
        "the audit log names verified principals: {log}"
    );
    assert!(log.contains("refused"), "the audit log records refusals");
    assert!(
        !log.contains(ATTACKER),
        "an attack token was verified: {}",
        log.lines()
            .filter(|l| l.contains(ATTACKER))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // And the control: the same request with an honest editor token does reach the handler.
    let honest = format!("Bearer {}", token("editor-control", ["editor"]));
    let (status, body) = server.request("POST", ROUTE, &[("Authorization", &honest)], Some(BODY));
    assert_eq!(status, 201, "{body}");
    assert_ne!(list(&server), customers_before);
}
