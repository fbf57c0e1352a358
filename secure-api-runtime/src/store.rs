//! Where rate-limit state lives: the [`RateLimitStore`] trait, and [`MemoryStore`], the
//! embedded default (governor's GCRA over a map with a hard cap on tracked keys).
//!
//! A check names a *scope* (the handler or the global limit), a *key* (the client, e.g.
//! `ip:192.0.2.1` or `p:alice`) and the rates to apply. The rates are tried in order and
//! each one that lets the request through counts it; the first exhausted one refuses.
//! Every store gives the same answers for the same arrivals: the in-memory store and the
//! Redis store (feature `redis`) are tested against one reference GCRA model.
//!
//! ```
//! use std::time::Duration;
//! use secure_api_runtime::{ManualClock, MemoryStore, Rate, RateCheck};
//!
//! let clock = ManualClock::new();
//! let store = MemoryStore::with_clock(1_000, clock.clone());
//! let rates = [Rate::new(2, 60)];
//! let check = RateCheck::new("app::create", "p:alice", &rates);
//! assert!(store.check_now(&check).allowed());
//! assert!(store.check_now(&check).allowed());
//! let refused = store.check_now(&check);
//! assert!(!refused.allowed());
//! assert_eq!(refused.reset(), Duration::from_secs(30));
//! clock.advance(Duration::from_secs(30));
//! assert!(store.check_now(&check).allowed());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};

use crate::limiter::{LimiterClock, ManualClock};
use crate::policy::Rate;

/// Default hard cap on the keys the in-memory store tracks (about 3 MiB of state).
pub const DEFAULT_MAX_TRACKED_KEYS: usize = 100_000;

/// One rate-limit check: a scope, a client key and the rates to apply, in order.
///
/// ```
/// use secure_api_runtime::{Rate, RateCheck};
/// let rates = [Rate::new(10, 1), Rate::new(1000, 3600)];
/// let check = RateCheck::new("app::search", "ip:192.0.2.1", &rates);
/// assert_eq!(check.rates().len(), 2);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RateCheck<'a> {
    scope: &'a str,
    key: &'a str,
    rates: &'a [Rate],
}

impl<'a> RateCheck<'a> {
    /// A check of `key` in `scope` against `rates`.
    ///
    /// ```
    /// let c = secure_api_runtime::RateCheck::new("s", "k", &[]);
    /// ```
    pub fn new(scope: &'a str, key: &'a str, rates: &'a [Rate]) -> Self {
        RateCheck { scope, key, rates }
    }

    /// The handler path, or `global:NAME` for a global limit.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::RateCheck::new("s", "k", &[]).scope(), "s");
    /// ```
    pub fn scope(&self) -> &'a str {
        self.scope
    }

    /// The client key (`p:SUBJECT`, `ip:ADDRESS`, `k:API-KEY`, `h:NAME:VALUE`, `u:...`).
    /// It can hold a credential: stores must never log it, and should hash it.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::RateCheck::new("s", "k", &[]).key(), "k");
    /// ```
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// The rates, in the order they are applied.
    ///
    /// ```
    /// assert!(secure_api_runtime::RateCheck::new("s", "k", &[]).rates().is_empty());
    /// ```
    pub fn rates(&self) -> &'a [Rate] {
        self.rates
    }
}

/// The answer of a store.
///
/// Allowed: `rate` is the index of the rate with the fewest requests left, `remaining`
/// how many, `reset` when that rate is whole again. Refused: `rate` is the index of the
/// exhausted rate and `reset` is when to retry.
///
/// ```
/// use std::time::Duration;
/// use secure_api_runtime::RateDecision;
/// let d = RateDecision::refused(0, Duration::from_secs(3));
/// assert!(!d.allowed());
/// assert_eq!(d.remaining(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    allowed: bool,
    rate: usize,
    remaining: u32,
    reset: Duration,
}

impl RateDecision {
    /// Let through.
    ///
    /// ```
    /// let d = secure_api_runtime::RateDecision::allowed_with(0, 4, std::time::Duration::from_secs(12));
    /// assert!(d.allowed());
    /// ```
    pub fn allowed_with(rate: usize, remaining: u32, reset: Duration) -> Self {
        RateDecision {
            allowed: true,
            rate,
            remaining,
            reset,
        }
    }

    /// Refused by rate number `rate`; retry after `retry_after`.
    ///
    /// ```
    /// let d = secure_api_runtime::RateDecision::refused(1, std::time::Duration::from_secs(1));
    /// assert_eq!(d.rate(), 1);
    /// ```
    pub fn refused(rate: usize, retry_after: Duration) -> Self {
        RateDecision {
            allowed: false,
            rate,
            remaining: 0,
            reset: retry_after,
        }
    }

    /// Whether the request may go on.
    ///
    /// ```
    /// assert!(!secure_api_runtime::RateDecision::refused(0, std::time::Duration::ZERO).allowed());
    /// ```
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// The index of the rate this decision is about.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::RateDecision::refused(2, std::time::Duration::ZERO).rate(), 2);
    /// ```
    pub fn rate(&self) -> usize {
        self.rate
    }

    /// Requests left in that rate.
    ///
    /// ```
    /// let d = secure_api_runtime::RateDecision::allowed_with(0, 4, std::time::Duration::ZERO);
    /// assert_eq!(d.remaining(), 4);
    /// ```
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Refused: time until a retry can pass. Allowed: time until the rate is whole again.
    ///
    /// ```
    /// let d = secure_api_runtime::RateDecision::refused(0, std::time::Duration::from_secs(7));
    /// assert_eq!(d.reset().as_secs(), 7);
    /// ```
    pub fn reset(&self) -> Duration {
        self.reset
    }
}

/// A store that could not answer (unreachable, slow, protocol error). The message is for
/// logs only; it never reaches a client.
///
/// ```
/// let e = secure_api_runtime::StoreError::new("connection refused");
/// assert_eq!(e.to_string(), "store error: connection refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(String);

impl StoreError {
    /// An error with a message for the logs (never shown to clients). Shared by the
    /// rate-limit, nonce and idempotency stores.
    ///
    /// ```
    /// let e = secure_api_runtime::StoreError::new("timed out");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        StoreError(message.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store error: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// The future a store returns.
pub type StoreFuture<'a> =
    Pin<Box<dyn Future<Output = Result<RateDecision, StoreError>> + Send + 'a>>;

/// Where rate-limit state lives. Implement it to keep the state elsewhere; install it with
/// [`SecurityBuilder::rate_limit_store`](crate::SecurityBuilder::rate_limit_store).
///
/// Contract: the rates of a check are applied in order; a rate that lets the request
/// through counts it; the first exhausted rate refuses (and the later ones are not
/// counted). Each rate is GCRA with emission interval `period / count` and a burst of
/// `count`, as [`MemoryStore`] does it. An error is answered per policy: 503 or let through
/// (`on_store_error`), so a store should bound its own latency.
///
/// ```
/// use secure_api_runtime::{RateCheck, RateDecision, RateLimitStore, StoreFuture};
///
/// /// Lets everything through (do not do this).
/// struct Open;
/// impl RateLimitStore for Open {
///     fn check<'a>(&'a self, check: RateCheck<'a>) -> StoreFuture<'a> {
///         Box::pin(async move { Ok(RateDecision::allowed_with(0, u32::MAX, Default::default())) })
///     }
/// }
/// ```
pub trait RateLimitStore: Send + Sync + 'static {
    /// Applies `check` and answers.
    fn check<'a>(&'a self, check: RateCheck<'a>) -> StoreFuture<'a>;

    /// How many keys the store tracks, when it knows cheaply.
    ///
    /// ```
    /// # use secure_api_runtime::RateLimitStore;
    /// let store = secure_api_runtime::MemoryStore::new(10);
    /// assert_eq!(RateLimitStore::tracked_keys(&store), Some(0));
    /// ```
    fn tracked_keys(&self) -> Option<usize> {
        None
    }

    /// Forgets keys that are idle (their state equals a fresh key's); called in the
    /// background every cleanup interval.
    ///
    /// ```
    /// # use secure_api_runtime::RateLimitStore;
    /// RateLimitStore::purge(&secure_api_runtime::MemoryStore::new(10));
    /// ```
    fn purge(&self) {}
}

// ---------------------------------------------------------------------------------------
// The in-memory store

/// For maps whose keys are already uniform hashes (SipHash outputs here, mixed signing
/// inputs in the principal table): hash them as themselves.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One tracked key: its theoretical arrival time and when it was last seen, both in
/// nanoseconds of the store's clock. 16 bytes next to an 8-byte key.
#[derive(Clone, Copy)]
struct Slot {
    tat: u64,
    seen: u64,
}

type Shard = HashMap<u64, Slot, BuildHasherDefault<IdentityHasher>>;

/// The bounded map every governor limiter of a [`MemoryStore`] shares.
struct BoundedMap {
    shards: Box<[Mutex<Shard>]>,
    len: AtomicUsize,
    cap: usize,
    evicted: AtomicU64,
    clock: LimiterClock,
}

impl BoundedMap {
    fn new(cap: usize, clock: LimiterClock) -> Self {
        // One shard per 8192 keys of capacity, up to 32: enough to spread the locks of a
        // big store, while each shard stays large enough for local eviction to
        // approximate the global least-recently-seen order.
        let shards = (cap / 8192).clamp(1, 32);
        BoundedMap {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            len: AtomicUsize::new(0),
            cap: cap.max(1),
            evicted: AtomicU64::new(0),
            clock,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now().as_u64()
    }

    fn shard(&self, key: u64) -> &Mutex<Shard> {
        // The map uses the low bits; pick the shard with the high ones.
        let index = ((key >> 40) as usize) % self.shards.len();
        &self.shards[index]
    }

    /// Takes one slot of the cap for a new key, evicting in `shard` when the store is full:
    /// first keys whose bucket is whole again (indistinguishable from absent), then the
    /// least recently seen eighth of the shard. `false` when nothing could be evicted.
    fn reserve(&self, shard: &mut Shard, now: u64) -> bool {
        loop {
            let len = self.len.load(Ordering::Acquire);
            if len < self.cap {
                if self
                    .len
                    .compare_exchange_weak(len, len + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            let before = shard.len();
            shard.retain(|_, slot| slot.tat > now);
            if shard.len() == before && !shard.is_empty() {
                let mut seen: Vec<u64> = shard.values().map(|s| s.seen).collect();
                let nth = (seen.len() / 8).max(1) - 1;
                let (_, threshold, _) = seen.select_nth_unstable(nth);
                let threshold = *threshold;
                let mut budget = nth + 1;
                shard.retain(|_, slot| {
                    if budget > 0 && slot.seen <= threshold {
                        budget -= 1;
                        false
                    } else {
                        true
                    }
                });
                self.evicted
                    .fetch_add((before - shard.len()) as u64, Ordering::Relaxed);
            }
            let removed = before - shard.len();
            if removed == 0 {
                return false;
            }
            self.len.fetch_sub(removed, Ordering::AcqRel);
        }
    }

    fn purge(&self) {
        let now = self.now();
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let before = shard.len();
            shard.retain(|_, slot| slot.tat > now);
            self.len.fetch_sub(before - shard.len(), Ordering::AcqRel);
            if shard.capacity() > 2 * shard.len() + 64 {
                shard.shrink_to_fit();
            }
        }
    }
}

/// The governor state store of one limiter: the shared map, with the limiter's start so
/// that every limiter's times are stored on the map's clock.
struct SharedState {
    map: Arc<BoundedMap>,
    /// The map-clock reading at (just after) the limiter's creation: governor's own times
    /// are relative to its creation.
    offset: Arc<AtomicU64>,
}

impl StateStore for SharedState {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let map = &self.map;
        let offset = self.offset.load(Ordering::Acquire);
        let now = map.now();
        let mut shard = map.shard(*key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = shard.get_mut(key) {
            // Refused requests count as seen too: an active abuser stays tracked.
            slot.seen = now;
            let previous = slot
                .tat
                .checked_sub(offset)
                .filter(|t| *t > 0)
                .map(Nanos::from);
            let (outcome, tat) = f(previous)?;
            slot.tat = tat.as_u64().saturating_add(offset);
            return Ok(outcome);
        }
        let (outcome, tat) = f(None)?;
        if map.reserve(&mut shard, now) {
            shard.insert(
                *key,
                Slot {
                    tat: tat.as_u64().saturating_add(offset),
                    seen: now,
                },
            );
        } else {
            // Only reachable when this shard is empty while the others hold the whole
            // cap; the key is answered as a fresh one, which it is.
            tracing::warn!(
                target: "secure_api::throttle",
                "rate-limit store full and nothing to evict in this shard; key not tracked"
            );
        }
        Ok(outcome)
    }
}

type Limiter = RateLimiter<u64, SharedState, LimiterClock, StateInformationMiddleware>;

/// Distinct rates whose limiters are found without taking a lock.
const LIMITER_SLOTS: usize = 32;

/// The embedded store: governor's GCRA over one map shared by every limit, with a hard cap
/// on tracked keys. When the cap is reached, keys whose bucket is whole again go first,
/// then the least recently seen ones; a background task (started by the layer) forgets
/// idle keys every cleanup interval and gives the memory back.
///
/// Keys are hashed (64-bit SipHash with a per-store random key) together with their scope
/// and rate, so client keys, API keys included, are not kept; two clients collide with a
/// probability around `n² / 2⁶⁵` (3·10⁻⁸ for a million keys), and then share a bucket.
///
/// Eviction means an attacker who floods the store with new keys can make it forget a
/// throttled client; the cap should be well above the number of clients active within a
/// period, and a global per-IP limit in front keeps one address from flooding it.
///
/// ```
/// use secure_api_runtime::{MemoryStore, Rate, RateCheck};
///
/// let store = MemoryStore::new(100);
/// let rates = [Rate::new(1, 60)];
/// for i in 0..1_000 {
///     let key = format!("ip:10.0.{}.{}", i / 256, i % 256);
///     assert!(store.check_now(&RateCheck::new("s", &key, &rates)).allowed());
/// }
/// assert!(store.tracked_keys() <= 100);
/// ```
pub struct MemoryStore {
    map: Arc<BoundedMap>,
    /// One limiter per distinct rate, created on first use and never removed. Read on
    /// every request from every worker, so the first [`LIMITER_SLOTS`] are write-once
    /// cells (an atomic load to read, nothing shared is written); more rates than that
    /// go to a locked list.
    limiters: Box<[OnceLock<(Rate, Limiter)>]>,
    more_limiters: RwLock<Vec<(Rate, Limiter)>>,
    /// Held while a limiter is created, so that two workers never create one rate twice.
    creating: Mutex<()>,
    hasher: RandomState,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("cap", &self.map.cap)
            .field("tracked", &self.tracked_keys())
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store tracking at most `max_keys` keys (at least one), on monotonic time.
    ///
    /// ```
    /// let store = secure_api_runtime::MemoryStore::new(secure_api_runtime::DEFAULT_MAX_TRACKED_KEYS);
    /// ```
    pub fn new(max_keys: usize) -> Self {
        Self::with_limiter_clock(max_keys, LimiterClock::default())
    }

    /// A store whose time is a [`ManualClock`] (tests of throttling that never sleep).
    ///
    /// ```
    /// let store = secure_api_runtime::MemoryStore::with_clock(10, secure_api_runtime::ManualClock::new());
    /// ```
    pub fn with_clock(max_keys: usize, clock: ManualClock) -> Self {
        Self::with_limiter_clock(max_keys, LimiterClock::Manual(clock))
    }

    pub(crate) fn with_limiter_clock(max_keys: usize, clock: LimiterClock) -> Self {
        MemoryStore {
            map: Arc::new(BoundedMap::new(max_keys, clock)),
            limiters: (0..LIMITER_SLOTS).map(|_| OnceLock::new()).collect(),
            more_limiters: RwLock::new(Vec::new()),
            creating: Mutex::new(()),
            hasher: RandomState::new(),
        }
    }

    /// The hard cap on tracked keys.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::MemoryStore::new(10).max_keys(), 10);
    /// ```
    pub fn max_keys(&self) -> usize {
        self.map.cap
    }

    /// Keys tracked right now (never above [`max_keys`](Self::max_keys)).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::MemoryStore::new(10).tracked_keys(), 0);
    /// ```
    pub fn tracked_keys(&self) -> usize {
        self.map.len.load(Ordering::Acquire)
    }

    /// Keys evicted so far to stay under the cap (idle keys dropped by the purge are not
    /// counted).
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::MemoryStore::new(10).evicted_keys(), 0);
    /// ```
    pub fn evicted_keys(&self) -> u64 {
        self.map.evicted.load(Ordering::Relaxed)
    }

    /// Forgets keys whose bucket is whole again and gives memory back.
    ///
    /// ```
    /// secure_api_runtime::MemoryStore::new(10).purge_idle();
    /// ```
    pub fn purge_idle(&self) {
        self.map.purge();
    }

    fn new_limiter(&self, rate: Rate) -> Limiter {
        let burst = NonZeroU32::new(rate.count()).unwrap_or(NonZeroU32::MIN);
        // One cell every period/count, a burst of count: "N per PERIOD".
        let per_cell = rate.period() / burst.get();
        let quota = Quota::with_period(per_cell.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let offset = Arc::new(AtomicU64::new(0));
        let limiter: Limiter = RateLimiter::new(
            quota,
            SharedState {
                map: self.map.clone(),
                offset: offset.clone(),
            },
            self.map.clock.clone(),
        );
        // governor counts from its creation; read the map clock after it, so the stored
        // times can only be late (kept a little longer), never early.
        offset.store(self.map.now(), Ordering::Release);
        limiter
    }

    /// Runs `f` with the limiter of `rate`, created on first use. Applications have a
    /// handful of distinct rates, so a scan beats hashing.
    fn with_limiter<T>(&self, rate: Rate, f: impl FnOnce(&Limiter) -> T) -> T {
        for slot in &self.limiters {
            match slot.get() {
                Some((r, limiter)) if *r == rate => return f(limiter),
                Some(_) => {}
                // Cells fill in order: an empty one ends the scan.
                None => break,
            }
        }
        if self.limiters.iter().all(|slot| slot.get().is_some()) {
            let more = self.more_limiters.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, limiter)) = more.iter().find(|(r, _)| *r == rate) {
                return f(limiter);
            }
        }
        {
            let _creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            if !self.has_limiter(rate) {
                let entry = (rate, self.new_limiter(rate));
                match self.limiters.iter().find(|slot| slot.get().is_none()) {
                    // Only creators write the cells, one at a time: this one is empty.
                    Some(slot) => {
                        let _ = slot.set(entry);
                    }
                    None => self
                        .more_limiters
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(entry),
                }
            }
        }
        // Found on the next look: limiters are never removed.
        self.with_limiter(rate, f)
    }

    fn has_limiter(&self, rate: Rate) -> bool {
        self.limiters
            .iter()
            .any(|slot| slot.get().is_some_and(|(r, _)| *r == rate))
            || self
                .more_limiters
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|(r, _)| *r == rate)
    }

    fn hash(&self, check: &RateCheck<'_>, index: usize) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(check.scope.as_bytes());
        h.write_u8(0xff);
        h.write_usize(index);
        h.write(check.key.as_bytes());
        h.finish()
    }

    /// Applies `check` right away (the store never waits).
    ///
    /// ```
    /// use secure_api_runtime::{MemoryStore, Rate, RateCheck};
    /// let store = MemoryStore::new(10);
    /// let d = store.check_now(&RateCheck::new("s", "ip:192.0.2.1", &[Rate::new(5, 60)]));
    /// assert_eq!(d.remaining(), 4);
    /// ```
    pub fn check_now(&self, check: &RateCheck<'_>) -> RateDecision {
        let mut tightest: Option<RateDecision> = None;
        for (index, rate) in check.rates.iter().enumerate() {
            let key = self.hash(check, index);
            let outcome = self.with_limiter(*rate, |limiter| {
                limiter
                    .check_key(&key)
                    .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
            });
            match outcome {
                Ok(snapshot) => {
                    let remaining = snapshot.remaining_burst_capacity();
                    let per_cell = rate.period() / rate.count().max(1);
                    let reset = per_cell * rate.count().saturating_sub(remaining);
                    let decision = RateDecision::allowed_with(index, remaining, reset);
                    if tightest.is_none_or(|t| remaining < t.remaining) {
                        tightest = Some(decision);
                    }
                }
                Err(wait) => return RateDecision::refused(index, wait),
            }
        }
        tightest.unwrap_or(RateDecision::allowed_with(0, u32::MAX, Duration::ZERO))
    }
}

impl RateLimitStore for MemoryStore {
    fn check<'a>(&'a self, check: RateCheck<'a>) -> StoreFuture<'a> {
        let decision = self.check_now(&check);
        Box::pin(std::future::ready(Ok(decision)))
    }

    fn tracked_keys(&self) -> Option<usize> {
        Some(MemoryStore::tracked_keys(self))
    }

    fn purge(&self) {
        self.purge_idle();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check<'a>(key: &'a str, rates: &'a [Rate]) -> RateCheck<'a> {
        RateCheck::new("scope", key, rates)
    }

    #[test]
    fn quota_is_exact_and_replenishes_one_cell_per_interval() {
        let clock = ManualClock::new();
        let store = MemoryStore::with_clock(100, clock.clone());
        let rates = [Rate::new(5, 60)];
        for left in (0..5).rev() {
            let d = store.check_now(&check("p:alice", &rates));
            assert!(d.allowed());
            assert_eq!(d.remaining(), left);
        }
        let d = store.check_now(&check("p:alice", &rates));
        assert_eq!(d, RateDecision::refused(0, Duration::from_secs(12)));
        clock.advance(Duration::from_secs(12));
        assert!(store.check_now(&check("p:alice", &rates)).allowed());
        assert!(!store.check_now(&check("p:alice", &rates)).allowed());
        assert!(store.check_now(&check("p:bob", &rates)).allowed());
    }

    #[test]
    fn stacked_rates_refuse_on_the_first_exhausted_one() {
        let clock = ManualClock::new();
        let store = MemoryStore::with_clock(100, clock.clone());
        let rates = [Rate::new(2, 1), Rate::new(3, 3600)];
        assert!(store.check_now(&check("k", &rates)).allowed());
        assert!(store.check_now(&check("k", &rates)).allowed());
        assert_eq!(store.check_now(&check("k", &rates)).rate(), 0);
        clock.advance(Duration::from_secs(1));
        let d = store.check_now(&check("k", &rates));
        assert!(d.allowed());
        assert_eq!((d.rate(), d.remaining()), (1, 0));
        clock.advance(Duration::from_secs(1));
        let d = store.check_now(&check("k", &rates));
        assert!(!d.allowed());
        assert_eq!(d.rate(), 1);
        assert_eq!(d.reset(), Duration::from_secs(1198));
    }

    #[test]
    fn every_distinct_rate_has_its_own_limiter_beyond_the_lock_free_cells() {
        let store = Arc::new(MemoryStore::with_clock(1_000, ManualClock::new()));
        // One scope per rate, as one policy per quota.
        let rates: Vec<(String, [Rate; 1])> = (0..LIMITER_SLOTS as u64 + 8)
            .map(|i| (format!("policy-{i}"), [Rate::new(2, 60 + i)]))
            .collect();
        // Workers racing to create the same limiters: each rate still allows exactly two.
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let rates = rates.clone();
                std::thread::spawn(move || {
                    let mut allowed = 0;
                    for _ in 0..3 {
                        allowed += rates
                            .iter()
                            .filter(|(scope, rate)| {
                                store.check_now(&RateCheck::new(scope, "k", rate)).allowed()
                            })
                            .count();
                    }
                    allowed
                })
            })
            .collect();
        let allowed: usize = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
        assert_eq!(allowed, 2 * rates.len());
        assert!(store.limiters.iter().all(|slot| slot.get().is_some()));
        assert_eq!(
            store
                .more_limiters
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
            8
        );
    }

    #[test]
    fn scopes_and_rates_do_not_share_buckets() {
        let store = MemoryStore::with_clock(100, ManualClock::new());
        let one = [Rate::new(1, 60)];
        assert!(store.check_now(&RateCheck::new("a", "k", &one)).allowed());
        assert!(store.check_now(&RateCheck::new("b", "k", &one)).allowed());
        assert!(!store.check_now(&RateCheck::new("a", "k", &one)).allowed());
    }

    #[test]
    fn the_cap_holds_and_the_least_recently_seen_go_first() {
        let clock = ManualClock::new();
        let store = MemoryStore::with_clock(1000, clock.clone());
        let rates = [Rate::new(1, 3600)];
        // A throttled client seen recently must survive a flood of new keys.
        assert!(store.check_now(&check("victim", &rates)).allowed());
        for i in 0..10_000 {
            clock.advance(Duration::from_millis(1));
            let key = format!("flood-{i}");
            store.check_now(&check(&key, &rates));
            if i % 100 == 0 {
                clock.advance(Duration::from_millis(1));
                assert!(!store.check_now(&check("victim", &rates)).allowed());
            }
            assert!(store.tracked_keys() <= 1000);
        }
        assert!(store.evicted_keys() >= 9_000);
    }

    #[test]
    fn idle_keys_go_first_when_full_and_on_purge() {
        let clock = ManualClock::new();
        let store = MemoryStore::with_clock(10, clock.clone());
        let rates = [Rate::new(5, 1)];
        for i in 0..10 {
            store.check_now(&check(&format!("k{i}"), &rates));
        }
        assert_eq!(store.tracked_keys(), 10);
        store.purge_idle();
        assert_eq!(store.tracked_keys(), 10, "recent keys are kept");
        clock.advance(Duration::from_secs(2));
        store.check_now(&check("new", &rates));
        assert_eq!(store.tracked_keys(), 1, "every idle key made room");
        assert_eq!(
            store.evicted_keys(),
            0,
            "idle keys are not counted as evicted"
        );
        clock.advance(Duration::from_secs(2));
        store.purge_idle();
        assert_eq!(store.tracked_keys(), 0);
    }
}
