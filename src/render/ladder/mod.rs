//! Ladder (sequence) diagrams: client on the left, server on the right, one arrow per packet.
//!
//! `rows` turns a session and its verdicts into a [`Ladder`] (plain data, also the JSON output);
//! `text`, `mermaid` and `svg` only draw it, so the three pictures always agree.

pub mod mermaid;
pub mod rows;
pub mod svg;
pub mod text;
pub mod three;

pub use rows::{Ladder, Options, build};

/// What the time column shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    /// Seconds since the session's first packet.
    #[default]
    Rel,
    /// UTC time of day (the date is in the header).
    Abs,
    /// Seconds since the previous row.
    Delta,
}

/// The label of a row as every renderer shows it: flags, transport marks, then the payload's
/// meaning ("PSH/ACK [retransmission] 250 OK").
pub fn label(row: &rows::Row) -> String {
    let mut out = row.flags.clone();
    for m in &row.marks {
        out.push_str(&format!(" [{m}]"));
    }
    let items: Vec<&str> = row.items.iter().map(|i| i.text.as_str()).collect();
    if !items.is_empty() {
        out.push_str("  ");
        out.push_str(&items.join(" · "));
    }
    if let Some(t) = row.through {
        out.push_str(&format!(" (to packet {t})"));
    }
    out
}

/// The time column of a row.
pub fn time(row: &rows::Row, clock: Clock) -> String {
    match clock {
        Clock::Rel => format!("{:.6}", row.rel),
        Clock::Delta => format!("+{:.6}", row.delta),
        Clock::Abs => time_of_day(row.at),
    }
}

/// "08:57:06.123456" UTC.
pub fn time_of_day(ts: crate::capture::Timestamp) -> String {
    let secs = ts.0.div_euclid(1_000_000_000).rem_euclid(86_400);
    let micros = ts.0.rem_euclid(1_000_000_000) / 1000;
    format!("{:02}:{:02}:{:02}.{micros:06}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    #[test]
    fn time_of_day_has_microseconds() {
        assert_eq!(time_of_day(Timestamp(86_400_000_000_000 + 3_723_000_004_000)), "01:02:03.000004");
    }
}
