//! A sender that gets a temporary failure (or no connection) from one server usually tries its
//! next MX or route host at once. Seeing that needs two sessions: sessions that could be followed
//! by a failover are held back until the next session of the same client shows up or the window
//! passes (in capture time), then released with the failover named in their verdict.

use super::{Failover, Verdict};
use crate::session::{Brief, Session};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Sessions held back at most: past it the oldest is released unannotated. A SYN flood makes a
/// million NO_ANSWER sessions inside one window; holding them all would grow without end.
pub const MAX_HELD: usize = 10_000;

/// Bytes held back at most (as [`HeldSize`] counts them), for the same reason: a busy gateway
/// finishes thousands of sessions inside one failover window, all waiting behind its first
/// tempfail. Past it the oldest is released unannotated.
pub const MAX_HELD_BYTES: usize = 4 << 20;

/// What a held output costs in memory, roughly.
pub trait HeldSize {
    fn held_size(&self) -> usize;
}

impl HeldSize for String {
    fn held_size(&self) -> usize {
        self.capacity() + std::mem::size_of::<String>()
    }
}

impl HeldSize for Option<(Session, Vec<Verdict>)> {
    fn held_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.as_ref().map_or(0, |(s, _)| session_size(s))
    }
}

/// A whole session's approximate heap size: its packet events dominate.
fn session_size(s: &Session) -> usize {
    std::mem::size_of::<Session>()
        + s.conn.events.capacity() * std::mem::size_of::<crate::tcp::conn::PacketEvent>()
        + s.smtp.events.capacity() * 128
}

/// Failed sessions of one client that a later session can still annotate: a sender tries its
/// next host right after a failure, so only its latest failures matter, and the work per
/// session stays constant however many sessions a client opens.
const MAX_WAITING_PER_CLIENT: usize = 16;

/// A session in the tracker, in finishing order: either one that a later session may still
/// change (kept whole), or a final one already turned into its output by the caller (`T`), so a
/// long failover window holds whole only the few sessions that can still change.
/// (Boxed: a queue of thousands of final outputs would otherwise take a whole session's size each.)
pub enum Held<T> {
    Open(Box<Session>, Vec<Verdict>),
    Final(T),
}

pub struct FailoverTracker<T> {
    window_s: f64,
    held: VecDeque<Held<T>>,
    /// Position (counted since the start) of `held[0]`.
    first: u64,
    /// Positions of the held sessions still waiting for a failover, by client address (looked
    /// up for every session: hashed with foldhash, not SipHash, which cost 200 instructions a
    /// lookup).
    waiting: HashMap<IpAddr, VecDeque<u64>, foldhash::fast::RandomState>,
    /// Latest capture time seen (seconds), the clock for releasing held sessions.
    clock: f64,
    /// Sessions released before their window passed because `MAX_HELD` or `MAX_HELD_BYTES`
    /// was reached.
    pub released_early: u64,
    /// What the held sessions take, as [`HeldSize`] counts it.
    held_bytes: usize,
}

impl<T: HeldSize> FailoverTracker<T> {
    pub fn new(window_s: f64) -> Self {
        FailoverTracker {
            window_s,
            held: VecDeque::new(),
            first: 0,
            waiting: HashMap::default(),
            clock: f64::MIN,
            released_early: 0,
            held_bytes: 0,
        }
    }

    /// Add a finished session; returns the sessions ready to be shown, in order. `finalize`
    /// turns a session no later session can change into its output while it waits behind a
    /// held one.
    pub fn push(
        &mut self,
        session: Session,
        verdicts: Vec<Verdict>,
        finalize: impl FnOnce(Session, Vec<Verdict>) -> T,
    ) -> Vec<Held<T>> {
        let mut ready = self.admit(&Brief::of(&session));
        let client = session.conn.client.ip;
        if may_fail_over(&verdicts) {
            self.held_bytes += session_size(&session);
            self.held.push_back(Held::Open(Box::new(session), verdicts));
            let list = self.waiting.entry(client).or_default();
            list.push_back(self.first + self.held.len() as u64 - 1);
            if list.len() > MAX_WAITING_PER_CLIENT {
                list.pop_front();
            }
        } else if self.held.is_empty() {
            ready.push(Held::Open(Box::new(session), verdicts));
        } else {
            // Keep the output in finishing order behind the held ones.
            let output = finalize(session, verdicts);
            self.held_bytes += output.held_size();
            self.held.push_back(Held::Final(output));
        }
        self.settle(&mut ready);
        ready
    }

    /// Add a session already turned into its output (rendered by a worker thread: no failover
    /// note can change it), with what a held failure's note needs of it.
    pub fn push_final(&mut self, brief: &Brief, output: T) -> Vec<Held<T>> {
        let mut ready = self.admit(brief);
        if self.held.is_empty() {
            ready.push(Held::Final(output));
        } else {
            self.held_bytes += output.held_size();
            self.held.push_back(Held::Final(output));
        }
        self.settle(&mut ready);
        ready
    }

    /// A new session: the clock moves, its client's held failures may name it, and those whose
    /// window passed are released.
    fn admit(&mut self, next: &Brief) -> Vec<Held<T>> {
        self.clock = self.clock.max(next.last.ts.as_secs_f64());
        self.annotate(next);
        self.release(false)
    }

    /// Releases past the caps, then whatever is releasable.
    fn settle(&mut self, ready: &mut Vec<Held<T>>) {
        while self.held.len() > MAX_HELD || self.held_bytes > MAX_HELD_BYTES {
            self.released_early += 1;
            ready.extend(self.pop());
        }
        ready.extend(self.release(false));
    }

    /// End of input: everything still held.
    pub fn finish(&mut self) -> Vec<Held<T>> {
        self.release(true)
    }

    /// The clock moved without a new session (live capture's timer): releases the held
    /// sessions whose window passed.
    pub fn tick(&mut self, now_s: f64) -> Vec<Held<T>> {
        self.clock = self.clock.max(now_s);
        self.release(false)
    }

    /// Sessions held now (whole or final).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Names `next` in the verdicts of the same client's held failures it is a failover of.
    fn annotate(&mut self, next: &Brief) {
        let Some(list) = self.waiting.get_mut(&next.client.ip) else { return };
        let first = self.first;
        list.retain(|&pos| {
            let Some(Held::Open(held, verdicts)) = pos.checked_sub(first).and_then(|i| self.held.get_mut(i as usize))
            else {
                return false;
            };
            let Some(to) = failover_to(held, verdicts, next, self.window_s) else { return true };
            for v in verdicts.iter_mut().filter(|v| v.code.props().fails_over) {
                v.failover = Some(to.clone());
                v.packets.push(next.first.number);
                v.packets.sort_unstable();
                v.packets.dedup();
            }
            false
        });
        if list.is_empty() {
            self.waiting.remove(&next.client.ip);
        }
    }

    fn release(&mut self, all: bool) -> Vec<Held<T>> {
        let mut out = Vec::new();
        while let Some(front) = self.held.front() {
            if let Held::Open(s, v) = front {
                let expired = self.clock > s.conn.last.ts.as_secs_f64() + self.window_s;
                if !all && may_fail_over(v) && !expired {
                    break;
                }
            }
            out.extend(self.pop());
        }
        out
    }

    /// Takes the oldest held session out, and out of the waiting lists.
    fn pop(&mut self) -> Option<Held<T>> {
        let held = self.held.pop_front()?;
        self.held_bytes -= match &held {
            Held::Open(s, _) => session_size(s),
            Held::Final(output) => output.held_size(),
        }
        .min(self.held_bytes);
        if let Held::Open(s, _) = &held {
            let client = s.conn.client.ip;
            if let Some(list) = self.waiting.get_mut(&client) {
                list.retain(|&pos| pos != self.first);
                if list.is_empty() {
                    self.waiting.remove(&client);
                }
            }
        }
        self.first += 1;
        Some(held)
    }
}

/// A failure after which the client may still fail over (not yet seen doing so): such a
/// session waits in the tracker, and a later one may add a note to it.
pub fn may_fail_over(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(|v| v.code.props().fails_over && v.failover.is_none())
}

/// Whether `next` is a failover of `failed`: the same client going to another server on the
/// same service port, soon after the failure was known. A session to another port, or one
/// opened before the failure (a scan's parallel probes), is not one.
fn failover_to(failed: &Session, verdicts: &[Verdict], next: &Brief, window_s: f64) -> Option<Failover> {
    let (a, b) = (&failed.conn, next);
    let same_client = a.client.ip == b.client.ip;
    let other_server = a.server.ip != b.server.ip;
    let same_service = a.server.port == b.server.port;
    let failure_seen = verdicts
        .iter()
        .filter(|v| v.code.props().fails_over)
        .flat_map(|v| v.packets.iter().copied())
        .filter(|&p| p <= a.last.number)
        .max()
        .unwrap_or(a.first.number);
    let delay = b.first.ts.secs_since(a.first.ts);
    let after_failure = b.first.number > failure_seen && delay >= 0.0 && b.first.ts.secs_since(a.last.ts) <= window_s;
    let already = failed.capture != next.capture;
    (same_client && other_server && same_service && after_failure && !already).then(|| Failover {
        server: b.server,
        session: next.id(),
        after_s: b.first.ts.secs_since(a.last.ts).max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{DiagnoseConfig, VerdictCode, diagnose};
    use crate::synth::{SERVER, SessionBuilder};

    /// A refused session to 198.51.100.25:25, then one from the same client to `next`; the
    /// first session's TCPREFUSE summary after both went through the tracker.
    fn first_summary(next: ([u8; 4], u16), gap_s: f64) -> String {
        let mut a = SessionBuilder::lab();
        a.handshake().rst(SERVER).wait(gap_s);
        let mut b = SessionBuilder::new(([203, 0, 113, 5], 41000), next);
        b.now = a.now;
        b.handshake().server("220 mx\r\n").close();
        a.frames.extend(b.frames);
        let mut tracker: FailoverTracker<String> = FailoverTracker::new(120.0);
        let mut out = Vec::new();
        for s in a.analyze() {
            let v = diagnose(&s, &DiagnoseConfig::default());
            out.extend(tracker.push(s, v, |_, _| String::new()));
        }
        out.extend(tracker.finish());
        let Some(Held::Open(_, v)) = out.into_iter().next() else { panic!("first session held whole") };
        v.iter().find(|v| v.code == VerdictCode::TcpRefuse).map(|v| v.summary().into_owned()).unwrap_or_default()
    }

    #[test]
    fn a_held_session_is_released_when_the_clock_passes_its_window() {
        let mut a = SessionBuilder::lab();
        a.handshake().rst(SERVER);
        let s = a.analyze().remove(0);
        let last = s.conn.last.ts.as_secs_f64();
        let v = diagnose(&s, &DiagnoseConfig::default());
        let mut tracker: FailoverTracker<String> = FailoverTracker::new(3.0);
        assert!(tracker.push(s, v, |_, _| String::new()).is_empty(), "held for the failover check");
        assert!(tracker.tick(last + 1.0).is_empty());
        assert_eq!(tracker.tick(last + 3.5).len(), 1, "released by the timer, no new session needed");
    }

    #[test]
    fn a_failover_is_kept_typed_and_shown_at_the_end_of_the_summary() {
        let mut v = vec![Verdict::new(VerdictCode::Tempfail, "temporary failure".into(), String::new(), vec![3])];
        assert!(may_fail_over(&v), "a tempfail waits for the client's next session");
        let server = crate::tcp::conn::Endpoint { ip: [198, 51, 100, 26].into(), port: 25 };
        v[0].failover = Some(Failover { server, session: "2".into(), after_s: 0.44 });
        assert!(!may_fail_over(&v), "seen failing over: nothing left to wait for");
        assert_eq!(
            v[0].summary(),
            "temporary failure; the client failed over to 198.51.100.26:25 (session 2) 0.4 s later"
        );
        assert_eq!(v[0].finding, "temporary failure");
    }

    #[test]
    fn failover_is_to_another_server_on_the_same_port() {
        assert!(first_summary(([198, 51, 100, 26], 25), 0.5).contains("failed over to 198.51.100.26:25"));
        assert!(!first_summary(([198, 51, 100, 26], 587), 0.5).contains("failed over"));
        assert!(!first_summary(([198, 51, 100, 26], 25), 200.0).contains("failed over"));
    }
}
