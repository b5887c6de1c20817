//! The end-of-run summary's groups: sessions by headline (the code on each session line), then
//! by server, client, verdict or hour (`--by`), each with its count and first/last time.

pub use super::options::SummaryBy;
use super::paint::paint;
use crate::capture::Timestamp;
use crate::diagnose::{Severity, Verdict};
use crate::session::Session;
use crate::textfmt::utc;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What the summary needs of one session.
#[derive(Clone, Debug)]
pub struct Entry {
    pub headline: Option<(&'static str, Severity)>,
    pub client: String,
    pub server: String,
    pub first: Timestamp,
    pub last: Timestamp,
    pub verdicts: Vec<(&'static str, Severity)>,
}

impl Entry {
    pub fn of(s: &Session, verdicts: &[Verdict]) -> Entry {
        Entry {
            headline: crate::diagnose::headline(verdicts).map(|v| (v.code.as_str(), v.severity)),
            client: s.conn.client.ip.to_string(),
            server: s.conn.server.to_string(),
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
    fn add(slot: &mut Option<Group>, e: &Entry, severity: Severity) {
        let g = slot.get_or_insert(Group { sessions: 0, first: e.first, last: e.last, severity });
        g.sessions += 1;
        g.first = g.first.min(e.first);
        g.last = g.last.max(e.last);
        g.severity = g.severity.max(severity);
    }
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub by: SummaryBy,
    pub headlines: BTreeMap<&'static str, Group>,
    pub groups: BTreeMap<String, Group>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary { by: SummaryBy::Server, headlines: BTreeMap::new(), groups: BTreeMap::new() }
    }
}

/// Groups in the order they are shown: (key, group).
pub type Rows<'a> = Vec<(&'a str, &'a Group)>;

/// Shown for a session without a verdict.
const NO_VERDICT: &str = "-";

impl Summary {
    pub fn add(&mut self, e: &Entry) {
        let (code, severity) = e.headline.unwrap_or((NO_VERDICT, Severity::Info));
        let mut slot = self.headlines.remove(code);
        Group::add(&mut slot, e, severity);
        self.headlines.insert(code, slot.expect("added"));
        let keys: Vec<String> = match self.by {
            SummaryBy::Server => vec![e.server.clone()],
            SummaryBy::Client => vec![e.client.clone()],
            SummaryBy::Hour => vec![format!("{}:00", &utc(e.first)[..13])],
            SummaryBy::Verdict => {
                let mut codes: Vec<String> = e.verdicts.iter().map(|(c, _)| c.to_string()).collect();
                codes.dedup();
                if codes.is_empty() { vec![NO_VERDICT.to_string()] } else { codes }
            }
        };
        for key in keys {
            let mut slot = self.groups.remove(&key);
            Group::add(&mut slot, e, severity);
            self.groups.insert(key, slot.expect("added"));
        }
    }

    /// Headlines most severe first, then by count; groups by count (hours in time order).
    pub fn sorted(&self) -> (Rows<'_>, Rows<'_>) {
        let mut heads: Vec<(&str, &Group)> = self.headlines.iter().map(|(k, g)| (*k, g)).collect();
        heads.sort_by(|a, b| b.1.severity.cmp(&a.1.severity).then(b.1.sessions.cmp(&a.1.sessions)).then(a.0.cmp(b.0)));
        let mut groups: Vec<(&str, &Group)> = self.groups.iter().map(|(k, g)| (k.as_str(), g)).collect();
        if self.by != SummaryBy::Hour {
            groups.sort_by(|a, b| b.1.sessions.cmp(&a.1.sessions).then(a.0.cmp(b.0)));
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
