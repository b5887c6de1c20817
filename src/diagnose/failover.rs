//! A sender that gets a temporary failure (or no connection) from one server usually tries its
//! next MX or route host at once. Seeing that needs two sessions: sessions that could be followed
//! by a failover are held back until the next session of the same client shows up or the window
//! passes (in capture time), then released with the failover named in their verdict.

use super::Verdict;
use crate::session::Session;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Verdicts after which a sender moves on to another host.
const FAILOVER_AFTER: [&str; 4] = ["TEMPFAIL", "NO_ANSWER", "PORT_CLOSED", "TCPREFUSE"];

/// Sessions held back at most: past it the oldest is released unannotated. A SYN flood makes a
/// million NO_ANSWER sessions inside one window; holding them all would grow without end.
pub const MAX_HELD: usize = 10_000;

/// Failed sessions of one client that a later session can still annotate: a sender tries its
/// next host right after a failure, so only its latest failures matter, and the work per
/// session stays constant however many sessions a client opens.
const MAX_WAITING_PER_CLIENT: usize = 16;

pub struct FailoverTracker {
    window_s: f64,
    held: VecDeque<(Session, Vec<Verdict>)>,
    /// Position (counted since the start) of `held[0]`.
    first: u64,
    /// Positions of the held sessions still waiting for a failover, by client address.
    waiting: HashMap<IpAddr, VecDeque<u64>>,
    /// Latest capture time seen (seconds), the clock for releasing held sessions.
    clock: f64,
    /// Sessions released before their window passed because `MAX_HELD` was reached.
    pub released_early: u64,
}

impl FailoverTracker {
    pub fn new(window_s: f64) -> Self {
        FailoverTracker {
            window_s,
            held: VecDeque::new(),
            first: 0,
            waiting: HashMap::new(),
            clock: f64::MIN,
            released_early: 0,
        }
    }

    /// Add a finished session; returns the sessions ready to be shown, in order.
    pub fn push(&mut self, session: Session, verdicts: Vec<Verdict>) -> Vec<(Session, Vec<Verdict>)> {
        self.clock = self.clock.max(session.conn.last.ts.as_secs_f64());
        self.annotate(&session);
        let mut ready = self.release(false);
        let client = session.conn.client.ip;
        let waits = waiting(&verdicts);
        if waits || !self.held.is_empty() {
            // Keep the output in finishing order behind the held ones.
            self.held.push_back((session, verdicts));
            if waits {
                let list = self.waiting.entry(client).or_default();
                list.push_back(self.first + self.held.len() as u64 - 1);
                if list.len() > MAX_WAITING_PER_CLIENT {
                    list.pop_front();
                }
            }
        } else {
            ready.push((session, verdicts));
        }
        while self.held.len() > MAX_HELD {
            self.released_early += 1;
            ready.extend(self.pop());
        }
        ready.extend(self.release(false));
        ready
    }

    /// End of input: everything still held.
    pub fn finish(&mut self) -> Vec<(Session, Vec<Verdict>)> {
        self.release(true)
    }

    /// Names `next` in the verdicts of the same client's held failures it is a failover of.
    fn annotate(&mut self, next: &Session) {
        let Some(list) = self.waiting.get_mut(&next.conn.client.ip) else { return };
        let first = self.first;
        list.retain(|&pos| {
            let Some((held, verdicts)) = pos.checked_sub(first).and_then(|i| self.held.get_mut(i as usize)) else {
                return false;
            };
            let Some(note) = failover_note(held, next, self.window_s) else { return true };
            for v in verdicts.iter_mut().filter(|v| FAILOVER_AFTER.contains(&v.code)) {
                v.summary.push_str(&note);
                v.packets.push(next.conn.first.number);
                v.packets.sort_unstable();
                v.packets.dedup();
            }
            false
        });
        if list.is_empty() {
            self.waiting.remove(&next.conn.client.ip);
        }
    }

    fn release(&mut self, all: bool) -> Vec<(Session, Vec<Verdict>)> {
        let mut out = Vec::new();
        while let Some((s, v)) = self.held.front() {
            let expired = self.clock > s.conn.last.ts.as_secs_f64() + self.window_s;
            if !all && waiting(v) && !expired {
                break;
            }
            out.extend(self.pop());
        }
        out
    }

    /// Takes the oldest held session out, and out of the waiting lists.
    fn pop(&mut self) -> Option<(Session, Vec<Verdict>)> {
        let (s, v) = self.held.pop_front()?;
        let client = s.conn.client.ip;
        if let Some(list) = self.waiting.get_mut(&client) {
            list.retain(|&pos| pos != self.first);
            if list.is_empty() {
                self.waiting.remove(&client);
            }
        }
        self.first += 1;
        Some((s, v))
    }
}

/// A failure after which the client may still fail over (not yet seen doing so).
fn waiting(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(|v| FAILOVER_AFTER.contains(&v.code) && !v.summary.contains("failed over"))
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
