//! Small text helpers shared by the stages that write for people (`diff`, `render`): a
//! timestamp as UTC, a packet list folded into runs, a shortened string. Low in the stack so
//! that `diff` need not import `render` to use them.

use crate::capture::Timestamp;

/// At most `max` characters, ending with `mark` (e.g. "…") when shortened.
pub fn shorten(text: &str, max: usize, mark: &str) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mark_len = mark.chars().count();
    if max <= mark_len {
        return text.chars().take(max).collect();
    }
    let kept: String = text.chars().take(max - mark_len).collect();
    format!("{}{mark}", kept.trim_end())
}

/// UTC wall-clock time of a timestamp, e.g. "2026-11-23 08:50:01.123".
pub fn utc(ts: Timestamp) -> String {
    let secs = ts.0.div_euclid(1_000_000_000);
    let millis = ts.0.rem_euclid(1_000_000_000) / 1_000_000;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// "1, 2, 5-9": consecutive runs folded, at most a dozen items.
pub fn packet_list(packets: &[u64]) -> String {
    let mut sorted = packets.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for p in sorted {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => runs.push((p, p)),
        }
    }
    let shown: Vec<String> =
        runs.iter().take(12).map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
    let tail = if runs.len() > 12 { ", …" } else { "" };
    format!("{}{tail}", shown.join(", "))
}
