//! The flow table: finds each packet's connection, keeps roles, feeds the two reassemblers and
//! hands every connection on when it ends — closed (plus a linger for late packets), idle, a
//! handshake that never completed, or evicted under the memory budget — so a capture of any
//! size streams in bounded memory.
//!
//! **Lean until the first payload byte.** A connection that has carried no payload (a SYN of a
//! flood, a refused SYN answered by a reset) keeps only the headers of its first packets
//! ([`Early`], about a hundred bytes). The connection tracker, both reassemblers and the
//! application's state are created in one box when a payload byte, a FIN or one header too
//! many arrives, and the kept headers are replayed through them first: the result is the same
//! as if they had existed from the first packet.
//!
//! **One budget for every thread.** Connections fall into [`BUCKETS`] buckets by a hash of their
//! address pair with a fixed seed. Each bucket has a fixed share of the caps (`--memcap`,
//! `--max-flows`, `--max-buffer`) and its own eviction order, and `read --threads N` gives each
//! shard whole buckets, so what is evicted — and so the output — is the same for any number of
//! threads, and the caps hold for the whole process however many threads share them.

use super::conn::{ConnRecord, ConnTracker, Endpoint, RoleBasis};
use super::events::EventLog;
use super::reassembly::{Chunk, Reassembler, ReassemblyLimits, SegmentClass};
use super::seq::SeqNumber;
use super::{Direction, PacketRef};
use crate::capture::Timestamp;
use crate::decode::{Packet, TcpFlags};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    /// Cap on the memory held by all connections together (see [`Flow::charge`]).
    pub memcap: usize,
    /// Seconds without a packet after which an open connection is handed on.
    pub idle_timeout_s: f64,
    /// Seconds after its last packet that a connection whose handshake never completed (and
    /// that carried no payload) is handed on: Zeek's `tcp_SYN_timeout` and `tcp_attempt_delay`.
    pub half_open_timeout_s: f64,
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
pub const DEFAULT_MEMCAP: usize = 256 << 20;

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            ports: DEFAULT_PORTS.to_vec(),
            limits: ReassemblyLimits::default(),
            max_buffered_total: 256 << 20,
            max_flows: 200_000,
            memcap: DEFAULT_MEMCAP,
            idle_timeout_s: 600.0,
            half_open_timeout_s: 5.0,
            linger_s: 5.0,
            close_grace_s: 1.0,
            max_events: 20_000,
            compact_events: false,
            server_payload_hint: None,
        }
    }
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

/// Buckets the caps are shared out over (see the module comment). `read --threads` uses at
/// most this many shards.
pub const BUCKETS: usize = 32;

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

    #[cfg(test)]
    fn of_endpoints(x: &Endpoint, y: &Endpoint) -> FlowKey {
        let (s, d) = ((addr_bytes(x.ip), x.port), (addr_bytes(y.ip), y.port));
        let v6 = x.ip.is_ipv6();
        if s <= d { FlowKey { v6, a: s, b: d } } else { FlowKey { v6, a: d, b: s } }
    }

    /// The bucket: a fixed seed, so that it is the same in every run and every shard (the
    /// table's own hash is seeded at random against crafted collisions).
    fn bucket(&self) -> usize {
        let h = foldhash::fast::FixedState::with_seed(0x5347_5044_4941_4721).hash_one(self);
        // Scaled by a multiply and shift (Lemire): every shard buckets every packet.
        ((u128::from(h) * BUCKETS as u128) >> 64) as usize
    }

    fn endpoint(&self, side_a: bool) -> Endpoint {
        let (bytes, port) = if side_a { self.a } else { self.b };
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]))
        };
        Endpoint { ip, port }
    }

    /// Is `p`'s sender side `a` of the key?
    fn sent_by_a(&self, p: &Packet<'_>) -> bool {
        p.src_port == self.a.1 && addr_bytes(p.src) == self.a.0
    }
}

/// The bucket of a packet's connection (for sharding `read --threads`: shard = bucket mod N).
pub fn bucket_of(p: &Packet<'_>) -> usize {
    FlowKey::of(p).bucket()
}

/// The header of a packet that carried no payload and no FIN, kept by an [`Early`] connection.
#[derive(Clone, Copy, Default)]
struct Header {
    number: u64,
    ts: i64,
    seq: u32,
    ack: u32,
    window: u16,
    ip_id: u16,
    mss: u16,
    flags: u8,
    ttl: u8,
    /// `FROM_A`, `HAS_IP_ID`, `HAS_MSS`.
    bits: u8,
}

const FROM_A: u8 = 1;
const HAS_IP_ID: u8 = 2;
const HAS_MSS: u8 = 4;

/// Headers an early connection keeps: SYN and SYN-ACK, or SYN and the refusing reset. The next
/// packet creates the full state.
const EARLY_HEADERS: usize = 2;

/// A connection that has carried no payload yet: its first packets' headers, replayed into the
/// full state when it needs one.
struct Early {
    headers: [Header; EARLY_HEADERS],
    len: u8,
    /// The client is side `a` of the key.
    client_is_a: bool,
    basis: RoleBasis,
}

impl Early {
    fn headers(&self) -> &[Header] {
        &self.headers[..usize::from(self.len)]
    }

    fn sent_by_client(&self, h: &Header) -> bool {
        (h.bits & FROM_A != 0) == self.client_is_a
    }

    fn reset_seen(&self) -> bool {
        self.headers().iter().any(|h| h.flags & TcpFlags::RST != 0)
    }

    /// The connection tracker's `half_open` on the same packets: only SYNs (from the client) and
    /// SYN-ACKs (from the server) so far.
    fn half_open(&self) -> bool {
        !self.headers().is_empty()
            && self.headers().iter().all(|h| {
                let (s, a) = (h.flags & TcpFlags::SYN != 0, h.flags & TcpFlags::ACK != 0);
                s && (a != self.sent_by_client(h))
            })
    }

    /// The tracker's `client_isn`: the client's first sequence number when it sent a SYN.
    fn client_isn(&self) -> Option<u32> {
        let client = || self.headers().iter().filter(|h| self.sent_by_client(h));
        let syn = client().any(|h| h.flags & TcpFlags::SYN != 0 && h.flags & TcpFlags::ACK == 0);
        if syn { client().next().map(|h| h.seq) } else { None }
    }
}

/// Everything a connection holds once it carried payload: one allocation.
struct Full<A> {
    tracker: ConnTracker,
    reasm: [Reassembler; 2],
    app: A,
    buffered: usize,
}

enum State<A> {
    Early(Early),
    Full(Box<Full<A>>),
}

struct Flow<A> {
    key: FlowKey,
    id: u64,
    /// Number of the connection's first packet: with the key, what the deadline heaps hold.
    first: u64,
    deadline: i64,
    /// Bytes charged to the bucket's budget at the last update.
    charged: usize,
    state: State<A>,
}

/// Heap and map bookkeeping per connection, charged with the flow itself.
const BOOKKEEPING: usize = 56 /* heap entry */ + 16 /* map slot, and its share of free slots */;
/// A buffered out-of-order segment beyond its bytes: its vector's allocation, packet reference
/// and share of a half-full tree node. 96 let 10,000 flows of one-byte segments peak at 1.8 times
/// the cap (scripts/hostile-memory).
const PENDING_OVERHEAD: usize = 176;

impl<A> Flow<A> {
    fn is_closed(&self) -> bool {
        match &self.state {
            State::Early(e) => e.reset_seen(),
            State::Full(f) => f.tracker.is_closed(),
        }
    }

    fn client_isn(&self) -> Option<u32> {
        match &self.state {
            State::Early(e) => e.client_isn(),
            State::Full(f) => f.tracker.client_isn(),
        }
    }

    fn last_ts(&self) -> i64 {
        match &self.state {
            State::Early(e) => e.headers().last().map_or(0, |h| h.ts),
            State::Full(f) => f.tracker.last.ts.0,
        }
    }

    fn buffered(&self) -> usize {
        match &self.state {
            State::Early(_) => 0,
            State::Full(f) => f.buffered,
        }
    }

    /// What the connection holds, for the memory budget: the flow and its bookkeeping, and once
    /// it carried payload its state, buffered segments and their bookkeeping, kept packet
    /// events and the rest the tracker grows.
    fn charge(&self) -> usize {
        let base = std::mem::size_of::<Flow<A>>() + BOOKKEEPING;
        match &self.state {
            State::Early(_) => base,
            State::Full(f) => {
                let reasm: usize =
                    f.reasm.iter().map(|r| r.held_bytes() + r.pending_segments() * PENDING_OVERHEAD).sum();
                base + std::mem::size_of::<Full<A>>() + reasm + f.tracker.held_bytes()
            }
        }
    }
}

/// One bucket's share of the table: its connections, their deadlines, its tombstones and what
/// they hold.
struct Bucket<A> {
    flows: hashbrown::HashTable<Box<Flow<A>>>,
    /// Earliest deadline first; entries may be stale (checked against the flow when popped).
    /// Entries are (deadline, first packet number, key): the first packet number breaks ties,
    /// so the order is the same whatever shard a flow lands in.
    deadlines: BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
    /// Connections handed on after a clean close, until their linger ends: the time it ends
    /// and the client's ISN (a SYN with another one opens a new connection).
    closed: HashMap<FlowKey, (i64, Option<u32>), foldhash::fast::RandomState>,
    /// The same, in the order they end (all wait the same time, so insertion order is it).
    closed_order: VecDeque<(i64, FlowKey)>,
    /// Connections on a mail port whose responder is not on one, until when (see
    /// `remember_not_mail`), and the same in insertion order.
    not_mail: HashMap<FlowKey, i64, foldhash::fast::RandomState>,
    not_mail_order: VecDeque<(i64, FlowKey)>,
    /// Bytes charged by its connections.
    used: usize,
    /// Out-of-order bytes buffered by its connections.
    buffered: usize,
}

impl<A> Default for Bucket<A> {
    fn default() -> Self {
        Bucket {
            flows: hashbrown::HashTable::new(),
            deadlines: BinaryHeap::new(),
            closed: HashMap::default(),
            closed_order: VecDeque::new(),
            not_mail: HashMap::default(),
            not_mail_order: VecDeque::new(),
            used: 0,
            buffered: 0,
        }
    }
}

impl<A> Bucket<A> {
    /// The earliest time anything in the bucket may be due.
    fn next_due(&self) -> i64 {
        let heap = self.deadlines.peek().map_or(i64::MAX, |Reverse((d, ..))| *d);
        let tomb = self.closed_order.front().map_or(i64::MAX, |(u, _)| *u);
        heap.min(tomb)
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

    fn remove(&mut self, hash: u64, key: &FlowKey) -> Option<Box<Flow<A>>> {
        let flow = self.flows.find_entry(hash, |f| f.key == *key).ok()?.remove().0;
        self.used -= flow.charged;
        self.buffered -= flow.buffered().min(self.buffered);
        Some(flow)
    }

    /// Pops the oldest idle connection (earliest deadline) other than `keep`: its deadline and
    /// key. Stale entries are dropped or queued again on the way.
    fn pop_oldest(&mut self, hasher: &foldhash::fast::RandomState, keep: Option<FlowKey>) -> Option<(i64, FlowKey)> {
        let mut kept = None;
        let found = loop {
            let Some(Reverse((deadline, first, key))) = self.deadlines.pop() else { break None };
            let Some(flow) = self.flows.find(hasher.hash_one(key), |f| f.key == key && f.first == first) else {
                continue;
            };
            if flow.deadline > deadline {
                self.deadlines.push(Reverse((flow.deadline, first, key)));
                continue;
            }
            if Some(key) == keep {
                kept = Some(Reverse((deadline, first, key)));
                continue;
            }
            break Some((deadline, key));
        };
        self.deadlines.extend(kept);
        found
    }
}

pub struct FlowTable<A> {
    config: TcpConfig,
    buckets: Vec<Bucket<A>>,
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

fn secs_to_nanos(s: f64) -> i64 {
    (s * 1e9) as i64
}

/// A bucket's share of a cap, at least one (so the buckets together never exceed a cap of at
/// least `BUCKETS`).
fn share(total: usize) -> usize {
    (total / BUCKETS).max(1)
}

impl<A: StreamConsumer> FlowTable<A> {
    pub fn new(config: TcpConfig, make_app: AppFactory<A>) -> Self {
        FlowTable {
            make_app,
            config,
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
        self.config.ports.contains(&p.src_port) || self.config.ports.contains(&p.dst_port)
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
        let b = key.bucket();
        let hash = self.hasher.hash_one(key);
        let reused = match self.buckets[b].flows.find(hash, |f| f.key == key) {
            Some(flow) => reuses_ports(flow, p),
            None => false,
        };
        if reused && let Some(flow) = self.buckets[b].remove(hash, &key) {
            self.open -= 1;
            self.finish(*flow, EndReason::Closed, (FinishPhase::Reused, 0), done);
        }
        if self.buckets[b].flows.find(hash, |f| f.key == key).is_none() {
            if self.is_late(b, key, p) {
                self.stats.late_packets += 1;
                return;
            }
            if !self.server_on_mail_port(p) || self.buckets[b].not_mail.contains_key(&key) {
                // Counted as a TCP packet only: `other_port_packets` is what every shard of
                // `--threads` counts alike, and only one shard sees this packet.
                self.remember_not_mail(b, key, p);
                return;
            }
            if self.buckets[b].flows.len() >= share(self.config.max_flows)
                && let Some((deadline, victim)) = self.buckets[b].pop_oldest(&self.hasher, None)
            {
                self.evict(b, deadline, victim, false, done);
            }
            let flow = self.new_flow(key, p);
            let hasher = &self.hasher;
            self.buckets[b].flows.insert_unique(hash, Box::new(flow), |f| hasher.hash_one(f.key));
            self.open += 1;
            self.stats.flows += 1;
            self.stats.max_open_flows = self.stats.max_open_flows.max(self.open as u64);
        }
        let Self { buckets, config, stats, make_app, .. } = self;
        let bucket = &mut buckets[b];
        let Some(flow) = bucket.flows.find_mut(hash, |f| f.key == key) else { return };
        let (before, deadline) = (flow.buffered(), flow.deadline);
        let new_deadline = match &mut flow.state {
            State::Early(e) if fits_early(e, p) => {
                e.headers[usize::from(e.len)] = header(&key, p);
                e.len += 1;
                p.ts.0.saturating_add(secs_to_nanos(early_wait(config, e)))
            }
            _ => {
                let full = make_full(config, flow, Some(p), make_app);
                let new_deadline = process(config, full, p);
                if new_deadline < deadline && full.tracker.is_closed() {
                    // Lingering for late packets only: its segment history is not worth its memory.
                    full.reasm.iter_mut().for_each(Reassembler::release_history);
                }
                bucket.buffered = bucket.buffered - before.min(bucket.buffered) + full.buffered;
                if bucket.buffered > share(config.max_buffered_total) {
                    stats.global_cap_flushes += 1;
                    flush_pending(full);
                    bucket.buffered -= full.buffered.min(bucket.buffered);
                    full.buffered = 0;
                }
                new_deadline
            }
        };
        flow.deadline = new_deadline;
        let charge = flow.charge();
        bucket.used = bucket.used - flow.charged + charge;
        flow.charged = charge;
        let requeue = (flow.deadline < deadline).then_some((flow.deadline, flow.first));
        if let Some((deadline, first)) = requeue {
            // The packet closed the connection (or answered its SYN with a reset): its linger
            // ends before the deadline its heap entry holds, and that entry alone would keep it
            // open (and unreported) until then.
            self.schedule(b, deadline, first, key);
        }
        self.enforce_memcap(b, key, hash, done);
    }

    /// Over the bucket's share of `--memcap`: hand on the oldest idle connections other than
    /// this packet's; if that is not enough, it stops waiting for missing segments.
    fn enforce_memcap(&mut self, b: usize, key: FlowKey, hash: u64, done: &mut dyn FnMut(Finished<A>)) {
        let cap = share(self.config.memcap);
        while self.buckets[b].used > cap {
            match self.buckets[b].pop_oldest(&self.hasher, Some(key)) {
                Some((deadline, victim)) => self.evict(b, deadline, victim, true, done),
                None => {
                    let bucket = &mut self.buckets[b];
                    if let Some(flow) = bucket.flows.find_mut(hash, |f| f.key == key)
                        && let State::Full(full) = &mut flow.state
                        && full.buffered > 0
                    {
                        self.stats.global_cap_flushes += 1;
                        flush_pending(full);
                        bucket.buffered -= full.buffered.min(bucket.buffered);
                        full.buffered = 0;
                        let charge = flow.charge();
                        bucket.used = bucket.used - flow.charged + charge;
                        flow.charged = charge;
                    }
                    return;
                }
            }
        }
    }

    /// Hands on a connection a cap pushed out. One that had closed is reported closed (it was
    /// only waiting for late packets) and leaves its tombstone.
    fn evict(&mut self, b: usize, deadline: i64, key: FlowKey, memcap: bool, done: &mut dyn FnMut(Finished<A>)) {
        let hash = self.hasher.hash_one(key);
        let Some(flow) = self.buckets[b].remove(hash, &key) else { return };
        self.open -= 1;
        let end = if flow.is_closed() {
            let until = flow.last_ts().saturating_add(secs_to_nanos(self.config.linger_s));
            self.bury(b, key, until, flow.client_isn());
            EndReason::Closed
        } else {
            self.stats.flows_evicted += 1;
            self.stats.memcap_evictions += u64::from(memcap);
            EndReason::Evicted
        };
        self.finish(*flow, end, (FinishPhase::Evicted, deadline), done);
    }

    /// A packet of a connection handed on after a clean close, within its linger. A SYN with a
    /// new sequence number opens a new connection instead.
    fn is_late(&mut self, b: usize, key: FlowKey, p: &Packet<'_>) -> bool {
        let bucket = &mut self.buckets[b];
        let Some(&(_, isn)) = bucket.closed.get(&key) else { return false };
        if p.flags.syn() && !p.flags.ack() && isn != Some(p.seq) {
            bucket.closed.remove(&key);
            return false;
        }
        true
    }

    /// Leaves a tombstone for a connection handed on after a clean close. As many as the
    /// bucket's share of `max_flows` are kept: a flood of short connections must not grow them
    /// without end (the oldest go first; a late packet of one gone becomes a session of its own).
    fn bury(&mut self, b: usize, key: FlowKey, until: i64, client_isn: Option<u32>) {
        let cap = share(self.config.max_flows);
        let bucket = &mut self.buckets[b];
        // The order queue also holds entries outdated by a later burial: it is capped too.
        while bucket.closed.len() >= cap || bucket.closed_order.len() >= 2 * cap {
            if !bucket.unbury_oldest() {
                break;
            }
        }
        bucket.closed.insert(key, (until, client_isn));
        bucket.closed_order.push_back((until, key));
        self.next_due = self.next_due.min(until);
    }

    fn new_flow(&mut self, key: FlowKey, p: &Packet<'_>) -> Flow<A> {
        let (src_is_client, basis) = self.roles(p);
        let client_is_a = key.sent_by_a(p) == src_is_client;
        self.next_id += 1;
        let early = Early { headers: [Header::default(); EARLY_HEADERS], len: 0, client_is_a, basis };
        // No deadline until the packet is handled (which queues it); a first packet with
        // payload or a FIN does not fit the early state, so the full one is made for it.
        Flow { key, id: self.next_id, first: p.number, deadline: i64::MAX, charged: 0, state: State::Early(early) }
    }

    /// A connection whose responder is not on a mail port stays out of the table, however its
    /// later packets look (an ACK alone would make the initiator's mail port the server's).
    /// Remembered for the idle timeout, at most the bucket's share of `max_flows` of them.
    fn remember_not_mail(&mut self, b: usize, key: FlowKey, p: &Packet<'_>) {
        let cap = share(self.config.max_flows);
        let until = p.ts.0.saturating_add(secs_to_nanos(self.config.idle_timeout_s));
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

    /// Hand on every connection whose deadline has passed at capture time `now`, in order of
    /// deadline (then first packet) across buckets.
    pub fn expire(&mut self, now: Timestamp, done: &mut dyn FnMut(Finished<A>)) {
        if now.0 < self.next_due {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        let mut next_due = i64::MAX;
        for bucket in &mut self.buckets {
            while bucket.closed_order.front().is_some_and(|(until, _)| *until <= now.0) {
                bucket.unbury_oldest();
            }
            while let Some(&Reverse((deadline, first, key))) = bucket.deadlines.peek() {
                if deadline > now.0 {
                    break;
                }
                bucket.deadlines.pop();
                let hash = self.hasher.hash_one(key);
                let Some(flow) = bucket.flows.find(hash, |f| f.key == key && f.first == first) else { continue };
                if flow.deadline > now.0 {
                    bucket.deadlines.push(Reverse((flow.deadline, first, key)));
                    continue;
                }
                due.push((deadline, first, key));
            }
            next_due = next_due.min(bucket.next_due());
        }
        self.next_due = next_due;
        due.sort_unstable();
        for &(deadline, _, key) in &due {
            let b = key.bucket();
            let hash = self.hasher.hash_one(key);
            let Some(flow) = self.buckets[b].remove(hash, &key) else { continue };
            self.open -= 1;
            let end = if flow.is_closed() { EndReason::Closed } else { EndReason::Idle };
            let until = flow.last_ts().saturating_add(secs_to_nanos(self.config.linger_s));
            if end == EndReason::Closed && until > now.0 {
                self.bury(b, key, until, flow.client_isn());
            }
            self.finish(*flow, end, (FinishPhase::Expired, deadline), done);
        }
        due.clear();
        self.due = due;
    }

    /// End of input: hand on every open connection, oldest first (deterministic order).
    pub fn finish_all(&mut self, done: &mut dyn FnMut(Finished<A>)) {
        let mut flows: Vec<Box<Flow<A>>> = Vec::with_capacity(self.open);
        for bucket in &mut self.buckets {
            flows.extend(bucket.flows.drain());
            *bucket = Bucket::default();
        }
        flows.sort_by_key(|f| f.first);
        self.open = 0;
        self.next_due = i64::MAX;
        for flow in flows {
            let end = if flow.is_closed() { EndReason::Closed } else { EndReason::CaptureEnd };
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
        make_full(&self.config, &mut flow, None, &mut self.make_app);
        let State::Full(full) = flow.state else { unreachable!("made full above") };
        let Full { mut reasm, mut app, mut tracker, .. } = *full;
        let at = tracker.last;
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            reasm[dir.index()].flush(at, &mut |c, at| deliver(&mut app, &mut tracker, dir, c, at));
        }
        let stats = [std::mem::take(&mut reasm[0].stats), std::mem::take(&mut reasm[1].stats)];
        done(Finished { index: flow.id, phase, deadline, conn: tracker.into_record(stats), app, end });
    }
}

/// Can an early connection keep this packet's header? Only a packet with neither payload nor
/// FIN, while there is room.
fn fits_early(e: &Early, p: &Packet<'_>) -> bool {
    usize::from(e.len) < EARLY_HEADERS && p.wire_len() == 0 && !p.flags.fin()
}

fn header(key: &FlowKey, p: &Packet<'_>) -> Header {
    let bits = if key.sent_by_a(p) { FROM_A } else { 0 }
        | if p.ip_id.is_some() { HAS_IP_ID } else { 0 }
        | if p.mss.is_some() { HAS_MSS } else { 0 };
    Header {
        number: p.number,
        ts: p.ts.0,
        seq: p.seq,
        ack: p.ack,
        window: p.window,
        ip_id: p.ip_id.unwrap_or(0),
        mss: p.mss.unwrap_or(0),
        flags: p.flags.0,
        ttl: p.ttl,
        bits,
    }
}

/// The packet a kept header came from (without payload: it had none).
fn replayed(key: &FlowKey, h: &Header) -> Packet<'static> {
    let from_a = h.bits & FROM_A != 0;
    let (src, dst) = (key.endpoint(from_a), key.endpoint(!from_a));
    Packet {
        number: h.number,
        ts: Timestamp(h.ts),
        src: src.ip,
        dst: dst.ip,
        ttl: h.ttl,
        ip_id: (h.bits & HAS_IP_ID != 0).then_some(h.ip_id),
        src_port: src.port,
        dst_port: dst.port,
        seq: h.seq,
        ack: h.ack,
        flags: TcpFlags(h.flags),
        window: h.window,
        mss: (h.bits & HAS_MSS != 0).then_some(h.mss),
        payload: &[],
        missing: 0,
    }
}

/// How long an early connection waits after its last packet: what [`wait`] says for the full
/// state of the same packets (none carried payload or a FIN, so a reset is the only close).
fn early_wait(config: &TcpConfig, e: &Early) -> f64 {
    if e.reset_seen() {
        config.linger_s
    } else if e.half_open() {
        config.half_open_timeout_s
    } else {
        config.idle_timeout_s
    }
}

/// The full state of a connection, created (and fed the kept headers) if it is still early.
fn make_full<'f, A: StreamConsumer>(
    config: &TcpConfig,
    flow: &'f mut Flow<A>,
    current: Option<&Packet<'_>>,
    make_app: &mut AppFactory<A>,
) -> &'f mut Full<A> {
    if let State::Early(e) = &flow.state {
        let key = flow.key;
        let (client, server) = (key.endpoint(e.client_is_a), key.endpoint(!e.client_is_a));
        let headers = e.headers;
        let kept = usize::from(e.len);
        // The first packet: the first kept header, or the packet being handled (an early
        // connection keeps every packet until it has none to spare).
        let (first_ts, first_sender) = match (headers[..kept].first(), current) {
            (Some(h), _) => (h.ts, key.endpoint(h.bits & FROM_A != 0)),
            (None, Some(p)) => (p.ts.0, key.endpoint(key.sent_by_a(p))),
            (None, None) => (0, client),
        };
        let tracker = ConnTracker::new(
            client,
            server,
            e.basis,
            PacketRef { number: flow.first, ts: Timestamp(first_ts) },
            first_sender,
            EventLog::new(config.max_events, config.compact_events),
        );
        let app = make_app(&client, &server);
        let mut full = Box::new(Full { tracker, reasm: [Reassembler::new(), Reassembler::new()], app, buffered: 0 });
        for h in &headers[..kept] {
            process(config, &mut full, &replayed(&key, h));
        }
        flow.state = State::Full(full);
    }
    match &mut flow.state {
        State::Full(full) => full,
        State::Early(_) => unreachable!("made full above"),
    }
}

/// A SYN with a new sequence number on a closed connection's ports opens a new connection.
fn reuses_ports<A>(f: &Flow<A>, p: &Packet<'_>) -> bool {
    p.flags.syn() && !p.flags.ack() && f.is_closed() && f.client_isn() != Some(p.seq)
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

fn flush_pending<A: StreamConsumer>(full: &mut Full<A>) {
    let at = full.tracker.last;
    let Full { reasm, app, tracker, .. } = full;
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        reasm[dir.index()].flush_pending(at, &mut |c, at| deliver(app, tracker, dir, c, at));
    }
}

/// One packet of a known connection: header facts, then the peer's ACK (which may reveal bytes
/// the capture missed in the other direction), then this packet's own payload. Returns the
/// connection's new deadline.
fn process<A: StreamConsumer>(config: &TcpConfig, full: &mut Full<A>, p: &Packet<'_>) -> i64 {
    let dir = full.tracker.direction_of(p);
    let duplicate = full.tracker.is_duplicate(p, dir);
    full.tracker.observe(p, dir, duplicate);
    let at = PacketRef { number: p.number, ts: p.ts };
    let Full { reasm, app, tracker, buffered } = full;
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
    *buffered = reasm[0].buffered_bytes() + reasm[1].buffered_bytes();
    p.ts.0.saturating_add(secs_to_nanos(wait(config, tracker, reasm)))
}

/// Seconds a connection waits after its last packet before it is handed on.
fn wait(config: &TcpConfig, tracker: &ConnTracker, reasm: &[Reassembler; 2]) -> f64 {
    if !tracker.is_closed() {
        if tracker.half_open() { config.half_open_timeout_s } else { config.idle_timeout_s }
    } else if !tracker.reset_seen() && reasm.iter().all(Reassembler::fin_acked) {
        config.close_grace_s.min(config.linger_s)
    } else {
        config.linger_s
    }
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
        // The cap is per bucket: ten client ports whose connections share one.
        let key = |port: u16| super::FlowKey {
            v6: false,
            a: (super::addr_bytes([10, 0, 0, 1].into()), port),
            b: (super::addr_bytes([10, 0, 0, 2].into()), 25),
        };
        let bucket = key(40000).bucket();
        let ports: Vec<u16> = (40000..u16::MAX).filter(|&p| key(p).bucket() == bucket).take(10).collect();
        let mut b = SessionBuilder::lab();
        for (i, &port) in (0..10u16).zip(&ports) {
            let mut one = SessionBuilder::new(([10, 0, 0, 1], port), ([10, 0, 0, 2], 25));
            one.handshake().server("220 hi\r\n").close();
            // Ten connections 0.6 s apart: at most two in their 1 s grace at once, but up to
            // nine in their 5 s linger.
            let shift = i64::from(i) * 600_000_000;
            b.frames.extend(one.frames.into_iter().map(|(ts, f)| (crate::capture::Timestamp(ts.0 + shift), f)));
        }
        let mut config = crate::session::AnalyzerConfig::default();
        config.tcp.max_flows = 3 * super::BUCKETS;
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
        assert_eq!(most, 3, "at most the bucket's share of --max-flows tombstones, and the cap was reached");
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

#[cfg(test)]
mod lean_tests {
    use super::*;
    use crate::capture::{Frame, LinkType};
    use crate::synth::{CLIENT, SERVER, SessionBuilder, analyze_pcap};
    use crate::tcp::conn::Handshake;

    /// Counts the bytes it is given, as the SMTP stage would receive them.
    #[derive(Default)]
    struct Bytes(u64);
    impl StreamConsumer for Bytes {
        fn on_data(&mut self, _: Direction, d: &[u8], _: PacketRef) {
            self.0 += d.len() as u64;
        }
        fn on_gap(&mut self, _: Direction, _: u64, _: PacketRef) {}
    }

    /// Feeds the builder's frames (renumbered from `first`) to `table`; returns what ended.
    fn feed(table: &mut FlowTable<Bytes>, b: &SessionBuilder, first: u64, ended: &mut Vec<Finished<Bytes>>) {
        for (i, (ts, data)) in b.frames.iter().enumerate() {
            let frame = Frame {
                number: first + i as u64,
                ts: *ts,
                link_type: LinkType::ETHERNET,
                data,
                orig_len: 0,
                offset: 0,
            };
            let p = crate::decode::decode(&frame).expect("synthetic frames decode");
            table.packet(&p, &mut |f| ended.push(f));
        }
    }

    fn table(config: TcpConfig) -> FlowTable<Bytes> {
        FlowTable::new(config, Box::new(|_: &Endpoint, _: &Endpoint| Bytes::default()))
    }

    #[test]
    fn a_syn_only_or_refused_flow_is_charged_at_most_256_bytes() {
        assert!(std::mem::size_of::<Flow<crate::session::LeanProbe>>() + BOOKKEEPING <= 256);
        let mut t = table(TcpConfig::default());
        let mut b = SessionBuilder::lab();
        b.syn().rst(SERVER);
        let mut ended = Vec::new();
        feed(&mut t, &b, 1, &mut ended);
        assert_eq!((t.open_flows(), ended.len()), (1, 0));
        assert!(t.memory_used() <= 256, "{}", t.memory_used());
        // Payload makes it full: kilobytes, charged as such.
        let mut b = SessionBuilder::new(([10, 9, 9, 9], 40001), ([10, 0, 0, 2], 25));
        b.handshake().server("220 hi\r\n");
        feed(&mut t, &b, 10, &mut ended);
        assert!(t.memory_used() > 2048, "{}", t.memory_used());
    }

    #[test]
    fn the_early_state_replays_into_the_same_session() {
        // Every shape of a start: a refused SYN, SYN retries, a handshake, data on the SYN.
        let mut b = SessionBuilder::lab();
        b.syn().wait(1.0).syn().wait(1.0).handshake().server("220 hi\r\n").client("QUIT\r\n").close();
        let mut refused = SessionBuilder::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
        refused.syn().rst(SERVER);
        b.frames.extend(refused.frames);
        let s = b.analyze();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].conn.syn_count, s[0].conn.handshake), (3, Handshake::Complete));
        assert_eq!(s[0].conn.zeek_conn_state, "SF");
        assert_eq!(s[0].smtp.replies, [220]);
        assert_eq!((s[1].conn.handshake, s[1].conn.zeek_conn_state), (Handshake::SynRst, "REJ"));
        assert_eq!(s[1].conn.events.len(), 2);
    }

    #[test]
    fn a_handshake_that_never_completes_is_handed_on_after_the_half_open_timeout() {
        let mut b = SessionBuilder::lab();
        b.syn().wait(4.0).syn().wait(6.0);
        // Another connection's packet, 6 s after the last SYN: past the 5 s, far from 600 s.
        let mut other = SessionBuilder::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
        other.now = b.now;
        other.handshake().server("220 hi\r\n");
        b.frames.extend(other.frames);
        let (s, _) = analyze_pcap(&b.pcap(), Default::default());
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].conn.syn_count, s[0].end), (2, EndReason::Idle), "one connection: the retry came within 5 s");
        assert_eq!(s[0].conn.zeek_conn_state, "S0");
        assert_eq!(s[1].end, EndReason::CaptureEnd);
        // An established connection that goes quiet is not half-open.
        let mut quiet = SessionBuilder::lab();
        quiet.handshake().wait(30.0).ack(CLIENT);
        assert_eq!(quiet.analyze().len(), 1);
    }

    /// A SYN recorded twice (`tcpdump -i any` on a router: the second copy one hop on) and a
    /// retry: the copy is not a packet of another kind, so the attempt still times out at 5 s.
    #[test]
    fn a_duplicated_syn_does_not_end_the_attempt() {
        let mut b = SessionBuilder::lab();
        b.syn();
        let (ts, mut copy) = b.frames.last().cloned().unwrap();
        copy[22] -= 1; // the IPv4 TTL, one router further on
        b.frames.push((Timestamp(ts.0 + 1_000_000), copy));
        b.wait(1.0).syn().wait(6.0);
        let mut other = SessionBuilder::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
        other.now = b.now;
        other.handshake().server("220 hi\r\n");
        b.frames.extend(other.frames);
        let (s, _) = analyze_pcap(&b.pcap(), Default::default());
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].conn.dirs[0].duplicates, 1, "the copy is seen as one");
        assert_eq!((s[0].conn.syn_count, s[0].end), (2, EndReason::Idle), "handed on after 5 s, not 600");
    }

    /// Zeek's `tcp__one-sided-2745`: only the server's side is captured. Its ACK of data we never
    /// see ends the attempt, so a FIN 10 s later belongs to the same connection.
    #[test]
    fn a_one_sided_capture_is_not_half_open_after_the_servers_first_ack() {
        let mut b = SessionBuilder::lab();
        b.raw(SERVER, TcpFlags::SYN | TcpFlags::ACK, 1000, 5001, b"", 63);
        b.raw(SERVER, TcpFlags::ACK, 1001, 5053, b"", 63).wait(10.0);
        b.raw(SERVER, TcpFlags::FIN | TcpFlags::ACK, 1001, 5054, b"", 63);
        let s = b.analyze();
        assert_eq!(s.len(), 1, "one connection, as Zeek and tshark count it");
        assert_eq!(s[0].conn.dirs[1].packets, 3);
    }

    /// `n` sessions, one after another, each opening and sending its banner 1 s after the last.
    fn sessions(n: u16, tail: impl Fn(&mut SessionBuilder)) -> SessionBuilder {
        let mut all = SessionBuilder::lab();
        all.frames.clear();
        for i in 0..n {
            let mut one = SessionBuilder::new(([10, 1, (i >> 8) as u8, i as u8], 40000 + i), ([10, 0, 0, 2], 25));
            one.now = all.now + i64::from(i) * 1_000_000_000;
            one.handshake().server("220 hi\r\n");
            tail(&mut one);
            all.frames.extend(one.frames);
        }
        all.frames.sort_by_key(|(ts, _)| *ts);
        all
    }

    #[test]
    fn the_memcap_evicts_the_oldest_idle_connection_first_and_counts_it() {
        let b = sessions(200, |_| {});
        let mut ended = Vec::new();
        // Room for a handful of full connections per bucket.
        let full = std::mem::size_of::<Full<Bytes>>() + 2048;
        let mut t = table(TcpConfig { memcap: BUCKETS * 3 * full, ..TcpConfig::default() });
        feed(&mut t, &b, 1, &mut ended);
        assert!(!ended.is_empty());
        assert!(ended.iter().all(|f| f.end == EndReason::Evicted && f.phase == FinishPhase::Evicted));
        assert_eq!(t.stats.flows_evicted, ended.len() as u64);
        assert_eq!(t.stats.memcap_evictions, ended.len() as u64);
        for bucket in &t.buckets {
            assert!(bucket.used <= share(t.config.memcap), "{} > {}", bucket.used, share(t.config.memcap));
        }
        // Oldest first: within a bucket, every evicted connection started before every open one.
        for f in &ended {
            let bucket = &t.buckets[FlowKey::of_endpoints(&f.conn.client, &f.conn.server).bucket()];
            assert!(bucket.flows.iter().all(|open| open.first > f.conn.first.number));
        }
    }

    #[test]
    fn a_closed_connection_pushed_out_by_the_memcap_is_reported_closed() {
        // Closed but not acknowledged: each lingers 5 s, five times as long as they come.
        let b = sessions(100, |s| {
            s.client("QUIT\r\n").server("221 bye\r\n").fin(CLIENT).fin(SERVER);
        });
        let mut ended = Vec::new();
        let full = std::mem::size_of::<Full<Bytes>>() + 2048;
        let mut t = table(TcpConfig { memcap: BUCKETS * full, ..TcpConfig::default() });
        feed(&mut t, &b, 1, &mut ended);
        t.finish_all(&mut |f| ended.push(f));
        assert_eq!(ended.len(), 100);
        assert!(ended.iter().all(|f| f.end == EndReason::Closed), "none reported dropped");
        assert!(ended.iter().any(|f| f.phase == FinishPhase::Evicted), "the memcap pushed some out");
        assert_eq!(t.stats.flows_evicted, 0);
    }
}
