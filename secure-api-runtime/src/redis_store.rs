//! [`RedisStore`]: rate-limit state in Redis, shared by every instance of the application
//! (feature `redis`).
//!
//! Every check is one GCRA Lua script, one round trip (`EVALSHA`; the script is loaded
//! again only after Redis lost it). The time is Redis's own `TIME`, so the instances'
//! clocks may disagree. Each rate's state is one integer key that expires when its bucket
//! is whole again, so idle clients cost nothing. Keys are
//! `PREFIX:{SHA1(scope, client key)}:RATE`: the client key (which can be an API key) is
//! never stored, and the `{...}` hash tag keeps every rate of one check in one Redis
//! Cluster slot.
//!
//! Every call has a deadline (default 250 ms). When Redis is unreachable, slow or stopped,
//! the check fails with a [`StoreError`] and each policy does what its `on_store_error`
//! says; the connection manager reconnects in the background, and checks succeed again
//! as soon as Redis answers.
//!
//! ```no_run
//! # async fn run() -> Result<(), secure_api_runtime::ConfigError> {
//! use std::time::Duration;
//! use secure_api_runtime::{RedisStore, Security};
//!
//! let store = RedisStore::builder("redis://127.0.0.1:6379/")
//!     .timeout(Duration::from_millis(100))
//!     .key_prefix("orders-api")
//!     .connect()
//!     .await?;
//! let security = Security::builder()
//!     .hmac_secret(vec![1; 32]).issuer("i").audience("a")
//!     .rate_limit_store(store)
//!     .build()?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::ConfigError;
use crate::limiter::ManualClock;
use crate::policy::Rate;
use crate::store::{RateCheck, RateDecision, RateLimitStore, StoreError, StoreFuture};

/// Default deadline of every Redis call.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// GCRA over several rates, in microseconds. A rate's key holds its theoretical arrival
/// time (TAT); a request is refused when `now < TAT - tau`, otherwise TAT moves to
/// `max(TAT, now) + T` and the key expires when that moment has passed (the bucket is
/// whole again, which is the same as no key). The first refusing rate stops the script,
/// so later rates are not counted, as in the in-memory store.
const GCRA: &str = r"
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local best_i, best_r = 0, -1
for i = 1, #KEYS do
  local T = tonumber(ARGV[2 * i])
  local tau = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  if now < tat - tau then
    return {0, i - 1, tat - tau - now}
  end
  local new = tat + T
  redis.call('SET', KEYS[i], string.format('%d', new), 'PX', math.ceil((new - now) / 1000))
  local remaining = math.floor((now + tau + T - new) / T)
  if best_r < 0 or remaining < best_r then
    best_i, best_r = i - 1, remaining
  end
end
return {1, best_i, best_r}
";

/// Configuration of a [`RedisStore`]; see [`RedisStore::builder`].
///
/// ```
/// let builder = secure_api_runtime::RedisStore::builder("redis://127.0.0.1/").key_prefix("app");
/// ```
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    timeout: Duration,
    prefix: String,
    clock: Option<ManualClock>,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL can hold a password.
        f.debug_struct("RedisStoreBuilder")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// The deadline of every call, connecting included (default 250 ms).
    ///
    /// ```
    /// let b = secure_api_runtime::RedisStore::builder("redis://127.0.0.1/").timeout(std::time::Duration::from_millis(50));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The prefix of every key (default `secure-api:rl`); give each application its own.
    ///
    /// ```
    /// let b = secure_api_runtime::RedisStore::builder("redis://127.0.0.1/").key_prefix("orders");
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Takes the time from `clock` instead of Redis `TIME`, for tests of GCRA semantics
    /// that never sleep. Never use it with several instances.
    ///
    /// ```
    /// let b = secure_api_runtime::RedisStore::builder("redis://127.0.0.1/").clock(secure_api_runtime::ManualClock::new());
    /// ```
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Connects, and checks that Redis answers within the timeout. A bad URL, an
    /// unreachable server or a zero timeout is a [`ConfigError`] for `redis_url` /
    /// `redis_timeout`; the URL is not repeated in it (it can hold a password).
    ///
    /// ```no_run
    /// # async fn run() {
    /// let err = secure_api_runtime::RedisStore::builder("http://example").connect().await.unwrap_err();
    /// assert_eq!(err.setting(), "redis_url");
    /// # }
    /// ```
    pub async fn connect(self) -> Result<RedisStore, ConfigError> {
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "redis_timeout",
                "the timeout must be positive",
            ));
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|e| {
            ConfigError::new(
                "redis_url",
                format!(
                    "not a Redis URL such as redis://127.0.0.1:6379/ ({:?})",
                    e.kind()
                ),
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let connect = ConnectionManager::new_with_config(client, config);
        let mut conn = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(ConfigError::new(
                    "redis_url",
                    format!("cannot connect to Redis: {e}"),
                ));
            }
            Err(_) => {
                return Err(ConfigError::new(
                    "redis_url",
                    format!("Redis did not answer within {:?}", self.timeout),
                ));
            }
        };
        let ping_cmd = redis::cmd("PING");
        let ping = ping_cmd.query_async::<String>(&mut conn);
        match tokio::time::timeout(self.timeout, ping).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(ConfigError::new(
                    "redis_url",
                    format!("Redis refused PING: {e}"),
                ));
            }
            Err(_) => {
                return Err(ConfigError::new(
                    "redis_url",
                    format!("Redis did not answer within {:?}", self.timeout),
                ));
            }
        }
        Ok(RedisStore {
            conn,
            script: redis::Script::new(GCRA),
            timeout: self.timeout,
            prefix: self.prefix,
            clock: self.clock,
        })
    }
}

/// Rate-limit state in Redis, shared by every instance.
///
/// Every check is one GCRA Lua script in one round trip (`EVALSHA`), timed by Redis's own
/// `TIME` so the instances' clocks may disagree. Each rate's state is one key,
/// `PREFIX:{SHA1(scope, client key)}:N/SECS:INDEX`, that expires once its bucket is whole
/// again; the client key is never stored, and the `{...}` hash tag keeps every rate of a
/// check in one Redis Cluster slot. Every call has a deadline (default 250 ms); a failure
/// is a [`StoreError`], answered as each policy's `on_store_error` says, and the connection
/// manager reconnects in the background, so checks succeed again as soon as Redis answers.
///
/// ```no_run
/// # async fn run() -> Result<(), secure_api_runtime::ConfigError> {
/// let store = secure_api_runtime::RedisStore::connect("redis://127.0.0.1:6379/").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    prefix: String,
    clock: Option<ManualClock>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store with the default settings; see [`RedisStoreBuilder::connect`].
    ///
    /// ```no_run
    /// # async fn run() {
    /// let store = secure_api_runtime::RedisStore::connect("redis://127.0.0.1/").await;
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<RedisStore, ConfigError> {
        Self::builder(url).connect().await
    }

    /// Starts a configuration for the Redis at `url` (`redis://[:password@]host[:port][/db]`).
    ///
    /// ```
    /// let builder = secure_api_runtime::RedisStore::builder("redis://127.0.0.1:6379/0");
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            timeout: DEFAULT_REDIS_TIMEOUT,
            prefix: "secure-api:rl".to_owned(),
            clock: None,
        }
    }

    fn key(&self, check: &RateCheck<'_>, rate: Rate) -> String {
        let mut hasher = sha1_smol::Sha1::new();
        hasher.update(check.scope().as_bytes());
        hasher.update(&[0]);
        hasher.update(check.key().as_bytes());
        format!(
            "{}:{{{}}}:{}/{}",
            self.prefix,
            hasher.digest(),
            rate.count(),
            rate.period_secs()
        )
    }

    async fn run(&self, check: RateCheck<'_>) -> Result<RateDecision, StoreError> {
        let rates = check.rates();
        if rates.is_empty() {
            return Ok(RateDecision::allowed_with(0, u32::MAX, Duration::ZERO));
        }
        let mut invocation = self.script.prepare_invoke();
        for (index, rate) in rates.iter().enumerate() {
            // The index keeps two equal rates of one check apart.
            invocation.key(format!("{}:{index}", self.key(&check, *rate)));
        }
        match &self.clock {
            Some(clock) => invocation.arg(clock.elapsed().as_micros().to_string()),
            None => invocation.arg(""),
        };
        for rate in rates {
            let (t, tau) = interval_us(*rate);
            invocation.arg(t).arg(tau);
        }
        let mut conn = self.conn.clone();
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut conn);
        let (allowed, index, value) = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(StoreError::new(format!("Redis: {e}"))),
            Err(_) => {
                return Err(StoreError::new(format!(
                    "Redis did not answer within {:?}",
                    self.timeout
                )));
            }
        };
        let index = usize::try_from(index)
            .ok()
            .filter(|i| *i < rates.len())
            .ok_or_else(|| StoreError::new("Redis: the script answered an unknown rate"))?;
        let value = u64::try_from(value).unwrap_or(0);
        let rate = rates[index];
        if allowed == 1 {
            let remaining = u32::try_from(value).unwrap_or(u32::MAX);
            let (t, _) = interval_us(rate);
            let reset = Duration::from_micros(
                t.saturating_mul(u64::from(rate.count().saturating_sub(remaining))),
            );
            Ok(RateDecision::allowed_with(index, remaining, reset))
        } else {
            Ok(RateDecision::refused(index, Duration::from_micros(value)))
        }
    }
}

/// The emission interval `T = period / count` and tolerance `tau = T * (count - 1)`, in
/// microseconds.
fn interval_us(rate: Rate) -> (u64, u64) {
    let period = rate.period_secs().saturating_mul(1_000_000);
    let t = (period / u64::from(rate.count().max(1))).max(1);
    (
        t,
        t.saturating_mul(u64::from(rate.count().saturating_sub(1))),
    )
}

impl RateLimitStore for RedisStore {
    fn check<'a>(&'a self, check: RateCheck<'a>) -> StoreFuture<'a> {
        Box::pin(self.run(check))
    }
}

/// The key of single-use state: the caller's key is hashed, never stored.
fn single_use_key(prefix: &str, kind: &str, key: &str) -> String {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(key.as_bytes());
    format!("{prefix}:{kind}:{}", hasher.digest())
}

async fn within<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(StoreError::new(format!("Redis: {e}"))),
        Err(_) => Err(StoreError::new(format!(
            "Redis did not answer within {timeout:?}"
        ))),
    }
}

impl RedisStore {
    /// Spent token ids (`replay` routes) in the same Redis, so a `jti` used on one instance
    /// is refused on every other. One `SET NX PXAT` per check.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), secure_api_runtime::ConfigError> {
    /// use std::sync::Arc;
    /// let redis = secure_api_runtime::RedisStore::connect("redis://127.0.0.1/").await?;
    /// let builder = secure_api_runtime::Security::builder()
    ///     .nonce_store(Arc::new(redis.nonce_store()))
    ///     .rate_limit_store(redis);
    /// # Ok(()) }
    /// ```
    pub fn nonce_store(&self) -> RedisNonceStore {
        RedisNonceStore {
            conn: self.conn.clone(),
            timeout: self.timeout,
            prefix: self.prefix.clone(),
        }
    }

    /// `Idempotency-Key` records in the same Redis, kept for `ttl`; a key in flight for
    /// longer than five minutes is taken as abandoned.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), secure_api_runtime::ConfigError> {
    /// use std::{sync::Arc, time::Duration};
    /// let redis = secure_api_runtime::RedisStore::connect("redis://127.0.0.1/").await?;
    /// let builder = secure_api_runtime::Security::builder()
    ///     .idempotency_store(Arc::new(redis.idempotency_store(Duration::from_secs(24 * 3600))));
    /// # Ok(()) }
    /// ```
    pub fn idempotency_store(&self, ttl: Duration) -> RedisIdempotencyStore {
        RedisIdempotencyStore {
            conn: self.conn.clone(),
            timeout: self.timeout,
            prefix: self.prefix.clone(),
            ttl,
            begin: redis::Script::new(IDEMPOTENCY_BEGIN),
            complete: redis::Script::new(IDEMPOTENCY_COMPLETE),
            abandon: redis::Script::new(IDEMPOTENCY_ABANDON),
        }
    }
}

/// [`NonceStore`](crate::NonceStore) in Redis; made by [`RedisStore::nonce_store`].
///
/// ```no_run
/// # async fn run(redis: secure_api_runtime::RedisStore) {
/// let nonces = redis.nonce_store();
/// # }
/// ```
#[derive(Clone)]
pub struct RedisNonceStore {
    conn: ConnectionManager,
    timeout: Duration,
    prefix: String,
}

impl fmt::Debug for RedisNonceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisNonceStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl crate::NonceStore for RedisNonceStore {
    fn insert_once<'a>(&'a self, key: &'a str, expires_at: u64) -> crate::StoreResult<'a, bool> {
        Box::pin(async move {
            let key = single_use_key(&self.prefix, "jti", key);
            let mut conn = self.conn.clone();
            let mut command = redis::cmd("SET");
            command
                .arg(&key)
                .arg(1)
                .arg("NX")
                .arg("PXAT")
                .arg(expires_at.saturating_mul(1000).max(1));
            let reply: Option<String> =
                within(self.timeout, command.query_async(&mut conn)).await?;
            Ok(reply.is_some())
        })
    }
}

impl RedisStore {
    /// Revoked token ids in the same Redis, so a token revoked through one instance is
    /// refused by every other. Each entry is one key named by the SHA-1 digest of the id
    /// (the id itself is never stored), set with `PXAT` to expire with the token; a lookup
    /// is one `EXISTS`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), secure_api_runtime::ConfigError> {
    /// use std::sync::Arc;
    /// let redis = secure_api_runtime::RedisStore::connect("redis://127.0.0.1/").await?;
    /// let builder = secure_api_runtime::Security::builder()
    ///     .revocation_store(Arc::new(redis.revocation_store()));
    /// # Ok(()) }
    /// ```
    pub fn revocation_store(&self) -> RedisRevocationStore {
        RedisRevocationStore {
            conn: self.conn.clone(),
            timeout: self.timeout,
            prefix: self.prefix.clone(),
            script: redis::Script::new(REVOKE),
        }
    }
}

/// [`RevocationStore`](crate::RevocationStore) in Redis; made by
/// [`RedisStore::revocation_store`].
///
/// ```no_run
/// # async fn run(redis: secure_api_runtime::RedisStore) {
/// let revoked = redis.revocation_store();
/// # }
/// ```
#[derive(Clone)]
pub struct RedisRevocationStore {
    conn: ConnectionManager,
    timeout: Duration,
    prefix: String,
    script: redis::Script,
}

/// Denies KEYS[1] until ARGV[1] (ms since the epoch), keeping a later expiry it already
/// has. A moment already past makes Redis drop the key at once: the token is expired.
const REVOKE: &str = r"
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], 1, 'PXAT', ARGV[1])
end
return 1
";

impl fmt::Debug for RedisRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl crate::RevocationStore for RedisRevocationStore {
    fn revoke<'a>(&'a self, jti: &'a str, until: u64) -> crate::StoreResult<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut invocation = self.script.prepare_invoke();
            invocation
                .key(single_use_key(&self.prefix, "revoked", jti))
                .arg(until.saturating_mul(1000).max(1));
            let _: i64 = within(self.timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(())
        })
    }

    fn is_revoked<'a>(&'a self, jti: &'a str) -> crate::StoreResult<'a, bool> {
        Box::pin(async move {
            let key = single_use_key(&self.prefix, "revoked", jti);
            let mut conn = self.conn.clone();
            let found: u64 = within(
                self.timeout,
                redis::cmd("EXISTS").arg(&key).query_async(&mut conn),
            )
            .await?;
            Ok(found > 0)
        })
    }
}

/// Starts a record: `{0}` new, `{1}` in flight, `{2}` another request, `{3, status,
/// headers, body}` done. KEYS[1] the record; ARGV fingerprint, ttl ms, in-flight ttl ms.
const IDEMPOTENCY_BEGIN: &str = r#"
local fp = redis.call('HGET', KEYS[1], 'fp')
if not fp then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'flight')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {0}
end
if fp ~= ARGV[1] then return {2} end
if redis.call('HGET', KEYS[1], 'state') == 'flight' then return {1} end
local r = redis.call('HMGET', KEYS[1], 'status', 'headers', 'body')
return {3, r[1], r[2], r[3]}
"#;

/// Records the response of an in-flight record; ARGV status, headers, body, ttl ms.
const IDEMPOTENCY_COMPLETE: &str = r#"
if redis.call('HGET', KEYS[1], 'state') ~= 'flight' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[1], 'headers', ARGV[2], 'body', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"#;

/// Forgets an in-flight record.
const IDEMPOTENCY_ABANDON: &str = r#"
if redis.call('HGET', KEYS[1], 'state') == 'flight' then redis.call('DEL', KEYS[1]) end
return 1
"#;

/// How long a request may hold its key before it is taken as abandoned.
const IN_FLIGHT_TIMEOUT: Duration = Duration::from_secs(300);

/// [`IdempotencyStore`](crate::IdempotencyStore) in Redis; made by
/// [`RedisStore::idempotency_store`].
///
/// ```no_run
/// # async fn run(redis: secure_api_runtime::RedisStore) {
/// let records = redis.idempotency_store(std::time::Duration::from_secs(3600));
/// # }
/// ```
#[derive(Clone)]
pub struct RedisIdempotencyStore {
    conn: ConnectionManager,
    timeout: Duration,
    prefix: String,
    ttl: Duration,
    begin: redis::Script,
    complete: redis::Script,
    abandon: redis::Script,
}

impl fmt::Debug for RedisIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisIdempotencyStore")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Headers as `name\0value\0...`; names and values never hold NUL.
fn encode_headers(headers: &http::HeaderMap) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

fn decode_headers(bytes: &[u8]) -> Result<http::HeaderMap, StoreError> {
    let corrupt = || StoreError::new("Redis: a recorded response has corrupt headers");
    let mut headers = http::HeaderMap::new();
    let mut parts = bytes.split(|b| *b == 0);
    while let Some(name) = parts.next() {
        if name.is_empty() {
            break;
        }
        let value = parts.next().ok_or_else(corrupt)?;
        headers.append(
            http::HeaderName::from_bytes(name).map_err(|_| corrupt())?,
            http::HeaderValue::from_bytes(value).map_err(|_| corrupt())?,
        );
    }
    Ok(headers)
}

impl crate::IdempotencyStore for RedisIdempotencyStore {
    fn begin<'a>(
        &'a self,
        key: &'a str,
        fingerprint: [u8; 32],
    ) -> crate::StoreResult<'a, crate::IdempotencyBegin> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut invocation = self.begin.prepare_invoke();
            invocation
                .key(single_use_key(&self.prefix, "idem", key))
                .arg(&fingerprint[..])
                .arg(millis(self.ttl))
                .arg(millis(IN_FLIGHT_TIMEOUT.min(self.ttl)));
            let reply: Vec<redis::Value> =
                within(self.timeout, invocation.invoke_async(&mut conn)).await?;
            let code = match reply.first() {
                Some(redis::Value::Int(code)) => *code,
                _ => return Err(StoreError::new("Redis: unexpected idempotency reply")),
            };
            Ok(match code {
                0 => crate::IdempotencyBegin::Started,
                1 => crate::IdempotencyBegin::InFlight,
                2 => crate::IdempotencyBegin::Mismatch,
                3 => {
                    let bytes = |i: usize| match reply.get(i) {
                        Some(redis::Value::BulkString(b)) => Ok(b.clone()),
                        _ => Err(StoreError::new("Redis: incomplete recorded response")),
                    };
                    let status = String::from_utf8(bytes(1)?)
                        .ok()
                        .and_then(|s| s.parse::<u16>().ok())
                        .and_then(|s| http::StatusCode::from_u16(s).ok())
                        .ok_or_else(|| StoreError::new("Redis: corrupt recorded status"))?;
                    let headers = decode_headers(&bytes(2)?)?;
                    let body = bytes::Bytes::from(bytes(3)?);
                    crate::IdempotencyBegin::Completed(std::sync::Arc::new(
                        crate::StoredResponse::new(status, headers, body),
                    ))
                }
                _ => return Err(StoreError::new("Redis: unexpected idempotency reply")),
            })
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        response: crate::StoredResponse,
    ) -> crate::StoreResult<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut invocation = self.complete.prepare_invoke();
            invocation
                .key(single_use_key(&self.prefix, "idem", key))
                .arg(response.status().as_u16())
                .arg(encode_headers(response.headers()))
                .arg(response.body().as_ref())
                .arg(millis(self.ttl));
            let _: i64 = within(self.timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(())
        })
    }

    fn abandon<'a>(&'a self, key: &'a str) -> crate::StoreResult<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut invocation = self.abandon.prepare_invoke();
            invocation.key(single_use_key(&self.prefix, "idem", key));
            let _: i64 = within(self.timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(())
        })
    }
}
