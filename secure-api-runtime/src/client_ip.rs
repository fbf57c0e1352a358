//! Who the client is: the socket peer, unless the peer is a trusted proxy.
//!
//! A forwarding header is only believed when the TCP peer is a configured trusted proxy;
//! from anyone else it is ignored, so a client rotating `X-Forwarded-For` gets no new
//! bucket. Behind trusted proxies the client is the right-most entry that is not itself a
//! trusted proxy: every proxy appends the address it received the request from, so the
//! entries on the left are the client's to forge and the right-most untrusted one is the
//! first address no trusted party vouches for.
//!
//! Two ways to say which peers are proxies:
//!
//! - [`TrustedProxies::cidrs`]: peers inside these networks are proxies, and so are the
//!   entries of the header that fall inside them;
//! - [`TrustedProxies::hops`]: exactly `n` proxies stand in front of the application (the
//!   peer is the last of them), so the client is the `n`-th entry from the right.
//!
//! A header that a trusted proxy sent but that cannot be read where it matters (missing,
//! too short for the hop count, an entry that is not an IP address, `for=unknown`, an
//! obfuscated RFC 7239 identifier, a value that is not ASCII) is not guessed at: the client
//! is taken to be the proxy itself. All clients behind that proxy then share one bucket,
//! which throttles more, never less.
//!
//! ```
//! use std::net::IpAddr;
//! use secure_api_runtime::{ForwardedHeader, TrustedProxies};
//!
//! let proxies: TrustedProxies = "10.0.0.0/8, 2001:db8::/32".parse().unwrap();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.3".parse().unwrap());
//! let peer: IpAddr = "10.0.0.2".parse().unwrap();
//! assert_eq!(proxies.client_ip(peer, &headers), "203.0.113.9".parse::<IpAddr>().unwrap());
//! // From a peer that is not a proxy, the header is ignored.
//! let peer: IpAddr = "192.0.2.50".parse().unwrap();
//! assert_eq!(proxies.client_ip(peer, &headers), peer);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use http::HeaderMap;
use http::header::FORWARDED;

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); a bare address is a /32
/// (IPv4) or /128 (IPv6) network.
///
/// ```
/// use secure_api_runtime::Cidr;
/// let net: Cidr = "192.168.0.0/16".parse().unwrap();
/// assert!(net.contains("192.168.4.2".parse().unwrap()));
/// assert!(!net.contains("192.169.0.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<Cidr>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// are compared as the IPv4 address they carry.
    ///
    /// ```
    /// let net: secure_api_runtime::Cidr = "10.0.0.0/8".parse().unwrap();
    /// assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
    /// ```
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    /// The prefix length.
    ///
    /// ```
    /// assert_eq!("10.0.0.0/8".parse::<secure_api_runtime::Cidr>().unwrap().prefix(), 8);
    /// ```
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why a CIDR or proxy list was refused.
///
/// ```
/// let err = "10.0.0.0/8, nonsense".parse::<secure_api_runtime::TrustedProxies>().unwrap_err();
/// assert!(err.to_string().contains("nonsense"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrParseError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for CidrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a network in CIDR notation such as \"10.0.0.0/8\" or \"2001:db8::/32\": {}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for CidrParseError {}

impl FromStr for Cidr {
    type Err = CidrParseError;

    /// `ADDRESS/PREFIX` or a bare address; the host bits must be zero (`10.0.0.1/8` is
    /// refused, since it usually means a typo).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| CidrParseError {
            input: s.to_owned(),
            reason,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
        let network = canonical(network);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| err("the prefix is too long"))?
            }
            Some(_) => return Err(err("the prefix must be a number")),
        };
        if prefix > max {
            return Err(err("the prefix is longer than the address"));
        }
        let masked = match network {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(mask_v4(u32::from(v4), prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(mask_v6(u128::from(v6), prefix))),
        };
        if masked != network {
            return Err(err("host bits are set after the prefix"));
        }
        Ok(Cidr { network, prefix })
    }
}

/// The forwarding header a trusted proxy writes.
///
/// Pick the one your proxy actually sets: a proxy that manages only `X-Forwarded-For`
/// passes a client's own `Forwarded` header through untouched, so reading the other one
/// would let the client choose its address.
///
/// ```
/// use secure_api_runtime::ForwardedHeader;
/// assert_eq!(ForwardedHeader::default(), ForwardedHeader::XForwardedFor);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for="[2001:db8::1]:4711"`.
    Forwarded,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Trust {
    Cidrs(Vec<Cidr>),
    Hops(u8),
}

/// Which peers may tell who the client is, and through which header.
///
/// The client is the socket peer, unless the peer is a trusted proxy; then it is the
/// right-most entry of the forwarding header that is not itself a trusted proxy (with
/// [`hops`](Self::hops): the n-th entry from the right). Entries left of it are never
/// read: they are the client's to forge. A header from a trusted proxy that cannot be read
/// where it matters (absent, too short, `unknown`, an obfuscated identifier, not an
/// address, not ASCII, an empty element) makes the proxy itself the client: every client
/// behind it then shares one bucket, which throttles more, never less. Headers from any
/// other peer are ignored.
///
/// ```
/// use secure_api_runtime::{ForwardedHeader, TrustedProxies};
/// let by_network = TrustedProxies::cidrs(["10.0.0.0/8".parse().unwrap()]);
/// let by_count = TrustedProxies::hops(2).header(ForwardedHeader::Forwarded);
/// assert!(TrustedProxies::hops(0).is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies {
    trust: Trust,
    header: ForwardedHeader,
}

impl Default for TrustedProxies {
    fn default() -> Self {
        TrustedProxies::none()
    }
}

impl TrustedProxies {
    /// No proxy is trusted: the client is always the socket peer (the default).
    ///
    /// ```
    /// assert!(secure_api_runtime::TrustedProxies::none().is_empty());
    /// ```
    pub fn none() -> Self {
        TrustedProxies {
            trust: Trust::Cidrs(Vec::new()),
            header: ForwardedHeader::default(),
        }
    }

    /// Peers (and header entries) inside these networks are proxies.
    ///
    /// ```
    /// let p = secure_api_runtime::TrustedProxies::cidrs(["10.0.0.0/8".parse().unwrap()]);
    /// assert!(!p.is_empty());
    /// ```
    pub fn cidrs(networks: impl IntoIterator<Item = Cidr>) -> Self {
        TrustedProxies {
            trust: Trust::Cidrs(networks.into_iter().collect()),
            header: ForwardedHeader::default(),
        }
    }

    /// Exactly `count` proxies stand in front of the application, whatever their addresses.
    /// Only use this when the application cannot be reached except through them.
    ///
    /// ```
    /// let p = secure_api_runtime::TrustedProxies::hops(1);
    /// ```
    pub fn hops(count: u8) -> Self {
        TrustedProxies {
            trust: Trust::Hops(count),
            header: ForwardedHeader::default(),
        }
    }

    /// The header the proxies write (default `X-Forwarded-For`).
    ///
    /// ```
    /// use secure_api_runtime::{ForwardedHeader, TrustedProxies};
    /// let p = TrustedProxies::hops(1).header(ForwardedHeader::Forwarded);
    /// ```
    pub fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Whether no peer is trusted.
    ///
    /// ```
    /// assert!("".parse::<secure_api_runtime::TrustedProxies>().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        match &self.trust {
            Trust::Cidrs(list) => list.is_empty(),
            Trust::Hops(n) => *n == 0,
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        match &self.trust {
            Trust::Cidrs(list) => list.iter().any(|net| net.contains(ip)),
            Trust::Hops(n) => *n > 0,
        }
    }

    /// The scheme the client used, as the trusted proxy in front reports it
    /// (`X-Forwarded-Proto`, or `proto=` of RFC 7239 `Forwarded`, whichever header the
    /// settings name; the entry the last proxy wrote). `None` when `peer` is not trusted or
    /// the header is absent or unreadable.
    ///
    /// ```
    /// use std::net::IpAddr;
    /// let proxies = secure_api_runtime::TrustedProxies::hops(1);
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-forwarded-proto", "https".parse().unwrap());
    /// let peer: IpAddr = "10.0.0.2".parse().unwrap();
    /// assert_eq!(proxies.forwarded_proto(peer, &headers), Some("https"));
    /// assert_eq!(secure_api_runtime::TrustedProxies::none().forwarded_proto(peer, &headers), None);
    /// ```
    pub fn forwarded_proto(&self, peer: IpAddr, headers: &HeaderMap) -> Option<&'static str> {
        if !self.trusts(canonical(peer)) {
            return None;
        }
        let last = match self.header {
            ForwardedHeader::XForwardedFor => {
                let value = headers.get_all("x-forwarded-proto").iter().next_back()?;
                value.to_str().ok()?.rsplit(',').next()?.trim().to_owned()
            }
            ForwardedHeader::Forwarded => {
                let value = headers.get_all("forwarded").iter().next_back()?;
                let element = value.to_str().ok()?.rsplit(',').next()?.to_owned();
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("proto"))
                    .map(|(_, v)| v.trim().trim_matches('"').to_owned())?
            }
        };
        if last.eq_ignore_ascii_case("https") {
            Some("https")
        } else if last.eq_ignore_ascii_case("http") {
            Some("http")
        } else {
            None
        }
    }

    /// The client address of a request that arrived from `peer` with `headers`.
    ///
    /// ```
    /// use std::net::IpAddr;
    /// let proxies = secure_api_runtime::TrustedProxies::hops(2);
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-forwarded-for", "6.6.6.6, 198.51.100.1, 10.0.0.1".parse().unwrap());
    /// let peer: IpAddr = "10.0.0.2".parse().unwrap();
    /// assert_eq!(proxies.client_ip(peer, &headers), "198.51.100.1".parse::<IpAddr>().unwrap());
    /// ```
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        match self.forwarded_client(headers) {
            Some(ip) => ip,
            None => {
                tracing::debug!(
                    target: "secure_api::client_ip",
                    %peer,
                    "a trusted proxy sent no usable forwarding header; the proxy is the client"
                );
                peer
            }
        }
    }

    /// The entry the trust settings point at, if it is present and readable.
    fn forwarded_client(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let entries = self.entries(headers)?;
        match &self.trust {
            Trust::Hops(n) => {
                // The peer is the last proxy; each of the others appended one entry, so the
                // client's address is the n-th from the right.
                let index = entries.len().checked_sub(usize::from(*n))?;
                entries[index].parse()
            }
            Trust::Cidrs(_) => {
                let mut last = None;
                for entry in entries.iter().rev() {
                    let ip = entry.parse()?;
                    if !self.trusts(ip) {
                        return Some(ip);
                    }
                    last = Some(ip);
                }
                // Every entry is a proxy: the left-most is the closest thing to a client.
                last
            }
        }
    }

    /// The header's entries, left to right, over every line of it. `None` when the header
    /// is absent, not ASCII, or has an empty entry.
    fn entries<'h>(&self, headers: &'h HeaderMap) -> Option<Vec<Entry<'h>>> {
        let (name, parse): (_, fn(&str) -> Option<Entry<'_>>) = match self.header {
            ForwardedHeader::XForwardedFor => ("x-forwarded-for", xff_entry),
            ForwardedHeader::Forwarded => (FORWARDED.as_str(), forwarded_entry),
        };
        let mut entries = Vec::new();
        for value in headers.get_all(name) {
            let value = value.to_str().ok()?;
            for element in split_elements(value) {
                entries.push(parse(element.trim_matches([' ', '\t']))?);
            }
        }
        (!entries.is_empty()).then_some(entries)
    }
}

/// One entry of a forwarding header, not yet parsed.
#[derive(Debug, Clone, Copy)]
struct Entry<'h>(&'h str);

impl Entry<'_> {
    /// The address of the entry; `None` for `unknown`, obfuscated identifiers and garbage.
    fn parse(self) -> Option<IpAddr> {
        let s = self.0;
        // `[v6]:port`, `[v6]`, `v4:port`, `v4`, bare `v6`.
        let ip = if let Some(rest) = s.strip_prefix('[') {
            let (inside, after) = rest.split_once(']')?;
            if !(after.is_empty() || is_port(after)) {
                return None;
            }
            inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6)?
        } else if let Ok(ip) = s.parse::<IpAddr>() {
            ip
        } else {
            let (host, port) = s.rsplit_once(':')?;
            if !is_port_number(port) {
                return None;
            }
            IpAddr::V4(host.parse().ok()?)
        };
        Some(canonical(ip))
    }
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':').is_some_and(is_port_number)
}

fn is_port_number(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

/// Splits at commas outside quoted strings.
fn split_elements(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

fn xff_entry(element: &str) -> Option<Entry<'_>> {
    (!element.is_empty()).then_some(Entry(element))
}

/// The `for` parameter of one RFC 7239 forwarded-element (`for=1.2.3.4;proto=https`).
/// Exactly one `for` is required; its value may be a token or a quoted string.
fn forwarded_entry(element: &str) -> Option<Entry<'_>> {
    let mut found = None;
    for pair in element.split(';') {
        let (name, value) = pair.trim_matches([' ', '\t']).split_once('=')?;
        if !name.eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let value = match value.strip_prefix('"') {
            Some(rest) => {
                let inner = rest.strip_suffix('"')?;
                if inner.contains(['"', '\\']) {
                    return None;
                }
                inner
            }
            None => value,
        };
        if value.is_empty() {
            return None;
        }
        found = Some(Entry(value));
    }
    found
}

impl FromStr for TrustedProxies {
    type Err = CidrParseError;

    /// A comma-separated list of CIDRs (the format of `SECURE_API_TRUSTED_PROXIES`);
    /// blank entries are ignored, so `""` trusts no one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let networks = s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Cidr>, _>>()?;
        Ok(TrustedProxies::cidrs(networks))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn cidr_grammar() {
        assert_eq!("10.0.0.0/8".parse::<Cidr>().unwrap().prefix(), 8);
        assert_eq!("10.1.2.3".parse::<Cidr>().unwrap().prefix(), 32);
        assert_eq!("::1".parse::<Cidr>().unwrap().prefix(), 128);
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix(), 0);
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("2001:db8::1")));
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/0008",
            "x/8",
            "10.0.0/8",
            "10.0.0.0/8/8",
            " 10.0.0.0/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_send() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers("x-forwarded-for", &["1.2.3.4"]);
        assert_eq!(proxies.client_ip(ip("192.0.2.1"), &h), ip("192.0.2.1"));
        assert_eq!(
            TrustedProxies::none().client_ip(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let proxies: TrustedProxies = "10.0.0.0/8, 2001:db8::/32".parse().unwrap();
        let h = headers(
            "x-forwarded-for",
            &["6.6.6.6, 198.51.100.1", "10.0.0.9, [2001:db8::5]:80"],
        );
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("198.51.100.1"));
        // Only proxies: the left-most one.
        let h = headers("x-forwarded-for", &["10.0.0.7, 10.0.0.9"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.7"));
    }

    #[test]
    fn garbage_left_of_the_client_is_never_read() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers("x-forwarded-for", &["not-an-ip, unknown,, 198.51.100.1"]);
        // The empty element makes the header unreadable as a whole.
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        let h = headers("x-forwarded-for", &["not-an-ip, 198.51.100.1"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &h), ip("198.51.100.1"));
    }

    #[test]
    fn unreadable_headers_from_a_trusted_proxy_mean_the_proxy() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = ip("10.0.0.1");
        for value in [
            "",
            "unknown",
            "1.2.3.4, junk",
            "1.2.3.4,",
            "300.1.1.1",
            "1.2.3.4:99999",
        ] {
            let h = headers("x-forwarded-for", &[value]);
            assert_eq!(proxies.client_ip(peer, &h), peer, "{value:?}");
        }
        assert_eq!(proxies.client_ip(peer, &HeaderMap::new()), peer);
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap(),
        );
        assert_eq!(proxies.client_ip(peer, &h), peer);
    }

    #[test]
    fn hop_count_takes_the_nth_from_the_right() {
        let h = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.1, 10.0.0.1"]);
        let peer = ip("10.0.0.2");
        assert_eq!(TrustedProxies::hops(1).client_ip(peer, &h), ip("10.0.0.1"));
        assert_eq!(
            TrustedProxies::hops(2).client_ip(peer, &h),
            ip("198.51.100.1")
        );
        assert_eq!(TrustedProxies::hops(3).client_ip(peer, &h), ip("6.6.6.6"));
        // Fewer entries than hops: the request did not come through the whole chain.
        assert_eq!(TrustedProxies::hops(4).client_ip(peer, &h), peer);
        assert_eq!(TrustedProxies::hops(0).client_ip(peer, &h), peer);
    }

    #[test]
    fn rfc7239_forwarded_is_parsed_with_quotes_ports_and_parameters() {
        let proxies = TrustedProxies::cidrs(["10.0.0.0/8".parse().unwrap()])
            .header(ForwardedHeader::Forwarded);
        let peer = ip("10.0.0.1");
        let cases = [
            ("for=198.51.100.1", "198.51.100.1"),
            ("For=\"198.51.100.1:4711\";proto=https", "198.51.100.1"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            (
                "for=\"[2001:db8:cafe::17]\";by=10.0.0.1",
                "2001:db8:cafe::17",
            ),
            (
                "for=6.6.6.6, for=198.51.100.2;proto=http, for=10.0.0.3",
                "198.51.100.2",
            ),
            ("proto=https;for=198.51.100.3;host=\"a,b\"", "198.51.100.3"),
        ];
        for (value, want) in cases {
            let h = headers("forwarded", &[value]);
            assert_eq!(proxies.client_ip(peer, &h), ip(want), "{value}");
        }
        for bad in [
            "for=unknown",
            "for=_hidden",
            "for=\"198.51.100.1",
            "for=1.2.3.4;for=5.6.7.8",
            "proto=https",
            "for=",
            "for=[2001:db8::1]x",
            "for=\"a\\\"b\"",
        ] {
            let h = headers("forwarded", &[bad]);
            assert_eq!(proxies.client_ip(peer, &h), peer, "{bad}");
        }
        // X-Forwarded-For is not read when Forwarded is configured.
        let h = headers("x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(proxies.client_ip(peer, &h), peer);
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_networks() {
        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let h = headers("x-forwarded-for", &["::ffff:198.51.100.1"]);
        assert_eq!(
            proxies.client_ip(ip("::ffff:10.0.0.1"), &h),
            ip("198.51.100.1")
        );
    }
}
