//! Pairing sessions with log connections. The logs are indexed up front by the address that
//! must match (the client for a connection the logging host received, the server for one it
//! made); each session, as it comes out diagnosed, is scored against the log connections of its
//! address that overlap it in time, by ports, server address, message ids, envelope addresses
//! and reply codes. Equal evidence for two connections is reported as ambiguous, not guessed.

use super::Follow;
use super::time::{self, Civil};
use super::{Ending, LogConnection, LogFile, LogFormat, MaillogError, Parsed};
use crate::diagnose::{Severity, Verdict, VerdictCode};
use crate::session::Session;
use crate::smtp::Verb;
use crate::tcp::conn::{CloseKind, Handshake, Role};
use crate::tcp::flow::EndReason;
use jiff::tz::TimeZone;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::time::{SystemTime, UNIX_EPOCH};

const SECOND: i64 = 1_000_000_000;

/// How often `live` looks whether the followed logs grew.
const REFRESH: Duration = Duration::from_secs(1);

/// Verdicts read in this order for the cause of a loss the log names no cause for.
const CAUSES: &[VerdictCode] = &[
    VerdictCode::FirewallReset,
    VerdictCode::InspectionLimit,
    VerdictCode::MtuBlackhole,
    VerdictCode::BannerNeverCompleted,
    VerdictCode::MaskedBanner,
    VerdictCode::CommandMasked,
    VerdictCode::StarttlsStripped,
    VerdictCode::IdleTimeout,
    VerdictCode::ZeroWindow,
    VerdictCode::TlsFailed,
    VerdictCode::Retransmissions,
    VerdictCode::ReceivingAborted,
    VerdictCode::AbortedBySender,
    VerdictCode::Incomplete,
];

/// What a session's record gets from the log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogNote {
    pub format: LogFormat,
    /// "paired", or "ambiguous" when several log connections fit equally well (then
    /// `candidates` lists them and the connection's own fields are empty).
    pub pairing: &'static str,
    pub connection_id: Option<String>,
    pub message_ids: Vec<String>,
    pub outcome: Option<String>,
    /// "file:line" of every line of the connection.
    pub lines: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// The log's generic outcome beside the cause the packets show, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// The log's part of one session: its note and any verdict the comparison adds.
#[derive(Debug, Default)]
pub struct Annotation {
    pub note: Option<LogNote>,
    pub verdicts: Vec<Verdict>,
}

/// The log connections of one address: (first line's time, entry), sorted, and the longest
/// connection's duration (how far back one that overlaps a session can have begun).
#[derive(Debug, Default)]
struct Peer {
    entries: Vec<(i64, usize)>,
    longest: i64,
}

/// A log connection with its times made absolute.
#[derive(Debug)]
struct Entry {
    conn: LogConnection,
    first: i64,
    last: i64,
    paired: bool,
}

/// One file as loaded.
#[derive(Clone, Debug)]
pub struct LoadedFile {
    pub name: String,
    pub format: LogFormat,
    pub connections: usize,
    /// Lines of the format that did not parse: (line number, text).
    pub unparsed: Vec<(u64, String)>,
}

/// Every log connection, indexed for pairing.
pub struct LogIndex {
    pub files: Vec<LoadedFile>,
    pending: Vec<LogConnection>,
    entries: Vec<Entry>,
    /// Entries by the address a session must have (inbound by client, outbound by server),
    /// in order of their first line.
    by_peer: HashMap<IpAddr, Peer>,
    tz: TimeZone,
    tz_name: String,
    skew: i64,
    /// Capture time covered by the sessions seen: (first, last).
    span: Option<(i64, i64)>,
    paired: u64,
    ambiguous: u64,
    unknown: u64,
    /// Servers the log speaks for: a session to another server is not the log's to know.
    hosts: BTreeSet<IpAddr>,
    /// `live`: files read again as they grow, with the format each was read in.
    follow: Vec<(Follow, LogFormat)>,
    last_refresh: Option<Instant>,
    /// (file, first line) of log connections paired before they were parsed again.
    repaired: HashSet<(Arc<str>, u64)>,
    /// Entries were removed: the index by address is built again.
    dirty: bool,
}

/// A log connection no session was paired with, its times absolute.
pub struct Unpaired<'a> {
    pub conn: &'a LogConnection,
    pub first_ns: i64,
    pub last_ns: i64,
}

/// Closing counts.
pub struct LogSummary<'a> {
    pub files: &'a [LoadedFile],
    pub connections: usize,
    pub sessions_paired: u64,
    pub sessions_ambiguous: u64,
    /// Sessions with a server the log speaks for, that no log connection fits.
    pub sessions_unknown: u64,
    /// Log connections in the captures' time that no session matched: findings (a capture filter
    /// that missed traffic, a device that stopped a connection before the capture point).
    pub unpaired: Vec<Unpaired<'a>>,
    /// Log connections before or after the captures: not theirs to explain.
    pub outside_captures: usize,
    /// Said once each (a log for another day than the captures).
    pub warnings: Vec<String>,
}

impl LogIndex {
    /// Reads and parses every file (`tz_name`: `--log-tz`, `skew_s`: `--log-skew`).
    pub fn load(
        paths: &[PathBuf],
        format: Option<LogFormat>,
        tz_name: &str,
        skew_s: f64,
    ) -> Result<LogIndex, MaillogError> {
        let files = paths.iter().map(|p| super::read_file(p)).collect::<Result<Vec<_>, _>>()?;
        Self::from_files(files, format, tz_name, skew_s)
    }

    /// Parses files read already (`live` reads them before it gives up root, and parses them after).
    pub fn from_files(
        files: Vec<LogFile>,
        format: Option<LogFormat>,
        tz_name: &str,
        skew_s: f64,
    ) -> Result<LogIndex, MaillogError> {
        let tz = time::zone(tz_name).map_err(MaillogError::Zone)?;
        let mut loaded = Vec::new();
        let mut pending = Vec::new();
        for file in &files {
            let (format, Parsed { connections, unparsed }) = super::parse(file, format)?;
            loaded.push(LoadedFile { name: file.name.to_string(), format, connections: connections.len(), unparsed });
            pending.extend(connections);
        }
        Ok(Self::from_connections(loaded, pending, tz, tz_name, skew_s))
    }

    pub fn from_connections(
        files: Vec<LoadedFile>,
        pending: Vec<LogConnection>,
        tz: TimeZone,
        tz_name: &str,
        skew_s: f64,
    ) -> LogIndex {
        LogIndex {
            files,
            pending,
            entries: Vec::new(),
            by_peer: HashMap::new(),
            tz,
            tz_name: tz_name.to_string(),
            skew: (skew_s.max(0.0) * SECOND as f64) as i64,
            span: None,
            paired: 0,
            ambiguous: 0,
            unknown: 0,
            hosts: BTreeSet::new(),
            follow: Vec::new(),
            last_refresh: None,
            repaired: HashSet::new(),
            dirty: false,
        }
    }

    /// `live`: reads these files (opened as root, named as in `files`) again as they grow.
    pub fn follow(&mut self, files: Vec<Follow>) {
        for f in files {
            if let Some(loaded) = self.files.iter().find(|l| l.name == f.name) {
                let format = loaded.format;
                self.follow.push((f, format));
            }
        }
    }

    /// What the followed files gained since the last look, at most once a second (`force`: now).
    fn refresh(&mut self, force: bool) {
        if self.follow.is_empty() || !force && self.last_refresh.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        self.last_refresh = Some(Instant::now());
        let mut follow = std::mem::take(&mut self.follow);
        follow.retain_mut(|(f, format)| match f.read_new() {
            Ok(Some(chunk)) => {
                let parsed = match *format {
                    LogFormat::Asyncos => super::asyncos::parse(&chunk),
                    LogFormat::Postfix => super::postfix::parse(&chunk),
                    LogFormat::Exim => super::exim::parse(&chunk),
                };
                self.replace_from(&chunk.name, f.base_line, &parsed);
                f.advance(&chunk, &parsed);
                self.pending.extend(parsed.connections);
                true
            }
            Ok(None) => true,
            Err(e) => {
                eprintln!(
                    "smtpdiag: warning: {}: the log cannot be read any more ({e}); lines written later are not seen",
                    f.name
                );
                false
            }
        });
        self.follow = follow;
    }

    /// Forgets what was parsed of `file` from line `from` on (it is being parsed again), keeping
    /// which of those connections were paired.
    fn replace_from(&mut self, file: &Arc<str>, from: u64, parsed: &Parsed) {
        let again = |c: &LogConnection| c.file == *file && c.lines.first().is_some_and(|&n| n >= from);
        for e in self.entries.iter().filter(|e| e.paired && again(&e.conn)) {
            self.repaired.insert((e.conn.file.clone(), e.conn.lines[0]));
        }
        let before = self.entries.len();
        self.entries.retain(|e| !again(&e.conn));
        self.dirty |= self.entries.len() != before;
        self.pending.retain(|c| !again(c));
        if let Some(f) = self.files.iter_mut().find(|f| *f.name == **file) {
            f.unparsed.retain(|(n, _)| *n < from);
            f.unparsed.extend(parsed.unparsed.iter().cloned());
        }
    }

    /// Makes the log's times absolute; lines without a year take the year of `around` (the
    /// first session's time).
    fn resolve(&mut self, around: i64) {
        if self.pending.is_empty() && !self.dirty {
            return;
        }
        let (year, month) = time::year_month(around, &self.tz);
        let at = |c: &Civil| c.to_ns(&self.tz, year, month);
        for conn in std::mem::take(&mut self.pending) {
            let (Some(first), Some(last)) = (at(&conn.first), at(&conn.last)) else { continue };
            let host = if conn.outbound { conn.client } else { conn.server };
            self.hosts.extend(host);
            let paired = conn.lines.first().is_some_and(|&n| self.repaired.remove(&(conn.file.clone(), n)));
            self.entries.push(Entry { conn, first, last, paired });
        }
        self.by_peer.clear();
        for (i, e) in self.entries.iter().enumerate() {
            let peer = if e.conn.outbound { e.conn.server } else { e.conn.client };
            if let Some(peer) = peer {
                let p = self.by_peer.entry(peer).or_default();
                p.entries.push((e.first, i));
                p.longest = p.longest.max(e.last - e.first);
            }
        }
        for p in self.by_peer.values_mut() {
            p.entries.sort_unstable();
        }
        self.dirty = false;
    }

    /// Log connections of `ip` that may overlap [first, last]: found by their first line, so a
    /// session looks at the few around its time, not at every connection of a busy client.
    fn near(&self, ip: IpAddr, first: i64, last: i64) -> impl Iterator<Item = usize> + '_ {
        let slack = self.skew + SECOND;
        let window = self.by_peer.get(&ip).map_or(&[][..], |p| {
            let from = p.entries.partition_point(|&(t, _)| t < first - slack - p.longest);
            let to = p.entries.partition_point(|&(t, _)| t <= last + slack);
            &p.entries[from..to.max(from)]
        });
        window.iter().map(|&(_, i)| i)
    }

    /// The log's part of a diagnosed session.
    pub fn annotate(&mut self, s: &Session, verdicts: &[Verdict]) -> Annotation {
        let (first, last) = (s.conn.first.ts.0, s.conn.last.ts.0);
        self.refresh(false);
        self.resolve(first);
        self.span = Some(self.span.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
        let mut scored: Vec<(usize, Score)> = [s.conn.client.ip, s.conn.server.ip]
            .into_iter()
            .flat_map(|ip| self.near(ip, first, last))
            .filter_map(|i| score(&self.entries[i], s, self.skew).map(|sc| (i, sc)))
            .collect();
        scored.sort_by_key(|(i, sc)| (std::cmp::Reverse(sc.points), self.entries[*i].paired, sc.distance, *i));
        scored.dedup_by_key(|(i, _)| *i);
        let Some(&(best, best_score)) = scored.first() else {
            if self.hosts.is_empty() || self.hosts.contains(&s.conn.server.ip) || self.hosts.contains(&s.conn.client.ip)
            {
                self.unknown += 1;
            }
            return Annotation::default();
        };
        let rivals: Vec<usize> = scored
            .iter()
            .skip(1)
            .filter(|(i, sc)| {
                sc.points == best_score.points
                    && self.entries[*i].paired == self.entries[best].paired
                    && sc.distance.abs_diff(best_score.distance) <= self.skew as u64
            })
            .map(|(i, _)| *i)
            .collect();
        if !rivals.is_empty() {
            self.ambiguous += 1;
            let all: Vec<&Entry> = std::iter::once(best).chain(rivals).map(|i| &self.entries[i]).collect();
            let mut all_lines: Vec<(&str, u64)> =
                all.iter().flat_map(|e| e.conn.lines.iter().map(|n| (&*e.conn.file, *n))).collect();
            all_lines.sort_unstable();
            let note = LogNote {
                format: all[0].conn.format,
                pairing: "ambiguous",
                connection_id: None,
                message_ids: Vec::new(),
                outcome: None,
                lines: all_lines.iter().map(|(f, n)| format!("{f}:{n}")).collect(),
                candidates: all.iter().map(|e| e.conn.connection_id.clone()).collect(),
                explanation: None,
            };
            return Annotation { note: Some(note), verdicts: Vec::new() };
        }
        self.paired += 1;
        let entry = &mut self.entries[best];
        entry.paired = true;
        let conn = &entry.conn;
        let note = LogNote {
            format: conn.format,
            pairing: "paired",
            connection_id: Some(conn.connection_id.clone()),
            message_ids: conn.message_ids.clone(),
            outcome: conn.outcome.clone(),
            lines: lines(conn),
            candidates: Vec::new(),
            explanation: explain(conn, verdicts),
        };
        Annotation { note: Some(note), verdicts: contradiction(conn, s).into_iter().collect() }
    }

    /// Counts, the log connections no session was paired with, and what to say once.
    pub fn summary(&mut self) -> LogSummary<'_> {
        self.refresh(true);
        if !self.pending.is_empty() || self.dirty {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
            self.resolve(self.span.map_or(now, |(a, _)| a));
        }
        let mut warnings = Vec::new();
        if let Some((a, b)) = self.span {
            for f in &self.files {
                let mine: Vec<&Entry> = self.entries.iter().filter(|e| *e.conn.file == *f.name).collect();
                let (Some(lo), Some(hi)) = (mine.iter().map(|e| e.first).min(), mine.iter().map(|e| e.last).max())
                else {
                    continue;
                };
                let apart = lo > b + self.skew || hi < a - self.skew;
                let (log_days, cap_days) = (self.days(lo, hi), self.days(a, b));
                if apart && !mine.iter().any(|e| e.paired) && log_days != cap_days {
                    warnings.push(format!(
                        "{}: the log covers {log_days} (time zone {}), the captures {cap_days}: no session is paired with it \
                         (--log-tz, --log-skew)",
                        f.name, self.tz_name
                    ));
                }
            }
        }
        let slack = self.skew + SECOND;
        let during = |e: &Entry| self.span.is_some_and(|(a, b)| e.first <= b + slack && e.last + slack >= a);
        let unpaired: Vec<Unpaired<'_>> = self
            .entries
            .iter()
            .filter(|e| !e.paired && during(e))
            .map(|e| Unpaired { conn: &e.conn, first_ns: e.first, last_ns: e.last })
            .collect();
        let outside_captures = self.entries.iter().filter(|e| !e.paired && !during(e)).count();
        for f in &mut self.files {
            f.connections = self.entries.iter().filter(|e| *e.conn.file == *f.name).count();
        }
        LogSummary {
            files: &self.files,
            connections: self.entries.len(),
            sessions_paired: self.paired,
            sessions_ambiguous: self.ambiguous,
            sessions_unknown: self.unknown,
            unpaired,
            outside_captures,
            warnings,
        }
    }

    fn days(&self, a: i64, b: i64) -> String {
        let (a, b) = (time::date(a, &self.tz), time::date(b, &self.tz));
        if a == b { a } else { format!("{a} to {b}") }
    }
}

fn lines(conn: &LogConnection) -> Vec<String> {
    conn.lines.iter().map(|n| format!("{}:{n}", conn.file)).collect()
}

#[derive(Clone, Copy, Debug)]
struct Score {
    points: i32,
    /// Between the log connection's first line and the session's first packet.
    distance: u64,
}

/// How well a log connection fits a session; None when an address, a port or the time rules
/// it out.
fn score(e: &Entry, s: &Session, skew: i64) -> Option<Score> {
    let c = &e.conn;
    let (client, server) = (s.conn.client, s.conn.server);
    let (first, last) = (s.conn.first.ts.0, s.conn.last.ts.0);
    // Log times are whole seconds in most formats: a second more of slack.
    if e.first > last + skew + SECOND || e.last + skew + SECOND < first {
        return None;
    }
    // A SYN nobody accepted never became a connection a server could log.
    if matches!(s.conn.handshake, Handshake::SynOnly | Handshake::SynRst) {
        return None;
    }
    let same = |log: Option<IpAddr>, seen: IpAddr| log.is_none_or(|ip| ip == seen);
    let same_port = |log: Option<u16>, seen: u16| log.is_none_or(|p| p == seen);
    if !same(c.client, client.ip)
        || !same(c.server, server.ip)
        || !same_port(c.client_port, client.port)
        || !same_port(c.server_port, server.port)
    {
        return None;
    }
    let mut points = 0;
    if c.client_port.is_some() {
        points += 8;
    }
    if c.server.is_some() && c.client.is_some() {
        points += 2;
    }
    let queue_ids: Vec<&str> = s.smtp.transactions.iter().filter_map(|t| t.queue_id.as_deref()).collect();
    if !c.outbound && !c.message_ids.is_empty() && !queue_ids.is_empty() {
        if c.message_ids.iter().any(|m| queue_ids.contains(&m.as_str())) {
            points += 8;
        } else {
            return None;
        }
    }
    let overlap = |log: &[String], seen: &[String]| log.iter().any(|a| seen.iter().any(|b| a.eq_ignore_ascii_case(b)));
    if !c.mail_from.is_empty() && !s.smtp.mail_from.is_empty() {
        points += if overlap(&c.mail_from, &s.smtp.mail_from) { 2 } else { -3 };
    }
    if !c.rcpt_to.is_empty() && overlap(&c.rcpt_to, &s.smtp.rcpt_to) {
        points += 1;
    }
    if !c.replies.is_empty() && !s.smtp.replies.is_empty() {
        points += if c.replies.iter().all(|r| s.smtp.replies.contains(r)) { 2 } else { -2 };
    }
    if !c.outbound {
        points += ending_fits(c, s);
    }
    // A time logged in whole seconds stands for the second that follows it.
    let whole = e.first % SECOND == 0;
    let distance = if whole && (e.first..e.first + SECOND).contains(&first) { 0 } else { e.first.abs_diff(first) };
    Some(Score { points, distance })
}

/// Whether the log's ending is the one the packets show: +2 when they agree, -2 when not (a
/// log connection that ended in the message data is not the session that sent no DATA).
fn ending_fits(c: &LogConnection, s: &Session) -> i32 {
    let smtp = &s.smtp;
    if smtp.starttls.is_some() || smtp.implicit_tls.is_some() {
        return 0;
    }
    let quit = smtp.commands.contains(&Verb::Quit);
    let data_cut = smtp.transactions.iter().any(|t| t.data_verb.is_some() && t.data_reply.is_none());
    let delivered = smtp.transactions.iter().any(|t| t.data_reply.as_ref().is_some_and(|r| r.code / 100 == 2));
    let mut points = match c.ending {
        Ending::Quit => i32::from(quit) * 4 - 2,
        Ending::LostInData => i32::from(data_cut) * 4 - 2,
        Ending::Lost => i32::from(!quit) * 3 - 2,
        _ => 0,
    };
    if c.accepted {
        points += i32::from(delivered) * 4 - 2;
    }
    points
}

/// "the Exim log says [203.0.113.5]:45590 'lost while reading message data'; the packets show …".
fn explain(c: &LogConnection, verdicts: &[Verdict]) -> Option<String> {
    if !c.ending.is_generic_loss() {
        return None;
    }
    let cause = CAUSES.iter().find_map(|code| verdicts.iter().find(|v| v.code == *code))?;
    Some(format!(
        "the {} log says {} '{}'; the packets show {} ({})",
        c.format.name(),
        c.connection_id,
        c.outcome.as_deref().unwrap_or("lost"),
        cause.summary(),
        cause.code
    ))
}

fn contradicts(c: &LogConnection, packets_show: String, packets: Vec<u64>) -> Verdict {
    let log_says = c.outcome.as_deref().unwrap_or("?");
    Verdict {
        code: VerdictCode::LogContradicts,
        severity: Severity::Warning,
        finding: format!("the {} log says {} '{log_says}', but {packets_show}", c.format.name(), c.connection_id),
        explanation: "The server's log and the packets tell different stories about this connection. Either the \
                      capture point and the server do not see the same connection (a device between them ended it \
                      on one side only, e.g. a firewall or load balancer that answers or resets for the server), or \
                      the log lines belong to another connection (check --log-tz and --log-skew)."
            .into(),
        packets,
        failover: None,
    }
}

/// A verdict when the log and the packets disagree about how the session went.
fn contradiction(c: &LogConnection, s: &Session) -> Option<Verdict> {
    let smtp = &s.smtp;
    let quit = smtp.commands.contains(&Verb::Quit);
    let reset = s.conn.closes.iter().find(|e| e.kind == CloseKind::Rst);
    let encrypted = smtp.starttls.is_some() || smtp.implicit_tls.is_some();
    let whole = s.end != EndReason::CaptureEnd;
    match c.ending {
        Ending::Quit | Ending::Closed if !c.outbound && !quit && whole => {
            let rst = reset?;
            let who = if rst.by == Role::Client { "client" } else { "server" };
            Some(contradicts(c, format!("the packets show a reset from the {who} side and no QUIT"), vec![rst.packet]))
        }
        Ending::Lost | Ending::LostInData if quit && smtp.replies.last() == Some(&221) && !encrypted => {
            let packets = vec![s.conn.last.number];
            Some(contradicts(c, "the packets show the client's QUIT answered with 221".to_string(), packets))
        }
        Ending::Refused | Ending::Rejected if smtp.banner.as_ref().is_some_and(|b| b.code == 220) => {
            let b = smtp.banner.as_ref()?;
            Some(contradicts(c, "the packets show a 220 greeting".to_string(), vec![b.packet.number]))
        }
        _ if c.accepted && !c.outbound && !encrypted && whole && !smtp.transactions.is_empty() => {
            let delivered = smtp.transactions.iter().any(|t| t.data_reply.as_ref().is_some_and(|r| r.code / 100 == 2));
            (!delivered).then(|| {
                contradicts(c, "no message was accepted with a 2xx reply in the packets".to_string(), Vec::new())
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
