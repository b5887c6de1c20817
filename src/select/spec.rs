//! What `--client`, `--server`, `--since` and `--until` accept, parsed when the command line is
//! read (so a typo is a usage error). build.rs includes this file with the CLI definition, so it
//! depends on std alone.

use std::net::IpAddr;
use std::str::FromStr;

/// `IP`, `IP/PREFIX` (a network) or `IP:PORT` / `[IPv6]:PORT` (one endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrFilter {
    pub ip: IpAddr,
    /// Leading bits that must match: 32 or 128 for a single address.
    pub prefix: u8,
    pub port: Option<u16>,
}

impl AddrFilter {
    pub fn matches(&self, ip: IpAddr, port: u16) -> bool {
        self.port.is_none_or(|p| p == port) && same_network(self.ip, ip, self.prefix)
    }
}

fn same_network(net: IpAddr, ip: IpAddr, prefix: u8) -> bool {
    let (a, b, bits) = match (net, ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        // An IPv4 network also matches IPv4-mapped IPv6 addresses (::ffff:a.b.c.d).
        (IpAddr::V4(_), IpAddr::V6(b)) => {
            return b.to_ipv4_mapped().is_some_and(|b| same_network(net, b.into(), prefix));
        }
        (IpAddr::V6(_), IpAddr::V4(_)) => return false,
    };
    let shift = bits - u32::from(prefix);
    shift >= bits || (a >> shift) == (b >> shift)
}

impl FromStr for AddrFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some((ip, prefix)) = s.split_once('/') {
            let ip: IpAddr = ip.parse().map_err(|_| format!("\"{ip}\" is not an IP address"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = prefix
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("\"/{prefix}\": the prefix length is 0 to {max}"))?;
            return Ok(AddrFilter { ip, prefix, port: None });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AddrFilter { ip, prefix: if ip.is_ipv4() { 32 } else { 128 }, port: None });
        }
        if let Ok(endpoint) = s.parse::<std::net::SocketAddr>() {
            let ip = endpoint.ip();
            return Ok(AddrFilter { ip, prefix: if ip.is_ipv4() { 32 } else { 128 }, port: Some(endpoint.port()) });
        }
        Err(format!("\"{s}\" is not IP, IP/PREFIX or IP:PORT (e.g. 203.0.113.5, 203.0.113.0/24, [2001:db8::1]:25)"))
    }
}

/// `--since`/`--until`: a UTC time, or an offset from the capture's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBound {
    /// Nanoseconds since the epoch.
    At(i64),
    /// Nanoseconds after the first packet.
    Offset(i64),
}

const NANOS: i64 = 1_000_000_000;

impl TimeBound {
    /// Nanoseconds since the epoch, given the capture's first packet.
    pub fn resolve(self, origin: i64) -> i64 {
        match self {
            TimeBound::At(t) => t,
            TimeBound::Offset(d) => origin.saturating_add(d),
        }
    }
}

impl FromStr for TimeBound {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let hint = "a UTC time (2026-11-23 08:57:10, 2026-11-23T08:57:10.5Z), @EPOCH-SECONDS, or an offset \
                    into the capture (+90, +90s, +5m, +1h30m)";
        let bad = || format!("\"{s}\" is not {hint}");
        if let Some(offset) = s.strip_prefix('+') {
            return duration(offset).map(TimeBound::Offset).ok_or_else(bad);
        }
        if let Some(epoch) = s.strip_prefix('@') {
            return seconds(epoch).map(TimeBound::At).ok_or_else(bad);
        }
        utc(s).map(TimeBound::At).ok_or_else(bad)
    }
}

/// "1.5" seconds → nanoseconds.
fn seconds(s: &str) -> Option<i64> {
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && v.abs() < 1e11).then(|| (v * NANOS as f64).round() as i64)
}

/// "90", "90s", "5m", "1h30m", "1.5h" → nanoseconds.
fn duration(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if let Some(n) = seconds(s) {
        return Some(n);
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in s.chars() {
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            '0'..='9' | '.' => {
                number.push(c);
                continue;
            }
            _ => return None,
        };
        total = total.checked_add(seconds(&number)?.checked_mul(unit)?)?;
        number.clear();
    }
    if number.is_empty() { Some(total) } else { None }
}

/// "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.frac]]" with a space or "T", optional "Z" → nanoseconds.
fn utc(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut ymd = date.split('-');
    let (y, m, d) =
        (ymd.next()?.parse::<i64>().ok()?, ymd.next()?.parse::<u32>().ok()?, ymd.next()?.parse::<u32>().ok()?);
    if ymd.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut nanos = days_from_civil(y, m, d) * 86_400 * NANOS;
    if let Some(time) = time {
        let mut hms = time.split(':');
        let h: i64 = hms.next()?.parse().ok()?;
        let min: i64 = hms.next()?.parse().ok()?;
        let sec = match hms.next() {
            Some(sec) if sec.starts_with(|c: char| c.is_ascii_digit()) => seconds(sec)?,
            Some(_) => return None,
            None => 0,
        };
        if hms.next().is_some() || h > 23 || min > 59 || !(0..61 * NANOS).contains(&sec) {
            return None;
        }
        nanos += (h * 3600 + min * 60) * NANOS + sec;
    }
    Some(nanos)
}

/// (year, month, day) → days since 1970-01-01; Howard Hinnant's algorithm.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> AddrFilter {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_networks_and_endpoints() {
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        assert!(addr("203.0.113.5").matches(ip, 25));
        assert!(!addr("203.0.113.6").matches(ip, 25));
        assert!(addr("203.0.113.0/24").matches(ip, 25));
        assert!(!addr("203.0.112.0/24").matches(ip, 25));
        assert!(addr("0.0.0.0/0").matches(ip, 25));
        assert!(addr("203.0.113.5:25").matches(ip, 25));
        assert!(!addr("203.0.113.5:25").matches(ip, 587));
        assert!(addr("2001:db8::/32").matches("2001:db8::1".parse().unwrap(), 25));
        assert!(addr("[2001:db8::1]:25").matches("2001:db8::1".parse().unwrap(), 25));
        assert!(addr("203.0.113.0/24").matches("::ffff:203.0.113.9".parse().unwrap(), 25));
        assert!(!addr("2001:db8::/32").matches(ip, 25));
        for bad in ["203.0.113", "203.0.113.0/33", "mx.example.com", "1.2.3.4/x"] {
            assert!(bad.parse::<AddrFilter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn times_and_offsets() {
        // 2026-11-23 08:57:10 UTC
        let t = 1_795_424_230 * NANOS;
        assert_eq!("2026-11-23 08:57:10".parse(), Ok(TimeBound::At(t)));
        assert_eq!("2026-11-23T08:57:10.5Z".parse(), Ok(TimeBound::At(t + NANOS / 2)));
        assert_eq!("2026-11-23 08:57".parse(), Ok(TimeBound::At(t - 10 * NANOS)));
        assert_eq!("2026-11-23".parse(), Ok(TimeBound::At(t - (8 * 3600 + 57 * 60 + 10) * NANOS)));
        assert_eq!("@1795424230".parse(), Ok(TimeBound::At(t)));
        assert_eq!("+90".parse(), Ok(TimeBound::Offset(90 * NANOS)));
        assert_eq!("+1h30m".parse(), Ok(TimeBound::Offset(5400 * NANOS)));
        assert_eq!("+0.25s".parse(), Ok(TimeBound::Offset(NANOS / 4)));
        assert_eq!(TimeBound::Offset(5).resolve(10), 15);
        for bad in ["yesterday", "2026-13-01", "2026-11-23 25:00", "+", "+5x", "+m", "08:57"] {
            assert!(bad.parse::<TimeBound>().is_err(), "{bad}");
        }
    }
}
