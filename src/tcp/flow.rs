//! The flow table: finds each packet's connection, keeps roles, feeds the two reassemblers and
//! hands every connection on when it ends — closed (plus a linger for late packets), idle, a
//! handshake that never completed, or evicted under the memory budget — so a capture of any
//! size streams in bounded memory.
//!
//! **Lean until the first payload byte.** A connection that has carried no payload (a SYN of a
//! flood, a refused SYN answered by a reset) keeps only the headers of its first packets
//! ([`Early`], about a hundred bytes). The connection tracker is created when a payload byte,
//! a FIN or one header too many arrives, and the kept headers are replayed through it first.
//! Both reassemblers and the application's state come later, in one box ([`state::Payload`],
//! as Suricata creates a flow's `alstate`), when a packet needs them: a payload byte, a FIN or
//! an acknowledgment of bytes the capture missed. Until then the tracker keeps where each
//! stream starts, so the result is the same as if everything had existed from the first packet.
//!
//! **One budget for every thread.** Connections fall into [`BUCKETS`] buckets by a hash of their
//! address pair with a fixed seed. Each bucket has a fixed share of the caps (`--memcap`,
//! `--max-flows`, `--max-buffer`) and its own eviction order, and `read --threads N` gives each
//! shard whole buckets, so what is evicted — and so the output — is the same for any number of
//! threads, and the caps hold for the whole process however many threads share them.

mod bucket;
mod config;
mod early;
mod expiry;
mod key;
mod ports;
mod process;
mod state;

use config::Waits;
pub use config::{DEFAULT_MEMCAP, DEFAULT_PORTS, TcpConfig};
pub use key::{BUCKETS, bucket_of, bucket_of_v4};

use super::conn::{ConnRecord, Endpoint, RoleBasis};
use super::reassembly::Reassembler;
use super::{Direction, PacketRef};
use crate::decode::Packet;
use bucket::{Bucket, Flows};
use early::{EARLY_HEADERS, Early, Header, early_wait, fits_early, header};
use key::FlowKey;
use ports::PortSet;
use process::{deliver, flush_pending, make_full, process, reuses_ports, wait};
use state::{Flow, Payload, State};
use std::cmp::Reverse;
use std::hash::BuildHasher;

/// Receives a connection's reassembled bytes, both directions interleaved in capture order.
pub trait StreamConsumer {
    fn on_data(&mut self, dir: Direction, data: &[u8], at: PacketRef);
    fn on_gap(&mut self, dir: Direction, len: u64, at: PacketRef);
}

/// Why a connection was handed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// FIN both ways or RST, and the linger passed (or a new SYN reused the ports).
    Closed,
    /// No packet for the idle timeout (or the half-open timeout, for a handshake that never
    /// completed).
    Idle,
    /// A cap (`--memcap`, `--max-flows`) was reached and this was the oldest idle flow.
    Evicted,
    /// The capture (or the live run) ended first.
    CaptureEnd,
}

/// Why a connection was handed on while handling a packet, in the order the table does it:
/// expired ones first, then one ended by a port reuse, then one evicted; `End` at end of input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FinishPhase {
    #[default]
    Expired,
    Reused,
    Evicted,
    End,
}

/// Where a connection's hand-on falls among those the same packet causes (phase, then the
/// deadline its heap popped it with). Only its order means anything outside the table: it keeps
/// the output the same with any number of shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandOnOrder(FinishPhase, i64);

pub struct Finished<A> {
    /// 1-based, in order of each connection's first packet (like tshark's tcp.stream + 1).
    pub index: u64,
    pub phase: FinishPhase,
    /// For `Expired` and `Evicted`: the deadline the bucket's heap popped it with (it orders a
    /// batch of connections ended by one packet, with the first packet number as tiebreak).
    pub deadline: i64,
    pub conn: ConnRecord,
    pub app: A,
    pub end: EndReason,
}

impl<A> Finished<A> {
    pub fn order(&self) -> HandOnOrder {
        HandOnOrder(self.phase, self.deadline)
    }
}

/// Counters for the totals line and the caps' warnings.
#[derive(Clone, Debug, Default)]
pub struct TableStats {
    pub tcp_packets: u64,
    /// TCP packets on ports outside the mail set.
    pub other_port_packets: u64,
    pub flows: u64,
    /// Open connections handed on early because a cap was reached.
    pub flows_evicted: u64,
    /// Of those, evicted by the memory budget (the rest by `--max-flows`).
    pub memcap_evictions: u64,
    pub max_open_flows: u64,
    /// Times the global buffer cap forced a flow past its holes.
    pub global_cap_flushes: u64,
    /// Packets of a connection already handed on after a clean close (within its linger).
    pub late_packets: u64,
}

pub struct FlowTable<A> {
    config: TcpConfig,
    /// `config`'s timeouts, in nanoseconds.
    waits: Waits,
    /// `config.ports`, for the per-packet test.
    mail_ports: PortSet,
    /// Every open connection (see `Flows`).
    flows: Flows<A>,
    buckets: Vec<Bucket>,
    /// foldhash instead of SipHash: a lookup per packet, and its per-process random seed still
    /// keeps crafted addresses from colliding on purpose (HashDoS).
    hasher: foldhash::fast::RandomState,
    /// No bucket has anything due before this (a lower bound, lowered by every push).
    next_due: i64,
    next_id: u64,
    open: usize,
    /// Connections expired by one packet, gathered from every bucket to be handed on in order.
    due: Vec<(i64, u64, FlowKey)>,
    /// Creates the application's state of a connection when it needs one (its first payload
    /// byte, or its end).
    make_app: AppFactory<A>,
    pub stats: TableStats,
}

pub type AppFactory<A> = Box<dyn FnMut(&Endpoint, &Endpoint) -> A + Send>;

/// A bucket's share of a cap, at least one (so the buckets together never exceed a cap of at
/// least `BUCKETS`).
fn share(total: usize) -> usize {
    (total / BUCKETS).max(1)
}

impl<A: StreamConsumer> FlowTable<A> {
    pub fn new(config: TcpConfig, make_app: AppFactory<A>) -> Self {
        FlowTable {
            make_app,
            mail_ports: PortSet::new(&config.ports),
            waits: Waits::of(&config),
            config,
            flows: Flows::new(),
            buckets: (0..BUCKETS).map(|_| Bucket::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            next_due: i64::MAX,
            next_id: 0,
            open: 0,
            due: Vec::new(),
            stats: TableStats::default(),
        }
    }

    pub fn open_flows(&self) -> usize {
        self.open
    }

    /// Connections handed on after a clean close whose linger has not ended.
    pub fn tombstones(&self) -> usize {
        self.buckets.iter().map(|b| b.closed.len()).sum()
    }

    /// Bytes charged to the memory budget by the connections open now.
    pub fn memory_used(&self) -> usize {
        self.buckets.iter().map(|b| b.used).sum()
    }

    /// Is either port a mail port (the packets this table tracks)?
    pub fn on_mail_port(&self, p: &Packet<'_>) -> bool {
        self.mail_ports.contains(p.src_port) || self.mail_ports.contains(p.dst_port)
    }

    fn schedule(&mut self, bucket: usize, deadline: i64, first: u64, key: FlowKey) {
        self.buckets[bucket].deadlines.push(Reverse((deadline, first, key)));
        self.next_due = self.next_due.min(deadline);
    }

    /// Handle one TCP packet; `done` receives every connection that ends.
    pub fn packet(&mut self, p: &Packet<'_>, done: &mut dyn FnMut(Finished<A>)) {
        self.stats.tcp_packets += 1;
        // The capture's clock is every packet's time, not only the mail ports' (issue 15).
        self.expire(p.ts, done);
        if !self.on_mail_port(p) {
            self.stats.other_port_packets += 1;
            return;
        }
        let key = FlowKey::of(p);
        let hash = self.hasher.hash_one(key);
        // The common case, one lookup: a packet of an open connection (not a SYN reusing the
        // ports of a closed one).
        let Self { flows, buckets, config, waits, stats, make_app, .. } = self;
        let (b, requeue) = match flows.find_mut(hash, |f| f.key == key) {
            Some(flow) if !reuses_ports(flow, p) => {
                let b = usize::from(flow.bucket);
                (b, update(flow, &mut buckets[b], config, waits, stats, make_app, p))
            }
            found => {
                let reused = found.is_some();
                let b = key.bucket();
                if !self.admit(b, key, hash, reused, p, done) {
                    return;
                }
                let Self { flows, buckets, config, waits, stats, make_app, .. } = self;
                let Some(flow) = flows.find_mut(hash, |f| f.key == key) else { return };
                (b, update(flow, &mut buckets[b], config, waits, stats, make_app, p))
            }
        };
        if let Some((deadline, first)) = requeue {
            // The packet closed the connection (or answered its SYN with a reset): its linger
            // ends before the deadline its heap entry holds, and that entry alone would keep it
            // open (and unreported) until then.
            self.schedule(b, deadline, first, key);
        }
        self.enforce_memcap(b, key, hash, done);
    }

    /// A packet of no open connection, or a SYN reusing a closed one's ports (`reused`, which
    /// hands that one on first): opens a connection for it unless it is a late packet of one
    /// handed on, or not a mail session. False when the packet has no connection to go to.
    #[cold]
    fn admit(
        &mut self,
        b: usize,
        key: FlowKey,
        hash: u64,
        reused: bool,
        p: &Packet<'_>,
        done: &mut dyn FnMut(Finished<A>),
    ) -> bool {
        if reused && let Some(flow) = self.buckets[b].remove(&mut self.flows, hash, &key) {
            self.open -= 1;
            self.finish(flow, EndReason::Closed, (FinishPhase::Reused, 0), done);
        }
        if self.is_late(b, key, p) {
            self.stats.late_packets += 1;
            return false;
        }
        if !self.server_on_mail_port(p) || self.buckets[b].not_mail.contains_key(&key) {
            // Counted as a TCP packet only: `other_port_packets` is what every shard of
            // `--threads` counts alike, and only one shard sees this packet.
            self.remember_not_mail(b, key, p);
            return false;
        }
        if self.buckets[b].open >= share(self.config.max_flows)
            && let Some((deadline, victim)) = self.buckets[b].pop_oldest(&self.flows, &self.hasher, None)
        {
            self.evict(b, deadline, victim, false, done);
        }
        let flow = self.new_flow(key, b, p);
        let hasher = &self.hasher;
        self.flows.insert_unique(hash, Box::new(flow), |f| hasher.hash_one(f.key));
        self.buckets[b].open += 1;
        self.open += 1;
        self.stats.flows += 1;
        self.stats.max_open_flows = self.stats.max_open_flows.max(self.open as u64);
        true
    }

    fn new_flow(&mut self, key: FlowKey, bucket: usize, p: &Packet<'_>) -> Flow<A> {
        let (src_is_client, basis) = self.roles(p);
        let client_is_a = key.sent_by_a(p) == src_is_client;
        self.next_id += 1;
        let early = Early { headers: [Header::default(); EARLY_HEADERS], len: 0, client_is_a, basis };
        // No deadline until the packet is handled (which queues it); a first packet with
        // payload or a FIN does not fit the early state, so the full one is made for it.
        let bucket = bucket as u8;
        Flow {
            key,
            bucket,
            id: self.next_id,
            first: p.number,
            deadline: i64::MAX,
            charged: 0,
            state: State::Early(early),
        }
    }

    /// A connection whose responder is not on a mail port stays out of the table, however its
    /// later packets look (an ACK alone would make the initiator's mail port the server's).
    /// Remembered for the idle timeout, at most the bucket's share of `max_flows` of them.
    fn remember_not_mail(&mut self, b: usize, key: FlowKey, p: &Packet<'_>) {
        let cap = share(self.config.max_flows);
        let until = p.ts.0.saturating_add(self.waits.idle);
        let bucket = &mut self.buckets[b];
        if bucket.not_mail.get(&key).is_some_and(|t| *t > p.ts.0) {
            return;
        }
        while bucket.not_mail_order.front().is_some_and(|(t, _)| *t <= p.ts.0) || bucket.not_mail_order.len() >= cap {
            if let Some((t, k)) = bucket.not_mail_order.pop_front()
                && bucket.not_mail.get(&k) == Some(&t)
            {
                bucket.not_mail.remove(&k);
            }
        }
        bucket.not_mail.insert(key, until);
        bucket.not_mail_order.push_back((until, key));
    }

    /// The mail side is the responder (the SYN's destination), or without a SYN the side that
    /// speaks SMTP replies: a mail port on the initiator's side alone (an FTP client on port
    /// 2525, a scan from port 25) does not make a mail session.
    fn server_on_mail_port(&self, p: &Packet<'_>) -> bool {
        let server_port = if self.roles(p).0 { p.dst_port } else { p.src_port };
        self.mail_ports.contains(server_port)
    }

    /// Is the sender of the connection's first packet the client?
    fn roles(&self, p: &Packet<'_>) -> (bool, RoleBasis) {
        let f = p.flags;
        if f.syn() && !f.ack() {
            return (true, RoleBasis::Syn);
        }
        if f.syn() && f.ack() {
            return (false, RoleBasis::Synack);
        }
        if let Some(hint) = self.config.server_payload_hint.filter(|_| !p.payload.is_empty()) {
            return (!hint(p.payload), RoleBasis::Reply);
        }
        let src_mail = self.mail_ports.contains(p.src_port);
        let dst_mail = self.mail_ports.contains(p.dst_port);
        match (src_mail, dst_mail) {
            (false, true) => (true, RoleBasis::Port),
            (true, false) => (false, RoleBasis::Port),
            // Both are mail ports: the lower one is more likely the listening one.
            _ => (p.src_port > p.dst_port, RoleBasis::Port),
        }
    }

    /// End of input: hand on every open connection, oldest first (deterministic order).
    pub fn finish_all(&mut self, done: &mut dyn FnMut(Finished<A>)) {
        let mut flows: Vec<Box<Flow<A>>> = self.flows.drain().collect();
        self.buckets.iter_mut().for_each(|bucket| *bucket = Bucket::default());
        flows.sort_by_key(|f| f.first);
        self.open = 0;
        self.next_due = i64::MAX;
        for flow in flows {
            let end = if flow.is_closed() { EndReason::Closed } else { EndReason::CaptureEnd };
            self.finish(flow, end, (FinishPhase::End, 0), done);
        }
    }

    /// Hands `flow` on. It stays in its box until the end: the record and the application's
    /// state are taken out of it, not the whole connection (a copy of a few kilobytes).
    fn finish(
        &mut self,
        mut flow: Box<Flow<A>>,
        end: EndReason,
        (phase, deadline): (FinishPhase, i64),
        done: &mut dyn FnMut(Finished<A>),
    ) {
        let full = make_full(&self.config, &mut flow, None, &mut self.make_app);
        let at = full.tracker.last;
        // A connection that never carried a byte gets its application's state now, to make its
        // record from (it is handed nothing).
        let Payload { reasm, app } = full.payload(&mut self.make_app);
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            reasm[dir.index()].flush(at, &mut |c, at| deliver(app, dir, c, at));
        }
        let stats = [reasm[0].take_stats(), reasm[1].take_stats()];
        let conn = full.tracker.take_record(stats);
        let Some(payload) = full.payload.take() else { unreachable!("made above") };
        let Payload { app, .. } = *payload;
        done(Finished { index: flow.id, phase, deadline, conn, app, end });
    }
}

/// One packet of connection `flow` (of `bucket`): kept in its early state or handled in full,
/// and its deadline and charge brought up to date. Returns the new deadline and first packet
/// number when the deadline came earlier than the one its heap entry holds. Always inlined:
/// left a call (it has two callers, one of them cold), passing its seven arguments and saving
/// registers cost more per packet than the copy in the cold path.
#[inline(always)]
fn update<A: StreamConsumer>(
    flow: &mut Flow<A>,
    bucket: &mut Bucket,
    config: &TcpConfig,
    waits: &Waits,
    stats: &mut TableStats,
    make_app: &mut AppFactory<A>,
    p: &Packet<'_>,
) -> Option<(i64, u64)> {
    let (before, deadline) = (flow.buffered(), flow.deadline);
    let new_deadline = match &mut flow.state {
        State::Early(e) if fits_early(e, p) => {
            e.headers[usize::from(e.len)] = header(&flow.key, p);
            e.len += 1;
            p.ts.0.saturating_add(early_wait(waits, e))
        }
        _ => {
            let allocated = crate::heap::thread_allocated();
            if let State::Early(_) = flow.state {
                make_full(config, flow, Some(p), make_app);
            }
            let State::Full(full) = &mut flow.state else { unreachable!("made full above") };
            process(config, full, p, make_app);
            let new_deadline = p.ts.0.saturating_add(wait(waits, full));
            if new_deadline < deadline
                && full.is_closed()
                && let Some(payload) = &mut full.payload
            {
                // Lingering for late packets only: its segment history is not worth its memory.
                payload.reasm.iter_mut().for_each(Reassembler::release_history);
            }
            bucket.buffered = bucket.buffered - before.min(bucket.buffered) + full.buffered;
            if bucket.buffered > share(config.max_buffered_total) {
                stats.global_cap_flushes += 1;
                flush_pending(full);
                bucket.buffered -= full.buffered.min(bucket.buffered);
                full.buffered = 0;
            }
            full.kept_since(allocated);
            new_deadline
        }
    };
    flow.deadline = new_deadline;
    let charge = flow.charge();
    bucket.used = bucket.used - flow.charged + charge;
    flow.charged = charge;
    (flow.deadline < deadline).then_some((flow.deadline, flow.first))
}

#[cfg(test)]
mod lean_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
