//! API keys: the key format, the generator and parser, the stored records and the stores.
//!
//! A key reads `<prefix>_<id>_<secret>_<checksum>`, for example
//! `sak_live_k4gq3v6m2a7xw5pe_<52 characters>_<8 characters>`:
//!
//! - `prefix` (default `sak_live`) names the issuer, so that secret scanners can find
//!   leaked keys by pattern; lower-case letters, digits and `_`, at most 32 characters;
//! - `id`, 16 base32 characters (80 random bits): names the key in logs, audit events and
//!   rate-limit keys, and is not a secret;
//! - `secret`, 52 base32 characters: 256 bits from the system's CSPRNG;
//! - `checksum`, 8 base32 characters: the first 40 bits of SHA-256 over everything before
//!   it, so that a typo or garbage is refused before any store is asked.
//!
//! Only the SHA-256 digest of the whole key is stored. With 256 random bits per key a
//! digest cannot be reversed by guessing, so no salt or slow hash is needed; lookups are by
//! digest and the final comparison is constant-time.
//!
//! ```
//! use secure_api_runtime::{ApiKey, generate_api_key};
//!
//! let new = generate_api_key("sak_live", "billing-service", ["editor"])?;
//! let shown_once = new.key().expose();          // give this to the client, once
//! let line = new.record().to_line();            // store this (digest only)
//! assert!(!line.contains(shown_once));
//! let parsed = ApiKey::parse(shown_once)?;
//! assert_eq!(parsed.id(), new.record().id());
//! assert!(ApiKey::parse("sak_live_garbage").is_err());
//! # Ok::<(), secure_api_runtime::ApiKeyError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::config::ConfigError;
use crate::replay::StoreResult;
use crate::store::StoreError;

/// The prefix of generated keys unless another is given.
pub const DEFAULT_API_KEY_PREFIX: &str = "sak_live";
/// The header that carries API keys unless another is configured.
pub const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const ID_BYTES: usize = 10;
const ID_LEN: usize = 16;
const SECRET_BYTES: usize = 32;
const SECRET_LEN: usize = 52;
const CHECKSUM_BYTES: usize = 5;
const CHECKSUM_LEN: usize = 8;
const MAX_PREFIX_LEN: usize = 32;
/// No well-formed key is longer; longer input is refused before any work.
const MAX_KEY_LEN: usize = MAX_PREFIX_LEN + 1 + ID_LEN + 1 + SECRET_LEN + 1 + CHECKSUM_LEN;

/// Why a key, a prefix or a stored record was refused. The message never quotes the key.
///
/// ```
/// let err = secure_api_runtime::ApiKey::parse("not a key").unwrap_err();
/// assert!(err.to_string().contains("API key"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyError(&'static str);

impl ApiKeyError {
    /// What is wrong.
    ///
    /// ```
    /// let err = secure_api_runtime::ApiKey::parse("").unwrap_err();
    /// assert!(!err.reason().is_empty());
    /// ```
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ApiKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid API key: {}", self.0)
    }
}

impl std::error::Error for ApiKeyError {}

/// A well-formed API key (prefix, id, secret and a matching checksum). Its `Debug` shows
/// the prefix and id only.
///
/// ```
/// let new = secure_api_runtime::generate_api_key("sak_test", "ci", ["viewer"]).unwrap();
/// let key = secure_api_runtime::ApiKey::parse(new.key().expose()).unwrap();
/// assert_eq!(key.prefix(), "sak_test");
/// assert!(!format!("{key:?}").contains(key.expose()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    text: String,
    prefix_len: usize,
}

impl ApiKey {
    /// Parses and checks a key: shape, alphabet, lengths and checksum. Never panics; the
    /// error never quotes the input.
    ///
    /// ```
    /// assert!(secure_api_runtime::ApiKey::parse("sak_live_aaaaaaaaaaaaaaaa_b_c").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<ApiKey, ApiKeyError> {
        if text.len() > MAX_KEY_LEN {
            return Err(ApiKeyError("too long"));
        }
        if !text.is_ascii() {
            return Err(ApiKeyError("not ASCII"));
        }
        let mut parts = text.rsplitn(4, '_');
        let (Some(checksum), Some(secret), Some(id), Some(prefix)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ApiKeyError("expected <prefix>_<id>_<secret>_<checksum>"));
        };
        check_prefix(prefix)?;
        if id.len() != ID_LEN || !is_base32(id) {
            return Err(ApiKeyError("malformed id"));
        }
        if secret.len() != SECRET_LEN || !is_base32(secret) {
            return Err(ApiKeyError("malformed secret"));
        }
        if checksum.len() != CHECKSUM_LEN || !is_base32(checksum) {
            return Err(ApiKeyError("malformed checksum"));
        }
        let body = &text[..text.len() - CHECKSUM_LEN - 1];
        if checksum_of(body) != checksum {
            return Err(ApiKeyError("wrong checksum"));
        }
        Ok(ApiKey {
            text: text.to_owned(),
            prefix_len: prefix.len(),
        })
    }

    /// The prefix (`sak_live`).
    ///
    /// ```
    /// let new = secure_api_runtime::generate_api_key("acme", "o", ["r"]).unwrap();
    /// assert_eq!(new.key().prefix(), "acme");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.text[..self.prefix_len]
    }

    /// The key id: public, names the key in logs and records.
    ///
    /// ```
    /// let new = secure_api_runtime::generate_api_key("acme", "o", ["r"]).unwrap();
    /// assert_eq!(new.key().id().len(), 16);
    /// ```
    pub fn id(&self) -> &str {
        let start = self.prefix_len + 1;
        &self.text[start..start + ID_LEN]
    }

    /// The whole key, secret included: to hand to its owner once, never to log.
    ///
    /// ```
    /// let new = secure_api_runtime::generate_api_key("acme", "o", ["r"]).unwrap();
    /// assert!(new.key().expose().starts_with("acme_"));
    /// ```
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The SHA-256 digest of the whole key, which is what stores keep.
    ///
    /// ```
    /// let new = secure_api_runtime::generate_api_key("acme", "o", ["r"]).unwrap();
    /// assert_eq!(new.key().digest(), *new.record().digest());
    /// ```
    pub fn digest(&self) -> ApiKeyDigest {
        ApiKeyDigest::of(&self.text)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}_{}_[redacted])", self.prefix(), self.id())
    }
}

/// The SHA-256 digest of a key.
///
/// ```
/// use secure_api_runtime::ApiKeyDigest;
/// let d = ApiKeyDigest::of("text");
/// assert_eq!(ApiKeyDigest::from_hex(&d.to_hex()), Some(d));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyDigest([u8; 32]);

impl ApiKeyDigest {
    /// The digest of `key`.
    ///
    /// ```
    /// assert_ne!(secure_api_runtime::ApiKeyDigest::of("a"), secure_api_runtime::ApiKeyDigest::of("b"));
    /// ```
    pub fn of(key: &str) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
        ApiKeyDigest(out)
    }

    /// The digest as 64 lower-case hex digits.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::ApiKeyDigest::of("").to_hex().len(), 64);
    /// ```
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex digits.
    ///
    /// ```
    /// assert!(secure_api_runtime::ApiKeyDigest::from_hex("zz").is_none());
    /// ```
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(ApiKeyDigest(out))
    }

    /// The raw bytes.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::ApiKeyDigest::of("").as_bytes().len(), 32);
    /// ```
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ApiKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyDigest({})", self.to_hex())
    }
}

/// What is stored about a key: id, digest, owner (the principal's subject), roles, scopes,
/// optional expiry and the revoked flag. Never the key itself.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use secure_api_runtime::{ApiKeyDigest, ApiKeyRecord};
///
/// let record = ApiKeyRecord::new("aaaaaaaaaaaaaaaa", ApiKeyDigest::of("k"), "alice")
///     .with_roles(["editor"])
///     .with_scopes(["customers:read"])
///     .expires_at(UNIX_EPOCH + Duration::from_secs(1_900_000_000));
/// assert_eq!(record.owner(), "alice");
/// assert!(!record.is_revoked());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    id: String,
    digest: ApiKeyDigest,
    owner: String,
    roles: Vec<String>,
    scopes: Vec<String>,
    not_after: Option<u64>,
    revoked: bool,
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("roles", &self.roles)
            .field("scopes", &self.scopes)
            .field("not_after", &self.not_after)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

impl ApiKeyRecord {
    /// A record without roles, scopes or expiry.
    ///
    /// ```
    /// let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert!(r.roles().is_empty());
    /// ```
    pub fn new(id: impl Into<String>, digest: ApiKeyDigest, owner: impl Into<String>) -> Self {
        ApiKeyRecord {
            id: id.into(),
            digest,
            owner: owner.into(),
            roles: Vec::new(),
            scopes: Vec::new(),
            not_after: None,
            revoked: false,
        }
    }

    /// Sets the roles granted to the key's principal.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert_eq!(r.with_roles(["admin"]).roles(), ["admin"]);
    /// ```
    pub fn with_roles<R: Into<String>>(mut self, roles: impl IntoIterator<Item = R>) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scopes granted to the key's principal.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert_eq!(r.with_scopes(["read"]).scopes(), ["read"]);
    /// ```
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The key is refused from `at` on (rotation: give the old key an expiry when the new
    /// one is issued).
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// let r = r.expires_at(std::time::UNIX_EPOCH);
    /// assert_eq!(r.not_after(), Some(std::time::UNIX_EPOCH));
    /// ```
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.not_after = Some(at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        self
    }

    /// Marks the key revoked.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert!(r.revoked().is_revoked());
    /// ```
    pub fn revoked(mut self) -> Self {
        self.revoked = true;
        self
    }

    /// The key id.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert_eq!(r.id(), "id");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The digest of the key.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert_eq!(*r.digest(), secure_api_runtime::ApiKeyDigest::of("k"));
    /// ```
    pub fn digest(&self) -> &ApiKeyDigest {
        &self.digest
    }

    /// The owner: the principal's subject.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert_eq!(r.owner(), "bob");
    /// ```
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The roles granted.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert!(r.roles().is_empty());
    /// ```
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The scopes granted.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert!(r.scopes().is_empty());
    /// ```
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// When the key stops being accepted, if ever.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert_eq!(r.not_after(), None);
    /// ```
    pub fn not_after(&self) -> Option<SystemTime> {
        self.not_after
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Whether the key is revoked.
    ///
    /// ```
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// assert!(!r.is_revoked());
    /// ```
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// Whether the key is accepted at `now`: not revoked and not past its expiry.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// # let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob");
    /// let r = r.expires_at(UNIX_EPOCH + Duration::from_secs(100));
    /// assert!(r.is_active_at(UNIX_EPOCH + Duration::from_secs(99)));
    /// assert!(!r.is_active_at(UNIX_EPOCH + Duration::from_secs(100)));
    /// ```
    pub fn is_active_at(&self, now: SystemTime) -> bool {
        if self.revoked {
            return false;
        }
        match self.not_after {
            None => true,
            Some(limit) => now
                .duration_since(UNIX_EPOCH)
                .is_ok_and(|d| d.as_secs() < limit),
        }
    }

    /// The record as one line of a keys file (see [`FileApiKeyStore`]):
    /// `ID sha256:HEX owner=OWNER roles=A,B [scopes=X,Y] [expires=UNIX_SECONDS] [revoked]`.
    ///
    /// ```
    /// let r = secure_api_runtime::ApiKeyRecord::new("id", secure_api_runtime::ApiKeyDigest::of("k"), "bob").with_roles(["viewer"]);
    /// let line = r.to_line();
    /// assert!(line.starts_with("id sha256:") && line.ends_with("owner=bob roles=viewer"));
    /// assert_eq!(secure_api_runtime::ApiKeyRecord::from_line(&line), Ok(r));
    /// ```
    pub fn to_line(&self) -> String {
        let mut line = format!(
            "{} sha256:{} owner={} roles={}",
            self.id,
            self.digest.to_hex(),
            self.owner,
            self.roles.join(",")
        );
        if !self.scopes.is_empty() {
            line.push_str(&format!(" scopes={}", self.scopes.join(",")));
        }
        if let Some(at) = self.not_after {
            line.push_str(&format!(" expires={at}"));
        }
        if self.revoked {
            line.push_str(" revoked");
        }
        line
    }

    /// Parses a line written by [`to_line`](Self::to_line). `expires=` takes seconds since
    /// the Unix epoch or a date `YYYY-MM-DD` (midnight UTC).
    ///
    /// ```
    /// let err = secure_api_runtime::ApiKeyRecord::from_line("id sha256:00 owner=bob").unwrap_err();
    /// assert!(err.contains("sha256"));
    /// ```
    pub fn from_line(line: &str) -> Result<ApiKeyRecord, String> {
        let mut fields = line.split_ascii_whitespace();
        let id = fields.next().ok_or("the line is empty")?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("the key id must be letters and digits".to_owned());
        }
        let digest = fields
            .next()
            .and_then(|d| d.strip_prefix("sha256:"))
            .and_then(ApiKeyDigest::from_hex)
            .ok_or("the second field must be `sha256:` and 64 hex digits")?;
        let mut owner = None;
        let mut record = ApiKeyRecord::new(id, digest, "");
        let list = |value: &str| -> Result<Vec<String>, String> {
            if value.is_empty() {
                return Ok(Vec::new());
            }
            value
                .split(',')
                .map(|item| {
                    if item.is_empty() {
                        Err("empty item in a comma-separated list".to_owned())
                    } else {
                        Ok(item.to_owned())
                    }
                })
                .collect()
        };
        for field in fields {
            if field == "revoked" {
                record.revoked = true;
                continue;
            }
            let Some((name, value)) = field.split_once('=') else {
                return Err(format!("unknown field {field:?}"));
            };
            match name {
                "owner" if !value.is_empty() => owner = Some(value.to_owned()),
                "owner" => return Err("the owner is empty".to_owned()),
                "roles" => record.roles = list(value)?,
                "scopes" => record.scopes = list(value)?,
                "expires" => {
                    record.not_after = Some(parse_expiry(value).ok_or(
                        "`expires` must be seconds since the Unix epoch or a date YYYY-MM-DD",
                    )?)
                }
                _ => return Err(format!("unknown field `{name}`")),
            }
        }
        record.owner = owner.ok_or("`owner=` is missing")?;
        Ok(record)
    }
}

/// A newly generated key: the plaintext, to show once, and the record to store.
///
/// ```
/// let new = secure_api_runtime::generate_api_key("sak_live", "ci", ["viewer"]).unwrap();
/// assert_eq!(new.record().owner(), "ci");
/// ```
#[derive(Debug, Clone)]
pub struct NewApiKey {
    key: ApiKey,
    record: ApiKeyRecord,
}

impl NewApiKey {
    /// The key, to give to its owner (it cannot be recovered from the record).
    ///
    /// ```
    /// let new = secure_api_runtime::generate_api_key("sak_live", "ci", ["viewer"]).unwrap();
    /// assert!(new.key().expose().starts_with("sak_live_"));
    /// ```
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The record to store.
    ///
    /// ```
    /// let new = secure_api_runtime::generate_api_key("sak_live", "ci", ["viewer"]).unwrap();
    /// assert_eq!(new.record().roles(), ["viewer"]);
    /// ```
    pub fn record(&self) -> &ApiKeyRecord {
        &self.record
    }

    /// Both parts.
    ///
    /// ```
    /// let (key, record) = secure_api_runtime::generate_api_key("sak_live", "ci", ["viewer"]).unwrap().into_parts();
    /// assert_eq!(key.id(), record.id());
    /// ```
    pub fn into_parts(self) -> (ApiKey, ApiKeyRecord) {
        (self.key, self.record)
    }
}

/// Generates a key for `owner` with `roles`: 80 random bits of id and 256 of secret from
/// the system's CSPRNG. Fails for a malformed prefix, an owner or role that cannot be
/// written in a keys file, or when the system has no randomness to give.
///
/// ```
/// let new = secure_api_runtime::generate_api_key("sak_live", "alice", ["admin"]).unwrap();
/// assert!(secure_api_runtime::ApiKey::parse(new.key().expose()).is_ok());
/// assert!(secure_api_runtime::generate_api_key("Bad Prefix", "alice", ["admin"]).is_err());
/// ```
pub fn generate_api_key<R: Into<String>>(
    prefix: &str,
    owner: &str,
    roles: impl IntoIterator<Item = R>,
) -> Result<NewApiKey, ApiKeyError> {
    check_prefix(prefix)?;
    if owner.is_empty() || !owner.bytes().all(|b| b.is_ascii_graphic() && b != b'=') {
        return Err(ApiKeyError(
            "the owner must be visible ASCII without spaces or `=`",
        ));
    }
    let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
    if roles
        .iter()
        .any(|r| r.is_empty() || !r.bytes().all(|b| b.is_ascii_graphic() && b != b','))
    {
        return Err(ApiKeyError(
            "a role must be visible ASCII without spaces or commas",
        ));
    }
    let rng = SystemRandom::new();
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill(&mut id)
        .and_then(|()| rng.fill(&mut secret))
        .map_err(|_| ApiKeyError("the system random number generator failed"))?;
    let body = format!("{prefix}_{}_{}", base32(&id), base32(&secret));
    let text = format!("{body}_{}", checksum_of(&body));
    let key = ApiKey {
        prefix_len: prefix.len(),
        text,
    };
    let record = ApiKeyRecord::new(key.id(), key.digest(), owner).with_roles(roles);
    Ok(NewApiKey { key, record })
}

fn check_prefix(prefix: &str) -> Result<(), ApiKeyError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix.as_bytes()[0].is_ascii_lowercase()
        && !prefix.ends_with('_')
        && !prefix.contains("__")
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiKeyError(
            "the prefix must be 1 to 32 lower-case letters, digits and single `_`, starting with a letter",
        ))
    }
}

fn is_base32(s: &str) -> bool {
    s.bytes().all(|b| ALPHABET.contains(&b))
}

/// RFC 4648 base32, lower-case, without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn checksum_of(body: &str) -> String {
    let hash = digest(&SHA256, body.as_bytes());
    base32(&hash.as_ref()[..CHECKSUM_BYTES])
}

fn parse_expiry(value: &str) -> Option<u64> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok();
    }
    let mut parts = value.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d > days_in_month[(m - 1) as usize] {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400).ok()
}

/// Where key records live. `find` looks a record up by the digest of the presented key;
/// the guard then compares digests in constant time and checks expiry and revocation. An
/// error refuses the request with 503 (fail closed).
///
/// ```
/// use secure_api_runtime::{ApiKeyDigest, ApiKeyRecord, ApiKeyStore, StoreError, StoreResult};
///
/// /// A store whose backend is down.
/// struct Down;
/// impl ApiKeyStore for Down {
///     fn find<'a>(&'a self, _: &'a ApiKeyDigest) -> StoreResult<'a, Option<ApiKeyRecord>> {
///         Box::pin(async { Err(StoreError::new("backend unreachable")) })
///     }
/// }
/// ```
pub trait ApiKeyStore: Send + Sync + 'static {
    /// The record whose digest is `digest`, if any (revoked and expired ones included).
    fn find<'a>(&'a self, digest: &'a ApiKeyDigest) -> StoreResult<'a, Option<ApiKeyRecord>>;
}

/// The in-memory [`ApiKeyStore`].
///
/// ```
/// use secure_api_runtime::{MemoryApiKeyStore, generate_api_key};
/// let store = MemoryApiKeyStore::new();
/// let new = generate_api_key("sak_live", "ci", ["viewer"]).unwrap();
/// store.insert(new.record().clone());
/// assert!(store.revoke(new.record().id()));
/// assert_eq!(store.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct MemoryApiKeyStore {
    records: RwLock<HashMap<ApiKeyDigest, ApiKeyRecord>>,
}

impl MemoryApiKeyStore {
    /// An empty store.
    ///
    /// ```
    /// assert!(secure_api_runtime::MemoryApiKeyStore::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a record.
    ///
    /// ```
    /// let store = secure_api_runtime::MemoryApiKeyStore::new();
    /// store.insert(secure_api_runtime::generate_api_key("k", "o", ["r"]).unwrap().record().clone());
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn insert(&self, record: ApiKeyRecord) {
        self.write().insert(record.digest, record);
    }

    /// Marks every record with this id revoked; returns whether there was one.
    ///
    /// ```
    /// assert!(!secure_api_runtime::MemoryApiKeyStore::new().revoke("nope"));
    /// ```
    pub fn revoke(&self, id: &str) -> bool {
        let mut found = false;
        for record in self.write().values_mut().filter(|r| r.id == id) {
            record.revoked = true;
            found = true;
        }
        found
    }

    /// Sets the expiry of every record with this id (rotation); returns whether there was
    /// one.
    ///
    /// ```
    /// assert!(!secure_api_runtime::MemoryApiKeyStore::new().expire("nope", std::time::UNIX_EPOCH));
    /// ```
    pub fn expire(&self, id: &str, at: SystemTime) -> bool {
        let mut found = false;
        for record in self.write().values_mut().filter(|r| r.id == id) {
            *record = record.clone().expires_at(at);
            found = true;
        }
        found
    }

    /// How many records there are.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::MemoryApiKeyStore::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.records.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether there are none.
    ///
    /// ```
    /// assert!(secure_api_runtime::MemoryApiKeyStore::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ApiKeyDigest, ApiKeyRecord>> {
        self.records.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, digest: &ApiKeyDigest) -> Option<ApiKeyRecord> {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }
}

impl ApiKeyStore for MemoryApiKeyStore {
    fn find<'a>(&'a self, digest: &'a ApiKeyDigest) -> StoreResult<'a, Option<ApiKeyRecord>> {
        Box::pin(std::future::ready(Ok(self.lookup(digest))))
    }
}

impl<T: ApiKeyStore> ApiKeyStore for Arc<T> {
    fn find<'a>(&'a self, digest: &'a ApiKeyDigest) -> StoreResult<'a, Option<ApiKeyRecord>> {
        (**self).find(digest)
    }
}

/// How often [`FileApiKeyStore`] looks at the file's modification time.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// An [`ApiKeyStore`] read from a file: one record per line, as
/// [`ApiKeyRecord::to_line`] writes it (and `customer_api gen-api-key` prints); `#`
/// comments and blank lines are allowed. A malformed line is a [`ConfigError`] naming the
/// file and the line.
///
/// The file is read again when its modification time changes (looked at once a second at
/// most). If the new contents do not parse, the error is logged and lookups fail (503)
/// until the file is fixed, so that a revocation is never silently ignored.
///
/// ```
/// use secure_api_runtime::{FileApiKeyStore, generate_api_key};
///
/// let new = generate_api_key("sak_live", "ci", ["viewer"]).unwrap();
/// let path = std::env::temp_dir().join(format!("keys-doc-{}", std::process::id()));
/// std::fs::write(&path, format!("# CI key\n{}\n", new.record().to_line())).unwrap();
/// let store = FileApiKeyStore::open(&path).unwrap();
/// assert_eq!(store.len(), 1);
///
/// std::fs::write(&path, "\nnot a record\n").unwrap();
/// let err = FileApiKeyStore::open(&path).unwrap_err();
/// assert_eq!(err.setting(), "api_keys.file");
/// assert!(err.message().contains(":2:"));
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug)]
pub struct FileApiKeyStore {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Debug)]
struct FileState {
    records: Result<Arc<HashMap<ApiKeyDigest, ApiKeyRecord>>, String>,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl FileApiKeyStore {
    /// Reads the file; every malformed line is reported (the first one in the error).
    ///
    /// ```
    /// let err = secure_api_runtime::FileApiKeyStore::open("/no/such/file").unwrap_err();
    /// assert!(err.message().contains("/no/such/file"));
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let modified = modified(&path);
        let records =
            read_file(&path).map_err(|message| ConfigError::new("api_keys.file", message))?;
        Ok(FileApiKeyStore {
            path,
            state: Mutex::new(FileState {
                records: Ok(Arc::new(records)),
                modified,
                checked: Instant::now(),
            }),
        })
    }

    /// Reads the file again now.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keys-reload-{}", std::process::id()));
    /// # std::fs::write(&path, "").unwrap();
    /// let store = secure_api_runtime::FileApiKeyStore::open(&path).unwrap();
    /// assert!(store.reload().is_ok());
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn reload(&self) -> Result<(), ConfigError> {
        let modified = modified(&self.path);
        let records = read_file(&self.path);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.modified = modified;
        state.checked = Instant::now();
        match records {
            Ok(records) => {
                state.records = Ok(Arc::new(records));
                Ok(())
            }
            Err(message) => {
                state.records = Err(message.clone());
                Err(ConfigError::new("api_keys.file", message))
            }
        }
    }

    /// How many records the file holds (0 while it does not parse).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keys-len-{}", std::process::id()));
    /// # std::fs::write(&path, "# nothing yet\n").unwrap();
    /// assert_eq!(secure_api_runtime::FileApiKeyStore::open(&path).unwrap().len(), 0);
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn len(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.records.as_ref().map_or(0, |r| r.len())
    }

    /// Whether the file holds no record.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keys-empty-{}", std::process::id()));
    /// # std::fs::write(&path, "").unwrap();
    /// assert!(secure_api_runtime::FileApiKeyStore::open(&path).unwrap().is_empty());
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn current(&self) -> Result<Arc<HashMap<ApiKeyDigest, ApiKeyRecord>>, StoreError> {
        let stale = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.checked.elapsed() >= FILE_CHECK_INTERVAL {
                state.checked = Instant::now();
                modified(&self.path) != state.modified
            } else {
                false
            }
        };
        if stale && let Err(error) = self.reload() {
            tracing::error!(target: "secure_api::auth", %error, "the API keys file no longer parses; refusing API keys until it is fixed");
        }
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .records
            .clone()
            .map_err(|_| StoreError::new("the API keys file does not parse"))
    }
}

impl ApiKeyStore for FileApiKeyStore {
    fn find<'a>(&'a self, digest: &'a ApiKeyDigest) -> StoreResult<'a, Option<ApiKeyRecord>> {
        let found = self.current().map(|records| records.get(digest).cloned());
        Box::pin(std::future::ready(found))
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read_file(path: &Path) -> Result<HashMap<ApiKeyDigest, ApiKeyRecord>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut records = HashMap::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let record = ApiKeyRecord::from_line(line)
            .map_err(|why| format!("{}:{number}: {why}", path.display()))?;
        if let Some(first) = ids.insert(record.id.clone(), number) {
            return Err(format!(
                "{}:{number}: key id {} is already used on line {first}",
                path.display(),
                record.id
            ));
        }
        records.insert(record.digest, record);
    }
    Ok(records)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_any_edit_is_refused() {
        let new = generate_api_key("sak_live", "alice", ["viewer"]).unwrap();
        let text = new.key().expose().to_owned();
        assert_eq!(
            text.len(),
            "sak_live".len() + 3 + ID_LEN + SECRET_LEN + CHECKSUM_LEN
        );
        assert_eq!(ApiKey::parse(&text).unwrap(), *new.key());
        for i in "sak_live_".len()..text.len() {
            let mut bytes = text.clone().into_bytes();
            if bytes[i] == b'_' {
                continue;
            }
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let edited = String::from_utf8(bytes).unwrap();
            assert!(ApiKey::parse(&edited).is_err(), "edit at {i} accepted");
        }
    }

    #[test]
    fn parser_refuses_garbage_without_panicking() {
        for bad in [
            "",
            "_",
            "___",
            "a_b_c_d",
            "sak_live",
            "é_é_é_é",
            "sak_live__x_y",
            "SAK_aaaaaaaaaaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_aaaaaaaa",
        ] {
            assert!(ApiKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ApiKey::parse(&"a".repeat(10_000)).is_err());
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32(&[0xff; 5]), "77777777");
    }

    #[test]
    fn expiry_dates() {
        assert_eq!(parse_expiry("1970-01-01"), Some(0));
        assert_eq!(parse_expiry("2027-01-01"), Some(1_798_761_600));
        assert_eq!(parse_expiry("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse_expiry("2023-02-29"), None);
        assert_eq!(parse_expiry("12"), Some(12));
        assert_eq!(parse_expiry("2027-1-01"), None);
        assert_eq!(parse_expiry(""), None);
    }

    #[test]
    fn lines_round_trip() {
        let record = ApiKeyRecord::new("abc", ApiKeyDigest::of("k"), "svc")
            .with_roles(["a", "b"])
            .with_scopes(["x"])
            .expires_at(UNIX_EPOCH + Duration::from_secs(5))
            .revoked();
        assert_eq!(ApiKeyRecord::from_line(&record.to_line()), Ok(record));
        assert!(ApiKeyRecord::from_line("abc sha256:zz owner=a").is_err());
        let hex = ApiKeyDigest::of("k").to_hex();
        assert!(ApiKeyRecord::from_line(&format!("abc sha256:{hex}")).is_err());
        assert!(ApiKeyRecord::from_line(&format!("abc sha256:{hex} owner=a colour=red")).is_err());
        assert!(ApiKeyRecord::from_line(&format!("abc sha256:{hex} owner=a roles=a,,b")).is_err());
    }
}
