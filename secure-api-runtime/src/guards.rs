//! The built-in guards, written on the same [`RequestGuard`] mechanism as custom ones.
//!
//! The attribute knows their keys and checks their literals while compiling (a malformed
//! address or time is an error at that literal); at run time they are ordinary guards.
//!
//! | key | example | refuses with |
//! | --- | --- | --- |
//! | `ip_allow` | `ip_allow(from = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])` | 403 unless the client address is in one of the networks |
//! | `time_window` | `time_window(from = "08:00", to = "18:00")` | 403 outside the daily window (UTC; `from > to` wraps past midnight) |
//! | `maintenance` | `maintenance(from = "02:00", to = "03:30")` | 503 inside the daily window (UTC) |
//!
//! ```
//! use secure_api_runtime::guards::{IpAllow, TimeWindow};
//!
//! // What `ip_allow(from = ["10.0.0.0/8"])` and `time_window(from = "08:00", to = "18:00")` build:
//! let ips = IpAllow { from: &["10.0.0.0/8"] };
//! let hours = TimeWindow { from: "08:00", to: "18:00" };
//! assert!(ips.allows("10.1.2.3".parse().unwrap()).unwrap());
//! assert!(hours.contains_minute(9 * 60).unwrap());
//! ```

use std::net::IpAddr;
use std::time::UNIX_EPOCH;

use crate::error::SecurityError;
use crate::extend::{GuardRequest, RequestGuard};

/// `ip_allow(from = [...])`: only clients whose address lies in one of the listed networks
/// (`addr/prefix`, or a single address). The address is the one the guard sees
/// ([`GuardRequest::client_ip`]); when it is unknown the request is refused (500, logged).
///
/// ```
/// use secure_api_runtime::guards::IpAllow;
/// let allow = IpAllow { from: &["192.0.2.0/24", "::1"] };
/// assert!(allow.allows("192.0.2.200".parse().unwrap()).unwrap());
/// assert!(allow.allows("::1".parse().unwrap()).unwrap());
/// assert!(!allow.allows("198.51.100.1".parse().unwrap()).unwrap());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct IpAllow {
    /// The allowed networks.
    pub from: &'static [&'static str],
}

impl IpAllow {
    /// Whether `ip` is allowed; `Err` names a network that does not parse.
    ///
    /// ```
    /// let bad = secure_api_runtime::guards::IpAllow { from: &["10.0.0.0/33"] };
    /// assert_eq!(bad.allows("10.0.0.1".parse().unwrap()).unwrap_err(), "10.0.0.0/33");
    /// ```
    pub fn allows(&self, ip: IpAddr) -> Result<bool, &'static str> {
        let ip = canonical(ip);
        let mut allowed = false;
        for network in self.from {
            let (net, prefix) = parse_network(network).ok_or(*network)?;
            allowed |= in_network(ip, net, prefix);
        }
        Ok(allowed)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// `addr` or `addr/prefix`, the prefix within the family's width.
fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => width,
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u8>().ok().filter(|p| *p <= width)?
        }
        Some(_) => return None,
    };
    Some((canonical(addr), prefix))
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

impl RequestGuard for IpAllow {
    async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
        let Some(ip) = request.client_ip() else {
            tracing::error!(
                target: "secure_api",
                handler = request.handler(),
                "the client address is unknown, so `ip_allow` cannot be applied; serve the \
                 router with `into_make_service_with_connect_info::<SocketAddr>()`"
            );
            return Err(SecurityError::misconfigured());
        };
        match self.allows(ip) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SecurityError::forbidden()
                .without_challenge()
                .with_detail("Requests from this address are not allowed.")),
            Err(network) => {
                tracing::error!(
                    target: "secure_api",
                    handler = request.handler(),
                    network,
                    "`ip_allow` lists a network that does not parse; refusing the request"
                );
                Err(SecurityError::misconfigured())
            }
        }
    }
}

/// Minutes since midnight of `HH:MM` (24-hour clock).
fn parse_minute(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn window_contains(from: &str, to: &str, minute: u32) -> Result<bool, &'static str> {
    let from_minute = parse_minute(from).ok_or("from")?;
    let to_minute = parse_minute(to).ok_or("to")?;
    Ok(if from_minute <= to_minute {
        from_minute <= minute && minute < to_minute
    } else {
        minute >= from_minute || minute < to_minute
    })
}

fn minute_of_day(request: &GuardRequest<'_>) -> u32 {
    let secs = request
        .now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    u32::try_from(secs % 86_400 / 60).unwrap_or(0)
}

/// `time_window(from = "HH:MM", to = "HH:MM")`: the route is open only from `from`
/// (included) to `to` (excluded) every day, UTC; `from` later than `to` wraps past
/// midnight. Outside it the request is refused with 403.
///
/// ```
/// let night = secure_api_runtime::guards::TimeWindow { from: "22:00", to: "06:00" };
/// assert!(night.contains_minute(23 * 60).unwrap());
/// assert!(!night.contains_minute(12 * 60).unwrap());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TimeWindow {
    /// Opening time, `HH:MM` UTC.
    pub from: &'static str,
    /// Closing time, `HH:MM` UTC.
    pub to: &'static str,
}

impl TimeWindow {
    /// Whether the window holds `minute` (minutes since midnight UTC); `Err` names the
    /// field that does not parse.
    ///
    /// ```
    /// let w = secure_api_runtime::guards::TimeWindow { from: "8:00", to: "18:00" };
    /// assert_eq!(w.contains_minute(600).unwrap_err(), "from");
    /// ```
    pub fn contains_minute(&self, minute: u32) -> Result<bool, &'static str> {
        window_contains(self.from, self.to, minute)
    }
}

impl RequestGuard for TimeWindow {
    async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
        match self.contains_minute(minute_of_day(request)) {
            Ok(true) => Ok(()),
            Ok(false) => Err(SecurityError::forbidden()
                .without_challenge()
                .with_detail("This resource is not available at this time of day.")),
            Err(field) => {
                tracing::error!(
                    target: "secure_api",
                    handler = request.handler(),
                    field,
                    "`time_window` has a time that is not HH:MM; refusing the request"
                );
                Err(SecurityError::misconfigured())
            }
        }
    }
}

/// `maintenance(from = "HH:MM", to = "HH:MM")`: a daily maintenance window, UTC, during
/// which the route answers 503; `from` later than `to` wraps past midnight.
///
/// ```
/// let m = secure_api_runtime::guards::Maintenance { from: "02:00", to: "03:30" };
/// assert!(m.contains_minute(2 * 60 + 59).unwrap());
/// assert!(!m.contains_minute(3 * 60 + 30).unwrap());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Maintenance {
    /// Start of the window, `HH:MM` UTC.
    pub from: &'static str,
    /// End of the window, `HH:MM` UTC.
    pub to: &'static str,
}

impl Maintenance {
    /// Whether the window holds `minute` (minutes since midnight UTC).
    ///
    /// ```
    /// let m = secure_api_runtime::guards::Maintenance { from: "23:00", to: "01:00" };
    /// assert!(m.contains_minute(0).unwrap());
    /// ```
    pub fn contains_minute(&self, minute: u32) -> Result<bool, &'static str> {
        window_contains(self.from, self.to, minute)
    }
}

impl RequestGuard for Maintenance {
    async fn check(&self, request: &mut GuardRequest<'_>) -> Result<(), SecurityError> {
        match self.contains_minute(minute_of_day(request)) {
            Ok(false) => Ok(()),
            Ok(true) => Err(SecurityError::unavailable()
                .with_detail("The service is down for maintenance; retry later.")),
            Err(field) => {
                tracing::error!(
                    target: "secure_api",
                    handler = request.handler(),
                    field,
                    "`maintenance` has a time that is not HH:MM; refusing the request"
                );
                Err(SecurityError::misconfigured())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_strictly() {
        assert!(parse_network("10.0.0.0/8").is_some());
        assert!(parse_network("10.0.0.1").is_some());
        assert!(parse_network("2001:db8::/32").is_some());
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/+8",
            "::/129",
            "x",
        ] {
            assert!(parse_network(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn prefixes_match_only_their_network() {
        let allow = IpAllow {
            from: &["10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"],
        };
        assert!(allow.allows("8.8.8.8".parse().unwrap()).unwrap());
        let narrow = IpAllow {
            from: &["10.0.0.0/8", "2001:db8::/32"],
        };
        assert!(narrow.allows("10.255.0.1".parse().unwrap()).unwrap());
        assert!(!narrow.allows("11.0.0.1".parse().unwrap()).unwrap());
        assert!(narrow.allows("2001:db8:1::1".parse().unwrap()).unwrap());
        assert!(!narrow.allows("2001:db9::1".parse().unwrap()).unwrap());
        // IPv4-mapped IPv6 counts as IPv4.
        assert!(narrow.allows("::ffff:10.1.1.1".parse().unwrap()).unwrap());
    }

    #[test]
    fn windows_include_from_and_exclude_to() {
        assert_eq!(window_contains("08:00", "18:00", 8 * 60), Ok(true));
        assert_eq!(window_contains("08:00", "18:00", 18 * 60), Ok(false));
        assert_eq!(window_contains("08:00", "18:00", 7 * 60 + 59), Ok(false));
        assert_eq!(window_contains("22:00", "06:00", 0), Ok(true));
        assert_eq!(window_contains("22:00", "06:00", 6 * 60), Ok(false));
        assert_eq!(window_contains("24:00", "06:00", 0), Err("from"));
        assert_eq!(window_contains("08:00", "6:00", 0), Err("to"));
    }
}
