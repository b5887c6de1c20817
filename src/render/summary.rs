//! The end-of-run summary's groups: sessions by headline (the code on each session line), then
//! by server, client, verdict or hour (`--by`), each with its count and first/last time.

pub use super::options::SummaryBy;
use super::paint::paint;
use crate::capture::Timestamp;
use crate::diagnose::{Severity, Verdict};
use crate::session::Session;
use crate::tcp::conn::Endpoint;
use crate::textfmt::utc;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::net::IpAddr;

/// What the summary needs of one session: copied, not formatted (formatting waits for the few
/// groups shown at the end).
#[derive(Clone, Debug)]
pub struct Entry {
    pub headline: Option<(&'static str, Severity)>,
    pub client: IpAddr,
    pub server: Endpoint,
    pub first: Timestamp,
    pub last: Timestamp,
    pub verdicts: Vec<(&'static str, Severity)>,
}

impl Entry {
    pub fn of(s: &Session, verdicts: &[Verdict]) -> Entry {
        Entry {
            headline: crate::diagnose::headline(verdicts).map(|v| (v.code.as_str(), v.severity)),
            client: s.conn.client.ip,
            server: s.conn.server,
            first: s.conn.first.ts,
            last: s.conn.last.ts,
            verdicts: verdicts.iter().map(|v| (v.code.as_str(), v.severity)).collect(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Group {
    pub sessions: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// The most severe headline among the group's sessions (for color).
    pub severity: Severity,
}

impl Group {
    fn of(e: &Entry, severity: Severity) -> Group {
        Group { sessions: 1, first: e.first, last: e.last, severity }
    }

    fn add(&mut self, e: &Entry, severity: Severity) {
        self.sessions += 1;
        self.first = self.first.min(e.first);
        self.last = self.last.max(e.last);
        self.severity = self.severity.max(severity);
    }
}

/// What a `--by` group is keyed by while sessions are counted; shown as text (its [`name`]) only
/// at the end, so that no session pays for formatting an address or an hour.
///
/// [`name`]: GroupKey::name
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Server(Endpoint),
    Client(IpAddr),
    /// Hours since the epoch, UTC.
    Hour(i64),
    Verdict(&'static str),
}

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

impl GroupKey {
    /// The key as the summary shows it: `10.0.0.1:25`, `10.0.0.2`, `2026-11-23 08:00`, a code.
    pub fn name(self) -> String {
        match self {
            GroupKey::Server(e) => e.to_string(),
            GroupKey::Client(ip) => ip.to_string(),
            GroupKey::Hour(h) => format!("{}:00", &utc(Timestamp(h * NANOS_PER_HOUR))[..13]),
            GroupKey::Verdict(code) => code.to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub by: SummaryBy,
    pub headlines: BTreeMap<&'static str, Group>,
    pub groups: HashMap<GroupKey, Group, foldhash::fast::RandomState>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary { by: SummaryBy::Server, headlines: BTreeMap::new(), groups: HashMap::default() }
    }
}

/// Groups in the order they are shown: (key, group).
pub type Rows<'a> = Vec<(std::borrow::Cow<'a, str>, &'a Group)>;

/// Shown for a session without a verdict.
const NO_VERDICT: &str = "-";

impl Summary {
    pub fn add(&mut self, e: &Entry) {
        let (code, severity) = e.headline.unwrap_or((NO_VERDICT, Severity::Info));
        self.headlines.entry(code).and_modify(|g| g.add(e, severity)).or_insert_with(|| Group::of(e, severity));
        let mut count = |key: GroupKey| {
            self.groups.entry(key).and_modify(|g| g.add(e, severity)).or_insert_with(|| Group::of(e, severity));
        };
        match self.by {
            SummaryBy::Server => count(GroupKey::Server(e.server)),
            SummaryBy::Client => count(GroupKey::Client(e.client)),
            SummaryBy::Hour => count(GroupKey::Hour(e.first.0.div_euclid(NANOS_PER_HOUR))),
            SummaryBy::Verdict => {
                // A code repeated in a row counts once (as the session's verdicts list it).
                let mut last = None;
                for (code, _) in &e.verdicts {
                    if last != Some(*code) {
                        count(GroupKey::Verdict(code));
                    }
                    last = Some(*code);
                }
                if last.is_none() {
                    count(GroupKey::Verdict(NO_VERDICT));
                }
            }
        }
    }

    /// Headlines most severe first, then by count; groups by count (hours in time order), ties
    /// by name.
    pub fn sorted(&self) -> (Rows<'_>, Rows<'_>) {
        let mut heads: Rows<'_> = self.headlines.iter().map(|(k, g)| ((*k).into(), g)).collect();
        heads.sort_by(|a, b| b.1.severity.cmp(&a.1.severity).then(b.1.sessions.cmp(&a.1.sessions)).then(a.0.cmp(&b.0)));
        let mut groups: Rows<'_> = self.groups.iter().map(|(k, g)| (k.name().into(), g)).collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        if self.by != SummaryBy::Hour {
            groups.sort_by(|a, b| b.1.sessions.cmp(&a.1.sessions).then(a.0.cmp(&b.0)));
        }
        (heads, groups)
    }

    /// The two headed sections.
    pub fn text(&self, color: bool) -> String {
        let mut out = String::new();
        let (heads, groups) = self.sorted();
        let width = heads.iter().map(|(k, _)| k.len()).chain(groups.iter().map(|(k, _)| k.len())).max().unwrap_or(0);
        let width = width.max(22);
        let by = match self.by {
            SummaryBy::Server => "server",
            SummaryBy::Client => "client",
            SummaryBy::Verdict => "verdict (a session counts under each of its verdicts)",
            SummaryBy::Hour => "hour (UTC)",
        };
        let _ = writeln!(
            out,
            "sessions by headline:{:w$}  sessions  first                    last",
            "",
            w = width.saturating_sub(19)
        );
        for (code, g) in &heads {
            let name = paint(&format!("{code:<width$}"), g.severity, color);
            let _ = writeln!(out, "  {name}  {:>8}  {}  {}", g.sessions, utc(g.first), utc(g.last));
        }
        let _ = writeln!(out, "sessions by {by}:");
        for (key, g) in &groups {
            let _ = writeln!(out, "  {key:<width$}  {:>8}  {}  {}", g.sessions, utc(g.first), utc(g.last));
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let (heads, groups) = self.sorted();
        let group = |k: &str, g: &Group| serde_json::json!({"key": k, "sessions": g.sessions, "first_ts": g.first.as_secs_f64(), "last_ts": g.last.as_secs_f64()});
        serde_json::json!({
            "by_headline": heads.iter().map(|(k, g)| group(k, g)).collect::<Vec<_>>(),
            "by": format!("{:?}", self.by).to_lowercase(),
            "groups": groups.iter().map(|(k, g)| group(k, g)).collect::<Vec<_>>(),
        })
    }
}
