//! Compact JWS, read in one pass: the three segments, the protected header, HMAC
//! signatures with keys prepared once, and the claims of the payload the verifier needs.
//!
//! Nothing here decides whether a token is accepted: `jwt` does, with what this module
//! reads. Every reader is strict and never panics: a segment that is not canonical
//! base64url, a header or payload that is not a JSON object, a registered claim given
//! twice, or a nesting deeper than serde_json's limit is an error.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The three base64url segments of a compact JWS (the shape was checked before).
pub(crate) struct Segments<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
    /// `header.payload`, the signing input.
    pub(crate) signing_input: &'t str,
}

impl<'t> Segments<'t> {
    /// The segments of a compact JWS: three non-empty base64url segments (an empty
    /// signature is the "alg: none" shape), or `None`.
    pub(crate) fn compact(token: &'t str) -> Option<Self> {
        let first = token.find('.')?;
        let second = first + 1 + token.get(first + 1..)?.find('.')?;
        let segments = Segments {
            header: token.get(..first)?,
            payload: token.get(first + 1..second)?,
            // A third dot makes the signature fail the alphabet check below.
            signature: token.get(second + 1..)?,
            signing_input: token.get(..second)?,
        };
        let shaped = [segments.header, segments.payload, segments.signature]
            .iter()
            .all(|s| !s.is_empty() && is_base64url(s));
        shaped.then_some(segments)
    }
}

/// Whether every byte is of the base64url alphabet. Branch-free over the bytes (no early
/// exit), so the compiler vectorises it: the check runs over every byte of every token.
fn is_base64url(segment: &str) -> bool {
    segment.bytes().fold(true, |ok, b| {
        ok & (b.is_ascii_digit()
            | b.is_ascii_lowercase()
            | b.is_ascii_uppercase()
            | (b == b'-')
            | (b == b'_'))
    })
}

/// Decodes one base64url segment (no padding, canonical trailing bits).
pub(crate) fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

/// What the verifier reads of the protected header. `jwk`, `jku`, `x5u`, `x5c` and every
/// other member are skipped: keys never come from the token.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Arc<str>>,
    /// `typ` is `at+jwt` or `application/at+jwt` (RFC 9068), in any case.
    pub(crate) access_token_typ: bool,
}

/// Why a header is refused (for the debug log only).
pub(crate) type Refusal = &'static str;

impl Header {
    /// Reads the base64url header segment. The tokens of one issuer share a handful of
    /// headers, so each thread remembers the last header it read (a pure function of the
    /// segment's bytes; refused headers are not remembered).
    pub(crate) fn parse(segment: &str) -> Result<Header, Refusal> {
        thread_local! {
            static LAST: RefCell<Option<(Box<str>, Header)>> = const { RefCell::new(None) };
        }
        let remembered = LAST.with(|last| {
            last.borrow()
                .as_ref()
                .filter(|(seen, _)| **seen == *segment)
                .map(|(_, header)| header.clone())
        });
        if let Some(header) = remembered {
            return Ok(header);
        }
        let header = Self::read(segment)?;
        LAST.with(|last| *last.borrow_mut() = Some((segment.into(), header.clone())));
        Ok(header)
    }

    fn read(segment: &str) -> Result<Header, Refusal> {
        // Headers are small: decode on the stack, on the heap only when large.
        let mut buf = [0u8; 384];
        let heap;
        let json: &[u8] = match URL_SAFE_NO_PAD.decode_slice(segment, &mut buf) {
            Ok(n) => &buf[..n],
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                heap = decode_segment(segment).ok_or("header is not base64url")?;
                &heap
            }
            Err(base64::DecodeSliceError::DecodeError(_)) => return Err("header is not base64url"),
        };
        // A JSON object only: serde would also read a struct from an array.
        if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err("header is not a JSON object");
        }
        let raw: RawHeader<'_> =
            serde_json::from_slice(json).map_err(|_| "header is not a JWS header object")?;
        let alg = match raw.alg.as_deref() {
            Some(name) => name.parse().map_err(|_| "unknown or refused alg")?,
            None => return Err("header without alg"),
        };
        if raw.crit.as_ref().is_some_and(|c| c.0 > 0) {
            // RFC 7515 4.1.11: extensions we do not understand must be refused.
            return Err("unsupported crit header");
        }
        let access_token_typ = raw.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        Ok(Header {
            alg,
            kid: raw.kid.map(|kid| Arc::from(&*kid)),
            access_token_typ,
        })
    }
}

#[derive(serde::Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow, default, deserialize_with = "string_or_null")]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "string_or_null")]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "string_or_null")]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<Crit>,
}

/// `crit`: an array of strings (anything else makes the header unreadable); how many.
struct Crit(usize);

impl<'de> serde::Deserialize<'de> for Crit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Crit;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of header parameter names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Crit, A::Error> {
                let mut names = 0;
                while seq.next_element::<Str<'de>>()?.is_some() {
                    names += 1;
                }
                Ok(Crit(names))
            }
        }
        d.deserialize_seq(V)
    }
}

fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(<Option<Str<'de>> as serde::Deserialize>::deserialize(d)?.map(|s| s.0))
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

// ---------------------------------------------------------------------------------------
// HMAC

/// The HMAC keys of one shared secret, prepared once (HS256, HS384, HS512).
pub(crate) struct HmacKeys(Box<HmacKeySet>);

struct HmacKeySet {
    hs256: hmac::Key,
    hs384: hmac::Key,
    hs512: hmac::Key,
}

impl HmacKeys {
    pub(crate) fn new(secret: &[u8]) -> Self {
        HmacKeys(Box::new(HmacKeySet {
            hs256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            hs384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            hs512: hmac::Key::new(hmac::HMAC_SHA512, secret),
        }))
    }

    /// Whether `signature` (base64url) is the HMAC of `message` under `alg`, compared in
    /// constant time. Any other algorithm is refused.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        let key = match alg {
            Algorithm::HS256 => &self.0.hs256,
            Algorithm::HS384 => &self.0.hs384,
            Algorithm::HS512 => &self.0.hs512,
            _ => return false,
        };
        let mut buf = [0u8; 64];
        let Ok(n) = URL_SAFE_NO_PAD.decode_slice(signature, &mut buf) else {
            return false;
        };
        hmac::verify(key, message, &buf[..n]).is_ok()
    }
}

// ---------------------------------------------------------------------------------------
// Claims

/// One claim value, as much of it as the verifier needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Claim<'de> {
    Null,
    Str(Cow<'de, str>),
    Uint(u64),
    Float(f64),
    /// An array whose elements are all strings (possibly empty).
    Strings(Vec<Cow<'de, str>>),
    /// Anything else: a boolean, a negative integer, an object, a mixed array.
    Other,
}

/// The claims the verifier reads, each as it appeared (`None`: absent). Every other
/// member of the payload is skipped after being checked to be valid JSON.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Claims<'de> {
    pub(crate) sub: Option<Claim<'de>>,
    pub(crate) exp: Option<Claim<'de>>,
    pub(crate) nbf: Option<Claim<'de>>,
    pub(crate) iss: Option<Claim<'de>>,
    pub(crate) aud: Option<Claim<'de>>,
    pub(crate) jti: Option<Claim<'de>>,
    pub(crate) scope: Option<Claim<'de>>,
    pub(crate) scp: Option<Claim<'de>>,
    pub(crate) roles: Option<Claim<'de>>,
}

impl<'de> Claims<'de> {
    /// Reads a payload (a JSON object); `roles_claim` names the roles claim.
    ///
    /// Payloads of the usual shape (a flat object of ASCII strings without escapes,
    /// non-negative integers, literals and arrays of such strings) are read by [`Scan`];
    /// anything else, refusals included, goes through serde_json. Both give the same
    /// claims for what `Scan` accepts: debug builds check it on every payload read.
    pub(crate) fn parse(payload: &'de [u8], roles_claim: &str) -> Result<Self, Refusal> {
        let mut claims = Claims::default();
        claims.read(payload, roles_claim)?;
        Ok(claims)
    }

    /// [`Self::parse`] into `self` (which must be empty), so that the claims are written
    /// where the caller keeps them instead of being moved out through each reader.
    pub(crate) fn read(&mut self, payload: &'de [u8], roles_claim: &str) -> Result<(), Refusal> {
        if Scan::new(payload).claims(roles_claim, self).is_some() {
            debug_assert_eq!(
                Some(&*self),
                Self::parse_json(payload, roles_claim).ok().as_ref(),
                "the two claim readers disagree on {:?}",
                String::from_utf8_lossy(payload)
            );
            return Ok(());
        }
        *self = Self::parse_json(payload, roles_claim)?;
        Ok(())
    }

    /// Reads a payload with serde_json: any JSON, held to its recursion limit.
    fn parse_json(payload: &'de [u8], roles_claim: &str) -> Result<Self, Refusal> {
        let mut de = serde_json::Deserializer::from_slice(payload);
        let claims = ClaimsSeed { roles_claim }
            .deserialize(&mut de)
            .map_err(|_| "claims are not a JSON object of well-formed registered claims")?;
        de.end().map_err(|_| "trailing bytes after the claims")?;
        Ok(claims)
    }
}

/// A reader of the common payload shape in one pass over the bytes, without serde:
///
/// ```text
/// payload = ws "{" ws [ member *( ws "," ws member ) ] ws "}" ws
/// member  = string ws ":" ws value
/// value   = string / uint / "true" / "false" / "null" / "[" ws [ string *( ws "," ws string ) ] ws "]"
/// string  = '"' *( %x20-21 / %x23-5B / %x5D-7F ) '"'     ; ASCII, no escapes
/// uint    = "0" / %x31-39 *DIGIT                            ; fits in a u64
/// ```
///
/// It gives up (`None`) at the first byte outside this grammar and on a registered claim
/// given twice, and serde_json then reads the payload: giving up never accepts anything.
struct Scan<'de> {
    /// The payload, once it is known to be UTF-8 (every JSON text is); empty otherwise,
    /// which the grammar refuses.
    text: &'de str,
    bytes: &'de [u8],
    at: usize,
}

impl<'de> Scan<'de> {
    fn new(payload: &'de [u8]) -> Self {
        let text = std::str::from_utf8(payload).unwrap_or("");
        Scan {
            text,
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    /// The next byte after JSON whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.bytes.get(self.at) {
            if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }

    /// Consumes `byte`, the next one after whitespace.
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn string(&mut self) -> Option<&'de str> {
        self.eat(b'"')?;
        let rest = self.bytes.get(self.at..)?;
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))?;
        if rest[len] != b'"' {
            return None;
        }
        // ASCII between two ASCII quotes: always a char boundary.
        let text = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(text)
    }

    fn uint(&mut self) -> Option<u64> {
        let rest = self.bytes.get(self.at..)?;
        let len = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        let digits = &rest[..len];
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        let mut value: u64 = 0;
        for digit in digits {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
        }
        self.at += len;
        Some(value)
    }

    fn literal(&mut self, word: &[u8], claim: Claim<'de>) -> Option<Claim<'de>> {
        let rest = self.bytes.get(self.at..)?;
        rest.starts_with(word).then(|| {
            self.at += word.len();
            claim
        })
    }

    /// One value; an array of strings is only collected when `keep` (other claims are
    /// read through and dropped).
    fn value(&mut self, keep: bool) -> Option<Claim<'de>> {
        match self.peek()? {
            b'"' => self.string().map(|s| Claim::Str(Cow::Borrowed(s))),
            b'0'..=b'9' => self.uint().map(Claim::Uint),
            b't' => self.literal(b"true", Claim::Other),
            b'f' => self.literal(b"false", Claim::Other),
            b'n' => self.literal(b"null", Claim::Null),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(Claim::Strings(items));
                }
                loop {
                    let item = self.string()?;
                    if keep {
                        items.push(Cow::Borrowed(item));
                    }
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(Claim::Strings(items));
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// Reads the payload into `claims` (empty); on `None` they hold whatever was read
    /// before the reader gave up.
    fn claims(mut self, roles_claim: &str, claims: &mut Claims<'de>) -> Option<()> {
        fn put<'de>(slot: &mut Option<Claim<'de>>, value: Claim<'de>) -> Option<()> {
            // A claim given twice: serde_json's reading refuses it.
            slot.is_none().then(|| *slot = Some(value))
        }
        fn put_registered<'de>(
            claims: &mut Claims<'de>,
            key: &str,
            value: Claim<'de>,
        ) -> Option<()> {
            put(registered_slot(claims, key), value)
        }
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                if key == roles_claim {
                    let value = self.value(true)?;
                    if is_registered(key) {
                        put_registered(claims, key, value.clone())?;
                    }
                    put(&mut claims.roles, value)?;
                } else if is_registered(key) {
                    let value = self.value(true)?;
                    put_registered(claims, key, value)?;
                } else {
                    self.value(false)?;
                }
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        // Only whitespace may follow the object.
        match self.peek() {
            None => Some(()),
            Some(_) => None,
        }
    }
}

struct ClaimsSeed<'r> {
    roles_claim: &'r str,
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = Claims<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Claims<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = Claims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims<'de>, A::Error> {
        let mut claims = Claims::default();
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            let key = &*key;
            if key == self.roles_claim {
                let value: Claim<'de> = map.next_value()?;
                if is_registered(key) {
                    // The roles claim shares its name with a registered one: both read it.
                    set_registered(&mut claims, key, value.clone())?;
                }
                set(&mut claims.roles, value, key)?;
                continue;
            }
            if is_registered(key) {
                let value: Claim<'de> = map.next_value()?;
                set_registered(&mut claims, key, value)?;
            } else {
                map.next_value::<Skip>()?;
            }
        }
        Ok(claims)
    }
}

fn set<'de, E: de::Error>(
    slot: &mut Option<Claim<'de>>,
    value: Claim<'de>,
    name: &str,
) -> Result<(), E> {
    if slot.is_some() {
        // RFC 7519 4: a claim given twice makes the token ambiguous; refused.
        return Err(E::custom(format_args!("duplicate claim {name}")));
    }
    *slot = Some(value);
    Ok(())
}

/// Stores a registered claim (`key` is one, see [`is_registered`]).
fn set_registered<'de, E: de::Error>(
    claims: &mut Claims<'de>,
    key: &str,
    value: Claim<'de>,
) -> Result<(), E> {
    set(registered_slot(claims, key), value, key)
}

/// Where a registered claim (`key` is one, see [`is_registered`]) is kept.
fn registered_slot<'c, 'de>(claims: &'c mut Claims<'de>, key: &str) -> &'c mut Option<Claim<'de>> {
    match key {
        "sub" => &mut claims.sub,
        "exp" => &mut claims.exp,
        "nbf" => &mut claims.nbf,
        "iss" => &mut claims.iss,
        "aud" => &mut claims.aud,
        "jti" => &mut claims.jti,
        "scope" => &mut claims.scope,
        _ => &mut claims.scp,
    }
}

fn is_registered(key: &str) -> bool {
    matches!(
        key,
        "sub" | "exp" | "nbf" | "iss" | "aud" | "jti" | "scope" | "scp"
    )
}

impl<'de> serde::Deserialize<'de> for Claim<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Claim<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Claim<'de>, E> {
                Ok(Claim::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Claim<'de>, E> {
                Ok(Claim::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Claim<'de>, E> {
                Ok(Claim::Other)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Claim<'de>, E> {
                Ok(u64::try_from(v).map_or(Claim::Other, Claim::Uint))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Claim<'de>, E> {
                Ok(Claim::Uint(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Claim<'de>, E> {
                Ok(Claim::Float(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Claim<'de>, E> {
                Ok(Claim::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Claim<'de>, E> {
                Ok(Claim::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Claim<'de>, E> {
                Ok(Claim::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Claim<'de>, A::Error> {
                let mut strings = Vec::new();
                let mut all_strings = true;
                while let Some(element) = seq.next_element::<Element<'de>>()? {
                    match element {
                        Element::Str(s) if all_strings => strings.push(s),
                        _ => all_strings = false,
                    }
                }
                Ok(if all_strings {
                    Claim::Strings(strings)
                } else {
                    Claim::Other
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claim<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, Skip>()?.is_some() {}
                Ok(Claim::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// An array element: a string, or anything else (read through and dropped).
enum Element<'de> {
    Str(Cow<'de, str>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Claim::deserialize(d)? {
            Claim::Str(s) => Element::Str(s),
            _ => Element::Other,
        })
    }
}

/// Any JSON value, read and dropped. Unlike `IgnoredAny` (which serde_json skips without
/// a depth limit) nested arrays and objects go through `deserialize_any`, so the payload
/// is held to serde_json's recursion limit exactly as when the claims are later read
/// into a map.
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_entry::<IgnoredAny, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(V)
    }
}

/// A NumericDate (RFC 7519 2): a non-negative number of seconds, rounded like
/// jsonwebtoken rounds it. `None` for anything else.
pub(crate) fn numeric_date(claim: &Claim<'_>) -> Option<u64> {
    match *claim {
        Claim::Uint(v) => Some(v),
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        Claim::Float(v) if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 => {
            Some(v.round() as u64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn segments_split_on_the_two_dots() {
        let s = Segments::compact("aa.bbb.c").unwrap();
        assert_eq!(
            (s.header, s.payload, s.signature, s.signing_input),
            ("aa", "bbb", "c", "aa.bbb")
        );
        assert!(Segments::compact("a.b").is_none());
    }

    #[test]
    fn header_reads_alg_kid_typ_and_refuses_what_it_cannot_honour() {
        let h = Header::parse(&b64(
            r#"{"alg":"HS256","kid":"k\u0031","typ":"AT+JWT","jwk":{"kty":"oct"}}"#,
        ))
        .unwrap();
        assert_eq!(h.alg, Algorithm::HS256);
        assert_eq!(h.kid.as_deref(), Some("k1"));
        assert!(h.access_token_typ);
        for refused in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":null}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","crit":"exp"}"#,
            r#"{"alg":"HS256","kid":7}"#,
            r#"{"alg":"HS256","typ":["JWT"]}"#,
            r#"["HS256"]"#,
            r#"{"alg":"HS256"} "x""#,
        ] {
            assert!(Header::parse(&b64(refused)).is_err(), "{refused}");
        }
        assert!(Header::parse("eyJhbGciOiJIUzI1NiJ9=").is_err(), "padding");
        assert!(Header::parse("eyJhbGciOiJIUzI1NiJ9!").is_err());
        assert!(Header::parse(&b64(r#"{"alg":"HS256","crit":[]}"#)).is_ok());
        // Remembered or read anew, a header reads the same.
        let kid = b64(r#"{"alg":"ES256","kid":"a"}"#);
        for _ in 0..2 {
            let h = Header::parse(&kid).unwrap();
            assert_eq!((h.alg, h.kid.as_deref()), (Algorithm::ES256, Some("a")));
            assert!(Header::parse(&b64(r#"{"alg":"none","kid":"a"}"#)).is_err());
        }
        let other = Header::parse(&b64(r#"{"alg":"ES256","kid":"b"}"#)).unwrap();
        assert_eq!(other.kid.as_deref(), Some("b"));
        // A large header (an embedded certificate chain) is read from the heap.
        let big = format!(r#"{{"alg":"RS256","x5c":["{}"]}}"#, "A".repeat(2000));
        assert_eq!(Header::parse(&b64(&big)).unwrap().alg, Algorithm::RS256);
    }

    #[test]
    fn claims_are_read_in_one_pass_with_their_types() {
        let payload = br#"{"sub":"al\"ice","exp":1.6e9,"nbf":-1,"iss":"i","aud":["a","b"],
            "roles":["x","y"],"scope":null,"scp":[1,"a"],"jti":{"a":[1,{}]},"other":[[[]]]}"#;
        let c = Claims::parse(payload, "roles").unwrap();
        assert_eq!(c.sub, Some(Claim::Str("al\"ice".into())));
        assert_eq!(c.exp.as_ref().and_then(numeric_date), Some(1_600_000_000));
        assert_eq!(c.nbf, Some(Claim::Other));
        assert_eq!(c.iss, Some(Claim::Str("i".into())));
        assert_eq!(c.aud, Some(Claim::Strings(vec!["a".into(), "b".into()])));
        assert_eq!(c.roles, Some(Claim::Strings(vec!["x".into(), "y".into()])));
        assert_eq!(c.scope, Some(Claim::Null));
        assert_eq!(c.scp, Some(Claim::Other));
        assert_eq!(c.jti, Some(Claim::Other));
        // The roles claim may share a registered claim's name.
        let c = Claims::parse(br#"{"scp":["a"]}"#, "scp").unwrap();
        assert_eq!(c.roles, c.scp);
    }

    #[test]
    fn ambiguous_or_malformed_payloads_are_refused() {
        for refused in [
            &br#"{"sub":"a","sub":"b"}"#[..],
            br#"{"roles":[],"roles":["admin"]}"#,
            br#"["sub"]"#,
            br#"{"sub":"a"} {}"#,
            br#"{"sub":"a""#,
            br#"{"n":1e999}"#,
        ] {
            assert!(
                Claims::parse(refused, "roles").is_err(),
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
        // Deeper than serde_json's recursion limit, even in a claim nobody reads.
        let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(Claims::parse(deep.as_bytes(), "roles").is_err());
        let shallow = format!(r#"{{"x":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert!(Claims::parse(shallow.as_bytes(), "roles").is_ok());
        // Escapes are checked in every key and string, nested ones included, exactly as
        // when the claims are later read into a map: a lone surrogate is not JSON text.
        for refused in [
            &br#"{"x":{"\ud800":1}}"#[..],
            br#"{"x":[{"a":{"\udfff":1}}]}"#,
            br#"{"\ud800":1}"#,
            br#"{"x":"\ud800"}"#,
            br#"{"roles":[{"\ud800":1}]}"#,
        ] {
            assert!(
                Claims::parse(refused, "roles").is_err(),
                "{}",
                String::from_utf8_lossy(refused)
            );
            assert!(serde_json::from_slice::<serde_json::Value>(refused).is_err());
        }
        // Unknown claims may repeat, as serde_json's map allows.
        assert!(Claims::parse(br#"{"t":1,"t":2}"#, "roles").is_ok());
    }

    #[test]
    fn numeric_dates_follow_rfc_7519() {
        assert_eq!(numeric_date(&Claim::Uint(5)), Some(5));
        assert_eq!(numeric_date(&Claim::Float(5.6)), Some(6));
        assert_eq!(numeric_date(&Claim::Float(-1.0)), None);
        assert_eq!(numeric_date(&Claim::Float(f64::NAN)), None);
        assert_eq!(numeric_date(&Claim::Str("5".into())), None);
        assert_eq!(numeric_date(&Claim::Null), None);
    }

    #[test]
    fn hmac_signatures_are_checked_with_the_algorithm_named() {
        let keys = HmacKeys::new(b"0123456789abcdef0123456789abcdef");
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef"),
            b"m",
        );
        let sig = URL_SAFE_NO_PAD.encode(tag.as_ref());
        assert!(keys.verify(Algorithm::HS256, b"m", &sig));
        assert!(!keys.verify(Algorithm::HS256, b"n", &sig));
        assert!(!keys.verify(Algorithm::HS384, b"m", &sig));
        assert!(!keys.verify(Algorithm::RS256, b"m", &sig));
        assert!(!keys.verify(Algorithm::HS256, b"m", &sig[..sig.len() - 1]));
        assert!(!keys.verify(Algorithm::HS256, b"m", &"A".repeat(200)));
        assert!(!keys.verify(Algorithm::HS256, b"m", ""));
    }

    /// The fast reader alone.
    fn scan<'de>(payload: &'de [u8], roles_claim: &str) -> Option<Claims<'de>> {
        let mut claims = Claims::default();
        Scan::new(payload).claims(roles_claim, &mut claims)?;
        Some(claims)
    }

    /// Both claim readers on `payload`: the fast one accepts only what serde_json accepts,
    /// with the same claims.
    fn readers_agree(payload: &[u8], roles_claim: &str) -> bool {
        match scan(payload, roles_claim) {
            None => true,
            Some(fast) => {
                FAST_READS.with(|n| n.set(n.get() + 1));
                Claims::parse_json(payload, roles_claim).as_ref() == Ok(&fast)
            }
        }
    }

    thread_local! {
        static FAST_READS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[test]
    fn the_fast_reader_takes_the_usual_payloads() {
        let payload = br#" {"sub":"alice","exp":1700000000,"roles":["editor","viewer"],
            "iss":"https://idp","aud":["api","other"],"nbf":0,"jti":"t-1","scope":"a b",
            "email_verified":true,"groups":["x"],"tenant":null} "#;
        let claims = scan(payload, "roles").expect("the usual shape");
        assert_eq!(Ok(&claims), Claims::parse_json(payload, "roles").as_ref());
        assert_eq!(claims.exp, Some(Claim::Uint(1_700_000_000)));
        assert_eq!(
            claims.roles,
            Some(Claim::Strings(vec!["editor".into(), "viewer".into()]))
        );
        // The roles claim may share its name with a registered claim.
        let both = scan(br#"{"scope":"a"}"#, "scope").expect("flat");
        assert_eq!(
            (&both.scope, &both.roles),
            (&Some(Claim::Str("a".into())), &both.scope)
        );
    }

    #[test]
    fn the_fast_reader_leaves_everything_else_to_serde_json() {
        for payload in [
            &br#"{"sub":"a\u0041"}"#[..], // an escape
            br#"{"sub":"\u00e9"}"#,
            "{\"sub\":\"\u{e9}\"}".as_bytes(), // non-ASCII
            br#"{"exp":1.5}"#,                 // float
            br#"{"exp":1e3}"#,
            br#"{"exp":-1}"#,
            br#"{"exp":01}"#,                   // leading zero: invalid JSON
            br#"{"exp":18446744073709551616}"#, // beyond u64: a float for serde_json
            br#"{"a":{"b":1}}"#,                // nested object
            br#"{"roles":["a",1]}"#,            // mixed array
            br#"{"sub":"a","sub":"b"}"#,        // duplicate registered claim
            br#"{"sub":"a",}"#,                 // trailing comma
            br#"{"sub":"a"} x"#,                // trailing bytes
            br#"["sub"]"#,
            br#"{"sub":tru}"#,
            b"{\"sub\":\"a\tb\"}", // control character in a string
            b"",
        ] {
            assert!(
                scan(payload, "roles").is_none(),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn both_readers_agree_on_every_one_byte_change_of_a_payload() {
        let seeds: [&[u8]; 4] = [
            br#"{"sub":"alice","exp":1700000000,"roles":["editor"],"iss":"i","aud":"a"}"#,
            br#" { "scope" : "a b" , "scp" : [ ] , "nbf" : 0 , "x" : [ "y" , "z" ] } "#,
            br#"{"jti":"j","t":true,"f":false,"n":null,"roles":null,"aud":["a","b"]}"#,
            br#"{}"#,
        ];
        let bytes: &[u8] = b" \t\r\n{}[]:,\"\\0123456789.eE+-tfnulx\x00\x1f\x7f\xc3\xa9\xff";
        let mut checked = 0;
        for seed in seeds {
            for roles_claim in ["roles", "scope", "sub", "x"] {
                assert!(scan(seed, roles_claim).is_some());
                assert!(readers_agree(seed, roles_claim));
                for at in 0..=seed.len() {
                    let mut deleted = seed.to_vec();
                    if at < seed.len() {
                        deleted.remove(at);
                        assert!(readers_agree(&deleted, roles_claim), "{deleted:?}");
                    }
                    for &byte in bytes {
                        let mut inserted = seed.to_vec();
                        inserted.insert(at, byte);
                        assert!(readers_agree(&inserted, roles_claim), "{inserted:?}");
                        if at < seed.len() {
                            let mut replaced = seed.to_vec();
                            replaced[at] = byte;
                            assert!(readers_agree(&replaced, roles_claim), "{replaced:?}");
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 10_000);
        // Whitespace, digits and letters inside strings keep many changes readable by both.
        assert!(FAST_READS.with(std::cell::Cell::get) > 2_000);
    }
}
