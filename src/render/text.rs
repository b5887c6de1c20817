//! The human summary of `read`: one line per session, its verdicts under it, totals at the end.

pub use super::paint::paint;
use super::sanitize::sanitize;
use super::wrap;
use crate::diagnose::{Severity, Verdict};
use crate::session::{DecodeStats, Session};
use crate::tcp::flow::TableStats;
use owo_colors::OwoColorize;
use std::collections::BTreeMap;
use std::fmt::Write;

// Shared with `diff`, so kept below both; callers keep naming them here.
pub use crate::textfmt::{packet_list, utc};

#[derive(Clone, Copy, Debug, Default)]
pub struct TextStyle {
    pub color: bool,
    pub explain: bool,
}

/// Heads the sessions of one capture when several are read.
pub fn capture_header(name: &str, style: TextStyle) -> String {
    let line = format!("== {}", super::sanitize::sanitize(name));
    if style.color { format!("{}\n", line.bold()) } else { format!("{line}\n") }
}

/// The verdict that names the session's outcome on its line (see `diagnose::headline`).
pub fn headline(verdicts: &[Verdict]) -> Option<&Verdict> {
    crate::diagnose::headline(verdicts)
}

/// How a session's text begins: "#" and its number in four columns. The rest is written by
/// [`write_session_rest`], which can run before the number is known (`read --threads`).
#[derive(Clone, Copy, Debug)]
pub struct Id(pub u64);

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{:<4}", self.0)
    }
}

/// The session line and one line per verdict (plus explanations with `explain`).
pub fn session(s: &Session, verdicts: &[Verdict], style: TextStyle) -> String {
    session_wrapped(s, verdicts, style, None)
}

/// `session` with its verdict lines wrapped to `width` columns at word boundaries, continuation
/// lines indented under the summary (None: one line per verdict, for pipes and files).
pub fn session_wrapped(s: &Session, verdicts: &[Verdict], style: TextStyle, width: Option<usize>) -> String {
    let mut out = Id(s.index).to_string();
    write_session_rest(&mut out, s, verdicts, style, width);
    out
}

/// Appends what follows the session's [`Id`]: the rest of the session line and its verdict
/// lines, wrapped as in `session_wrapped` (the session's own `index` is not written).
pub fn write_session_rest(out: &mut String, s: &Session, verdicts: &[Verdict], style: TextStyle, width: Option<usize>) {
    let c = &s.conn;
    let outcome = match headline(verdicts) {
        Some(v) => paint(v.code.as_str(), v.severity, style.color),
        None => "-".to_string(),
    };
    let replies: Vec<String> = s.smtp.replies.iter().take(12).map(|r| r.to_string()).collect();
    let more = if s.smtp.replies.len() > 12 { " …" } else { "" };
    let _ = writeln!(
        out,
        " {time}  {client} → {server}  {outcome}  replies [{replies}{more}]  packets {first}-{last}",
        time = utc(c.first.ts),
        client = c.client,
        server = c.server,
        replies = replies.join(" "),
        first = c.first.number,
        last = c.last.number,
    );
    verdict_lines(out, verdicts, style, width);
}

/// Where a verdict's summary starts: six spaces, the code in 22 columns, a space.
const SUMMARY_COLUMN: usize = 6 + 22 + 1;
/// Narrowest text column wrapping leaves (a narrower terminal gets longer lines).
const MIN_TEXT_WIDTH: usize = 30;

fn verdict_lines(out: &mut String, verdicts: &[Verdict], style: TextStyle, width: Option<usize>) {
    for v in verdicts {
        let packets =
            if v.packets.is_empty() { String::new() } else { format!("  (packets {})", packet_list(&v.packets)) };
        let code = paint(&format!("{:<22}", v.code), v.severity, style.color);
        // Summaries and explanations quote the wire (banners, replies, commands).
        let text = format!("{}{packets}", sanitize(&v.summary()));
        match width {
            None => {
                let _ = writeln!(out, "      {code} {text}");
            }
            Some(w) => {
                let lines = wrap(&text, w.saturating_sub(SUMMARY_COLUMN).max(MIN_TEXT_WIDTH));
                for (i, line) in lines.iter().enumerate() {
                    if i == 0 {
                        let _ = writeln!(out, "      {code} {line}");
                    } else {
                        let _ = writeln!(out, "{:SUMMARY_COLUMN$}{line}", "");
                    }
                }
            }
        }
        if style.explain && !v.explanation.is_empty() {
            let w = width.map_or(90, |w| w.saturating_sub(8).clamp(MIN_TEXT_WIDTH, 90));
            for line in wrap(&sanitize(&v.explanation), w) {
                let _ = writeln!(out, "        {line}");
            }
        }
    }
}

/// Counts for the closing lines of `read`.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub captures: u64,
    pub frames: u64,
    pub tcp_packets: u64,
    pub sessions: u64,
    pub flows_evicted: u64,
    pub late_packets: u64,
    pub verdicts: BTreeMap<&'static str, (Severity, u64)>,
    /// Sessions by headline and by `--by`.
    pub summary: super::summary::Summary,
}

impl Totals {
    pub fn add_capture(&mut self, decode: &DecodeStats, table: &TableStats) {
        self.captures += 1;
        self.frames += decode.frames;
        self.tcp_packets += table.tcp_packets;
        self.flows_evicted += table.flows_evicted;
        self.late_packets += table.late_packets;
    }

    pub fn add_session(&mut self, s: &Session, verdicts: &[Verdict]) {
        self.add_entry(&super::summary::Entry::of(s, verdicts));
    }

    /// A session known by its summary entry (rendered by a worker thread).
    pub fn add_entry(&mut self, e: &super::summary::Entry) {
        self.summary.add(e);
        self.add_verdicts(e.verdicts.iter().copied());
    }

    /// A session known by its verdicts only (rendered by a worker thread).
    pub fn add_verdicts(&mut self, verdicts: impl IntoIterator<Item = (&'static str, Severity)>) {
        self.sessions += 1;
        for (code, severity) in verdicts {
            self.verdicts.entry(code).or_insert((severity, 0)).1 += 1;
        }
    }
}

/// "12 sessions in 3 captures (1234 packets)" and the verdict counts, most severe first.
pub fn totals(t: &Totals, style: TextStyle) -> String {
    let mut out = String::new();
    let plural = |n: u64, word: &str| if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") };
    let _ = writeln!(
        out,
        "{} in {} ({}, {} TCP)",
        plural(t.sessions, "session"),
        plural(t.captures, "capture"),
        plural(t.frames, "packet"),
        t.tcp_packets
    );
    if t.sessions > 0 {
        out.push_str(&t.summary.text(style.color));
        let _ = writeln!(out, "verdicts (every finding of every session), most severe first:");
    }
    let mut counts: Vec<(&str, Severity, u64)> = t.verdicts.iter().map(|(c, (s, n))| (*c, *s, *n)).collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    for (code, severity, n) in counts {
        let _ = writeln!(out, "  {:>6}  {}", n, paint(code, severity, style.color));
    }
    if t.flows_evicted > 0 {
        let _ = writeln!(
            out,
            "  {} connections were closed early because a cap was reached (--max-flows, --memcap)",
            t.flows_evicted
        );
    }
    if t.late_packets > 0 {
        let _ = writeln!(
            out,
            "  {} late packets came after their connection had closed cleanly and was reported; they are not in it",
            t.late_packets
        );
    }
    out
}

/// The totals as one JSON line (`--totals`), schema `smtpdiag.totals.v1`.
pub fn totals_json(t: &Totals) -> String {
    let verdicts: serde_json::Map<String, serde_json::Value> =
        t.verdicts.iter().map(|(c, (_, n))| (c.to_string(), (*n).into())).collect();
    let mut record = serde_json::json!({
        "schema": "smtpdiag.totals.v1",
        "sessions": t.sessions,
        "captures": t.captures,
        "packets": t.frames,
        "tcp_packets": t.tcp_packets,
        "flows_evicted": t.flows_evicted,
        "late_packets": t.late_packets,
    });
    if let (Some(r), serde_json::Value::Object(s)) = (record.as_object_mut(), t.summary.json()) {
        r.extend(s);
        r.insert("verdicts".into(), verdicts.into());
    }
    format!("{record}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    #[test]
    fn utc_formats_epoch_and_leap_years() {
        assert_eq!(utc(Timestamp(0)), "1970-01-01 00:00:00.000");
        assert_eq!(utc(Timestamp(951_782_400_000_000_000 + 1_500_000)), "2000-02-29 00:00:00.001");
    }

    #[test]
    fn verdict_lines_wrap_at_words_with_a_hanging_indent() {
        let mut b = crate::synth::SessionBuilder::lab();
        b.handshake().server("554 5.7.1 esa.example.com Access denied - connection rejected by policy\r\n").close();
        let s = b.analyze().remove(0);
        let verdicts = crate::diagnose::diagnose(&s, &crate::diagnose::DiagnoseConfig::default());
        let style = TextStyle::default();
        let plain = session(&s, &verdicts, style);
        assert_eq!(session_wrapped(&s, &verdicts, style, None), plain);
        let wrapped = session_wrapped(&s, &verdicts, style, Some(80));
        assert!(wrapped.lines().count() > plain.lines().count(), "{wrapped}");
        for line in wrapped.lines().skip(1) {
            assert!(line.chars().count() <= 80, "{line}");
            assert!(line.starts_with("      "), "{line}");
        }
        let continuation = wrapped.lines().skip(2).find(|l| l.starts_with(&" ".repeat(SUMMARY_COLUMN))).unwrap();
        assert!(!continuation[SUMMARY_COLUMN..].starts_with(' '), "hanging indent under the summary: {continuation}");
        // The same words, only the line breaks differ.
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&wrapped), words(&plain));
    }

    #[test]
    fn packet_lists_fold_runs() {
        assert_eq!(packet_list(&[5, 1, 2, 3, 9, 9]), "1-3, 5, 9");
    }
}
