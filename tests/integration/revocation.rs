//! Revoked token ids: refused with 401 on every authenticated route right after
//! authentication, until the token's expiry; a store that cannot answer fails closed (503).

use std::sync::Arc;

use secure_api::{MemoryRevocationStore, RevocationStore, StoreError, StoreResult};

use crate::support::*;

fn exp_in(secs: i64) -> u64 {
    u64::try_from(now() + secs).unwrap()
}

fn editor(jti: &str) -> String {
    Claims::new("eddie").roles(["editor"]).jti(jti).hs256()
}

#[tokio::test]
async fn a_revoked_token_is_401_and_other_tokens_are_fine() {
    let security = security();
    let app = app_with(&security);
    let (revoked, other) = (editor("t-revoked"), editor("t-other"));
    for token in [&revoked, &other] {
        let res = Req::get("/v1/customers").bearer(token).send(&app).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    security.revoke("t-revoked", exp_in(600)).await.unwrap();
    // Every authenticated route, whatever its role; public routes read no token.
    for path in ["/v1/customers", "/v1/me", "/v1/customers/1"] {
        let res = Req::get(path).bearer(&revoked).send(&app).await;
        res.assert_invalid_token();
        res.assert_leaks_nothing_of(&revoked);
    }
    let res = Req::get("/health").bearer(&revoked).send(&app).await;
    assert_eq!(res.status, 200);
    let res = Req::get("/v1/customers").bearer(&other).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let without_jti = Claims::new("eddie").roles(["editor"]).hs256();
    let res = Req::get("/v1/customers")
        .bearer(&without_jti)
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn revocation_is_checked_before_the_roles() {
    let security = security();
    let app = app_with(&security);
    // A viewer's token on an admin route: a revoked one is 401, not 403.
    let token = Claims::new("v").roles(["viewer"]).jti("t-v").hs256();
    security.revoke("t-v", exp_in(600)).await.unwrap();
    Req::delete("/v1/customers/1")
        .bearer(&token)
        .send(&app)
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn an_entry_lasts_until_the_tokens_expiry_plus_leeway() {
    let security = builder()
        .leeway(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let app = app_with(&security);
    // Expired (with leeway) before it was revoked: nothing is kept, the token is refused
    // by its expiry anyway.
    security.revoke("t-past", exp_in(-60)).await.unwrap();
    // Its `exp` is within the leeway of now: the entry still stands.
    let recent = Claims::new("eddie")
        .roles(["editor"])
        .jti("t-recent")
        .exp_in(-2)
        .hs256();
    security.revoke("t-recent", exp_in(-2)).await.unwrap();
    Req::get("/v1/customers")
        .bearer(&recent)
        .send(&app)
        .await
        .assert_invalid_token();
    // A token that reuses the id of the expired entry is not refused by it.
    let reused = editor("t-past");
    let res = Req::get("/v1/customers").bearer(&reused).send(&app).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn the_memory_store_is_bounded_and_refuses_rather_than_forgets() {
    let store = Arc::new(MemoryRevocationStore::new(2));
    let security = builder().revocation_store(store.clone()).build().unwrap();
    let app = app_with(&security);
    security.revoke("a", exp_in(600)).await.unwrap();
    security.revoke("b", exp_in(600)).await.unwrap();
    assert!(
        security.revoke("c", exp_in(600)).await.is_err(),
        "full of live entries: the caller learns the revocation did not take"
    );
    assert_eq!(store.len(), 2);
    for jti in ["a", "b"] {
        Req::get("/v1/me")
            .bearer(&editor(jti))
            .send(&app)
            .await
            .assert_invalid_token();
    }
    // Expired entries make room.
    let roomy = Arc::new(MemoryRevocationStore::new(1));
    let security = builder().revocation_store(roomy.clone()).build().unwrap();
    security.revoke("old", exp_in(-3600)).await.unwrap();
    security.revoke("new", exp_in(600)).await.unwrap();
    assert_eq!(roomy.len(), 1);
    assert!(roomy.denied("new"));
}

#[tokio::test]
async fn unusable_ids_cannot_be_revoked_and_are_refused() {
    let security = security();
    let app = app_with(&security);
    assert!(security.revoke("", exp_in(600)).await.is_err());
    assert!(
        security
            .revoke(&"x".repeat(257), exp_in(600))
            .await
            .is_err()
    );
    let long = editor(&"x".repeat(257));
    Req::get("/v1/me")
        .bearer(&long)
        .send(&app)
        .await
        .assert_invalid_token();
}

/// A store whose backend is down.
struct Down;

impl RevocationStore for Down {
    fn revoke<'a>(&'a self, _: &'a str, _: u64) -> StoreResult<'a, ()> {
        Box::pin(async { Err(StoreError::new("backend unreachable")) })
    }
    fn is_revoked<'a>(&'a self, _: &'a str) -> StoreResult<'a, bool> {
        Box::pin(async { Err(StoreError::new("backend unreachable")) })
    }
}

#[tokio::test]
async fn a_store_that_cannot_answer_fails_closed() {
    let security = builder().revocation_store(Arc::new(Down)).build().unwrap();
    let app = app_with(&security);
    let res = Req::get("/v1/customers")
        .bearer(&editor("t-1"))
        .send(&app)
        .await;
    res.problem(503, "unavailable");
    assert!(
        !res.text().contains("backend unreachable"),
        "{}",
        res.text()
    );
    assert!(security.revoke("t-1", exp_in(600)).await.is_err());
    // A token without an id has nothing to look up.
    let res = Req::get("/v1/customers")
        .bearer(&Claims::new("e").roles(["editor"]).hs256())
        .send(&app)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[cfg(feature = "redis")]
mod redis {
    use std::sync::Arc;

    use secure_api::{RedisStore, Security};

    use super::{editor, exp_in};
    use crate::redis_store::{RedisServer, TIMEOUT};
    use crate::support::*;

    async fn instance(server: &RedisServer) -> Security {
        let redis = RedisStore::builder(server.url())
            .timeout(TIMEOUT)
            .key_prefix("revocation")
            .connect()
            .await
            .unwrap();
        builder()
            .revocation_store(Arc::new(redis.revocation_store()))
            .build()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_revoked_through_one_instance_is_refused_by_every_other() {
        let server = RedisServer::start();
        let (one, two) = (instance(&server).await, instance(&server).await);
        let (app_one, app_two) = (app_with(&one), app_with(&two));
        let token = editor("shared-jti");
        for app in [&app_one, &app_two] {
            let res = Req::get("/v1/customers").bearer(&token).send(app).await;
            assert_eq!(res.status, 200, "{}", res.text());
        }
        one.revoke("shared-jti", exp_in(600)).await.unwrap();
        for app in [&app_one, &app_two] {
            Req::get("/v1/customers")
                .bearer(&token)
                .send(app)
                .await
                .assert_invalid_token();
        }
        let res = Req::get("/v1/customers")
            .bearer(&editor("other-jti"))
            .send(&app_two)
            .await;
        assert_eq!(res.status, 200, "{}", res.text());

        // One key, named by a digest: the id is not stored; it expires with the token
        // (plus the default 30 s leeway).
        let keys = server.cli(&["--scan", "--pattern", "revocation:revoked:*"]);
        let keys: Vec<&str> = keys.lines().collect();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(!keys[0].contains("shared-jti"), "{keys:?}");
        let ttl: i64 = server.cli(&["PTTL", keys[0]]).trim().parse().unwrap();
        assert!((600_000..=631_000).contains(&ttl), "{ttl}");
        // Revoking again with an earlier expiry does not shorten the entry.
        two.revoke("shared-jti", exp_in(10)).await.unwrap();
        let ttl: i64 = server.cli(&["PTTL", keys[0]]).trim().parse().unwrap();
        assert!(ttl >= 600_000, "{ttl}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_expired_entry_is_gone() {
        let server = RedisServer::start();
        let security = instance(&server).await;
        let app = app_with(&security);
        // exp 31 s ago with the 30 s leeway: already past, Redis keeps nothing.
        security.revoke("old", exp_in(-31)).await.unwrap();
        let keys = server.cli(&["--scan", "--pattern", "revocation:revoked:*"]);
        assert_eq!(keys.trim(), "", "{keys}");
        let res = Req::get("/v1/me").bearer(&editor("old")).send(&app).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_down_is_503_for_tokens_with_an_id() {
        let server = RedisServer::start();
        let security = instance(&server).await;
        let app = app_with(&security);
        server.signal("-STOP");
        Req::get("/v1/customers")
            .bearer(&editor("while-down"))
            .send(&app)
            .await
            .problem(503, "unavailable");
        assert!(security.revoke("while-down", exp_in(600)).await.is_err());
        server.signal("-CONT");
        let mut status = 0;
        for _ in 0..50 {
            status = Req::get("/v1/customers")
                .bearer(&editor("after"))
                .send(&app)
                .await
                .status
                .as_u16();
            if status != 503 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200);
    }
}
