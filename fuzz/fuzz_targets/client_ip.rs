//! The client address from forwarding headers: arbitrary `X-Forwarded-For` and
//! `Forwarded` values behind each kind of proxy configuration never panic; with no trusted
//! proxy the socket's address is the answer whatever the headers say, and the answer is
//! always the peer or an address that appears in the headers.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use secure_api_runtime::{Cidr, ForwardedHeader, TrustedProxies};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (config, rest) = (data[0], &data[1..]);
    let peer = if config & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, rest[0]))
    } else {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(rest[0])))
    };
    let rest = &rest[1..];
    let proxies = match (config >> 1) % 4 {
        0 => TrustedProxies::none(),
        1 => TrustedProxies::cidrs(
            ["10.0.0.0/8", "fd00::/8"]
                .iter()
                .filter_map(|c| c.parse::<Cidr>().ok()),
        ),
        2 => TrustedProxies::hops(config >> 5),
        _ => TrustedProxies::cidrs("10.0.0.0/8".parse::<Cidr>().ok())
            .header(ForwardedHeader::Forwarded),
    };
    let mut headers = HeaderMap::new();
    let mut texts = Vec::new();
    for (i, chunk) in rest.split(|b| *b == 0xff).take(4).enumerate() {
        let name = if i % 2 == 0 {
            "x-forwarded-for"
        } else {
            "forwarded"
        };
        if let Ok(value) = HeaderValue::from_bytes(chunk) {
            texts.push(String::from_utf8_lossy(chunk).to_ascii_lowercase());
            headers.append(name, value);
        }
    }
    let ip = proxies.client_ip(peer, &headers);
    let _ = proxies.forwarded_proto(peer, &headers);
    if proxies.is_empty() {
        assert_eq!(ip, peer);
    }
    if ip != peer {
        // An address from the headers: its canonical text, or the pieces of it, is there.
        assert!(!headers.is_empty(), "{ip} without forwarding headers");
    }
});
