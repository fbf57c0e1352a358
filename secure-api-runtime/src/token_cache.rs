//! The verified-token cache: SHA-256 of a token -> the payload whose signature verified.
//!
//! Only tokens signed with asymmetric algorithms are cached (an HMAC check costs about as
//! much as the lookup). A hit skips the signature check and nothing else: the claims are
//! turned into a principal again, and every check the guard runs after authentication
//! (roles, revocation, replay...) runs on every request. An entry never outlives the
//! token's `exp` nor the cache's own time-to-live, and the cache holds a bounded number
//! of entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest;

use crate::replay::now_secs;

/// Default number of verified tokens remembered.
pub const DEFAULT_VERIFIED_TOKEN_CACHE: usize = 10_000;
/// Longest time a verified token is remembered (shorter when its `exp` comes sooner).
pub(crate) const VERIFIED_TOKEN_TTL: Duration = Duration::from_secs(300);

pub(crate) type Digest = [u8; 32];

pub(crate) fn token_digest(token: &str) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// A verified payload (JSON claims).
pub(crate) type Payload = Arc<[u8]>;
/// SHA-256 of the key parameters that verified a token.
pub(crate) type KeyFingerprint = [u8; 32];

struct Entry {
    payload: Payload,
    /// The fingerprint of the key that verified the token (JWKS keys), so that a key
    /// replaced under the same `kid` voids what the old one verified.
    key: Option<[u8; 32]>,
    /// Unix seconds after which the entry is void.
    until: u64,
}

pub(crate) struct VerifiedCache {
    entries: Mutex<HashMap<Digest, Entry>>,
    capacity: usize,
}

impl VerifiedCache {
    pub(crate) fn new(capacity: usize) -> Self {
        VerifiedCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The payload of a token verified before, if its entry is still valid.
    pub(crate) fn get(&self, digest: &Digest) -> Option<(Payload, Option<KeyFingerprint>)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(digest)?;
        if now_secs() >= entry.until {
            entries.remove(digest);
            return None;
        }
        Some((entry.payload.clone(), entry.key))
    }

    /// Remembers the payload of a token whose signature and claims were just verified,
    /// until its `exp` at the latest.
    pub(crate) fn insert(&self, digest: Digest, payload: Payload, exp: u64, key: Option<[u8; 32]>) {
        let now = now_secs();
        let until = exp.min(now.saturating_add(VERIFIED_TOKEN_TTL.as_secs()));
        if until <= now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.until > now);
        }
        if entries.len() >= self.capacity {
            // Still full of live entries: forget an eighth of them (arbitrary ones).
            let drop: Vec<Digest> = entries
                .keys()
                .take((self.capacity / 8).max(1))
                .copied()
                .collect();
            for key in drop {
                entries.remove(&key);
            }
        }
        entries.insert(
            digest,
            Entry {
                payload,
                key,
                until,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Arc::from(&b"{}"[..])
    }

    #[test]
    fn entries_never_outlive_exp_and_the_cache_is_bounded() {
        let cache = VerifiedCache::new(4);
        let now = now_secs();
        cache.insert(token_digest("expired"), payload(), now - 1, None);
        assert!(cache.get(&token_digest("expired")).is_none());
        cache.insert(token_digest("live"), payload(), now + 60, None);
        assert!(cache.get(&token_digest("live")).is_some());
        for i in 0..100 {
            cache.insert(token_digest(&i.to_string()), payload(), now + 60, None);
        }
        assert!(cache.len() <= 4);
    }
}
