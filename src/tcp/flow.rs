//! The flow table: finds each packet's connection, keeps roles, feeds the two reassemblers and
//! hands every connection on when it ends — closed (plus a linger for late packets), idle, or
//! evicted because the table is full — so a capture of any size streams in bounded memory.

use super::conn::{ConnRecord, ConnTracker, Endpoint, RoleBasis};
use super::events::EventLog;
use super::reassembly::{Chunk, Reassembler, ReassemblyLimits, SegmentClass};
use super::seq::SeqNumber;
use super::{Direction, PacketRef};
use crate::capture::Timestamp;
use crate::decode::Packet;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;

/// Receives a connection's reassembled bytes, both directions interleaved in capture order.
pub trait StreamConsumer {
    fn on_data(&mut self, dir: Direction, data: &[u8], at: PacketRef);
    fn on_gap(&mut self, dir: Direction, len: u64, at: PacketRef);
}

#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// A connection is tracked when either port is in this set.
    pub ports: Vec<u16>,
    pub limits: ReassemblyLimits,
    /// Cap on out-of-order bytes buffered by all flows together.
    pub max_buffered_total: usize,
    pub max_flows: usize,
    /// Seconds without a packet after which an open connection is handed on.
    pub idle_timeout_s: f64,
    /// Seconds a closed connection waits for late packets (retransmitted FIN, final ACK, RST).
    pub linger_s: f64,
    /// Seconds a connection whose FINs were both acknowledged (nothing more is owed either way)
    /// waits before it is handed on; for the rest of `linger_s` a tombstone absorbs late
    /// packets. Lingering whole, thousands of finished sessions held a third of the memory.
    pub close_grace_s: f64,
    /// Packet events kept per connection for ladders and rules.
    pub max_events: usize,
    /// Keep only the packets rules need, not every packet for a ladder (see `tcp::events`).
    pub compact_events: bool,
    /// Recognises payload only a server sends (an SMTP reply), for captures that start mid-session.
    pub server_payload_hint: Option<fn(&[u8]) -> bool>,
}

pub const DEFAULT_PORTS: [u16; 4] = [25, 465, 587, 2525];

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            ports: DEFAULT_PORTS.to_vec(),
            limits: ReassemblyLimits::default(),
            max_buffered_total: 256 << 20,
            max_flows: 200_000,
            idle_timeout_s: 600.0,
            linger_s: 5.0,
            close_grace_s: 1.0,
            max_events: 20_000,
            compact_events: false,
            server_payload_hint: None,
        }
    }
}

/// Why a connection was handed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// FIN both ways or RST, and the linger passed (or a new SYN reused the ports).
    Closed,
    /// No packet for the idle timeout.
    Idle,
    /// The flow table was full and this was the oldest idle flow.
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

pub struct Finished<A> {
    /// 1-based, in order of each connection's first packet (like tshark's tcp.stream + 1).
    pub index: u64,
    pub phase: FinishPhase,
    /// For `Expired`: the deadline the table's heap popped it with (it orders a batch of
    /// connections expired by one packet, with the first packet number as tiebreak).
    pub deadline: i64,
    pub conn: ConnRecord,
    pub app: A,
    pub end: EndReason,
}

/// Counters for the totals line and the caps' warnings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableStats {
    pub tcp_packets: u64,
    /// TCP packets on ports outside the mail set.
    pub other_port_packets: u64,
    pub flows: u64,
    pub flows_evicted: u64,
    pub max_open_flows: u64,
    /// Times the global buffer cap forced a flow past its holes.
    pub global_cap_flushes: u64,
    /// Packets of a connection already handed on after a clean close (within its linger).
    pub late_packets: u64,
}

/// Both directions of a connection map to the same key. Addresses are kept as 16 bytes
/// (IPv4 in the low four, with a family flag) so that hashing and comparing a key, once per
/// packet, is a plain byte compare instead of a walk through `IpAddr`'s enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FlowKey {
    v6: bool,
    a: ([u8; 16], u16),
    b: ([u8; 16], u16),
}

fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0; 16];
            b[12..].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl FlowKey {
    fn of(p: &Packet<'_>) -> FlowKey {
        // Same order as comparing (IpAddr, port): both ends are of one family.
        let (s, d) = ((addr_bytes(p.src), p.src_port), (addr_bytes(p.dst), p.dst_port));
        let v6 = p.src.is_ipv6();
        if s <= d { FlowKey { v6, a: s, b: d } } else { FlowKey { v6, a: d, b: s } }
    }
}

struct Flow<A> {
    id: u64,
    tracker: ConnTracker,
    reasm: [Reassembler; 2],
    app: A,
    deadline: i64,
    buffered: usize,
}

pub struct FlowTable<A> {
    config: TcpConfig,
    /// Boxed: a flow is kilobytes, and a map sized for the largest flood would otherwise hold
    /// (and, while growing, copy) that much per slot whether the slot is used or not.
    /// foldhash instead of SipHash: a lookup per packet, and its per-process random seed still
    /// keeps crafted addresses from colliding on purpose (HashDoS).
    flows: HashMap<FlowKey, Box<Flow<A>>, foldhash::fast::RandomState>,
    /// Earliest deadline first; entries may be stale (checked against the flow when popped).
    /// Entries are (deadline, first packet number, id, key): the first packet number, not the
    /// table-local id, breaks ties, so the order is the same whatever shard a flow lands in.
    deadlines: BinaryHeap<Reverse<(i64, u64, u64, FlowKey)>>,
    next_id: u64,
    buffered_total: usize,
    /// Connections handed on after a clean close, until their linger ends: the time it ends
    /// and the client's ISN (a SYN with another one opens a new connection).
    closed: HashMap<FlowKey, (i64, Option<u32>), foldhash::fast::RandomState>,
    /// The same, in the order they end (all wait the same time, so insertion order is it).
    closed_order: VecDeque<(i64, FlowKey)>,
    /// Connections on a mail port whose responder is not on one, until when (see
    /// `remember_not_mail`), and the same in insertion order.
    not_mail: HashMap<FlowKey, i64, foldhash::fast::RandomState>,
    not_mail_order: VecDeque<(i64, FlowKey)>,
    pub stats: TableStats,
}

fn secs_to_nanos(s: f64) -> i64 {
    (s * 1e9) as i64
}

impl<A: StreamConsumer> FlowTable<A> {
    pub fn new(config: TcpConfig) -> Self {
        FlowTable {
            config,
            flows: HashMap::default(),
            deadlines: BinaryHeap::new(),
            next_id: 0,
            buffered_total: 0,
            closed: HashMap::default(),
            closed_order: VecDeque::new(),
            not_mail: HashMap::default(),
            not_mail_order: VecDeque::new(),
            stats: TableStats::default(),
        }
    }

    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// Connections handed on after a clean close whose linger has not ended.
    pub fn tombstones(&self) -> usize {
        self.closed.len()
    }

    /// Is either port a mail port (the packets this table tracks)?
    pub fn on_mail_port(&self, p: &Packet<'_>) -> bool {
        self.config.ports.contains(&p.src_port) || self.config.ports.contains(&p.dst_port)
    }

    /// Handle one TCP packet. `make_app` creates the consumer of a new connection; `done`
    /// receives every connection that ends.
    pub fn packet(
        &mut self,
        p: &Packet<'_>,
        make_app: &mut dyn FnMut(&Endpoint, &Endpoint) -> A,
        done: &mut dyn FnMut(Finished<A>),
    ) {
        self.stats.tcp_packets += 1;
        // The capture's clock is every packet's time, not only the mail ports' (issue 15).
        self.expire(p.ts, done);
        if !self.config.ports.contains(&p.src_port) && !self.config.ports.contains(&p.dst_port) {
            self.stats.other_port_packets += 1;
            return;
        }
        let key = FlowKey::of(p);
        // One lookup for the common case (a packet of a known, open connection).
        if let Some(flow) = self.flows.get_mut(&key)
            && !reuses_ports(flow, p)
        {
            let requeue = handle(&self.config, &mut self.buffered_total, &mut self.stats, flow, p);
            self.deadlines.extend(requeue.map(|(deadline, first, id)| Reverse((deadline, first, id, key))));
            return;
        }
        self.end_if_reused(key, p, done);
        if self.is_late(key, p) {
            self.stats.late_packets += 1;
            return;
        }
        if !self.flows.contains_key(&key) {
            if !self.server_on_mail_port(p) || self.not_mail.contains_key(&key) {
                // Counted as a TCP packet only: `other_port_packets` is what every shard of
                // `--threads` counts alike, and only one shard sees this packet.
                self.remember_not_mail(key, p);
                return;
            }
            if self.flows.len() >= self.config.max_flows {
                self.evict_oldest(done);
            }
            let flow = self.new_flow(p, make_app);
            self.deadlines.push(Reverse((flow.deadline, p.number, flow.id, key)));
            self.flows.insert(key, Box::new(flow));
            self.stats.flows += 1;
            self.stats.max_open_flows = self.stats.max_open_flows.max(self.flows.len() as u64);
        }
        if let Some(flow) = self.flows.get_mut(&key) {
            let requeue = handle(&self.config, &mut self.buffered_total, &mut self.stats, flow, p);
            self.deadlines.extend(requeue.map(|(deadline, first, id)| Reverse((deadline, first, id, key))));
        }
    }

    /// A packet of a connection handed on after a clean close, within its linger. A SYN with a
    /// new sequence number opens a new connection instead.
    fn is_late(&mut self, key: FlowKey, p: &Packet<'_>) -> bool {
        let Some(&(_, isn)) = self.closed.get(&key) else { return false };
        if p.flags.syn() && !p.flags.ack() && isn != Some(p.seq) {
            self.closed.remove(&key);
            return false;
        }
        true
    }

    /// Leaves a tombstone for a connection handed on after a clean close. As many as
    /// `max_flows` are kept: a flood of short connections must not grow them without end (the
    /// oldest go first; a late packet of one gone becomes a session of its own).
    fn bury(&mut self, key: FlowKey, until: i64, client_isn: Option<u32>) {
        // The order queue also holds entries outdated by a later burial: it is capped too.
        while self.closed.len() >= self.config.max_flows || self.closed_order.len() >= 2 * self.config.max_flows {
            if !self.unbury_oldest() {
                break;
            }
        }
        self.closed.insert(key, (until, client_isn));
        self.closed_order.push_back((until, key));
    }

    /// Drops the oldest entry of the order queue, and its tombstone unless a later burial of
    /// the same connection replaced it. False when there was none.
    fn unbury_oldest(&mut self) -> bool {
        let Some((until, key)) = self.closed_order.pop_front() else { return false };
        if self.closed.get(&key).is_some_and(|(u, _)| *u == until) {
            self.closed.remove(&key);
        }
        true
    }

    /// A SYN with a new sequence number on a closed connection's ports opens a new connection.
    fn end_if_reused(&mut self, key: FlowKey, p: &Packet<'_>, done: &mut dyn FnMut(Finished<A>)) {
        let reused = self.flows.get(&key).is_some_and(|f| reuses_ports(f, p));
        if let Some(flow) = reused.then(|| self.flows.remove(&key)).flatten() {
            self.finish(*flow, EndReason::Closed, (FinishPhase::Reused, 0), done);
        }
    }

    fn new_flow(&mut self, p: &Packet<'_>, make_app: &mut dyn FnMut(&Endpoint, &Endpoint) -> A) -> Flow<A> {
        let src = Endpoint { ip: p.src, port: p.src_port };
        let dst = Endpoint { ip: p.dst, port: p.dst_port };
        let (src_is_client, basis) = self.roles(p);
        let (client, server) = if src_is_client { (src, dst) } else { (dst, src) };
        let at = PacketRef { number: p.number, ts: p.ts };
        self.next_id += 1;
        Flow {
            id: self.next_id,
            tracker: ConnTracker::new(
                client,
                server,
                basis,
                at,
                src,
                EventLog::new(self.config.max_events, self.config.compact_events),
            ),
            reasm: [Reassembler::new(), Reassembler::new()],
            app: make_app(&client, &server),
            deadline: p.ts.0.saturating_add(secs_to_nanos(self.config.idle_timeout_s)),
            buffered: 0,
        }
    }

    /// A connection whose responder is not on a mail port stays out of the table, however its
    /// later packets look (an ACK alone would make the initiator's mail port the server's).
    /// Remembered for the idle timeout, at most `max_flows` of them.
    fn remember_not_mail(&mut self, key: FlowKey, p: &Packet<'_>) {
        if self.not_mail.get(&key).is_some_and(|t| *t > p.ts.0) {
            return;
        }
        let until = p.ts.0.saturating_add(secs_to_nanos(self.config.idle_timeout_s));
        while self.not_mail_order.front().is_some_and(|(t, _)| *t <= p.ts.0)
            || self.not_mail_order.len() >= self.config.max_flows.max(1)
        {
            if let Some((t, k)) = self.not_mail_order.pop_front()
                && self.not_mail.get(&k) == Some(&t)
            {
                self.not_mail.remove(&k);
            }
        }
        self.not_mail.insert(key, until);
        self.not_mail_order.push_back((until, key));
    }

    /// The mail side is the responder (the SYN's destination), or without a SYN the side that
    /// speaks SMTP replies: a mail port on the initiator's side alone (an FTP client on port
    /// 2525, a scan from port 25) does not make a mail session.
    fn server_on_mail_port(&self, p: &Packet<'_>) -> bool {
        let server_port = if self.roles(p).0 { p.dst_port } else { p.src_port };
        self.config.ports.contains(&server_port)
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
        let src_mail = self.config.ports.contains(&p.src_port);
        let dst_mail = self.config.ports.contains(&p.dst_port);
        match (src_mail, dst_mail) {
            (false, true) => (true, RoleBasis::Port),
            (true, false) => (false, RoleBasis::Port),
            // Both are mail ports: the lower one is more likely the listening one.
            _ => (p.src_port > p.dst_port, RoleBasis::Port),
        }
    }

    /// Hand on every connection whose deadline has passed at capture time `now`.
    pub fn expire(&mut self, now: Timestamp, done: &mut dyn FnMut(Finished<A>)) {
        while self.closed_order.front().is_some_and(|(until, _)| *until <= now.0) {
            self.unbury_oldest();
        }
        while let Some(&Reverse((deadline, first, id, key))) = self.deadlines.peek() {
            if deadline > now.0 {
                break;
            }
            self.deadlines.pop();
            let Some(flow) = self.flows.get(&key).filter(|f| f.id == id) else { continue };
            if flow.deadline > now.0 {
                self.deadlines.push(Reverse((flow.deadline, first, id, key)));
                continue;
            }
            if let Some(flow) = self.flows.remove(&key) {
                let end = if flow.tracker.is_closed() { EndReason::Closed } else { EndReason::Idle };
                let until = flow.tracker.last.ts.0.saturating_add(secs_to_nanos(self.config.linger_s));
                if end == EndReason::Closed && until > now.0 {
                    self.bury(key, until, flow.tracker.client_isn());
                }
                self.finish(*flow, end, (FinishPhase::Expired, deadline), done);
            }
        }
    }

    fn evict_oldest(&mut self, done: &mut dyn FnMut(Finished<A>)) {
        while let Some(Reverse((deadline, first, id, key))) = self.deadlines.pop() {
            let Some(flow) = self.flows.get(&key).filter(|f| f.id == id) else { continue };
            if flow.deadline > deadline {
                self.deadlines.push(Reverse((flow.deadline, first, id, key)));
                continue;
            }
            if let Some(flow) = self.flows.remove(&key) {
                self.stats.flows_evicted += 1;
                self.finish(*flow, EndReason::Evicted, (FinishPhase::Evicted, 0), done);
            }
            return;
        }
    }

    /// End of input: hand on every open connection, oldest first (deterministic order).
    pub fn finish_all(&mut self, done: &mut dyn FnMut(Finished<A>)) {
        let mut flows: Vec<Box<Flow<A>>> = self.flows.drain().map(|(_, f)| f).collect();
        flows.sort_by_key(|f| f.tracker.first.number);
        self.deadlines.clear();
        self.closed.clear();
        self.closed_order.clear();
        for flow in flows {
            let end = if flow.tracker.is_closed() { EndReason::Closed } else { EndReason::CaptureEnd };
            self.finish(*flow, end, (FinishPhase::End, 0), done);
        }
    }

    fn finish(
        &mut self,
        mut flow: Flow<A>,
        end: EndReason,
        (phase, deadline): (FinishPhase, i64),
        done: &mut dyn FnMut(Finished<A>),
    ) {
        self.buffered_total = self.buffered_total.saturating_sub(flow.buffered);
        let at = flow.tracker.last;
        let Flow { reasm, app, tracker, .. } = &mut flow;
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            reasm[dir.index()].flush(at, &mut |c, at| deliver(app, tracker, dir, c, at));
        }
        let stats = [std::mem::take(&mut reasm[0].stats), std::mem::take(&mut reasm[1].stats)];
        done(Finished { index: flow.id, phase, deadline, conn: flow.tracker.into_record(stats), app: flow.app, end });
    }
}

/// One packet of a tracked connection, then the global cap on buffered out-of-order bytes.
/// Returns the deadline entry to queue when the packet closed the connection: its linger ends
/// before the idle timeout its heap entry holds, and that entry alone would keep it open (and
/// unreported) until then.
fn handle<A: StreamConsumer>(
    config: &TcpConfig,
    buffered_total: &mut usize,
    stats: &mut TableStats,
    flow: &mut Flow<A>,
    p: &Packet<'_>,
) -> Option<(i64, u64, u64)> {
    let (before, deadline) = (flow.buffered, flow.deadline);
    process(config, flow, p);
    let requeue = (flow.deadline < deadline).then(|| (flow.deadline, flow.tracker.first_number(), flow.id));
    if requeue.is_some() && flow.tracker.is_closed() {
        // Lingering for late packets only: its segment history is not worth its memory.
        flow.reasm.iter_mut().for_each(Reassembler::release_history);
    }
    *buffered_total = *buffered_total - before + flow.buffered;
    if *buffered_total > config.max_buffered_total {
        stats.global_cap_flushes += 1;
        flush_pending(flow);
        *buffered_total -= before.max(flow.buffered).min(*buffered_total);
        flow.buffered = 0;
    }
    requeue
}

/// A SYN with a new sequence number on a closed connection's ports opens a new connection.
fn reuses_ports<A>(f: &Flow<A>, p: &Packet<'_>) -> bool {
    p.flags.syn() && !p.flags.ack() && f.tracker.is_closed() && f.tracker.client_isn() != Some(p.seq)
}

fn deliver<A: StreamConsumer>(app: &mut A, tracker: &mut ConnTracker, dir: Direction, chunk: Chunk<'_>, at: PacketRef) {
    match chunk {
        Chunk::Data(d) => {
            tracker.content_data(dir);
            app.on_data(dir, d, at)
        }
        Chunk::Gap(n) => {
            tracker.content_gap(dir);
            app.on_gap(dir, n, at)
        }
    }
}

fn flush_pending<A: StreamConsumer>(flow: &mut Flow<A>) {
    let at = flow.tracker.last;
    let Flow { reasm, app, tracker, .. } = flow;
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        reasm[dir.index()].flush_pending(at, &mut |c, at| deliver(app, tracker, dir, c, at));
    }
}

/// One packet of a known connection: header facts, then the peer's ACK (which may reveal bytes
/// the capture missed in the other direction), then this packet's own payload.
fn process<A: StreamConsumer>(config: &TcpConfig, flow: &mut Flow<A>, p: &Packet<'_>) {
    let dir = flow.tracker.direction_of(p);
    let duplicate = flow.tracker.is_duplicate(p, dir);
    flow.tracker.observe(p, dir, duplicate);
    let at = PacketRef { number: p.number, ts: p.ts };
    let Flow { reasm, app, tracker, .. } = &mut *flow;
    let other = dir.reverse();
    // A reset's acknowledgment field is not evidence of delivery (middleboxes forge resets).
    if p.flags.ack() && !p.flags.rst() {
        reasm[other.index()].acked(SeqNumber(p.ack), at, &mut |c, at| deliver(app, tracker, other, c, at));
    }
    let r = &mut reasm[dir.index()];
    if duplicate && !p.flags.rst() {
        r.expect_duplicate();
    }
    let mut seq = SeqNumber(p.seq);
    if p.flags.syn() {
        r.syn(seq);
        seq = seq.plus(1);
    }
    let mut gap_bytes = 0;
    let class = if p.flags.rst() {
        SegmentClass::Empty
    } else {
        let mut sink = |c: Chunk<'_>, at| {
            if let Chunk::Gap(n) = c {
                gap_bytes += n;
            }
            deliver(app, tracker, dir, c, at)
        };
        r.segment(seq, p.payload, p.missing, p.flags.fin(), at, &config.limits, &mut sink)
    };
    let class = if duplicate { SegmentClass::Duplicate } else { class };
    tracker.push_event(p, dir, class, gap_bytes);
    tracker.after_reassembly(p, dir);
    let wait = if !tracker.is_closed() {
        config.idle_timeout_s
    } else if !tracker.reset_seen() && reasm.iter().all(Reassembler::fin_acked) {
        config.close_grace_s.min(config.linger_s)
    } else {
        config.linger_s
    };
    flow.deadline = p.ts.0.saturating_add(secs_to_nanos(wait));
    flow.buffered = flow.reasm[0].buffered_bytes() + flow.reasm[1].buffered_bytes();
}

#[cfg(test)]
mod tests {
    use crate::synth::{CLIENT, SERVER, SessionBuilder};
    use crate::tcp::conn::{CloseKind, Handshake, Role};
    use crate::tcp::flow::EndReason;

    #[test]
    fn syn_retries_are_one_connection_with_a_syn_count() {
        let mut b = SessionBuilder::lab();
        b.syn().wait(1.0).syn().wait(2.0);
        b.handshake().server("220 hi\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
        let s = b.analyze();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].conn.syn_count, 3);
        assert_eq!(s[0].conn.handshake, Handshake::Complete);
        assert_eq!(s[0].smtp.replies, [220, 221]);
    }

    #[test]
    fn simultaneous_close_is_closed_by_whoever_came_first() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 hi\r\n").fin(SERVER).fin(CLIENT).ack(SERVER).ack(CLIENT);
        let s = &b.analyze()[0];
        assert_eq!(s.conn.closed_by, Some((Role::Server, CloseKind::Fin)));
        assert_eq!(s.conn.zeek_conn_state, "SF");
        assert_eq!(s.end, EndReason::Closed);
    }

    #[test]
    fn rst_mid_stream_ends_the_session_and_keeps_the_dialogue() {
        let mut b = SessionBuilder::lab();
        b.handshake()
            .server("220 hi\r\n")
            .client("EHLO a\r\n")
            .server("250 ok\r\n")
            .client("MAIL FROM:<a@b>\r\n")
            .rst(CLIENT);
        let s = &b.analyze()[0];
        assert_eq!(s.conn.closed_by, Some((Role::Client, CloseKind::Rst)));
        assert_eq!(s.smtp.commands, ["EHLO", "MAIL"]);
        assert_eq!(s.conn.zeek_conn_state, "RSTO");
    }

    #[test]
    fn a_new_syn_on_the_same_ports_after_close_is_a_new_session() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 one\r\n").close().wait(1.0);
        let mut second = SessionBuilder::lab().at_isn(900_000, 80_000);
        second.handshake().server("220 two\r\n").close();
        b.frames.extend(second.frames.into_iter().map(|(ts, f)| (crate::capture::Timestamp(ts.0 + 2_000_000_000), f)));
        let s = b.analyze();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].smtp.banner.as_ref().unwrap().text, "one");
        assert_eq!(s[1].smtp.banner.as_ref().unwrap().text, "two");
    }

    /// Runs `b` and returns its sessions, with the flow table's late-packet count.
    fn analyze_counting_late(b: &SessionBuilder) -> (Vec<crate::session::Session>, u64) {
        let mut sessions = Vec::new();
        let config = crate::session::AnalyzerConfig::default();
        let mut analyzer = crate::session::Analyzer::new("synthetic", config, |s| {
            sessions.push(s);
            std::ops::ControlFlow::Continue(())
        });
        let _ = crate::capture::read_bytes("synthetic", &b.pcap(), &mut analyzer as &mut dyn crate::capture::FrameSink);
        analyzer.finish();
        let late = analyzer.table_stats().late_packets;
        drop(analyzer);
        (sessions, late)
    }

    #[test]
    fn a_clean_close_is_handed_on_after_the_grace_and_late_packets_do_not_start_a_session() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 hi\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
        // Within the grace: still part of the session (a second copy of the last ACK, say).
        b.wait(0.5).ack(CLIENT);
        // After the grace, inside the linger: a late retransmitted FIN is absorbed, not a session.
        let (fin_seq, ack) = (b.next_seq(SERVER) - 1, b.next_seq(CLIENT));
        b.wait(2.0).raw(SERVER, 0x11, fin_seq, ack, b"", 63);
        // A packet after the whole linger is a new (midstream) connection again.
        b.wait(10.0).ack(CLIENT);
        let (s, late) = analyze_counting_late(&b);
        assert_eq!(late, 1);
        assert_eq!(s.len(), 2, "the session, then the packet after the linger");
        assert_eq!(s[0].end, EndReason::Closed);
        // Handshake 3, dialogue 3, close 4, and the copy within the grace.
        assert_eq!(s[0].conn.dirs[0].packets + s[0].conn.dirs[1].packets, 11);
        assert_eq!(s[1].conn.handshake, Handshake::Midstream);
    }

    #[test]
    fn tombstones_are_capped_like_flows() {
        let mut b = SessionBuilder::lab();
        for i in 0..10u16 {
            let mut one = SessionBuilder::new(([10, 0, 0, 1], 40000 + i), ([10, 0, 0, 2], 25));
            one.handshake().server("220 hi\r\n").close();
            // Ten connections 0.6 s apart: at most two in their 1 s grace at once, but up to
            // nine in their 5 s linger.
            let shift = i64::from(i) * 600_000_000;
            b.frames.extend(one.frames.into_iter().map(|(ts, f)| (crate::capture::Timestamp(ts.0 + shift), f)));
        }
        let mut config = crate::session::AnalyzerConfig::default();
        config.tcp.max_flows = 3;
        let mut most = 0;
        let mut analyzer = crate::session::Analyzer::new("synthetic", config, |_| std::ops::ControlFlow::Continue(()));
        let pcap = b.pcap();
        struct Watch<'a, F: FnMut(crate::session::Session) -> std::ops::ControlFlow<()>>(
            &'a mut crate::session::Analyzer<F>,
            &'a mut usize,
        );
        impl<F: FnMut(crate::session::Session) -> std::ops::ControlFlow<()>> crate::capture::FrameSink for Watch<'_, F> {
            fn frame(&mut self, frame: &crate::capture::Frame<'_>) -> std::ops::ControlFlow<()> {
                let flow = self.0.frame(frame);
                *self.1 = (*self.1).max(self.0.tombstones());
                flow
            }
            fn warning(&mut self, w: crate::capture::CaptureWarning) {
                self.0.warning(w);
            }
        }
        let _ = crate::capture::read_bytes("synthetic", &pcap, &mut Watch(&mut analyzer, &mut most));
        assert_eq!(most, 3, "at most --max-flows tombstones, and the cap was reached");
    }

    #[test]
    fn a_reset_close_lingers_whole() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 hi\r\n").rst(SERVER).wait(3.0).rst(CLIENT);
        let (s, late) = analyze_counting_late(&b);
        assert_eq!((s.len(), late), (1, 0));
        assert_eq!(s[0].conn.dirs[0].packets, 3, "SYN, ACK and the reset 3 s later");
    }

    #[test]
    fn a_lost_client_segment_becomes_a_gap_and_the_dialogue_resyncs() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 hi\r\n").client("EHLO a\r\n").server("250 ok\r\n");
        // MAIL FROM is "sent" but not captured: the next client segment starts after it.
        let mail = "MAIL FROM:<a@b>\r\n";
        let seq = b.next_seq(CLIENT);
        let ack = b.next_seq(SERVER);
        b.raw(CLIENT, 0x18, seq + mail.len() as u32, ack, b"RCPT TO:<c@d>\r\n", 64);
        b.raw(SERVER, 0x18, ack, seq + mail.len() as u32 + 15, b"250 ok\r\n250 ok\r\n", 63);
        let s = &b.analyze()[0];
        assert_eq!(s.conn.dirs[0].stream.gap_bytes, mail.len() as u64);
        assert!(s.smtp.commands.contains(&"RCPT".to_string()));
        assert!(s.conn.zeek_history.contains('G') || s.conn.zeek_history.contains('g'), "{}", s.conn.zeek_history);
    }

    #[test]
    fn an_idle_session_is_handed_on_after_the_idle_timeout() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 hi\r\n").wait(700.0);
        let mut other = SessionBuilder::new(([203, 0, 113, 9], 40000), ([198, 51, 100, 25], 25));
        other.now = b.now;
        other.handshake();
        b.frames.extend(other.frames);
        let s = b.analyze();
        assert_eq!(s[0].end, EndReason::Idle);
        assert_eq!(s[1].end, EndReason::CaptureEnd);
    }

    #[test]
    fn packets_on_other_ports_move_the_idle_clock_too() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 hi\r\n").wait(700.0);
        let mut web = SessionBuilder::new(([203, 0, 113, 9], 40000), ([198, 51, 100, 80], 80));
        web.now = b.now;
        web.handshake();
        b.frames.extend(web.frames);
        let s = b.analyze();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].end, EndReason::Idle);
    }

    #[test]
    fn a_mail_port_on_the_initiator_side_alone_is_no_mail_session() {
        // An FTP control connection from client port 2525, and a scan's SYN from port 25 to 113
        // answered by a reset.
        let mut ftp = SessionBuilder::new(([203, 0, 113, 5], 2525), ([198, 51, 100, 21], 21));
        ftp.handshake().server("220 FTP ready\r\n").client("USER a\r\n").server("331 pass\r\n").close();
        assert!(ftp.analyze().is_empty());
        let mut scan = SessionBuilder::new(([203, 0, 113, 5], 25), ([198, 51, 100, 21], 113));
        scan.syn().rst(SERVER);
        assert!(scan.analyze().is_empty());
    }
}
