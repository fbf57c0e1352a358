//! Single-use state: token ids (`jti`) for `replay` routes and `Idempotency-Key` records for
//! `idempotent` routes.
//!
//! Both sit behind traits so that several instances can share them; the in-memory stores
//! shipped here are bounded and fail closed when full (the request is refused with 503
//! rather than let through unrecorded).
//!
//! ```
//! use secure_api_runtime::{MemoryNonceStore, NonceStore};
//!
//! # tokio_test(async {
//! let store = MemoryNonceStore::new(1_000);
//! assert_eq!(store.insert_once("issuer\u{0}token-1", u64::MAX).await, Ok(true));
//! assert_eq!(store.insert_once("issuer\u{0}token-1", u64::MAX).await, Ok(false));
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::store::StoreError;

/// The future a single-use store returns.
pub type StoreResult<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;
use http::{HeaderMap, StatusCode};

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Records values that may be seen once (token ids, nonces) until they expire.
///
/// ```
/// use secure_api_runtime::{NonceStore, StoreError, StoreResult};
///
/// /// A store that refuses everything: a stand-in for one whose backend is down.
/// struct Down;
/// impl NonceStore for Down {
///     fn insert_once<'a>(&'a self, _: &'a str, _: u64) -> StoreResult<'a, bool> {
///         Box::pin(async { Err(StoreError::new("backend unreachable")) })
///     }
/// }
/// ```
pub trait NonceStore: Send + Sync + 'static {
    /// Records `key` until `expires_at` (seconds since the Unix epoch). Returns `true` when
    /// it was new, `false` when it had been recorded already (a replay).
    fn insert_once<'a>(&'a self, key: &'a str, expires_at: u64) -> StoreResult<'a, bool>;
}

/// The in-memory [`NonceStore`]: a map bounded to `capacity` live entries. Expired entries
/// are dropped when the map fills; if it is still full, new entries are refused with an
/// error (fail closed).
///
/// ```
/// let store = secure_api_runtime::MemoryNonceStore::new(1);
/// assert_eq!(store.record("a", u64::MAX), Ok(true));
/// assert!(store.record("b", u64::MAX).is_err(), "full: refused, not forgotten");
/// ```
#[derive(Debug)]
pub struct MemoryNonceStore {
    capacity: usize,
    seen: Mutex<HashMap<Box<str>, u64>>,
}

impl MemoryNonceStore {
    /// A store holding at most `capacity` unexpired entries.
    ///
    /// ```
    /// let store = secure_api_runtime::MemoryNonceStore::new(100_000);
    /// assert_eq!(store.len(), 0);
    /// ```
    pub fn new(capacity: usize) -> Self {
        MemoryNonceStore {
            capacity: capacity.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Entries held now (expired ones included until the next purge).
    ///
    /// ```
    /// assert!(secure_api_runtime::MemoryNonceStore::new(10).is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the store holds nothing.
    ///
    /// ```
    /// assert!(secure_api_runtime::MemoryNonceStore::new(10).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NonceStore for MemoryNonceStore {
    fn insert_once<'a>(&'a self, key: &'a str, expires_at: u64) -> StoreResult<'a, bool> {
        Box::pin(std::future::ready(self.record(key, expires_at)))
    }
}

impl MemoryNonceStore {
    /// [`NonceStore::insert_once`], synchronously.
    ///
    /// ```
    /// let store = secure_api_runtime::MemoryNonceStore::new(10);
    /// assert_eq!(store.record("k", u64::MAX), Ok(true));
    /// assert_eq!(store.record("k", u64::MAX), Ok(false));
    /// ```
    pub fn record(&self, key: &str, expires_at: u64) -> Result<bool, StoreError> {
        let now = now_secs();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = seen.get(key)
            && *until >= now
        {
            return Ok(false);
        }
        if seen.len() >= self.capacity && !seen.contains_key(key) {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= self.capacity {
                return Err(StoreError::new(
                    "the in-memory nonce store is full of unexpired entries",
                ));
            }
        }
        seen.insert(Box::from(key), expires_at);
        Ok(true)
    }
}

/// A response kept for an `Idempotency-Key`, returned as is to repeats of the request.
///
/// ```
/// use secure_api_runtime::StoredResponse;
/// let stored = StoredResponse::new(http::StatusCode::CREATED, http::HeaderMap::new(), bytes::Bytes::from_static(b"{}"));
/// assert_eq!(stored.status(), 201);
/// ```
#[derive(Debug, Clone)]
pub struct StoredResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl StoredResponse {
    /// A stored response.
    ///
    /// ```
    /// let s = secure_api_runtime::StoredResponse::new(http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new());
    /// ```
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        StoredResponse {
            status,
            headers,
            body,
        }
    }

    /// Its status.
    ///
    /// ```
    /// let s = secure_api_runtime::StoredResponse::new(http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new());
    /// assert_eq!(s.status(), 200);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its headers.
    ///
    /// ```
    /// let s = secure_api_runtime::StoredResponse::new(http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new());
    /// assert!(s.headers().is_empty());
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Its body.
    ///
    /// ```
    /// let s = secure_api_runtime::StoredResponse::new(http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::from_static(b"x"));
    /// assert_eq!(s.body().as_ref(), b"x");
    /// ```
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// What an idempotency store knows of a key when a request arrives with it.
///
/// ```
/// use secure_api_runtime::IdempotencyBegin;
/// let b = IdempotencyBegin::Started;
/// assert!(matches!(b, IdempotencyBegin::Started));
/// ```
#[derive(Debug, Clone)]
pub enum IdempotencyBegin {
    /// The key is new: the request runs, and its response will be recorded.
    Started,
    /// A request with this key and the same fingerprint is still running.
    InFlight,
    /// A request with this key and a different fingerprint was seen.
    Mismatch,
    /// A request with this key and the same fingerprint completed with this response.
    Completed(Arc<StoredResponse>),
}

/// Records requests by `Idempotency-Key` and their responses.
///
/// ```
/// use secure_api_runtime::{IdempotencyBegin, IdempotencyStore, MemoryIdempotencyStore};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryIdempotencyStore::new(100, Duration::from_secs(3600));
/// let fp = [7u8; 32];
/// assert!(matches!(store.begin("k", fp).await, Ok(IdempotencyBegin::Started)));
/// assert!(matches!(store.begin("k", fp).await, Ok(IdempotencyBegin::InFlight)));
/// assert!(matches!(store.begin("k", [8u8; 32]).await, Ok(IdempotencyBegin::Mismatch)));
/// # });
/// ```
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Looks `key` up and, when it is new, marks it in flight for this `fingerprint`
    /// (a digest of method, target and body).
    fn begin<'a>(
        &'a self,
        key: &'a str,
        fingerprint: [u8; 32],
    ) -> StoreResult<'a, IdempotencyBegin>;
    /// Records the response of the request that started `key`.
    fn complete<'a>(&'a self, key: &'a str, response: StoredResponse) -> StoreResult<'a, ()>;
    /// Forgets `key` (the request failed or its response could not be recorded), so a
    /// retry runs again.
    fn abandon<'a>(&'a self, key: &'a str) -> StoreResult<'a, ()>;
}

#[derive(Debug)]
enum Record {
    InFlight { since: Instant },
    Done(Arc<StoredResponse>),
}

#[derive(Debug)]
struct Entry {
    fingerprint: [u8; 32],
    record: Record,
    expires: Instant,
}

/// The in-memory [`IdempotencyStore`]: at most `capacity` keys, each kept for `ttl`. A key
/// in flight for longer than five minutes is taken as abandoned (its request died). When
/// full of live keys, new keys are refused with an error (fail closed).
///
/// ```
/// use std::time::Duration;
/// let store = secure_api_runtime::MemoryIdempotencyStore::new(10_000, Duration::from_secs(24 * 3600));
/// ```
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    capacity: usize,
    ttl: Duration,
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

const IN_FLIGHT_TIMEOUT: Duration = Duration::from_secs(300);

impl MemoryIdempotencyStore {
    /// A store of at most `capacity` keys kept for `ttl` each.
    ///
    /// ```
    /// let s = secure_api_runtime::MemoryIdempotencyStore::new(10, std::time::Duration::from_secs(60));
    /// ```
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        MemoryIdempotencyStore {
            capacity: capacity.max(1),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl IdempotencyStore for MemoryIdempotencyStore {
    fn begin<'a>(
        &'a self,
        key: &'a str,
        fingerprint: [u8; 32],
    ) -> StoreResult<'a, IdempotencyBegin> {
        Box::pin(std::future::ready(self.begin_now(key, fingerprint)))
    }

    fn complete<'a>(&'a self, key: &'a str, response: StoredResponse) -> StoreResult<'a, ()> {
        self.complete_now(key, response);
        Box::pin(std::future::ready(Ok(())))
    }

    fn abandon<'a>(&'a self, key: &'a str) -> StoreResult<'a, ()> {
        self.abandon_now(key);
        Box::pin(std::future::ready(Ok(())))
    }
}

impl MemoryIdempotencyStore {
    fn begin_now(&self, key: &str, fingerprint: [u8; 32]) -> Result<IdempotencyBegin, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let stale = |e: &Entry| {
            e.expires <= now
                || matches!(e.record, Record::InFlight { since } if now.duration_since(since) > IN_FLIGHT_TIMEOUT)
        };
        if let Some(entry) = entries.get(key) {
            if !stale(entry) {
                if entry.fingerprint != fingerprint {
                    return Ok(IdempotencyBegin::Mismatch);
                }
                return Ok(match &entry.record {
                    Record::InFlight { .. } => IdempotencyBegin::InFlight,
                    Record::Done(response) => IdempotencyBegin::Completed(response.clone()),
                });
            }
            entries.remove(key);
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, e| !stale(e));
            if entries.len() >= self.capacity {
                return Err(StoreError::new(
                    "the in-memory idempotency store is full of live keys",
                ));
            }
        }
        entries.insert(
            Box::from(key),
            Entry {
                fingerprint,
                record: Record::InFlight { since: now },
                expires: now + self.ttl,
            },
        );
        Ok(IdempotencyBegin::Started)
    }

    fn complete_now(&self, key: &str, response: StoredResponse) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get_mut(key) {
            entry.record = Record::Done(Arc::new(response));
        }
    }

    fn abandon_now(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(
            entries.get(key),
            Some(Entry {
                record: Record::InFlight { .. },
                ..
            })
        ) {
            entries.remove(key);
        }
    }
}
