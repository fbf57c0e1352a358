//! Revoked tokens: a deny-list of token ids (`jti`).
//!
//! A token revoked with [`Security::revoke`](crate::Security::revoke) is refused with 401
//! `invalid_token` on every route that authenticates, until the moment given (the token's
//! `exp`) plus the configured leeway has passed; after that the token is expired anyway
//! and the entry is dropped. The guard asks the store right after authentication on every
//! request whose token carries a `jti`, whether the token was verified now or taken from a
//! cache; when the store cannot answer, the request is refused with 503 (fail closed).
//!
//! The in-memory store is bounded; [`RedisStore::revocation_store`](crate::RedisStore)
//! (feature `redis`) shares the list between instances.
//!
//! ```
//! use secure_api_runtime::{MemoryRevocationStore, RevocationStore};
//!
//! # tokio_test(async {
//! let store = MemoryRevocationStore::new(1_000);
//! store.revoke("token-1", u64::MAX).await.unwrap();
//! assert_eq!(store.is_revoked("token-1").await, Ok(true));
//! assert_eq!(store.is_revoked("token-2").await, Ok(false));
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::HashMap;
use std::sync::RwLock;

use crate::config::Security;
use crate::error::SecurityError;
use crate::principal::Principal;
use crate::replay::{StoreResult, now_secs};
use crate::store::StoreError;

/// Entries the default in-memory store holds.
pub(crate) const DEFAULT_REVOCATION_CAPACITY: usize = 100_000;

/// Longest `jti` the guard looks up; a longer one is refused as an invalid token, so a
/// client cannot make the store hash or hold arbitrarily large keys.
pub(crate) const MAX_JTI_LEN: usize = 256;

/// A deny-list of token ids.
///
/// ```
/// use secure_api_runtime::{RevocationStore, StoreError, StoreResult};
///
/// /// A store whose backend is down: every request with a `jti` is refused with 503.
/// struct Down;
/// impl RevocationStore for Down {
///     fn revoke<'a>(&'a self, _: &'a str, _: u64) -> StoreResult<'a, ()> {
///         Box::pin(async { Err(StoreError::new("backend unreachable")) })
///     }
///     fn is_revoked<'a>(&'a self, _: &'a str) -> StoreResult<'a, bool> {
///         Box::pin(async { Err(StoreError::new("backend unreachable")) })
///     }
/// }
/// ```
pub trait RevocationStore: Send + Sync + 'static {
    /// Denies the token id `jti` until `until` (seconds since the Unix epoch); a later
    /// `until` for the same id extends the entry, an earlier one does not shorten it.
    fn revoke<'a>(&'a self, jti: &'a str, until: u64) -> StoreResult<'a, ()>;

    /// Whether `jti` is denied now.
    fn is_revoked<'a>(&'a self, jti: &'a str) -> StoreResult<'a, bool>;
}

/// The in-memory [`RevocationStore`], bounded to `capacity` unexpired entries. Expired
/// entries are dropped when the map fills; if it is still full, [`revoke`] fails rather
/// than forget an entry (the caller learns that the revocation did not take).
///
/// [`revoke`]: RevocationStore::revoke
///
/// ```
/// let store = secure_api_runtime::MemoryRevocationStore::new(1);
/// assert!(store.deny("a", u64::MAX).is_ok());
/// assert!(store.deny("b", u64::MAX).is_err(), "full: refused, not forgotten");
/// assert!(store.denied("a"));
/// ```
#[derive(Debug)]
pub struct MemoryRevocationStore {
    capacity: usize,
    denied: RwLock<HashMap<Box<str>, u64>>,
}

impl MemoryRevocationStore {
    /// A store holding at most `capacity` unexpired entries.
    ///
    /// ```
    /// assert!(secure_api_runtime::MemoryRevocationStore::new(100).is_empty());
    /// ```
    pub fn new(capacity: usize) -> Self {
        MemoryRevocationStore {
            capacity: capacity.max(1),
            denied: RwLock::new(HashMap::new()),
        }
    }

    /// Entries held now (expired ones included until the next purge).
    ///
    /// ```
    /// let store = secure_api_runtime::MemoryRevocationStore::new(10);
    /// store.deny("a", u64::MAX).unwrap();
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.denied.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the store holds nothing.
    ///
    /// ```
    /// assert!(secure_api_runtime::MemoryRevocationStore::new(10).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`RevocationStore::revoke`], synchronously.
    ///
    /// ```
    /// let store = secure_api_runtime::MemoryRevocationStore::new(10);
    /// store.deny("a", 0).unwrap();
    /// assert!(!store.denied("a"), "already past");
    /// ```
    pub fn deny(&self, jti: &str, until: u64) -> Result<(), StoreError> {
        self.deny_at(jti, until, now_secs())
    }

    /// [`RevocationStore::is_revoked`], synchronously.
    ///
    /// ```
    /// assert!(!secure_api_runtime::MemoryRevocationStore::new(10).denied("a"));
    /// ```
    pub fn denied(&self, jti: &str) -> bool {
        self.denied_at(jti, now_secs())
    }

    fn deny_at(&self, jti: &str, until: u64, now: u64) -> Result<(), StoreError> {
        let mut denied = self.denied.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = denied.get_mut(jti) {
            *existing = (*existing).max(until);
            return Ok(());
        }
        if denied.len() >= self.capacity {
            denied.retain(|_, until| *until >= now);
            if denied.len() >= self.capacity {
                return Err(StoreError::new(
                    "the in-memory revocation store is full of unexpired entries",
                ));
            }
        }
        denied.insert(Box::from(jti), until);
        Ok(())
    }

    fn denied_at(&self, jti: &str, now: u64) -> bool {
        self.denied
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(jti)
            .is_some_and(|until| *until >= now)
    }
}

impl RevocationStore for MemoryRevocationStore {
    fn revoke<'a>(&'a self, jti: &'a str, until: u64) -> StoreResult<'a, ()> {
        Box::pin(std::future::ready(self.deny(jti, until)))
    }

    fn is_revoked<'a>(&'a self, jti: &'a str) -> StoreResult<'a, bool> {
        Box::pin(std::future::ready(Ok(self.denied(jti))))
    }
}

impl Security {
    /// Revokes the token whose `jti` is `jti`: from now on every route refuses it with 401
    /// `invalid_token`. `until` is the token's `exp` (seconds since the Unix epoch); the
    /// entry is kept until then plus the configured leeway, after which the token is
    /// expired anyway. Fails when the store cannot record the entry (the in-memory store
    /// is full of unexpired entries, Redis is down): the token is then NOT revoked.
    ///
    /// ```
    /// # async fn demo(security: secure_api_runtime::Security) -> Result<(), secure_api_runtime::StoreError> {
    /// // The claims of the token to revoke, e.g. from the principal of a logout request.
    /// let (jti, exp) = ("2f1c9a", 1_900_000_000);
    /// security.revoke(jti, exp).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, jti: &str, until: u64) -> Result<(), StoreError> {
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            return Err(StoreError::new(
                "a token id must be 1 to 256 bytes; no such token is accepted",
            ));
        }
        let until = until.saturating_add(self.0.leeway_secs);
        self.0.revocations.revoke(jti, until).await
    }

    /// Refuses a principal whose token id was revoked: 401 `invalid_token` when it is,
    /// 503 when the store cannot say (fail closed).
    pub(crate) async fn check_revocation(
        &self,
        principal: &Principal,
    ) -> Result<(), SecurityError> {
        // No id, nothing to look up; a non-string `jti` names no revocable token.
        let Some(jti) = principal.token_id() else {
            return Ok(());
        };
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            tracing::info!(target: "secure_api::auth", subject = principal.subject(), "bearer token refused: unusable jti");
            return Err(SecurityError::invalid_token());
        }
        match self.0.revocations.is_revoked(jti).await {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::info!(target: "secure_api::auth", subject = principal.subject(), "bearer token refused: revoked");
                Err(SecurityError::invalid_token())
            }
            Err(error) => {
                tracing::error!(target: "secure_api", %error, "revocation store failed; refusing (fail closed)");
                Err(SecurityError::unavailable())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_at_their_moment() {
        let store = MemoryRevocationStore::new(10);
        store.deny_at("a", 100, 50).unwrap_or_default();
        assert!(store.denied_at("a", 100));
        assert!(!store.denied_at("a", 101));
    }

    #[test]
    fn a_full_store_purges_expired_entries_before_refusing() {
        let store = MemoryRevocationStore::new(2);
        assert!(store.deny_at("a", 10, 0).is_ok());
        assert!(store.deny_at("b", 1_000, 0).is_ok());
        assert!(store.deny_at("c", 1_000, 5).is_err());
        assert!(
            store.deny_at("c", 1_000, 11).is_ok(),
            "a expired and was purged"
        );
        assert_eq!(store.len(), 2);
        assert!(store.denied_at("b", 11) && store.denied_at("c", 11));
    }

    #[test]
    fn revoking_again_only_extends() {
        let store = MemoryRevocationStore::new(2);
        assert!(store.deny_at("a", 100, 0).is_ok());
        assert!(store.deny_at("a", 50, 0).is_ok());
        assert!(store.denied_at("a", 99));
        assert!(store.deny_at("a", 200, 0).is_ok());
        assert!(store.denied_at("a", 150));
    }
}
