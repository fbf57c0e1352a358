//! Configuration mistakes are start-up errors that name the setting at fault (and never
//! print the secret).

use std::time::Duration;

use secure_api::prelude::*;
use secure_api::{Algorithm, ConfigError};

use crate::support::*;

fn setting_of(result: Result<Security, ConfigError>) -> String {
    match result {
        Ok(_) => panic!("the configuration must be refused"),
        Err(e) => {
            assert!(!e.message().is_empty());
            assert!(
                e.to_string().contains(e.setting()),
                "the message names the setting: {e}"
            );
            e.setting().to_owned()
        }
    }
}

fn base() -> secure_api::SecurityBuilder {
    Security::builder().issuer(ISSUER).audience(AUDIENCE)
}

#[test]
fn the_test_configuration_itself_is_valid() {
    assert!(builder().build().is_ok());
}

#[test]
fn an_hmac_secret_shorter_than_32_bytes_is_refused() {
    let short = b"short-secret-31-bytes-long-xxxx";
    assert_eq!(short.len(), 31);
    let err = base().hmac_secret(short.to_vec()).build().unwrap_err();
    assert_eq!(err.setting(), "jwt.key");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("short-secret"),
        "the secret is printed: {shown}"
    );
    assert!(base().hmac_secret([7u8; 32].to_vec()).build().is_ok());
}

#[test]
fn no_key_at_all_is_refused() {
    assert_eq!(setting_of(base().build()), "jwt.key");
}

#[test]
fn a_missing_issuer_is_refused() {
    let result = Security::builder()
        .hmac_secret(SECRET.to_vec())
        .audience(AUDIENCE)
        .build();
    assert_eq!(setting_of(result), "jwt.issuer");
}

#[test]
fn an_empty_issuer_is_refused() {
    let result = Security::builder()
        .hmac_secret(SECRET.to_vec())
        .issuer("")
        .audience(AUDIENCE)
        .build();
    assert_eq!(setting_of(result), "jwt.issuer");
}

#[test]
fn an_empty_audience_is_refused() {
    let result = Security::builder()
        .hmac_secret(SECRET.to_vec())
        .issuer(ISSUER)
        .audience("")
        .build();
    assert_eq!(setting_of(result), "jwt.audience");
}

#[test]
fn a_missing_audience_is_refused() {
    let result = Security::builder()
        .hmac_secret(SECRET.to_vec())
        .issuer(ISSUER)
        .build();
    assert_eq!(setting_of(result), "jwt.audience");
}

#[test]
fn mixing_hmac_and_asymmetric_algorithms_is_refused() {
    let result = base()
        .hmac_secret(SECRET.to_vec())
        .algorithms([Algorithm::HS256, Algorithm::RS256])
        .build();
    assert_eq!(setting_of(result), "jwt.algorithms");
    let result = base()
        .jwt_key(JwtKey::rsa_pem(fixture("rsa_public.pem")))
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .build();
    assert_eq!(setting_of(result), "jwt.algorithms");
}

#[test]
fn an_algorithm_of_another_family_than_the_key_is_refused() {
    let result = base()
        .hmac_secret(SECRET.to_vec())
        .algorithms([Algorithm::RS256])
        .build();
    assert_eq!(setting_of(result), "jwt.algorithms");
    let result = base()
        .jwt_key(JwtKey::ec_pem(fixture("ec_public.pem")))
        .algorithms([Algorithm::RS256])
        .build();
    assert_eq!(setting_of(result), "jwt.algorithms");
}

#[test]
fn an_empty_algorithm_list_is_refused() {
    let result = base().hmac_secret(SECRET.to_vec()).algorithms([]).build();
    assert_eq!(setting_of(result), "jwt.algorithms");
}

#[test]
fn a_bad_pem_is_refused() {
    for key in [
        JwtKey::rsa_pem(
            b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n".to_vec(),
        ),
        JwtKey::rsa_pem(Vec::new()),
        JwtKey::ec_pem(b"garbage".to_vec()),
        JwtKey::ed_pem(b"garbage".to_vec()),
    ] {
        assert_eq!(setting_of(base().jwt_key(key).build()), "jwt.key");
    }
}

#[test]
fn a_cyclic_role_hierarchy_is_refused() {
    for chains in [
        "admin > editor > admin",
        "a > b; b > c; c > a",
        "admin > admin",
    ] {
        let result = builder().role_hierarchy(chains).build();
        assert_eq!(setting_of(result), "role_hierarchy", "{chains}");
    }
}

#[test]
fn a_zero_body_limit_is_refused() {
    assert_eq!(setting_of(builder().body_limit(0).build()), "body_limit");
}

#[test]
fn a_leeway_over_five_minutes_is_refused() {
    let result = builder().leeway(Duration::from_secs(301)).build();
    assert_eq!(setting_of(result), "jwt.leeway");
}

#[test]
fn a_realm_that_would_break_the_challenge_is_refused() {
    for realm in ["", "a\"b", "a\\b", "line\nbreak"] {
        assert_eq!(
            setting_of(builder().realm(realm).build()),
            "realm",
            "{realm:?}"
        );
    }
}

#[test]
fn the_configuration_never_prints_its_secret() {
    let security = builder().build().unwrap();
    let secret = std::str::from_utf8(SECRET).unwrap();
    let shown = format!("{security:?} {:?}", builder());
    assert!(!shown.contains(secret), "{shown}");
    let key = format!("{:?}", JwtKey::hmac(SECRET.to_vec()));
    assert!(!key.contains(secret), "{key}");
}
