//! The verified-token caches.
//!
//! - [`VerifiedCache`]: SHA-256 of a token signed with an asymmetric algorithm -> the
//!   payload whose signature verified. A hit skips the signature check and nothing else:
//!   the claims are turned into a principal again.
//! - [`PrincipalCache`]: the principal of a token signed with a shared secret, reused when
//!   the same token comes again: its signing input compared whole and its signature by
//!   SHA-256 (one block, where the MAC would hash the whole token). A hit skips the MAC,
//!   reading the claims and building the principal.
//!
//! Every check the guard runs after authentication (roles, revocation, replay...) runs on
//! every request. An entry never outlives the token's `exp` nor the caches' own
//! time-to-live, and each cache holds a bounded number of entries.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest;

use crate::principal::Principal;
use crate::replay::now_secs;
use crate::store::IdentityHasher;

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
        make_room(&mut entries, self.capacity, |e| e.until > now);
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

/// Makes room for one more entry in a table of at most `capacity`: when it is full, the
/// entries that are no longer `live` go, and if it is still full, an eighth of the rest
/// (arbitrary ones).
fn make_room<K, V, S>(entries: &mut HashMap<K, V, S>, capacity: usize, live: impl Fn(&V) -> bool)
where
    K: Copy + Eq + std::hash::Hash,
    S: std::hash::BuildHasher,
{
    if entries.len() < capacity {
        return;
    }
    entries.retain(|_, entry| live(entry));
    if entries.len() >= capacity {
        let drop: Vec<K> = entries
            .keys()
            .take((capacity / 8).max(1))
            .copied()
            .collect();
        for key in drop {
            entries.remove(&key);
        }
    }
}

/// The principals of tokens signed with a shared secret (HS256/384/512), reused when the
/// same token comes again, without checking its MAC again.
///
/// A hit needs the very token that verified: its whole signing input (`header.payload`),
/// compared byte for byte, and its signature, compared by SHA-256. For the same key, a MAC
/// is a function of the signing input, so a token identical to one whose MAC verified
/// verifies too; the key is the same one, because a token's key follows from its header
/// and the configuration alone, and the caller has just refused the token if that key is
/// retired. The principal is a function of the same signing input and configuration, so
/// the one built when the token first verified is the one reading it again would build.
/// Hashing the signature costs one block of SHA-256 (HS256: 43 characters), where the
/// MAC hashes the whole signing input.
///
/// The signature itself is not kept, only its digest, so the table holds nothing a
/// client could present. The claim rules that depend on the clock are kept as a time: an
/// entry is void once `exp` plus the leeway has passed (`nbf` had passed when the entry
/// was made), and after 5 minutes in any case.
pub(crate) struct PrincipalCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

/// One shard of the principal table, by [`input_hash`].
type Shard = HashMap<u64, Reused, BuildHasherDefault<IdentityHasher>>;

/// splitmix64's finaliser: every bit of the input moves every bit of the output.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Where a signing input's entry is kept. Only tokens whose MAC verified are inserted, so
/// a client can aim at a slot only with claims an issuer signed for it, and all that buys
/// is replacing an entry (a miss for its token) or crowding one shard, which is bounded.
/// A lookup with made-up claims costs one miss, and a collision only costs a miss too,
/// since every entry is confirmed by its whole signing input and signature digest. A
/// keyed hash (SipHash) would buy nothing here.
fn input_hash(signing_input: &str) -> u64 {
    // One multiplication per word (FxHash's step), the full mix once at the end: the
    // signing input is long, and a chain of full mixes would cost four times as much.
    let h = signing_input.as_bytes().chunks(8).fold(0u64, |h, chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95)
    });
    mix(h ^ signing_input.len() as u64)
}

struct Reused {
    /// `header.payload` of the token the principal was built from.
    signing_input: Box<str>,
    /// SHA-256 of that token's signature (its base64url text).
    signature: Digest,
    principal: Principal,
    /// Unix seconds after which the entry is void.
    until: u64,
}

impl Reused {
    /// Whether the token `signing_input.signature` is the one this entry was made from.
    fn is_token(&self, signing_input: &str, signature: &str) -> bool {
        *self.signing_input == *signing_input
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                &self.signature,
                &token_digest(signature),
            )
            .is_ok()
    }
}

/// Shards of the principal table, so that requests on other threads seldom wait on the
/// same lock.
const PRINCIPAL_SHARDS: usize = 16;

impl PrincipalCache {
    /// A table of about `entries` principals.
    pub(crate) fn new(entries: usize) -> Self {
        PrincipalCache {
            shards: (0..PRINCIPAL_SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            per_shard: entries.div_ceil(PRINCIPAL_SHARDS).max(1),
        }
    }

    fn slot(&self, signing_input: &str) -> (u64, &Mutex<Shard>) {
        let hash = input_hash(signing_input);
        // Middle bits choose the shard: the map's table uses the low ones and the top seven.
        (hash, &self.shards[(hash >> 40) as usize % PRINCIPAL_SHARDS])
    }

    /// The principal of the token `signing_input.signature` if that very token verified
    /// before and its entry is still valid. The caller has checked the token's shape,
    /// header and key, not its MAC.
    pub(crate) fn get(&self, signing_input: &str, signature: &str) -> Option<Principal> {
        let (hash, shard) = self.slot(signing_input);
        let mut entries = shard.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&hash)?;
        if !entry.is_token(signing_input, signature) {
            return None;
        }
        if now_secs() > entry.until {
            entries.remove(&hash);
            return None;
        }
        Some(entry.principal.clone())
    }

    /// Remembers the principal built from the token `signing_input.signature`, whose MAC
    /// and claims have just verified, until `valid_through` (the token's `exp` plus the
    /// leeway) at the latest.
    pub(crate) fn insert(
        &self,
        signing_input: &str,
        signature: &str,
        principal: &Principal,
        valid_through: u64,
    ) {
        let now = now_secs();
        let until = valid_through.min(now.saturating_add(VERIFIED_TOKEN_TTL.as_secs()));
        if until < now {
            return;
        }
        let signature = token_digest(signature);
        let (hash, shard) = self.slot(signing_input);
        let mut entries = shard.lock().unwrap_or_else(|e| e.into_inner());
        if !entries.contains_key(&hash) {
            make_room(&mut entries, self.per_shard, |e| e.until >= now);
        }
        entries.insert(
            hash,
            Reused {
                signing_input: signing_input.into(),
                signature,
                principal: principal.clone(),
                until,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
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

    fn principal(subject: &str) -> Principal {
        Principal::new(subject, ["viewer"], [] as [&str; 0])
    }

    #[test]
    fn a_principal_is_reused_for_its_own_token_only() {
        let cache = PrincipalCache::new(100);
        let valid = now_secs() + 60;
        cache.insert("head.alice", "sig-a", &principal("alice"), valid);
        let reused = cache
            .get("head.alice", "sig-a")
            .map(|p| p.subject().to_owned());
        assert_eq!(reused.as_deref(), Some("alice"));
        // The same claims under another signature: found in the table, not the token.
        assert!(cache.get("head.alice", "sig-b").is_none());
        assert!(cache.get("head.alice", "sig-a ").is_none());
        assert!(cache.get("head.alice", "").is_none());
        // The signature on other claims.
        assert!(cache.get("head.mallory", "sig-a").is_none());
    }

    #[test]
    fn an_entry_is_confirmed_by_signing_input_and_signature_alike() {
        // What a hash collision would put in front of the confirmation: an entry whose
        // signing input or signature is not the presented token's.
        let entry = Reused {
            signing_input: "head.alice".into(),
            signature: token_digest("sig-a"),
            principal: principal("alice"),
            until: now_secs() + 60,
        };
        assert!(entry.is_token("head.alice", "sig-a"));
        assert!(!entry.is_token("head.alice", "sig-b"));
        assert!(!entry.is_token("head.alicf", "sig-a"));
        assert!(!entry.is_token("head.alice.", "sig-a"));
    }

    #[test]
    fn a_reused_principal_never_outlives_exp_plus_leeway() {
        let cache = PrincipalCache::new(100);
        let now = now_secs();
        cache.insert("head.past", "past", &principal("p"), now - 1);
        assert!(cache.get("head.past", "past").is_none());
        // Valid through this very second (exp + leeway == now), as the claim rules say.
        cache.insert("head.now", "now", &principal("n"), now);
        assert!(cache.get("head.now", "now").is_some());
        cache.insert("head.later", "later", &principal("l"), now + 60);
        assert!(cache.get("head.later", "later").is_some());
    }

    #[test]
    fn the_principal_table_is_bounded() {
        let cache = PrincipalCache::new(32);
        let valid = now_secs() + 60;
        for i in 0..1_000 {
            let sig = format!("sig-{i}");
            cache.insert(&format!("head.{i}"), &sig, &principal("x"), valid);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        assert!(cache.len() >= 16, "{}", cache.len());
    }
}
