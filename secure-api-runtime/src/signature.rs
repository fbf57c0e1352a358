//! HTTP Message Signatures (RFC 9421, a strict subset) for routes marked `signed`.
//!
//! A signed route needs, on top of the bearer token, a signature of the request made with
//! a shared secret that belongs to the same principal: a stolen token alone cannot call
//! it, and a captured request cannot be sent again (each `nonce` is single-use and
//! `created` must be recent).
//!
//! What is accepted:
//!
//! - exactly one `Signature-Input` and one `Signature` field, each a dictionary with one
//!   member under the same label;
//! - covered components: `@method`, `@path` and `@query` always (the target is signed as
//!   path plus query rather than `@target-uri`, because scheme and authority are rewritten
//!   by proxies in front of the server), `content-digest` whenever the request has a body;
//!   `@authority` and lower-case header names may be covered as well;
//! - parameters `created`, `keyid`, `nonce` and `alg="hmac-sha256"` (all required),
//!   `expires` and `tag` (optional); no other parameter;
//! - the signature: HMAC-SHA256 over the signature base with the secret of `keyid`,
//!   verified in constant time. The key's owner must be the authenticated principal.
//!
//! `Content-Digest` (RFC 9530) must carry `sha-256` and match the body, which the layer
//! reads (within the body cap) before the router runs when a request carries
//! `Signature-Input`.
//!
//! Missing fields are 401 (with an `Accept-Signature` hint), malformed ones 400, a
//! signature that does not verify, a stale or future `created`, a reused nonce, an unknown,
//! expired or foreign key and another algorithm 401; a key or nonce store that cannot
//! answer is 503.
//!
//! ```
//! use secure_api_runtime::signature::{RequestSigner, parse_signature_input};
//!
//! let signer = RequestSigner::new("client-1", b"a shared secret of 32 bytes or more".to_vec());
//! let signed = signer.sign("POST", "/v1/transfers?dry=1", b"{}", 1_700_000_000, "n-1");
//! let inputs = parse_signature_input(signed.signature_input()).unwrap();
//! assert_eq!(inputs[0].components(), ["@method", "@path", "@query", "content-digest"]);
//! assert_eq!(inputs[0].keyid(), Some("client-1"));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::{constant_time, digest, hmac};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::config::{ConfigError, Security};
use crate::error::SecurityError;
use crate::policy::Policy;
use crate::principal::Principal;
use crate::replay::StoreResult;

static SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
static SIGNATURE: HeaderName = HeaderName::from_static("signature");
static CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");
static ACCEPT_SIGNATURE: HeaderName = HeaderName::from_static("accept-signature");
static ACCEPT_SIGNATURE_VALUE: HeaderValue = HeaderValue::from_static(
    "sig1=(\"@method\" \"@path\" \"@query\" \"content-digest\");created;nonce;alg=\"hmac-sha256\"",
);

/// The only algorithm accepted.
pub const ALGORITHM: &str = "hmac-sha256";
/// Default of [`SignatureSettings::max_age`]: how old `created` may be.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Default of [`SignatureSettings::clock_skew`]: how far in the future `created` may be.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// Longest `Signature-Input` / `Signature` / `Content-Digest` value read.
const MAX_FIELD_LEN: usize = 4096;
/// Most members, components or parameters read in one field.
const MAX_ENTRIES: usize = 16;
/// Longest `keyid`, `nonce` or `tag`.
const MAX_PARAM_LEN: usize = 256;
/// Shortest accepted secret, as for HS256 tokens.
const MIN_SECRET_LEN: usize = 32;

// ---------------------------------------------------------------------------------------
// Keys

/// A signing key: who owns it, its shared secret, and optionally until when it is valid.
/// `Debug` never shows the secret.
///
/// ```
/// use secure_api_runtime::signature::SigningKey;
/// let key = SigningKey::new("alice", vec![7u8; 32]).not_after(2_000_000_000);
/// assert_eq!(key.owner(), "alice");
/// assert!(!format!("{key:?}").contains("7, 7"));
/// ```
#[derive(Clone)]
pub struct SigningKey {
    owner: Arc<str>,
    secret: Arc<[u8]>,
    not_after: Option<u64>,
}

impl SigningKey {
    /// A key owned by the principal whose subject is `owner`.
    ///
    /// ```
    /// let key = secure_api_runtime::signature::SigningKey::new("alice", vec![7u8; 32]);
    /// assert_eq!(key.expires_at(), None);
    /// ```
    pub fn new(owner: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        SigningKey {
            owner: Arc::from(owner.into()),
            secret: Arc::from(secret.into()),
            not_after: None,
        }
    }

    /// The key is refused from `epoch_secs` (seconds since the Unix epoch) on.
    ///
    /// ```
    /// let key = secure_api_runtime::signature::SigningKey::new("a", vec![7u8; 32]).not_after(10);
    /// assert_eq!(key.expires_at(), Some(10));
    /// ```
    pub fn not_after(mut self, epoch_secs: u64) -> Self {
        self.not_after = Some(epoch_secs);
        self
    }

    /// The subject of the principal that owns the key.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::signature::SigningKey::new("a", vec![7u8; 32]).owner(), "a");
    /// ```
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// When the key stops being accepted, if ever.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::signature::SigningKey::new("a", vec![7u8; 32]).expires_at(), None);
    /// ```
    pub fn expires_at(&self) -> Option<u64> {
        self.not_after
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("owner", &self.owner)
            .field("secret", &"[redacted]")
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// Where signing keys are looked up by `keyid`. An error (the backend is down) refuses
/// the request with 503; `None` (no such key) with 401.
///
/// ```
/// use secure_api_runtime::signature::{SigningKey, SigningKeys};
/// use secure_api_runtime::StoreResult;
///
/// /// One key, from the environment.
/// struct Single(SigningKey);
/// impl SigningKeys for Single {
///     fn signing_key<'a>(&'a self, keyid: &'a str) -> StoreResult<'a, Option<SigningKey>> {
///         let found = (keyid == "main").then(|| self.0.clone());
///         Box::pin(async move { Ok(found) })
///     }
/// }
/// ```
pub trait SigningKeys: Send + Sync + 'static {
    /// The key named `keyid`, if there is one.
    fn signing_key<'a>(&'a self, keyid: &'a str) -> StoreResult<'a, Option<SigningKey>>;
}

/// Signing keys held in memory.
///
/// ```
/// use secure_api_runtime::signature::{MemorySigningKeys, SigningKey};
/// let keys = MemorySigningKeys::new().with_key("client-1", SigningKey::new("alice", vec![7u8; 32]));
/// assert_eq!(keys.len(), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemorySigningKeys {
    keys: HashMap<String, SigningKey>,
}

impl MemorySigningKeys {
    /// No keys.
    ///
    /// ```
    /// assert!(secure_api_runtime::signature::MemorySigningKeys::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key `keyid`.
    ///
    /// ```
    /// use secure_api_runtime::signature::{MemorySigningKeys, SigningKey};
    /// let keys = MemorySigningKeys::new().with_key("k", SigningKey::new("alice", vec![7u8; 32]));
    /// assert!(!keys.is_empty());
    /// ```
    pub fn with_key(mut self, keyid: impl Into<String>, key: SigningKey) -> Self {
        self.keys.insert(keyid.into(), key);
        self
    }

    /// How many keys are held.
    ///
    /// ```
    /// assert_eq!(secure_api_runtime::signature::MemorySigningKeys::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    ///
    /// ```
    /// assert!(secure_api_runtime::signature::MemorySigningKeys::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl SigningKeys for MemorySigningKeys {
    fn signing_key<'a>(&'a self, keyid: &'a str) -> StoreResult<'a, Option<SigningKey>> {
        Box::pin(std::future::ready(Ok(self.keys.get(keyid).cloned())))
    }
}

/// The configuration of signed routes, given to
/// [`SecurityBuilder::http_signatures`](crate::SecurityBuilder::http_signatures).
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use secure_api_runtime::signature::{MemorySigningKeys, SignatureSettings, SigningKey};
///
/// let keys = MemorySigningKeys::new().with_key("client-1", SigningKey::new("alice", vec![7u8; 32]));
/// let settings = SignatureSettings::new(Arc::new(keys))
///     .max_age(Duration::from_secs(120))
///     .clock_skew(Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct SignatureSettings {
    keys: Arc<dyn SigningKeys>,
    max_age: Duration,
    clock_skew: Duration,
}

impl fmt::Debug for SignatureSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureSettings")
            .field("max_age", &self.max_age)
            .field("clock_skew", &self.clock_skew)
            .finish_non_exhaustive()
    }
}

impl SignatureSettings {
    /// Keys from `keys`, `created` at most [`DEFAULT_MAX_AGE`] old and at most
    /// [`DEFAULT_CLOCK_SKEW`] ahead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use secure_api_runtime::signature::{MemorySigningKeys, SignatureSettings};
    /// let settings = SignatureSettings::new(Arc::new(MemorySigningKeys::new()));
    /// ```
    pub fn new(keys: Arc<dyn SigningKeys>) -> Self {
        SignatureSettings {
            keys,
            max_age: DEFAULT_MAX_AGE,
            clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }

    /// How old `created` may be (1 second to 1 hour). Nonces are remembered this long.
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use secure_api_runtime::signature::{MemorySigningKeys, SignatureSettings};
    /// let s = SignatureSettings::new(Arc::new(MemorySigningKeys::new())).max_age(Duration::from_secs(60));
    /// ```
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How far ahead of the server's clock `created` may be (at most 5 minutes).
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use secure_api_runtime::signature::{MemorySigningKeys, SignatureSettings};
    /// let s = SignatureSettings::new(Arc::new(MemorySigningKeys::new())).clock_skew(Duration::ZERO);
    /// ```
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    pub(crate) fn check(self) -> Result<Self, ConfigError> {
        if self.max_age < Duration::from_secs(1) || self.max_age > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                "http_signatures.max_age",
                "the age of `created` accepted must be between 1 second and 1 hour",
            ));
        }
        if self.clock_skew > Duration::from_secs(300) {
            return Err(ConfigError::new(
                "http_signatures.clock_skew",
                "a clock skew above 5 minutes lets requests signed far in the future through",
            ));
        }
        Ok(self)
    }
}

// ---------------------------------------------------------------------------------------
// Structured fields (RFC 8941), the subset signatures use

/// Why a structured field was refused. The message names the problem, never the input.
///
/// ```
/// let err = secure_api_runtime::signature::parse_signature("sig1=abc").unwrap_err();
/// assert!(!err.to_string().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParseError(&'static str);

impl fmt::Display for SignatureParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for SignatureParseError {}

/// A bare item of a structured field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bare {
    Integer(i64),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    Boolean(bool),
}

type Params = Vec<(String, Bare)>;

enum Member {
    Item(Bare),
    InnerList(Vec<(Bare, Params)>, Params),
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

fn err<T>(why: &'static str) -> Result<T, SignatureParseError> {
    Err(SignatureParseError(why))
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn key(&mut self) -> Result<String, SignatureParseError> {
        let start = self.pos;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.pos += 1,
            _ => return err("expected a key (lower-case letter or `*`)"),
        }
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
            self.pos += 1;
        }
        if self.pos - start > 64 {
            return err("key too long");
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn bare(&mut self) -> Result<Bare, SignatureParseError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.integer(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => {
                self.pos += 1;
                match self.peek() {
                    Some(b'0') => {
                        self.pos += 1;
                        Ok(Bare::Boolean(false))
                    }
                    Some(b'1') => {
                        self.pos += 1;
                        Ok(Bare::Boolean(true))
                    }
                    _ => err("invalid boolean"),
                }
            }
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => self.token(),
            _ => err("expected an item"),
        }
    }

    fn integer(&mut self) -> Result<Bare, SignatureParseError> {
        let negative = self.eat(b'-');
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = &self.s[start..self.pos];
        if digits.is_empty() || digits.len() > 15 {
            return err("invalid integer");
        }
        if self.peek() == Some(b'.') {
            return err("decimals are not accepted");
        }
        let mut value: i64 = 0;
        for d in digits {
            value = value * 10 + i64::from(d - b'0');
        }
        Ok(Bare::Integer(if negative { -value } else { value }))
    }

    fn string(&mut self) -> Result<Bare, SignatureParseError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return err("unterminated string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Bare::String(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(char::from(c));
                            self.pos += 1;
                        }
                        _ => return err("invalid escape in string"),
                    }
                }
                Some(c @ 0x20..=0x7e) => {
                    out.push(char::from(c));
                    self.pos += 1;
                }
                Some(_) => return err("invalid character in string"),
            }
            if out.len() > MAX_FIELD_LEN {
                return err("string too long");
            }
        }
    }

    fn token(&mut self) -> Result<Bare, SignatureParseError> {
        let start = self.pos;
        self.pos += 1;
        while let Some(c) = self.peek() {
            let tchar = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c);
            if !tchar {
                break;
            }
            self.pos += 1;
        }
        Ok(Bare::Token(
            String::from_utf8_lossy(&self.s[start..self.pos]).into_owned(),
        ))
    }

    fn bytes(&mut self) -> Result<Bare, SignatureParseError> {
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b':' {
                break;
            }
            if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')) {
                return err("invalid character in byte sequence");
            }
            self.pos += 1;
        }
        if !self.eat(b':') {
            return err("unterminated byte sequence");
        }
        match base64_decode(&self.s[start..self.pos - 1]) {
            Some(bytes) => Ok(Bare::Bytes(bytes)),
            None => err("invalid base64 in byte sequence"),
        }
    }

    fn params(&mut self) -> Result<Params, SignatureParseError> {
        let mut params: Params = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare()?
            } else {
                Bare::Boolean(true)
            };
            if params.iter().any(|(k, _)| *k == key) {
                return err("duplicate parameter");
            }
            if params.len() >= MAX_ENTRIES {
                return err("too many parameters");
            }
            params.push((key, value));
        }
        Ok(params)
    }

    fn inner_list(&mut self) -> Result<Member, SignatureParseError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.eat(b')') {
                let params = self.params()?;
                return Ok(Member::InnerList(items, params));
            }
            if items.len() >= MAX_ENTRIES {
                return err("too many items in a list");
            }
            let item = self.bare()?;
            let params = self.params()?;
            items.push((item, params));
            match self.peek() {
                Some(b' ' | b')') => {}
                _ => return err("expected a space or `)` in a list"),
            }
        }
    }

    /// A dictionary whose members are read with `member`; members are unique.
    fn dictionary(mut self) -> Result<Vec<(String, Member, Params)>, SignatureParseError> {
        let mut out: Vec<(String, Member, Params)> = Vec::new();
        self.skip_sp();
        if self.peek().is_none() {
            return err("empty field");
        }
        loop {
            let key = self.key()?;
            let (member, params) = if self.eat(b'=') {
                if self.peek() == Some(b'(') {
                    (self.inner_list()?, Vec::new())
                } else {
                    let item = self.bare()?;
                    (Member::Item(item), self.params()?)
                }
            } else {
                (Member::Item(Bare::Boolean(true)), self.params()?)
            };
            if out.iter().any(|(k, _, _)| *k == key) {
                return err("duplicate dictionary member");
            }
            if out.len() >= MAX_ENTRIES {
                return err("too many dictionary members");
            }
            out.push((key, member, params));
            self.skip_ows();
            if self.peek().is_none() {
                return Ok(out);
            }
            if !self.eat(b',') {
                return err("expected `,` between dictionary members");
            }
            self.skip_ows();
            if self.peek().is_none() {
                return err("trailing `,` in dictionary");
            }
        }
    }
}

fn cursor(value: &str) -> Result<Cursor<'_>, SignatureParseError> {
    if value.len() > MAX_FIELD_LEN {
        return err("field too long");
    }
    if !value
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) || b == b'\t')
    {
        return err("field must be visible ASCII");
    }
    Ok(Cursor {
        s: value.trim_matches(' ').as_bytes(),
        pos: 0,
    })
}

/// One member of `Signature-Input`: its label, covered components and parameters.
///
/// ```
/// let inputs = secure_api_runtime::signature::parse_signature_input(
///     r#"sig1=("@method" "@path");created=1;keyid="k";nonce="n";alg="hmac-sha256""#,
/// ).unwrap();
/// assert_eq!(inputs[0].label(), "sig1");
/// assert_eq!(inputs[0].created(), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput {
    label: String,
    components: Vec<String>,
    params: Params,
}

impl SignatureInput {
    /// The dictionary key naming this signature.
    ///
    /// ```
    /// let i = secure_api_runtime::signature::parse_signature_input(r#"a=();created=1"#).unwrap();
    /// assert_eq!(i[0].label(), "a");
    /// ```
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The covered component identifiers, in order.
    ///
    /// ```
    /// let i = secure_api_runtime::signature::parse_signature_input(r#"a=("@method")"#).unwrap();
    /// assert_eq!(i[0].components(), ["@method"]);
    /// ```
    pub fn components(&self) -> &[String] {
        &self.components
    }

    fn integer(&self, name: &str) -> Option<i64> {
        self.params.iter().find_map(|(k, v)| match v {
            Bare::Integer(i) if k == name => Some(*i),
            _ => None,
        })
    }

    fn string(&self, name: &str) -> Option<&str> {
        self.params.iter().find_map(|(k, v)| match v {
            Bare::String(s) if k == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// `created`, when it is an integer.
    ///
    /// ```
    /// let i = secure_api_runtime::signature::parse_signature_input(r#"a=();created=5"#).unwrap();
    /// assert_eq!(i[0].created(), Some(5));
    /// ```
    pub fn created(&self) -> Option<i64> {
        self.integer("created")
    }

    /// `keyid`, when it is a string.
    ///
    /// ```
    /// let i = secure_api_runtime::signature::parse_signature_input(r#"a=();keyid="k""#).unwrap();
    /// assert_eq!(i[0].keyid(), Some("k"));
    /// ```
    pub fn keyid(&self) -> Option<&str> {
        self.string("keyid")
    }

    /// `nonce`, when it is a string.
    ///
    /// ```
    /// let i = secure_api_runtime::signature::parse_signature_input(r#"a=();nonce="n""#).unwrap();
    /// assert_eq!(i[0].nonce(), Some("n"));
    /// ```
    pub fn nonce(&self) -> Option<&str> {
        self.string("nonce")
    }

    /// `alg`, when it is a string.
    ///
    /// ```
    /// let i = secure_api_runtime::signature::parse_signature_input(r#"a=();alg="hmac-sha256""#).unwrap();
    /// assert_eq!(i[0].alg(), Some("hmac-sha256"));
    /// ```
    pub fn alg(&self) -> Option<&str> {
        self.string("alg")
    }

    /// The `@signature-params` value: the member re-serialized as RFC 8941 says.
    ///
    /// ```
    /// let text = r#"("@method" "@path");created=1;keyid="k""#;
    /// let i = secure_api_runtime::signature::parse_signature_input(&format!("s={text}")).unwrap();
    /// assert_eq!(i[0].signature_params(), text);
    /// ```
    pub fn signature_params(&self) -> String {
        let mut out = String::from("(");
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            serialize_string(&mut out, c);
        }
        out.push(')');
        for (key, value) in &self.params {
            out.push(';');
            out.push_str(key);
            match value {
                Bare::Boolean(true) => {}
                Bare::Boolean(false) => out.push_str("=?0"),
                Bare::Integer(i) => out.push_str(&format!("={i}")),
                Bare::String(s) => {
                    out.push('=');
                    serialize_string(&mut out, s);
                }
                Bare::Token(t) => {
                    out.push('=');
                    out.push_str(t);
                }
                Bare::Bytes(b) => {
                    out.push_str("=:");
                    out.push_str(&base64_encode(b));
                    out.push(':');
                }
            }
        }
        out
    }
}

fn serialize_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Parses a `Signature-Input` field: a dictionary of inner lists of strings (the
/// component identifiers, without parameters) with parameters. Never panics; exposed for
/// fuzzing.
///
/// ```
/// use secure_api_runtime::signature::parse_signature_input;
/// assert!(parse_signature_input(r#"sig1=("@method");created=1"#).is_ok());
/// assert!(parse_signature_input("sig1=(").is_err());
/// assert!(parse_signature_input(r#"sig1="x""#).is_err());
/// ```
pub fn parse_signature_input(value: &str) -> Result<Vec<SignatureInput>, SignatureParseError> {
    let members = cursor(value)?.dictionary()?;
    let mut out = Vec::with_capacity(members.len());
    for (label, member, _) in members {
        let Member::InnerList(items, params) = member else {
            return err("a Signature-Input member must be a list of components");
        };
        let mut components: Vec<String> = Vec::with_capacity(items.len());
        for (item, item_params) in items {
            let Bare::String(name) = item else {
                return err("a component identifier must be a string");
            };
            if !item_params.is_empty() {
                return err("component parameters are not accepted");
            }
            if components.contains(&name) {
                return err("a component is covered twice");
            }
            components.push(name);
        }
        out.push(SignatureInput {
            label,
            components,
            params,
        });
    }
    Ok(out)
}

/// Parses a dictionary of byte sequences: the `Signature` field, and `Content-Digest`
/// (RFC 9530). Never panics; exposed for fuzzing.
///
/// ```
/// use secure_api_runtime::signature::parse_signature;
/// let parsed = parse_signature("sig1=:AAEC:").unwrap();
/// assert_eq!(parsed, [("sig1".to_owned(), vec![0, 1, 2])]);
/// assert!(parse_signature("sig1=:A:").is_err());
/// ```
pub fn parse_signature(value: &str) -> Result<Vec<(String, Vec<u8>)>, SignatureParseError> {
    cursor(value)?
        .dictionary()?
        .into_iter()
        .map(|(key, member, _)| match member {
            Member::Item(Bare::Bytes(bytes)) => Ok((key, bytes)),
            _ => err("a member must be a byte sequence"),
        })
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64 with padding: the length is a multiple of 4 and unused bits
/// are zero, so every byte string has exactly one encoding.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| B64.iter().position(|&b| b == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let chunks = text.len() / 4;
    for (index, chunk) in text.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && index + 1 != chunks) {
            return None;
        }
        let mut n: u32 = 0;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = 3 - pad;
        // Bits below the last kept byte must be zero.
        if bytes[keep..].iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Client side

/// Headers made by [`RequestSigner::sign`]: add them to the request as they are.
///
/// ```
/// let signer = secure_api_runtime::signature::RequestSigner::new("k", vec![7u8; 32]);
/// let signed = signer.sign("GET", "/v1/items", b"", 1_700_000_000, "n1");
/// let mut headers = http::HeaderMap::new();
/// signed.apply(&mut headers);
/// assert!(headers.contains_key("signature"));
/// assert!(!headers.contains_key("content-digest"), "no body, no digest");
/// ```
#[derive(Debug, Clone)]
pub struct SignedHeaders {
    signature_input: String,
    signature: String,
    content_digest: Option<String>,
}

impl SignedHeaders {
    /// The `Signature-Input` value.
    ///
    /// ```
    /// let s = secure_api_runtime::signature::RequestSigner::new("k", vec![7u8; 32]).sign("GET", "/", b"", 1, "n");
    /// assert!(s.signature_input().starts_with("sig1=("));
    /// ```
    pub fn signature_input(&self) -> &str {
        &self.signature_input
    }

    /// The `Signature` value.
    ///
    /// ```
    /// let s = secure_api_runtime::signature::RequestSigner::new("k", vec![7u8; 32]).sign("GET", "/", b"", 1, "n");
    /// assert!(s.signature().starts_with("sig1=:"));
    /// ```
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The `Content-Digest` value, when the body is not empty.
    ///
    /// ```
    /// let s = secure_api_runtime::signature::RequestSigner::new("k", vec![7u8; 32]).sign("POST", "/", b"{}", 1, "n");
    /// assert!(s.content_digest().unwrap().starts_with("sha-256=:"));
    /// ```
    pub fn content_digest(&self) -> Option<&str> {
        self.content_digest.as_deref()
    }

    /// Sets the headers on `headers`, replacing earlier values.
    ///
    /// ```
    /// let s = secure_api_runtime::signature::RequestSigner::new("k", vec![7u8; 32]).sign("GET", "/", b"", 1, "n");
    /// let mut headers = http::HeaderMap::new();
    /// s.apply(&mut headers);
    /// assert_eq!(headers.len(), 2);
    /// ```
    pub fn apply(&self, headers: &mut HeaderMap) {
        let pairs = [
            (&SIGNATURE_INPUT, Some(&self.signature_input)),
            (&SIGNATURE, Some(&self.signature)),
            (&CONTENT_DIGEST, self.content_digest.as_ref()),
        ];
        for (name, value) in pairs {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name.clone(), value);
            }
        }
    }
}

/// Signs requests for signed routes, as a client does: HMAC-SHA256 over `@method`,
/// `@path`, `@query` and, when there is a body, `content-digest`.
///
/// ```
/// use secure_api_runtime::signature::RequestSigner;
///
/// let signer = RequestSigner::new("client-1", b"a shared secret of 32 bytes or more".to_vec());
/// let now = std::time::SystemTime::now()
///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
/// let signed = signer.sign("POST", "/v1/transfers", br#"{"to":"bob"}"#, now, "8c1f0e2a");
/// let request = http::Request::post("/v1/transfers")
///     .header("signature-input", signed.signature_input())
///     .header("signature", signed.signature())
///     .header("content-digest", signed.content_digest().unwrap())
///     .body(())
///     .unwrap();
/// # let _ = request;
/// ```
#[derive(Clone)]
pub struct RequestSigner {
    keyid: String,
    secret: Arc<[u8]>,
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("keyid", &self.keyid)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl RequestSigner {
    /// A signer with the key `keyid` and its shared secret.
    ///
    /// ```
    /// let signer = secure_api_runtime::signature::RequestSigner::new("k", vec![7u8; 32]);
    /// assert!(!format!("{signer:?}").contains("7, 7"));
    /// ```
    pub fn new(keyid: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        RequestSigner {
            keyid: keyid.into(),
            secret: Arc::from(secret.into()),
        }
    }

    /// The headers that sign a request with this method, path-and-query and body,
    /// `created` at `created` (seconds since the Unix epoch) with the single-use `nonce`.
    ///
    /// ```
    /// let signer = secure_api_runtime::signature::RequestSigner::new("k", vec![7u8; 32]);
    /// let a = signer.sign("GET", "/a", b"", 1, "n");
    /// let b = signer.sign("GET", "/b", b"", 1, "n");
    /// assert_ne!(a.signature(), b.signature());
    /// ```
    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        created: u64,
        nonce: &str,
    ) -> SignedHeaders {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let mut components = vec!["@method", "@path", "@query"];
        let content_digest = (!body.is_empty()).then(|| content_digest_value(&sha256(body)));
        if content_digest.is_some() {
            components.push("content-digest");
        }
        let params = vec![
            ("created".to_owned(), Bare::Integer(created_i64(created))),
            ("keyid".to_owned(), Bare::String(self.keyid.clone())),
            ("nonce".to_owned(), Bare::String(nonce.to_owned())),
            ("alg".to_owned(), Bare::String(ALGORITHM.to_owned())),
        ];
        let input = SignatureInput {
            label: "sig1".to_owned(),
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            params,
        };
        let mut base = String::new();
        for component in &components {
            let value = match *component {
                "@method" => method.to_ascii_uppercase(),
                "@path" => path_value(path),
                "@query" => query_value(query),
                _ => content_digest.clone().unwrap_or_default(),
            };
            base.push_str(&format!("\"{component}\": {value}\n"));
        }
        let params = input.signature_params();
        base.push_str(&format!("\"@signature-params\": {params}"));
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.secret);
        let tag = hmac::sign(&key, base.as_bytes());
        SignedHeaders {
            signature_input: format!("sig1={params}"),
            signature: format!("sig1=:{}:", base64_encode(tag.as_ref())),
            content_digest,
        }
    }
}

fn created_i64(created: u64) -> i64 {
    i64::try_from(created.min(999_999_999_999_999)).unwrap_or(0)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

fn content_digest_value(digest: &[u8; 32]) -> String {
    format!("sha-256=:{}:", base64_encode(digest))
}

fn path_value(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

fn query_value(query: Option<&str>) -> String {
    format!("?{}", query.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// Server side

/// The SHA-256 of the request body, computed by the layer for requests carrying
/// `Signature-Input`; `None` when the body was over the cap.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyDigest {
    pub(crate) digest: Option<[u8; 32]>,
    pub(crate) empty: bool,
}

impl BodyDigest {
    pub(crate) fn of(body: &[u8]) -> Self {
        BodyDigest {
            digest: Some(sha256(body)),
            empty: body.is_empty(),
        }
    }

    pub(crate) fn too_large() -> Self {
        BodyDigest {
            digest: None,
            empty: false,
        }
    }
}

/// Whether the layer must read the body first so that the guard can check its digest.
pub(crate) fn wants_body_digest(headers: &HeaderMap) -> bool {
    headers.contains_key(&SIGNATURE_INPUT)
}

/// Adds `Accept-Signature` to a 401 of a signed route, saying what to sign.
pub(crate) fn hint(headers: &mut HeaderMap, status: StatusCode, policy: Option<&Policy>) {
    if status == StatusCode::UNAUTHORIZED && policy.is_some_and(Policy::requires_signature) {
        headers.insert(ACCEPT_SIGNATURE.clone(), ACCEPT_SIGNATURE_VALUE.clone());
    }
}

fn missing() -> SecurityError {
    SecurityError::unauthorized()
        .with_detail("This route requires a signed request: send Signature-Input and Signature.")
        .without_challenge()
}

fn malformed(detail: &'static str) -> SecurityError {
    SecurityError::invalid_request(detail).without_challenge()
}

fn invalid() -> SecurityError {
    SecurityError::invalid_token()
        .with_detail("The request signature is invalid or has expired.")
        .without_challenge()
}

/// The one value of a field, or why not.
fn single<'a>(parts: &'a Parts, name: &HeaderName) -> Result<Option<&'a str>, SecurityError> {
    let mut values = parts.headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed(
            "Send Signature-Input, Signature and Content-Digest at most once each.",
        ));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| malformed("A signature field is not visible ASCII."))
}

/// Checks the signature of a request to a `signed` route; the principal is the one the
/// bearer token authenticated.
pub(crate) async fn verify(
    security: &Security,
    policy: &Policy,
    principal: &Principal,
    parts: &Parts,
) -> Result<(), SecurityError> {
    let Some(settings) = security.0.signatures.as_ref() else {
        tracing::error!(
            target: "secure_api",
            handler = policy.handler(),
            "a `signed` route is served by a Security without signing keys; refusing \
             (configure them with `SecurityBuilder::http_signatures`)"
        );
        return Err(SecurityError::misconfigured());
    };
    let refuse = |reason: &'static str| {
        tracing::info!(
            target: "secure_api::auth",
            handler = policy.handler(),
            subject = principal.subject(),
            reason,
            "request signature refused"
        );
        invalid()
    };
    let (Some(input), Some(signature)) =
        (single(parts, &SIGNATURE_INPUT)?, single(parts, &SIGNATURE)?)
    else {
        return Err(missing());
    };
    let bad =
        |_: SignatureParseError| malformed("The Signature-Input or Signature field is malformed.");
    let mut inputs = parse_signature_input(input).map_err(bad)?;
    let mut signatures = parse_signature(signature).map_err(bad)?;
    if inputs.len() != 1 || signatures.len() != 1 {
        return Err(malformed("Send exactly one signature."));
    }
    let (Some(input), Some((label, signature))) = (inputs.pop(), signatures.pop()) else {
        return Err(malformed("Send exactly one signature."));
    };
    if input.label != label {
        return Err(malformed(
            "The labels of Signature-Input and Signature differ.",
        ));
    }
    for (key, _) in &input.params {
        if !matches!(
            key.as_str(),
            "created" | "expires" | "keyid" | "nonce" | "alg" | "tag"
        ) {
            return Err(malformed("The signature has an unknown parameter."));
        }
    }
    let (Some(created), Some(keyid), Some(nonce), Some(alg)) =
        (input.created(), input.keyid(), input.nonce(), input.alg())
    else {
        return Err(malformed(
            "The signature needs the parameters created, keyid, nonce and alg.",
        ));
    };
    if keyid.is_empty()
        || keyid.len() > MAX_PARAM_LEN
        || nonce.is_empty()
        || nonce.len() > MAX_PARAM_LEN
    {
        return Err(malformed(
            "The keyid or nonce of the signature is empty or too long.",
        ));
    }
    let Some(body) = parts.extensions.get::<BodyDigest>().copied() else {
        tracing::error!(target: "secure_api", handler = policy.handler(), "signed route reached without the Security layer's body digest");
        return Err(SecurityError::misconfigured());
    };
    let Some(body_digest) = body.digest else {
        return Err(SecurityError::bad_request(StatusCode::PAYLOAD_TOO_LARGE));
    };
    let covers = |c: &str| input.components.iter().any(|x| x == c);
    if !(covers("@method") && covers("@path") && covers("@query"))
        || (!body.empty && !covers("content-digest"))
    {
        return Err(malformed(
            "The signature must cover @method, @path, @query, and content-digest when there is a body.",
        ));
    }
    if alg != ALGORITHM {
        return Err(refuse("algorithm other than hmac-sha256"));
    }
    let now = security
        .0
        .wall_clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now_i = created_i64(now);
    let max_age = i64::try_from(settings.max_age.as_secs()).unwrap_or(i64::MAX);
    let skew = i64::try_from(settings.clock_skew.as_secs()).unwrap_or(i64::MAX);
    if created < now_i.saturating_sub(max_age) {
        return Err(refuse("created too old"));
    }
    if created > now_i.saturating_add(skew) {
        return Err(refuse("created in the future"));
    }
    if let Some(expires) = input.integer("expires")
        && expires <= now_i
    {
        return Err(refuse("signature expired"));
    }
    let key = match settings.keys.signing_key(keyid).await {
        Ok(Some(key)) => key,
        Ok(None) => return Err(refuse("unknown keyid")),
        Err(error) => {
            tracing::error!(target: "secure_api", %error, "signing key store failed; refusing (fail closed)");
            return Err(SecurityError::unavailable());
        }
    };
    if key.not_after.is_some_and(|at| now >= at) {
        return Err(refuse("signing key expired"));
    }
    if key.secret.len() < MIN_SECRET_LEN {
        tracing::error!(target: "secure_api", "a signing key's secret is shorter than 32 bytes; refusing");
        return Err(refuse("signing key too short"));
    }
    if *key.owner != *principal.subject() {
        return Err(refuse("signing key belongs to another principal"));
    }
    let base = signature_base(&input, parts)?;
    let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, &key.secret);
    if hmac::verify(&hmac_key, base.as_bytes(), &signature).is_err() {
        return Err(refuse("signature does not verify"));
    }
    if covers("content-digest") || !body.empty {
        let Some(field) = single(parts, &CONTENT_DIGEST)? else {
            return Err(malformed("The signed request has no Content-Digest."));
        };
        let digests = parse_signature(field)
            .map_err(|_| malformed("The Content-Digest field is malformed."))?;
        let Some((_, sent)) = digests.iter().find(|(alg, _)| alg == "sha-256") else {
            return Err(malformed("Content-Digest must carry sha-256."));
        };
        if constant_time::verify_slices_are_equal(sent, &body_digest).is_err() {
            return Err(refuse("content digest does not match the body"));
        }
    }
    let until = u64::try_from(created.max(0))
        .unwrap_or(0)
        .saturating_add(settings.max_age.as_secs())
        .saturating_add(settings.clock_skew.as_secs());
    let nonce_key = format!("sig\u{0}{keyid}\u{0}{nonce}");
    match security.0.nonces.insert_once(&nonce_key, until).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refuse("nonce already used")),
        Err(error) => {
            tracing::error!(target: "secure_api", %error, "nonce store failed; refusing (fail closed)");
            Err(SecurityError::unavailable())
        }
    }
}

/// The signature base (RFC 9421 section 2.5) of the covered components.
fn signature_base(input: &SignatureInput, parts: &Parts) -> Result<String, SecurityError> {
    let mut base = String::new();
    for component in &input.components {
        let value = match component.as_str() {
            "@method" => parts.method.as_str().to_owned(),
            "@path" => path_value(parts.uri.path()),
            "@query" => query_value(parts.uri.query()),
            "@authority" => match parts
                .uri
                .authority()
                .map(|a| a.as_str().to_owned())
                .or_else(|| {
                    parts
                        .headers
                        .get(http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_owned)
                }) {
                Some(authority) => authority.to_ascii_lowercase(),
                None => return Err(malformed("A covered component is not in the request.")),
            },
            name if !name.starts_with('@')
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                let mut values = Vec::new();
                for value in parts.headers.get_all(name) {
                    let Ok(value) = value.to_str() else {
                        return Err(malformed("A covered header is not visible ASCII."));
                    };
                    values.push(value.trim());
                }
                if values.is_empty() {
                    return Err(malformed("A covered component is not in the request."));
                }
                values.join(", ")
            }
            _ => return Err(malformed("The signature covers an unsupported component.")),
        };
        base.push('"');
        base.push_str(component);
        base.push_str("\": ");
        base.push_str(&value);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(&input.signature_params());
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_is_strict() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(
                base64_decode(base64_encode(bytes).as_bytes()).as_deref(),
                Some(bytes)
            );
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert!(base64_decode(b"Zm9=").is_none(), "non-zero padding bits");
        assert!(
            base64_decode(b"Zg==Zg==").is_none(),
            "padding in the middle"
        );
        assert!(base64_decode(b"Zg=").is_none());
        assert!(base64_decode(b"Z===").is_none());
    }

    #[test]
    fn the_rfc_example_input_parses_and_serializes_back() {
        let text = r#"("@method" "@authority" "@path" "content-digest" "content-length" "content-type");created=1618884473;keyid="test-key-rsa-pss""#;
        let parsed = parse_signature_input(&format!("sig1={text}")).unwrap();
        assert_eq!(parsed[0].signature_params(), text);
        assert_eq!(parsed[0].created(), Some(1_618_884_473));
    }

    #[test]
    fn malformed_fields_are_errors_not_panics() {
        for bad in [
            "",
            " ",
            "sig1",
            "sig1=",
            "sig1=(",
            "sig1=(\"a\"",
            "sig1=(\"a\" ",
            "SIG=()",
            "sig1=();created=",
            "sig1=();created=1.5",
            "sig1=();=1",
            "sig1=(),",
            "sig1=() sig2=()",
            "sig1=();a=1;a=2",
            "sig1=(),sig1=()",
            "sig1=(\"a\";x)",
            "sig1=(\"a\" \"a\")",
            "sig1=(a)",
            "sig1=(\"\\x\")",
            "sig1=(\"\u{e9}\")",
            "sig1=();created=1234567890123456",
            "sig1=(\"a\"\"b\")",
        ] {
            assert!(parse_signature_input(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "sig1=:",
            "sig1=:AA:",
            "sig1=:A A=:",
            "sig1=\"x\"",
            "sig1=:AAA=:;",
            "sig1=:AAA=:,",
        ] {
            assert!(parse_signature(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_prefix_of_a_valid_field_is_handled() {
        let signed = RequestSigner::new("k", vec![7u8; 32]).sign("POST", "/a?b", b"x", 1, "n");
        for text in [signed.signature_input(), signed.signature()] {
            for end in 0..text.len() {
                let _ = parse_signature_input(&text[..end]);
                let _ = parse_signature(&text[..end]);
            }
        }
    }
}
