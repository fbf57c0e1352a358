//! Throttling: one keyed GCRA limiter (governor) per rate of each handler.
//!
//! Keys are the principal's subject on authenticated routes and the client IP on public
//! ones (IPv6 clients bucketed by their /64, since one host usually owns the whole
//! prefix). Keyed state is bounded: a background task drops keys whose bucket is full
//! again (indistinguishable from a fresh one) and gives the memory back.
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

use std::any::TypeId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::error::SecurityError;
use crate::policy::Rate;

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

/// The limiters' clock: monotonic wall time, or a [`ManualClock`] in tests.
#[derive(Debug, Clone)]
pub(crate) enum LimiterClock {
    Monotonic(Instant),
    Manual(ManualClock),
}

impl Default for LimiterClock {
    fn default() -> Self {
        LimiterClock::Monotonic(Instant::now())
    }
}

impl Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match self {
            LimiterClock::Monotonic(origin) => Nanos::from(origin.elapsed()),
            LimiterClock::Manual(clock) => Nanos::from(clock.elapsed()),
        }
    }
}

/// What a request is throttled by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum RateKey {
    Principal(Box<str>),
    Ip(IpAddr),
}

impl RateKey {
    /// IPv6 addresses are bucketed by /64; IPv4-mapped IPv6 addresses count as IPv4.
    pub(crate) fn ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => RateKey::Ip(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => RateKey::Ip(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    RateKey::Ip(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

type Keyed = RateLimiter<RateKey, DashMapStateStore<RateKey>, LimiterClock, NoOpMiddleware<Nanos>>;

pub(crate) struct Limiter {
    rate: Rate,
    inner: Keyed,
}

impl Limiter {
    fn new(rate: Rate, clock: LimiterClock) -> Self {
        let burst = NonZeroU32::new(rate.count()).unwrap_or(NonZeroU32::MIN);
        // Replenish one cell every period/count, burst of count: "N per PERIOD".
        let per_cell = rate.period() / burst.get();
        let quota = Quota::with_period(per_cell.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Limiter {
            rate,
            inner: RateLimiter::dashmap_with_clock(quota, clock),
        }
    }

    fn check(&self, key: &RateKey) -> Result<(), SecurityError> {
        match self.inner.check_key(key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.inner.clock().now());
                Err(SecurityError::rate_limited(
                    wait,
                    self.rate.count(),
                    self.rate.period_secs(),
                ))
            }
        }
    }
}

/// Every limiter of one `Security`, created on first use of each handler.
pub(crate) struct RateLimiters {
    by_policy: RwLock<HashMap<TypeId, Arc<[Limiter]>>>,
    clock: LimiterClock,
    cleanup_interval: Duration,
    cleanup_started: AtomicBool,
}

impl RateLimiters {
    pub(crate) fn new(clock: LimiterClock, cleanup_interval: Duration) -> Self {
        RateLimiters {
            by_policy: RwLock::new(HashMap::new()),
            clock,
            cleanup_interval,
            cleanup_started: AtomicBool::new(false),
        }
    }

    fn limiters_for(&self, policy: TypeId, rates: &[Rate]) -> Arc<[Limiter]> {
        // A poisoned lock only means another request panicked mid-insert; the map is
        // still consistent (insertions are single calls), so keep using it.
        if let Some(found) = self
            .by_policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&policy)
        {
            return found.clone();
        }
        let mut map = self.by_policy.write().unwrap_or_else(|e| e.into_inner());
        map.entry(policy)
            .or_insert_with(|| {
                rates
                    .iter()
                    .map(|rate| Limiter::new(*rate, self.clock.clone()))
                    .collect()
            })
            .clone()
    }

    /// Checks every rate of the policy for `key`; the first exhausted one refuses.
    pub(crate) fn check(
        &self,
        policy: TypeId,
        rates: &[Rate],
        key: &RateKey,
    ) -> Result<(), SecurityError> {
        for limiter in self.limiters_for(policy, rates).iter() {
            limiter.check(key)?;
        }
        Ok(())
    }

    /// Drops keys whose bucket is full again and returns the memory.
    pub(crate) fn purge(&self) {
        let limiters: Vec<Arc<[Limiter]>> = self
            .by_policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for group in limiters {
            for limiter in group.iter() {
                limiter.inner.retain_recent();
                limiter.inner.shrink_to_fit();
            }
        }
    }

    pub(crate) fn tracked_keys(&self) -> usize {
        self.by_policy
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|group| group.iter().map(|l| l.inner.len()).sum::<usize>())
            .sum()
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
mod tests {
    use super::*;

    struct P;

    #[test]
    fn quota_is_exact_and_replenishes_over_the_period() {
        let clock = ManualClock::new();
        let limiters =
            RateLimiters::new(LimiterClock::Manual(clock.clone()), Duration::from_secs(60));
        let rates = [Rate::new(5, 60)];
        let key = RateKey::Principal("alice".into());
        for _ in 0..5 {
            assert!(limiters.check(TypeId::of::<P>(), &rates, &key).is_ok());
        }
        let refused = limiters.check(TypeId::of::<P>(), &rates, &key).unwrap_err();
        assert_eq!(refused.status(), 429);
        // One cell comes back every 12 s.
        clock.advance(Duration::from_secs(12));
        assert!(limiters.check(TypeId::of::<P>(), &rates, &key).is_ok());
        assert!(limiters.check(TypeId::of::<P>(), &rates, &key).is_err());
        // Other keys are independent.
        let bob = RateKey::Principal("bob".into());
        assert!(limiters.check(TypeId::of::<P>(), &rates, &bob).is_ok());
    }

    #[test]
    fn purge_forgets_keys_whose_bucket_is_full_again() {
        let clock = ManualClock::new();
        let limiters =
            RateLimiters::new(LimiterClock::Manual(clock.clone()), Duration::from_secs(60));
        let rates = [Rate::new(5, 1)];
        for i in 0..1000u32 {
            let key = RateKey::ip(IpAddr::from(i.to_be_bytes()));
            assert!(limiters.check(TypeId::of::<P>(), &rates, &key).is_ok());
        }
        assert_eq!(limiters.tracked_keys(), 1000);
        limiters.purge();
        assert_eq!(limiters.tracked_keys(), 1000, "recent keys are kept");
        clock.advance(Duration::from_secs(2));
        limiters.purge();
        assert_eq!(limiters.tracked_keys(), 0);
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(RateKey::ip(a), RateKey::ip(b));
        assert_ne!(RateKey::ip(a), RateKey::ip(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            RateKey::ip(mapped),
            RateKey::ip("192.0.2.1".parse().unwrap())
        );
    }
}
