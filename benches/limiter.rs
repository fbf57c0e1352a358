//! The in-memory rate-limit store: bytes per tracked key and check latency at 1k, 100k and
//! 1M tracked keys, each against governor's unbounded DashMap keyed limiter (what the store
//! replaces) in the same run.
//!
//! ```text
//! cargo bench --bench limiter
//! ```
//!
//! Memory is measured as the growth of the process's resident set while a store is filled
//! (read from `/proc/self/statm`, Linux), so it counts the allocator's real footprint.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group};
use governor::{Quota, RateLimiter};
use secure_api::{MemoryStore, Rate, RateCheck};

const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
/// Far above any load: every check passes, so the bench measures the bookkeeping alone.
const RATE: Rate = Rate::new(1_000_000_000, 1);

fn keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("ip:10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff))
        .collect()
}

fn memory_store(keys: &[String]) -> MemoryStore {
    let store = MemoryStore::new(keys.len());
    let rates = [RATE];
    for key in keys {
        assert!(
            store
                .check_now(&RateCheck::new("bench", key, &rates))
                .allowed()
        );
    }
    assert_eq!(store.tracked_keys(), keys.len());
    store
}

type Baseline = RateLimiter<
    String,
    governor::state::keyed::DashMapStateStore<String>,
    governor::clock::DefaultClock,
>;

fn baseline(keys: &[String]) -> Baseline {
    let quota = Quota::per_second(NonZeroU32::new(RATE.count()).unwrap());
    let limiter = RateLimiter::dashmap(quota);
    for key in keys {
        assert!(limiter.check_key(key).is_ok());
    }
    limiter
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes per key of each store, measured by filling fresh ones (kept alive so that freed
/// memory is not reused by the next measurement).
fn report_memory() {
    println!("bytes per tracked key (resident-set growth while filling)");
    println!(
        "{:>10} {:>14} {:>22} {:>7}",
        "keys", "MemoryStore", "governor DashMap", "ratio"
    );
    let mut keep = Vec::new();
    for n in SIZES {
        let names = keys(n);
        let before = resident_bytes();
        let store = memory_store(&names);
        let middle = resident_bytes();
        let limiter = baseline(&names);
        let after = resident_bytes();
        let ours = (middle - before) as f64 / n as f64;
        let theirs = (after - middle) as f64 / n as f64;
        println!(
            "{n:>10} {ours:>14.1} {theirs:>22.1} {:>7.2}",
            if theirs > 0.0 {
                ours / theirs
            } else {
                f64::NAN
            }
        );
        keep.push((store, limiter, names));
    }
}

fn check_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in SIZES {
        let names = keys(n);
        // A stride coprime with n walks every key in a cache-unfriendly order.
        let stride = 7_919 % n;
        let store = memory_store(&names);
        let rates = [RATE];
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("MemoryStore", n), &n, |b, _| {
            b.iter(|| {
                i = (i + stride) % n;
                black_box(store.check_now(&RateCheck::new("bench", &names[i], &rates)))
            })
        });
        drop(store);
        let limiter = baseline(&names);
        let mut i = 0;
        group.bench_with_input(
            BenchmarkId::new("governor DashMap (baseline)", n),
            &n,
            |b, _| {
                b.iter(|| {
                    i = (i + stride) % n;
                    black_box(limiter.check_key(&names[i]).is_ok())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, check_latency);

fn main() {
    report_memory();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
