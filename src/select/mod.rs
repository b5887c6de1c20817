//! Which sessions to show: `--session`, `--client`, `--server`, `--verdict`, `--since`,
//! `--until`, `--message-id`, `--queue-id`, the same for `read`, `ladder` and `live`. Every
//! condition given must hold; an option given several times matches any of its values.

pub mod options;
pub mod spec;

use crate::capture::Timestamp;
use crate::diagnose::Verdict;
use crate::session::Session;
pub use options::Selection;
use std::collections::HashMap;
use std::path::Path;

/// A selection, with the first-packet time of each capture (for offsets in `--since`/`--until`).
#[derive(Clone, Debug, Default)]
pub struct Selector {
    sel: Selection,
    origins: HashMap<String, Timestamp>,
}

impl Selector {
    pub fn new(sel: &Selection) -> Selector {
        Selector { sel: sel.clone(), origins: HashMap::new() }
    }

    /// Whether any condition was given (without one, every session is shown).
    pub fn is_active(&self) -> bool {
        let s = &self.sel;
        !(s.sessions.is_empty()
            && s.client.is_empty()
            && s.server.is_empty()
            && s.verdict.is_empty()
            && s.since.is_none()
            && s.until.is_none()
            && s.message_id.is_empty()
            && s.queue_id.is_empty())
    }

    /// Whether `--since`/`--until` count from the capture's first packet.
    pub fn needs_origin(&self) -> bool {
        [self.sel.since, self.sel.until].iter().flatten().any(|b| matches!(b, spec::TimeBound::Offset(_)))
    }

    /// The time offsets count from, for sessions of `capture` (as named in `Session::capture`).
    pub fn set_origin(&mut self, capture: &str, first_packet: Timestamp) {
        self.origins.insert(capture.to_string(), first_packet);
    }

    pub fn limit(&self) -> Option<usize> {
        self.sel.limit
    }

    pub fn matches(&self, s: &Session, verdicts: &[Verdict]) -> bool {
        let sel = &self.sel;
        let c = &s.conn;
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| list.is_empty() || list.iter().any(|x| f(x));
        any(&sel.sessions, &|want| session_names(s).iter().any(|id| id == want))
            && (sel.client.is_empty() || sel.client.iter().any(|a| a.matches(c.client.ip, c.client.port)))
            && (sel.server.is_empty() || sel.server.iter().any(|a| a.matches(c.server.ip, c.server.port)))
            && (sel.verdict.is_empty() || verdicts.iter().any(|v| sel.verdict.contains(&v.code)))
            && any(&sel.queue_id, &|want| s.smtp.transactions.iter().any(|t| t.queue_id.as_deref() == Some(want)))
            && any(&sel.message_id, &|want| message_ids(s).any(|id| same_message_id(id, want)))
            && self.in_window(s)
    }

    /// The session has a packet between `--since` and `--until` (inclusive).
    fn in_window(&self, s: &Session) -> bool {
        let origin = self.origins.get(&*s.capture).map_or(s.conn.first.ts.0, |t| t.0);
        let since = self.sel.since.map(|b| b.resolve(origin));
        let until = self.sel.until.map(|b| b.resolve(origin));
        since.is_none_or(|t| s.conn.last.ts.0 >= t) && until.is_none_or(|t| s.conn.first.ts.0 <= t)
    }
}

/// The names `--session` accepts: "3", "FILE:3" as given and "NAME:3" with the file name alone.
fn session_names(s: &Session) -> [String; 3] {
    let file = Path::new(&*s.capture).file_name().map_or_else(|| s.capture.to_string(), |n| n.to_string_lossy().into());
    [s.id(), format!("{}:{}", s.capture, s.id()), format!("{file}:{}", s.id())]
}

fn message_ids(s: &Session) -> impl Iterator<Item = &str> {
    s.smtp.transactions.iter().filter_map(|t| t.body.as_ref()?.identity.message_id.as_deref())
}

/// Message-IDs compare without their angle brackets, as users copy them either way.
fn same_message_id(id: &str, want: &str) -> bool {
    let bare = |x: &str| x.trim().trim_start_matches('<').trim_end_matches('>').to_string();
    bare(id) == bare(want)
}
