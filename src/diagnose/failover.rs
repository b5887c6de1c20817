//! A sender that gets a temporary failure (or no connection) from one server usually tries its
//! next MX or route host at once. Seeing that needs two sessions: sessions that could be followed
//! by a failover are held back until the next session of the same client shows up or the window
//! passes (in capture time), then released with the failover named in their verdict.

use super::Verdict;
use crate::session::Session;
use std::collections::VecDeque;

/// Verdicts after which a sender moves on to another host.
const FAILOVER_AFTER: [&str; 4] = ["TEMPFAIL", "NO_ANSWER", "PORT_CLOSED", "TCPREFUSE"];

pub struct FailoverTracker {
    window_s: f64,
    held: VecDeque<(Session, Vec<Verdict>)>,
    /// Latest capture time seen (seconds), the clock for releasing held sessions.
    clock: f64,
}

impl FailoverTracker {
    pub fn new(window_s: f64) -> Self {
        FailoverTracker { window_s, held: VecDeque::new(), clock: f64::MIN }
    }

    /// Add a finished session; returns the sessions ready to be shown, in order.
    pub fn push(&mut self, session: Session, verdicts: Vec<Verdict>) -> Vec<(Session, Vec<Verdict>)> {
        self.clock = self.clock.max(session.conn.last.ts.as_secs_f64());
        for (held, held_verdicts) in self.held.iter_mut() {
            if let Some(note) = failover_note(held, &session, self.window_s) {
                for v in held_verdicts.iter_mut().filter(|v| FAILOVER_AFTER.contains(&v.code)) {
                    v.summary.push_str(&note);
                    v.packets.push(session.conn.first.number);
                    v.packets.sort_unstable();
                    v.packets.dedup();
                }
            }
        }
        let mut ready = self.release(false);
        if verdicts.iter().any(|v| FAILOVER_AFTER.contains(&v.code)) {
            self.held.push_back((session, verdicts));
        } else if self.held.is_empty() {
            ready.push((session, verdicts));
        } else {
            // Keep the output in finishing order behind the held ones.
            self.held.push_back((session, verdicts));
        }
        ready.extend(self.release(false));
        ready
    }

    /// End of input: everything still held.
    pub fn finish(&mut self) -> Vec<(Session, Vec<Verdict>)> {
        self.release(true)
    }

    fn release(&mut self, all: bool) -> Vec<(Session, Vec<Verdict>)> {
        let mut out = Vec::new();
        while let Some((s, v)) = self.held.front() {
            let waiting = v.iter().any(|v| FAILOVER_AFTER.contains(&v.code) && !v.summary.contains("failed over"));
            let expired = self.clock > s.conn.last.ts.as_secs_f64() + self.window_s;
            if !all && waiting && !expired {
                break;
            }
            out.extend(self.held.pop_front());
        }
        out
    }
}

/// "; the client failed over to 198.51.100.26:25 (session 7) 0.4 s later"
fn failover_note(failed: &Session, next: &Session, window_s: f64) -> Option<String> {
    let (a, b) = (&failed.conn, &next.conn);
    let same_client = a.client.ip == b.client.ip;
    let other_server = a.server.ip != b.server.ip;
    let delay = b.first.ts.secs_since(a.first.ts);
    let after_failure = b.first.number > a.first.number && delay >= 0.0 && b.first.ts.secs_since(a.last.ts) <= window_s;
    let already = failed.capture != next.capture;
    (same_client && other_server && after_failure && !already).then(|| {
        format!(
            "; the client failed over to {} (session {}) {:.1} s later",
            b.server,
            next.id(),
            b.first.ts.secs_since(a.last.ts).max(0.0)
        )
    })
}
