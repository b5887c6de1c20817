//! Log timestamps. AsyncOS, syslog and Exim write local wall-clock time, mostly without a zone
//! and syslog without a year: a line's time is kept as written ([`Civil`]) and made absolute
//! once the zone (`--log-tz`) and the capture's year are known.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};

/// A timestamp as a log line wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// None: a syslog line, which takes the capture's year.
    pub year: Option<i16>,
    pub month: i8,
    pub day: i8,
    pub hour: i8,
    pub minute: i8,
    pub second: i8,
    pub nanos: i32,
    /// Offset east of UTC in seconds, when the line carries one (Exim `log_timezone`, RFC 3339).
    pub offset: Option<i32>,
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month(name: &str) -> Option<i8> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as i8 + 1)
}

/// "11:04:31" or "11:04:31.123" → (h, m, s, nanos).
fn clock(s: &str) -> Option<(i8, i8, i8, i32)> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.split(':');
    let (h, m, sec) = (num(parts.next()?)?, num(parts.next()?)?, num(parts.next()?)?);
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        num::<i32>(&digits)? * 10i32.pow(9 - digits.len() as u32)
    };
    Some((h, m, sec, nanos))
}

/// "+0000", "+02:00", "-0530", "Z" → seconds east of UTC.
pub fn offset(s: &str) -> Option<i32> {
    if s == "Z" {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    let (h, m): (i32, i32) = (num(&digits[..2])?, num(&digits[2..])?);
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

impl Civil {
    /// AsyncOS: "Thu Aug 14 11:04:31 2014" (the first 24 characters of a line, day padded).
    pub fn asyncos(s: &str) -> Option<Civil> {
        let mut w = s.split_whitespace();
        let _weekday = w.next().filter(|d| d.len() == 3)?;
        let (month, day, time, year) = (month(w.next()?)?, num(w.next()?)?, clock(w.next()?)?, num(w.next()?)?);
        Some(Civil::new(Some(year), month, day, time, None))
    }

    /// Syslog (RFC 3164): "Aug  4 11:04:31" with no year.
    pub fn syslog(month_name: &str, day: &str, time: &str) -> Option<Civil> {
        Some(Civil::new(None, month(month_name)?, num(day)?, clock(time)?, None))
    }

    /// "2026-12-06" and "00:20:10[.123]" (Exim), or RFC 3339 "2026-12-06T00:20:10.123+00:00".
    pub fn iso(date: &str, time: &str, zone: Option<&str>) -> Option<Civil> {
        let mut d = date.split('-');
        let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
        if d.next().is_some() {
            return None;
        }
        let offset = match zone {
            Some(z) => Some(offset(z)?),
            None => None,
        };
        Some(Civil::new(Some(y), m, day, clock(time)?, offset))
    }

    /// RFC 3339 in one word: "2026-12-06T00:20:10.123456+01:00".
    pub fn rfc3339(word: &str) -> Option<Civil> {
        let (date, rest) = word.split_once('T')?;
        let zone_at = rest.find(['+', '-', 'Z'])?;
        Civil::iso(date, &rest[..zone_at], Some(&rest[zone_at..]))
    }

    fn new(
        year: Option<i16>,
        month: i8,
        day: i8,
        (hour, minute, second, nanos): (i8, i8, i8, i32),
        offset: Option<i32>,
    ) -> Civil {
        Civil { year, month, day, hour, minute, second, nanos, offset }
    }

    /// Nanoseconds since the epoch: the line's own offset if it has one, else `tz`; a line
    /// without a year takes `year` — or the one before or after, when its month is more than
    /// half a year from `month` (a log that spans New Year beside a capture of either side).
    pub fn to_ns(&self, tz: &TimeZone, year: i16, month: i8) -> Option<i64> {
        let year = self.year.unwrap_or(match self.month - month {
            d if d > 6 => year - 1,
            d if d < -6 => year + 1,
            _ => year,
        });
        let dt =
            DateTime::new(year, self.month, self.day, self.hour, self.minute, self.second.min(59), self.nanos).ok()?;
        let ts = match self.offset {
            Some(secs) => TimeZone::fixed(Offset::from_seconds(secs).ok()?).to_timestamp(dt).ok()?,
            None => tz.to_timestamp(dt).ok()?,
        };
        i64::try_from(ts.as_nanosecond()).ok()
    }
}

/// `--log-tz`: "UTC", "local", a fixed offset ("+02:00", "-0530") or an IANA name ("Europe/Berlin").
pub fn zone(name: &str) -> Result<TimeZone, String> {
    match name {
        "UTC" | "utc" | "Z" => Ok(TimeZone::UTC),
        "local" => Ok(TimeZone::system()),
        _ => {
            if let Some(secs) = offset(name) {
                return Offset::from_seconds(secs).map(TimeZone::fixed).map_err(|e| e.to_string());
            }
            TimeZone::get(name).map_err(|_| {
                format!(
                    "unknown time zone '{name}' (use UTC, an offset such as +02:00, or a name such as Europe/Berlin)"
                )
            })
        }
    }
}

/// (year, month) of a time in nanoseconds since the epoch, in `tz`.
pub fn year_month(ns: i64, tz: &TimeZone) -> (i16, i8) {
    match jiff::Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(ts) => {
            let dt = ts.to_zoned_datetime(tz.clone()).datetime();
            (dt.year(), dt.month())
        }
        Err(_) => (1970, 1),
    }
}

/// "2026-12-06" of a time in nanoseconds since the epoch, in `tz`.
pub fn date(ns: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|ts| ts.to_zoned_datetime(tz.clone()).date().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn asyncos_time_in_a_fixed_zone() {
        let c = Civil::asyncos("Thu Aug 14 11:04:31 2014").unwrap();
        let utc = c.to_ns(&TimeZone::UTC, 2000, 1).unwrap();
        let plus2 = c.to_ns(&zone("+02:00").unwrap(), 2000, 1).unwrap();
        assert_eq!(utc - plus2, 2 * 3600 * SECOND);
        assert_eq!(utc, 1_408_014_271 * SECOND);
    }

    #[test]
    fn an_iana_zone_follows_summer_time() {
        let berlin = zone("Europe/Berlin").unwrap();
        let summer = Civil::iso("2026-07-01", "12:00:00", None).unwrap().to_ns(&berlin, 0, 1).unwrap();
        let winter = Civil::iso("2026-12-01", "12:00:00", None).unwrap().to_ns(&berlin, 0, 1).unwrap();
        let utc = |d| Civil::iso(d, "12:00:00", None).unwrap().to_ns(&TimeZone::UTC, 0, 1).unwrap();
        assert_eq!(utc("2026-07-01") - summer, 2 * 3600 * SECOND);
        assert_eq!(utc("2026-12-01") - winter, 3600 * SECOND);
    }

    #[test]
    fn syslog_takes_the_capture_year_and_crosses_new_year() {
        let dec = Civil::syslog("Dec", "31", "23:59:59").unwrap();
        let jan = Civil::syslog("Jan", "1", "00:00:01").unwrap();
        let tz = TimeZone::UTC;
        // A capture of 2 January 2027: the December line is from 2026.
        assert_eq!(jan.to_ns(&tz, 2027, 1).unwrap() - dec.to_ns(&tz, 2027, 1).unwrap(), 2 * SECOND);
        assert_eq!(date(dec.to_ns(&tz, 2027, 1).unwrap(), &tz), "2026-12-31");
    }

    #[test]
    fn a_zone_on_the_line_wins_over_the_option() {
        let c = Civil::rfc3339("2026-12-06T01:00:00.5+01:00").unwrap();
        let ns = c.to_ns(&zone("Asia/Tokyo").unwrap(), 0, 1).unwrap();
        assert_eq!(
            ns,
            Civil::iso("2026-12-06", "00:00:00.5", Some("+0000")).unwrap().to_ns(&TimeZone::UTC, 0, 1).unwrap()
        );
    }

    #[test]
    fn bad_times_and_zones_are_refused() {
        assert!(Civil::asyncos("Thu Aug 14 25:04:31 2014").is_none());
        assert!(Civil::syslog("Foo", "1", "00:00:00").is_none());
        assert!(zone("Mars/Olympus").unwrap_err().contains("Mars/Olympus"));
        assert_eq!(offset("-05:30"), Some(-(5 * 3600 + 30 * 60)));
    }
}
