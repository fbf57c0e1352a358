//! Each asymmetric key family verifies a token its private key signed, and refuses one
//! signed by another key of the same family or with another algorithm.

use jsonwebtoken::{Algorithm, EncodingKey};
use secure_api::JwtKey;

use crate::support::*;

struct Family {
    name: &'static str,
    server_key: JwtKey,
    algorithms: &'static [Algorithm],
    alg: Algorithm,
    right: EncodingKey,
    wrong: EncodingKey,
}

async fn check(family: Family) {
    let security = builder()
        .jwt_key(family.server_key)
        .algorithms(family.algorithms.iter().copied())
        .build()
        .unwrap_or_else(|e| panic!("{}: {e}", family.name));
    let app = app_with(&security);
    let claims = Claims::new("alice").roles(["viewer"]);

    let good = claims.sign(family.alg, &family.right);
    let res = Req::get("/v1/customers").bearer(&good).send(&app).await;
    assert_eq!(res.status, 200, "{}: {}", family.name, res.text());

    let forged = claims.sign(family.alg, &family.wrong);
    let res = Req::get("/v1/customers").bearer(&forged).send(&app).await;
    assert_eq!(
        res.status,
        401,
        "{}: other key: {}",
        family.name,
        res.text()
    );
    res.assert_invalid_token();

    // The configured secret of the HMAC app means nothing here.
    let hmac = claims.hs256();
    let res = Req::get("/v1/customers").bearer(&hmac).send(&app).await;
    assert_eq!(res.status, 401, "{}: HS256: {}", family.name, res.text());
}

#[tokio::test]
async fn rs256_accepts_its_key_and_refuses_another() {
    check(Family {
        name: "RS256",
        server_key: JwtKey::rsa_pem(fixture("rsa_public.pem")),
        algorithms: &[Algorithm::RS256],
        alg: Algorithm::RS256,
        right: rsa_signing_key("rsa_private.pem"),
        wrong: rsa_signing_key("rsa2_private.pem"),
    })
    .await;
}

#[tokio::test]
async fn ps256_accepts_its_key_and_refuses_another() {
    check(Family {
        name: "PS256",
        server_key: JwtKey::rsa_pem(fixture("rsa_public.pem")),
        algorithms: &[Algorithm::PS256],
        alg: Algorithm::PS256,
        right: rsa_signing_key("rsa_private.pem"),
        wrong: rsa_signing_key("rsa2_private.pem"),
    })
    .await;
}

#[tokio::test]
async fn es256_accepts_its_key_and_refuses_another() {
    check(Family {
        name: "ES256",
        server_key: JwtKey::ec_pem(fixture("ec_public.pem")),
        algorithms: &[Algorithm::ES256],
        alg: Algorithm::ES256,
        right: ec_signing_key("ec_private.pem"),
        wrong: ec_signing_key("ec2_private.pem"),
    })
    .await;
}

#[tokio::test]
async fn eddsa_accepts_its_key_and_refuses_another() {
    check(Family {
        name: "EdDSA",
        server_key: JwtKey::ed_pem(fixture("ed_public.pem")),
        algorithms: &[Algorithm::EdDSA],
        alg: Algorithm::EdDSA,
        right: ed_signing_key("ed_private.pem"),
        wrong: ed_signing_key("ed2_private.pem"),
    })
    .await;
}

#[tokio::test]
async fn the_default_algorithm_of_an_rsa_key_is_rs256_only() {
    // No allow-list given: RS256 passes, PS256 and RS512 (same key!) do not.
    let security = builder()
        .jwt_key(JwtKey::rsa_pem(fixture("rsa_public.pem")))
        .build()
        .unwrap();
    let app = app_with(&security);
    let claims = Claims::new("alice");
    let key = rsa_signing_key("rsa_private.pem");
    let res = Req::get("/v1/me")
        .bearer(&claims.sign(Algorithm::RS256, &key))
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    for alg in [Algorithm::PS256, Algorithm::RS512] {
        let res = Req::get("/v1/me")
            .bearer(&claims.sign(alg, &key))
            .send(&app)
            .await;
        res.assert_invalid_token();
    }
}

#[tokio::test]
async fn an_allow_list_of_several_rsa_algorithms_accepts_each_of_them() {
    let security = builder()
        .jwt_key(JwtKey::rsa_pem(fixture("rsa_public.pem")))
        .algorithms([Algorithm::PS256, Algorithm::RS256])
        .build()
        .unwrap();
    let app = app_with(&security);
    let key = rsa_signing_key("rsa_private.pem");
    for alg in [Algorithm::PS256, Algorithm::RS256] {
        let res = Req::get("/v1/me")
            .bearer(&Claims::new("alice").sign(alg, &key))
            .send(&app)
            .await;
        assert_eq!(res.status, 200, "{alg:?}: {}", res.text());
    }
    let res = Req::get("/v1/me")
        .bearer(&Claims::new("alice").sign(Algorithm::PS512, &key))
        .send(&app)
        .await;
    res.assert_invalid_token();
}
