//! Throttling: the keys requests are counted under, the store that counts them, and the
//! clock.
//!
//! Keys are the principal's subject on authenticated routes and the client IP on public
//! ones unless the policy says otherwise (IPv6 clients bucketed by their /64 by default,
//! since one host usually owns the whole prefix). The embedded store is bounded (see
//! [`MemoryStore`]): a background task drops keys whose bucket is full again
//! (indistinguishable from a fresh one) and gives the memory back.
//!
//! Time is injectable through [`ManualClock`], so throttling can be tested without sleeping:
//!
//! ```
//! use std::time::Duration;
//! use secure_api_runtime::ManualClock;
//!
//! let clock = ManualClock::new();
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(clock.elapsed(), Duration::from_secs(60));
//! ```

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::{Clock, QuantaClock, QuantaInstant, Reference};
use governor::nanos::Nanos;

use crate::store::{MemoryStore, RateCheck, RateDecision, RateLimitStore, StoreError};
use crate::text::InlineText;

/// A clock that only moves when told to, for tests of throttling that never sleep.
///
/// ```
/// use std::time::Duration;
/// let clock = secure_api_runtime::ManualClock::new();
/// let same = clock.clone();
/// same.advance(Duration::from_millis(5));
/// assert_eq!(clock.elapsed(), Duration::from_millis(5));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock at zero.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::ManualClock::new().elapsed().as_secs(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let c = secure_api_runtime::ManualClock::new();
    /// c.advance(Duration::from_secs(1));
    /// assert_eq!(c.elapsed().as_secs(), 1);
    /// ```
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }

    /// Time since the clock was made.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::ManualClock::new().elapsed(), std::time::Duration::ZERO);
    /// ```
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

/// A stopwatch on quanta's clock (the TSC where it is reliable): two readings cost a few
/// nanoseconds each, where `std::time::Instant` makes two `clock_gettime` calls. For
/// durations that are only measured, like the authentication time.
#[derive(Clone, Copy)]
pub(crate) struct Stopwatch(QuantaInstant);

impl Stopwatch {
    fn clock() -> &'static QuantaClock {
        static CLOCK: std::sync::OnceLock<QuantaClock> = std::sync::OnceLock::new();
        CLOCK.get_or_init(QuantaClock::default)
    }

    /// Starts timing.
    pub(crate) fn start() -> Self {
        Stopwatch(Self::clock().now())
    }

    /// The time since [`Stopwatch::start`].
    pub(crate) fn elapsed(self) -> Duration {
        Self::clock().now().duration_since(self.0).into()
    }
}

/// The limiters' clock: monotonic time (quanta: the TSC where it is reliable, a few
/// nanoseconds a reading), or a [`ManualClock`] in tests.
#[derive(Debug, Clone)]
pub(crate) enum LimiterClock {
    Monotonic(QuantaClock, QuantaInstant),
    Manual(ManualClock),
}

impl Default for LimiterClock {
    fn default() -> Self {
        let clock = QuantaClock::default();
        let origin = clock.now();
        LimiterClock::Monotonic(clock, origin)
    }
}

impl Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match self {
            LimiterClock::Monotonic(clock, origin) => clock.now().duration_since(*origin),
            LimiterClock::Manual(clock) => Nanos::from(clock.elapsed()),
        }
    }
}

/// What a request is throttled by, as the canonical key string the stores see.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct RateKey(InlineText<INLINE_KEY_LEN>);

/// Longest key kept in place (the key of an authenticated request is made on every one).
const INLINE_KEY_LEN: usize = 46;

impl std::fmt::Debug for RateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RateKey").field(&self.as_str()).finish()
    }
}

impl From<String> for RateKey {
    fn from(key: String) -> Self {
        RateKey(InlineText::from(key))
    }
}

impl RateKey {
    /// The key of an authenticated principal: `p:` and its subject, in place when it fits.
    pub(crate) fn principal(subject: &str) -> Self {
        RateKey(InlineText::concat(&[b"p:", subject.as_bytes()]))
    }

    /// IPv6 addresses are bucketed by their first `ipv6_prefix` bits (one host usually
    /// owns a whole /64); IPv4-mapped IPv6 addresses count as IPv4.
    pub(crate) fn ip(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match crate::client_ip::canonical(ip) {
            IpAddr::V4(v4) => RateKey::from(format!("ip:{v4}")),
            IpAddr::V6(v6) => {
                let prefix = u32::from(ipv6_prefix.clamp(1, 128));
                let bits = u128::from(v6) & (u128::MAX << (128 - prefix));
                RateKey::from(format!("ip:{}/{prefix}", std::net::Ipv6Addr::from(bits)))
            }
        }
    }

    pub(crate) fn api_key(key: &str) -> Self {
        RateKey::from(format!("k:{key}"))
    }

    /// An authenticated API key, by its id (in its own namespace: a raw header value can
    /// never collide with it).
    pub(crate) fn api_key_id(id: &str) -> Self {
        RateKey::from(format!("kid:{id}"))
    }

    pub(crate) fn header(name: &str, value: &str) -> Self {
        RateKey::from(format!("h:{name}:{value}"))
    }

    pub(crate) fn custom(value: &str) -> Self {
        RateKey::from(format!("u:{value}"))
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// The store behind every limit of one `Security`: the embedded one is called directly
/// (no allocation, no await), any other through the trait.
pub(crate) enum Store {
    Memory(MemoryStore),
    External(Arc<dyn RateLimitStore>),
}

/// A rate-limit decision: made, or on its way from an external store.
pub(crate) enum Checked<'a> {
    Now(Result<RateDecision, StoreError>),
    Later(crate::store::StoreFuture<'a>),
}

/// Every limit of one `Security`, and its background purge.
pub(crate) struct RateLimiters {
    store: Store,
    cleanup_interval: Duration,
    cleanup_started: AtomicBool,
}

impl RateLimiters {
    pub(crate) fn new(store: Store, cleanup_interval: Duration) -> Self {
        RateLimiters {
            store,
            cleanup_interval,
            cleanup_started: AtomicBool::new(false),
        }
    }

    /// Applies `check` in the configured store: at once in memory, or the store's own
    /// future (already boxed) to await. Awaiting only that keeps the guard's future,
    /// which every request allocates and moves, free of this call's state.
    pub(crate) fn check<'a>(&'a self, check: RateCheck<'a>) -> Checked<'a> {
        match &self.store {
            Store::Memory(memory) => Checked::Now(Ok(memory.check_now(&check))),
            Store::External(store) => Checked::Later(store.check(check)),
        }
    }

    /// Drops keys whose bucket is full again and returns the memory.
    pub(crate) fn purge(&self) {
        match &self.store {
            Store::Memory(memory) => memory.purge_idle(),
            Store::External(store) => store.purge(),
        }
    }

    pub(crate) fn tracked_keys(&self) -> usize {
        match &self.store {
            Store::Memory(memory) => memory.tracked_keys(),
            Store::External(store) => store.tracked_keys().unwrap_or(0),
        }
    }

    /// Starts the background purge once, on the runtime that serves the first request.
    pub(crate) fn ensure_cleanup<T, F>(&self, owner: &Arc<T>, purge: F)
    where
        T: Send + Sync + 'static,
        F: Fn(&T) + Send + 'static,
    {
        if self.cleanup_started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.cleanup_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<T> = Arc::downgrade(owner);
        let interval = self.cleanup_interval;
        handle.spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match weak.upgrade() {
                    Some(owner) => purge(&owner),
                    None => break,
                }
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_prefix() {
        let key = |s: &str, prefix| RateKey::ip(s.parse().unwrap(), prefix);
        assert_eq!(
            key("2001:db8:1:2:aaaa::1", 64),
            key("2001:db8:1:2:bbbb::9", 64)
        );
        assert_ne!(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64));
        assert_eq!(key("2001:db8:1:2::1", 48), key("2001:db8:1:3::1", 48));
        assert_ne!(key("2001:db8::1", 128), key("2001:db8::2", 128));
        assert_eq!(key("2001:db8:1:2::1", 64).as_str(), "ip:2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.1", 64), key("192.0.2.1", 64));
        assert_eq!(key("192.0.2.1", 64).as_str(), "ip:192.0.2.1");
    }

    #[test]
    fn principal_keys_have_their_own_namespace() {
        assert_eq!(RateKey::principal("alice").as_str(), "p:alice");
        assert_eq!(RateKey::principal("").as_str(), "p:");
        assert_ne!(RateKey::principal("1"), RateKey::api_key("1"));
    }

    #[test]
    fn principal_keys_of_every_length_keep_their_text() {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        for len in [0, 1, 43, 44, 45, 200] {
            for unit in ["a", "é", "👤"] {
                let subject = unit.repeat(len);
                let key = RateKey::principal(&subject);
                assert_eq!(key.as_str(), format!("p:{subject}"));
                // In place or not, one key text is one key.
                let heap = RateKey::from(format!("p:{subject}"));
                assert_eq!(key, heap);
                assert_eq!(state.hash_one(&key), state.hash_one(&heap));
                assert_ne!(key, RateKey::principal(&format!("{subject}x")));
            }
        }
    }
}
