//! `smtpdiag report`: one self-contained HTML page to attach to a ticket.
//!
//! [`Collector`] sees every session once and keeps only what the page shows: counts by headline
//! verdict, per-server and per-client tallies, one timeline point per session, and the full
//! detail (ladder, transcript) of at most `max_drawn` flagged sessions. `page` turns the
//! resulting [`Report`] into HTML through an escaping template; `charts` draws the SVG plots.

pub mod charts;
pub mod page;
pub mod tables;
pub mod transcript;

use crate::capture::Timestamp;
use crate::diagnose::{Severity, Verdict};
use crate::maillog::{LogNote, LogSummary};
use crate::render::ladder::{self, Clock, Options};
use crate::session::Session;
use std::collections::BTreeMap;
use tables::{Outcome, Tally};
use transcript::Line;

/// The verdict that names a session's outcome: the diagnosis's headline, as on its `read` line
/// and in its JSON record. Every part of the page asks here.
pub fn headline(verdicts: &[Verdict]) -> Option<(&'static str, Severity)> {
    crate::diagnose::headline(verdicts).map(|v| (v.code.as_str(), v.severity))
}

/// A session worth drawing: something went wrong or looked wrong.
pub fn flagged(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(|v| v.severity >= Severity::Warning)
}

/// Code shown for a session without any verdict.
pub const NO_VERDICT: &str = "-";

/// What the page says about one capture file.
#[derive(Clone, Debug, Default)]
pub struct CaptureInfo {
    pub name: String,
    pub frames: u64,
    pub tcp_packets: u64,
}

/// A session drawn in full.
#[derive(Clone, Debug)]
pub struct Detail {
    /// As `read` and `--session` name it ("42", or "FILE:42" with several captures).
    pub id: String,
    /// The HTML anchor ("s-42").
    pub anchor: String,
    /// The session's `read` line.
    pub line: String,
    pub start: Timestamp,
    pub client: String,
    pub server: String,
    pub headline: Option<(&'static str, Severity)>,
    pub verdicts: Vec<Verdict>,
    /// The ladder as an inline `<svg>` element (its renderer escapes every text).
    pub ladder_svg: String,
    pub transcript: Vec<Line>,
    /// What the mail server's log says about the session (`--maillog`), as `read` shows it.
    pub log: Option<String>,
    /// Transcript lines left out past [`transcript::MAX_LINES`].
    pub transcript_cut: usize,
    /// Output position, to show the drawn sessions in capture order.
    order: u64,
    rank: Rank,
}

/// A flagged session not drawn (past the limit): one table row.
#[derive(Clone, Debug)]
pub struct Undrawn {
    pub id: String,
    pub start: Timestamp,
    pub client: String,
    pub server: String,
    pub codes: Vec<&'static str>,
    pub headline: Option<(&'static str, Severity)>,
}

/// Which flagged sessions are drawn when there are more than the limit: the first of each
/// headline verdict, then errors before warnings, then the earlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    first_of_its_kind: bool,
    severity: Severity,
    earlier: std::cmp::Reverse<u64>,
}

/// Everything the page shows.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub captures: Vec<CaptureInfo>,
    pub sessions: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Sessions by headline verdict.
    pub headlines: BTreeMap<&'static str, (Option<Severity>, u64)>,
    pub servers: BTreeMap<std::net::IpAddr, Tally>,
    pub clients: BTreeMap<std::net::IpAddr, Tally>,
    /// Start time and headline of every session, for the timeline.
    pub timeline: Vec<(Timestamp, &'static str)>,
    /// Sessions by server and headline, for the bar chart.
    pub server_headlines: BTreeMap<std::net::IpAddr, BTreeMap<&'static str, u64>>,
    pub flagged: u64,
    /// Drawn sessions, in capture order.
    pub drawn: Vec<Detail>,
    /// Flagged sessions not drawn, up to [`MAX_UNDRAWN_ROWS`], in capture order.
    pub undrawn: Vec<Undrawn>,
    /// Flagged sessions neither drawn nor listed.
    pub unlisted: u64,
    /// The limit on drawn sessions the page was made with.
    pub max_drawn: usize,
    /// With `--maillog`: what the log and the captures share, and what only the log saw, as
    /// `read` ends with it (at most [`MAX_LOG_SUMMARY_LINES`] lines).
    pub log_summary: Option<String>,
}

/// Lines of the log summary shown; a long list of log-only connections is cut, saying so.
pub const MAX_LOG_SUMMARY_LINES: usize = 200;

/// Rows of the table of flagged sessions that were not drawn; the rest are only counted.
pub const MAX_UNDRAWN_ROWS: usize = 500;

/// Builds a [`Report`] from sessions as they come.
pub struct Collector {
    report: Report,
    max_drawn: usize,
    seen: u64,
    /// Drawn candidates; the lowest-ranked one goes when a better one comes and the list is full.
    drawn: Vec<Detail>,
    /// Every flagged session's row, kept only while few enough.
    undrawn: Vec<(u64, Undrawn)>,
}

impl Collector {
    pub fn new(max_drawn: usize) -> Self {
        Collector {
            report: Report { max_drawn, ..Report::default() },
            max_drawn,
            seen: 0,
            drawn: Vec::new(),
            undrawn: Vec::new(),
        }
    }

    pub fn add_capture(&mut self, info: CaptureInfo) {
        self.report.captures.push(info);
    }

    /// Counts a session, and keeps its detail (with the log's note about it) if it is flagged
    /// (or `force`d, as a session named by `--session`) and ranks among the `max_drawn` best.
    pub fn add(&mut self, s: &Session, verdicts: &[Verdict], log: Option<&LogNote>, id: String, force: bool) {
        let order = self.seen;
        self.seen += 1;
        let r = &mut self.report;
        r.sessions += 1;
        let start = s.conn.first.ts;
        r.first = Some(r.first.map_or(start, |t| t.min(start)));
        r.last = Some(r.last.map_or(s.conn.last.ts, |t| t.max(s.conn.last.ts)));
        let head = headline(verdicts);
        let code = head.map_or(NO_VERDICT, |h| h.0);
        let first_of_its_kind = !r.headlines.contains_key(code);
        r.headlines.entry(code).or_insert((head.map(|h| h.1), 0)).1 += 1;
        let outcome = Outcome::of(verdicts);
        r.servers.entry(s.conn.server.ip).or_default().add(outcome);
        r.clients.entry(s.conn.client.ip).or_default().add(outcome);
        *r.server_headlines.entry(s.conn.server.ip).or_default().entry(code).or_default() += 1;
        r.timeline.push((start, code));

        let is_flagged = flagged(verdicts);
        if !is_flagged && !force {
            return;
        }
        r.flagged += u64::from(is_flagged);
        let severity = head.map_or(Severity::Warning, |h| h.1);
        let rank = Rank {
            first_of_its_kind,
            severity: if force { Severity::Error } else { severity },
            earlier: std::cmp::Reverse(order),
        };
        if self.drawn.len() < self.max_drawn {
            self.drawn.push(detail(s, verdicts, log, id, order, rank));
        } else if let Some(worst) = self.worst_drawn().filter(|&i| self.drawn[i].rank < rank) {
            let old = std::mem::replace(&mut self.drawn[worst], detail(s, verdicts, log, id, order, rank));
            self.list_undrawn(old.order, old.undrawn());
        } else {
            let row = Undrawn {
                id,
                start,
                client: s.conn.client.to_string(),
                server: s.conn.server.to_string(),
                codes: verdicts.iter().map(|v| v.code.as_str()).collect(),
                headline: head,
            };
            self.list_undrawn(order, row);
        }
    }

    fn worst_drawn(&self) -> Option<usize> {
        (0..self.drawn.len()).min_by_key(|&i| self.drawn[i].rank)
    }

    fn list_undrawn(&mut self, order: u64, row: Undrawn) {
        self.undrawn.push((order, row));
        if self.undrawn.len() > MAX_UNDRAWN_ROWS {
            // The latest in capture order goes: the table shows the start of the trouble.
            let last = (0..self.undrawn.len()).max_by_key(|&i| self.undrawn[i].0).expect("not empty");
            self.undrawn.swap_remove(last);
            self.report.unlisted += 1;
        }
    }

    /// The log summary `read` prints after the totals (`--maillog`).
    pub fn set_log_summary(&mut self, summary: &LogSummary<'_>) {
        let text = crate::render::maillog::summary(summary);
        let total = text.lines().count();
        let mut shown: Vec<&str> = text.lines().take(MAX_LOG_SUMMARY_LINES).collect();
        let more = format!("  … {} more lines", total.saturating_sub(MAX_LOG_SUMMARY_LINES));
        if total > MAX_LOG_SUMMARY_LINES {
            shown.push(&more);
        }
        self.report.log_summary = Some(shown.join("\n"));
    }

    pub fn finish(mut self) -> Report {
        self.drawn.sort_by_key(|d| d.order);
        self.undrawn.sort_by_key(|u| u.0);
        self.report.drawn = self.drawn;
        self.report.undrawn = self.undrawn.into_iter().map(|u| u.1).collect();
        self.report
    }
}

impl Detail {
    /// The table row of a session that lost its drawing to a better-ranked one.
    fn undrawn(self) -> Undrawn {
        Undrawn {
            id: self.id,
            start: self.start,
            client: self.client,
            server: self.server,
            codes: self.verdicts.iter().map(|v| v.code.as_str()).collect(),
            headline: self.headline,
        }
    }
}

/// HTML anchor of a session id: "s-42"; with several captures "s-FILE-42", characters unfit
/// for a fragment replaced by "_".
pub fn anchor(id: &str) -> String {
    let safe: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    format!("s-{safe}")
}

fn detail(s: &Session, verdicts: &[Verdict], log: Option<&LogNote>, id: String, order: u64, rank: Rank) -> Detail {
    let mut l = ladder::build(s, verdicts, Options { all_packets: false });
    l.header.id = id.clone();
    let masked = transcript::masked_packets(&l);
    let ladder_svg = ladder::svg::element(&[&l], Clock::Rel);
    let (transcript, transcript_cut) = transcript::lines(s, &masked);
    let text_style = crate::render::text::TextStyle { color: false, explain: false };
    let block = crate::render::text::session(s, verdicts, text_style);
    let line = block.lines().next().unwrap_or_default().to_string();
    // The `read` line starts with "#ID": with several captures the report names the capture too.
    let line = match line.strip_prefix('#') {
        Some(rest) => format!("#{id}{}", rest.trim_start_matches(|c: char| c.is_ascii_digit())),
        None => line,
    };
    Detail {
        anchor: anchor(&id),
        id,
        line,
        start: s.conn.first.ts,
        client: s.conn.client.to_string(),
        server: s.conn.server.to_string(),
        headline: headline(verdicts),
        verdicts: verdicts.to_vec(),
        ladder_svg,
        transcript,
        log: log.map(|n| dedent(&crate::render::maillog::note(n, text_style))),
        transcript_cut,
        order,
        rank,
    }
}

/// The text notes are indented to sit under a session line; on the page they stand alone.
fn dedent(text: &str) -> String {
    let indent = text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min();
    let cut = indent.unwrap_or(0);
    text.lines().map(|l| l.get(cut..).unwrap_or(l.trim_start())).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{self, DiagnoseConfig};
    use crate::synth::SessionBuilder;

    fn session(banner: &str) -> (Session, Vec<Verdict>) {
        let mut b = SessionBuilder::lab();
        b.handshake().server(banner).client("QUIT\r\n").server("221 bye\r\n").close();
        let s = b.analyze().remove(0);
        let v = diagnose::diagnose(&s, &DiagnoseConfig::default());
        (s, v)
    }

    #[test]
    fn notes_lose_their_common_indent() {
        assert_eq!(dedent("      log  a\n        b\n"), "log  a\n  b");
    }

    #[test]
    fn anchors_are_fragment_safe() {
        assert_eq!(anchor("42"), "s-42");
        assert_eq!(anchor("a b.pcap:3"), "s-a-b.pcap-3");
    }

    #[test]
    fn the_limit_keeps_the_first_of_each_kind_and_counts_the_rest() {
        let mut c = Collector::new(1);
        let (reject, rv) = session("554 no\r\n");
        let (tempfail, tv) = session("421 busy\r\n");
        assert!(flagged(&rv) && flagged(&tv));
        c.add(&reject, &rv, None, "1".into(), false);
        c.add(&reject, &rv, None, "2".into(), false);
        c.add(&tempfail, &tv, None, "3".into(), false);
        let r = c.finish();
        assert_eq!(r.sessions, 3);
        assert_eq!(r.flagged, 3);
        // Session 3 is the first TEMPFAIL, but a warning: the first REJECT, also the first of
        // its kind and an error, keeps the one drawing.
        assert_eq!(r.drawn.len(), 1);
        assert_eq!(r.drawn[0].id, "1");
        let listed: Vec<&str> = r.undrawn.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(listed, ["2", "3"]);
        assert_eq!(r.headlines.get("REJECT").map(|h| h.1), Some(2));
    }

    #[test]
    fn the_line_names_the_capture_with_several() {
        let (s, v) = session("554 no\r\n");
        let mut c = Collector::new(5);
        c.add(&s, &v, None, "cap.pcap:1".into(), false);
        let r = c.finish();
        let d = &r.drawn[0];
        assert!(d.line.starts_with("#cap.pcap:1 "), "{}", d.line);
        assert!(d.line.contains(&format!("{} → {}", s.conn.client, s.conn.server)), "{}", d.line);
    }
}
