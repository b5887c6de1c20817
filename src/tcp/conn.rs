//! What one TCP connection did, packet by packet: roles, handshake, who closed and how, and the
//! per-direction counters a diagnosis needs. Payload bytes are not kept here (reassembly hands
//! them on); only per-packet facts are.

pub use super::events::PacketEvent;

use super::events::EventLog;
use super::reassembly::{DirectionStats, Reassembler, Rewrite, SegmentClass};
use super::zeek::ZeekConn;
use super::{Direction, PacketRef};
use crate::decode::{FlagsLabel, Packet, TcpFlags};
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port),
        }
    }
}

/// How the roles were decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleBasis {
    /// Sender of the first SYN without ACK is the client.
    Syn,
    /// Sender of a SYN-ACK is the server.
    Synack,
    /// Mid-session: the side using a mail port is the server.
    Port,
    /// Mid-session: the side sending 3-digit replies is the server.
    Reply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// SYN, SYN-ACK and the client's ACK (or its first data) were seen.
    Complete,
    /// SYN and SYN-ACK, but the client never acknowledged.
    SynSynack,
    /// SYN(s) with no answer.
    SynOnly,
    /// SYN answered by RST.
    SynRst,
    /// No SYN: the capture starts mid-session.
    Midstream,
}

/// A FIN or RST, in capture order.
#[derive(Clone, Debug, PartialEq)]
pub struct CloseEvent {
    pub packet: u64,
    pub ts: f64,
    pub by: Role,
    pub kind: CloseKind,
    pub flags: FlagsLabel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn of(dir: Direction) -> Role {
        match dir {
            Direction::ClientToServer => Role::Client,
            Direction::ServerToClient => Role::Server,
        }
    }
    /// The side as the outputs name it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseKind {
    Fin,
    Rst,
}

/// How IPv4 identification values evolve in one direction: a host's own stack usually
/// increments them (or sends zero with DF); a middlebox forging packets rarely matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IpIdPattern {
    #[default]
    None,
    Zero,
    Constant,
    Incrementing,
    Random,
}

#[derive(Clone, Copy, Debug, Default)]
struct IpIdTracker {
    first: Option<u16>,
    last: u16,
    seen: u32,
    zeros: u32,
    same: u32,
    small_steps: u32,
}

impl IpIdTracker {
    fn add(&mut self, id: u16) {
        if id == 0 {
            self.zeros += 1;
        }
        if self.first.is_some() {
            let step = id.wrapping_sub(self.last);
            if step == 0 {
                self.same += 1;
            } else if step <= 256 {
                self.small_steps += 1;
            }
        } else {
            self.first = Some(id);
        }
        self.last = id;
        self.seen += 1;
    }

    fn pattern(&self) -> IpIdPattern {
        let steps = self.seen.saturating_sub(1);
        match self.seen {
            0 => IpIdPattern::None,
            _ if self.zeros == self.seen => IpIdPattern::Zero,
            1 => IpIdPattern::Incrementing,
            _ if self.same == steps => IpIdPattern::Constant,
            _ if (self.small_steps + self.same) * 5 >= steps * 4 => IpIdPattern::Incrementing,
            _ => IpIdPattern::Random,
        }
    }
}

/// What identifies one packet, to recognise it when a second capture point records it again
/// (with its sequence number, kept apart in [`Kept`]).
#[derive(Clone, Copy, Default)]
struct Signature {
    number: u64,
    ts: i64,
    ip_id: Option<u16>,
    ttl: u8,
    ack: u32,
    flags: u8,
    len: u32,
}

/// The last packets of one direction, oldest overwritten first. Their sequence numbers are
/// kept apart from the rest: they tell almost every packet from the kept ones, and four of them
/// are one load each in one place instead of one per signature.
#[derive(Clone, Copy, Default)]
struct Kept {
    seqs: [u32; SIGNATURES_KEPT],
    signatures: [Signature; SIGNATURES_KEPT],
    /// The slot the next packet takes.
    pos: usize,
}

/// Copies of one packet seen on two interfaces of one machine arrive within microseconds (a few
/// milliseconds through a userspace rewriter); a retransmission never comes this fast with the
/// same IP-ID.
const DUPLICATE_WINDOW_NS: i64 = 50_000_000;
const SIGNATURES_KEPT: usize = 4;

/// Counters and observations of one direction.
#[derive(Clone, Debug, Default)]
pub struct DirFacts {
    pub packets: u64,
    pub payload_bytes: u64,
    pub zero_window: u64,
    pub ttl_min: Option<u8>,
    pub ttl_max: Option<u8>,
    pub ip_id: IpIdPattern,
    pub mss: Option<u16>,
    /// Largest payload of one segment, on the wire.
    pub max_segment: u32,
    /// Packets seen a second time at another capture point (not retransmissions).
    pub duplicates: u64,
    pub stream: DirectionStats,
    ip_ids: IpIdTracker,
}

/// The state of one connection while packets arrive.
pub struct ConnTracker {
    pub client: Endpoint,
    pub server: Endpoint,
    pub role_basis: RoleBasis,
    pub first: PacketRef,
    pub last: PacketRef,
    pub dirs: [DirFacts; 2],
    events: EventLog,
    pub closes: Vec<CloseEvent>,
    syn: Option<PacketRef>,
    syn_count: u32,
    last_syn: Option<PacketRef>,
    synack: Option<PacketRef>,
    synack_count: u32,
    handshake_ack: Option<PacketRef>,
    syn_answered_by_rst: bool,
    isn: [Option<u32>; 2],
    rst_seen: bool,
    /// Zeek's own view, fed the same packets, for conn.log-compatible state and history.
    zeek: ZeekConn,
    /// Sender of the connection's first captured packet (Zeek's frame of reference).
    first_sender: Endpoint,
    /// `first_sender == client`: which direction's packets are the first sender's.
    first_sender_is_client: bool,
    /// Holes per direction (the reassembler's count) the Zeek model has been told about.
    zeek_gaps_told: [u64; 2],
    kept: [Kept; 2],
}

impl ConnTracker {
    pub fn new(
        client: Endpoint,
        server: Endpoint,
        role_basis: RoleBasis,
        first: PacketRef,
        first_sender: Endpoint,
        events: EventLog,
    ) -> Self {
        let other = if first_sender == client { server } else { client };
        ConnTracker {
            zeek: ZeekConn::with_ports(first_sender.port, other.port),
            first_sender,
            first_sender_is_client: first_sender == client,
            zeek_gaps_told: [0; 2],
            kept: Default::default(),
            client,
            server,
            role_basis,
            first,
            last: first,
            dirs: Default::default(),
            events,
            closes: Vec::new(),
            syn: None,
            syn_count: 0,
            last_syn: None,
            synack: None,
            synack_count: 0,
            handshake_ack: None,
            syn_answered_by_rst: false,
            isn: [None; 2],
            rst_seen: false,
        }
    }

    #[inline]
    pub fn direction_of(&self, p: &Packet<'_>) -> Direction {
        if p.src == self.client.ip && p.src_port == self.client.port {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }

    /// After the packet's bytes were reassembled: an acknowledgment tells Zeek about the holes
    /// the reassembler of the other direction found in the data it acknowledges.
    #[inline]
    pub fn after_reassembly(&mut self, p: &Packet<'_>, dir: Direction, streams: &[Reassembler; 2]) {
        if p.flags.ack() {
            let other = dir.reverse();
            self.tell_zeek_gaps(other, streams[other.index()].gaps());
        }
    }

    /// Zeek notices a content gap when the peer acknowledges past it, so its history letter comes
    /// after the peer's ACK; tell the model at that point (or at the end): one gap for any number
    /// of new holes since it was last told.
    #[inline]
    fn tell_zeek_gaps(&mut self, dir: Direction, gaps: u64) {
        if gaps > std::mem::replace(&mut self.zeek_gaps_told[dir.index()], gaps) {
            let sender = match dir {
                Direction::ClientToServer => self.client,
                Direction::ServerToClient => self.server,
            };
            self.zeek.on_content_gap(sender == self.first_sender);
        }
    }

    /// Is this packet one already seen, recorded again at another capture point? Same IP-ID,
    /// sequence and acknowledgment numbers, flags and length, moments later — and a TTL one hop
    /// lower, or the same TTL where the IP-ID proves identity (a VLAN host seeing it twice).
    #[inline]
    pub fn is_duplicate(&self, p: &Packet<'_>, dir: Direction) -> bool {
        let kept = &self.kept[dir.index()];
        // The sequence number first: it tells almost every packet from the kept ones.
        kept.seqs.iter().zip(&kept.signatures).any(|(&seq, s)| {
            let same_packet = || match (s.ip_id, p.ip_id) {
                (Some(a), Some(b)) => a == b && (a != 0 || s.ttl != p.ttl),
                (None, None) => s.ttl != p.ttl,
                _ => false,
            };
            seq == p.seq
                && s.ack == p.ack
                && s.number != 0
                && (0..=DUPLICATE_WINDOW_NS).contains(&(p.ts.0 - s.ts))
                && same_packet()
                && s.flags == p.flags.0
                && s.len == p.wire_len()
        })
    }

    fn remember(&mut self, p: &Packet<'_>, dir: Direction) {
        let kept = &mut self.kept[dir.index()];
        let at = kept.pos;
        kept.seqs[at] = p.seq;
        kept.signatures[at] = Signature {
            number: p.number,
            ts: p.ts.0,
            ip_id: p.ip_id,
            ttl: p.ttl,
            ack: p.ack,
            flags: p.flags.0,
            len: p.wire_len(),
        };
        kept.pos = (at + 1) % SIGNATURES_KEPT;
    }

    /// Record the header facts of a packet (before its payload is reassembled). A duplicate
    /// counts as a frame but not as a handshake, close or TTL observation of its sender.
    pub fn observe(&mut self, p: &Packet<'_>, dir: Direction, duplicate: bool) {
        let at = PacketRef { number: p.number, ts: p.ts };
        self.last = at;
        // The packet is the client's or the server's: the first sender's when it is the same side.
        let from_first = (dir == Direction::ClientToServer) == self.first_sender_is_client;
        self.zeek.on_packet(from_first, p.flags.0, p.seq, p.ack, p.wire_len(), p.window, true);
        let facts = &mut self.dirs[dir.index()];
        facts.packets += 1;
        facts.payload_bytes += p.wire_len() as u64;
        if duplicate {
            facts.duplicates += 1;
            return;
        }
        self.remember(p, dir);
        let facts = &mut self.dirs[dir.index()];
        facts.max_segment = facts.max_segment.max(p.wire_len());
        facts.ttl_min = Some(facts.ttl_min.map_or(p.ttl, |t| t.min(p.ttl)));
        facts.ttl_max = Some(facts.ttl_max.map_or(p.ttl, |t| t.max(p.ttl)));
        if let Some(id) = p.ip_id {
            facts.ip_ids.add(id);
        }
        if p.mss.is_some() {
            facts.mss = p.mss;
        }
        // Wireshark's zero-window rule: a window of 0 on a segment that is not SYN, FIN or RST.
        if p.window == 0 && p.flags.0 & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST) == 0 {
            facts.zero_window += 1;
        }
        self.observe_handshake(p, dir, at);
        self.observe_close(p, dir);
        if self.isn[dir.index()].is_none() {
            self.isn[dir.index()] = Some(p.seq);
        }
    }

    fn observe_handshake(&mut self, p: &Packet<'_>, dir: Direction, at: PacketRef) {
        let f = p.flags;
        match dir {
            Direction::ClientToServer if f.syn() && !f.ack() => {
                self.syn_count += 1;
                self.syn.get_or_insert(at);
                self.last_syn = Some(at);
            }
            Direction::ServerToClient if f.syn() && f.ack() => {
                self.synack_count += 1;
                self.synack.get_or_insert(at);
            }
            Direction::ServerToClient if f.rst() && self.syn.is_some() && self.synack.is_none() => {
                self.syn_answered_by_rst = true;
            }
            Direction::ClientToServer
                if self.synack.is_some() && self.handshake_ack.is_none() && f.ack() && !f.syn() =>
            {
                self.handshake_ack = Some(at);
            }
            _ => {}
        }
    }

    fn observe_close(&mut self, p: &Packet<'_>, dir: Direction) {
        let kind = if p.flags.rst() {
            self.rst_seen = true;
            CloseKind::Rst
        } else if p.flags.fin() {
            CloseKind::Fin
        } else {
            return;
        };
        if self.closes.len() < 64 {
            self.closes.push(CloseEvent {
                packet: p.number,
                ts: p.ts.as_secs_f64(),
                by: Role::of(dir),
                kind,
                flags: p.flags.label(),
            });
        }
    }

    /// Keep the packet for ladders and rules, up to the configured count.
    pub fn push_event(&mut self, p: &Packet<'_>, dir: Direction, class: SegmentClass, gap_bytes: u64) {
        let rel = |v: u32, base: Option<u32>| base.map_or(0, |b| v.wrapping_sub(b));
        let rel_ack = if p.flags.ack() { rel(p.ack, self.isn[dir.reverse().index()]) } else { 0 };
        self.events.push(PacketEvent {
            number: p.number,
            ts: p.ts,
            dir,
            flags: p.flags,
            rel_seq: rel(p.seq, self.isn[dir.index()]),
            rel_ack,
            len: p.wire_len(),
            window: p.window,
            ttl: p.ttl,
            ip_id: p.ip_id,
            class,
            gap_bytes,
        });
    }

    pub fn reset_seen(&self) -> bool {
        self.rst_seen
    }

    /// Only SYNs and SYN-ACKs so far: what Zeek gives up on after `tcp_SYN_timeout`. Any other
    /// packet ends the attempt, even one the handshake did not expect: in a one-sided capture
    /// the server's ACK of data we never see proves the connection is established.
    pub fn half_open(&self) -> bool {
        (self.syn.is_some() || self.synack.is_some())
            && self.handshake_ack.is_none()
            && self.dirs.iter().map(|d| d.packets - d.duplicates).sum::<u64>()
                == u64::from(self.syn_count + self.synack_count)
    }

    /// Heap bytes the tracker holds beyond itself (kept events, closes, Zeek's history).
    #[inline]
    pub fn held_bytes(&self) -> usize {
        self.events.held_bytes() + self.closes.capacity() * std::mem::size_of::<CloseEvent>() + self.zeek.held_bytes()
    }

    /// The client's first SYN: a new SYN with another sequence number starts a new connection.
    /// Number of the connection's first packet.
    pub fn first_number(&self) -> u64 {
        self.first.number
    }

    pub fn client_isn(&self) -> Option<u32> {
        if self.syn.is_some() { self.isn[0] } else { None }
    }

    pub fn handshake(&self) -> Handshake {
        match (self.syn, self.synack) {
            (Some(_), Some(_)) if self.handshake_ack.is_some() => Handshake::Complete,
            (Some(_), Some(_)) => Handshake::SynSynack,
            (Some(_), None) if self.syn_answered_by_rst => Handshake::SynRst,
            (Some(_), None) => Handshake::SynOnly,
            (None, _) => Handshake::Midstream,
        }
    }

    /// Finish: freeze what was observed into a record. Takes the lists and strings out of the
    /// tracker instead of consuming it: the tracker sits in its connection's box, and moving
    /// it out first copied a kilobyte and a half per connection. The tracker is dropped after.
    pub fn take_record(&mut self, stream_stats: [DirectionStats; 2]) -> ConnRecord {
        self.tell_zeek_gaps(Direction::ClientToServer, stream_stats[0].gaps);
        self.tell_zeek_gaps(Direction::ServerToClient, stream_stats[1].gaps);
        for (facts, stats) in self.dirs.iter_mut().zip(stream_stats) {
            facts.ip_id = facts.ip_ids.pattern();
            facts.stream = stats;
        }
        let ms = |a: Option<PacketRef>, b: Option<PacketRef>| match (a, b) {
            (Some(a), Some(b)) => Some(b.ts.secs_since(a.ts) * 1000.0),
            _ => None,
        };
        let closed_by = self.closes.first().map(|c| (c.by, c.kind));
        // The state is read from the history: before the history is taken.
        let zeek_conn_state = self.zeek.conn_state();
        ConnRecord {
            handshake: self.handshake(),
            closed_by,
            syn_packet: self.syn.map(|s| s.number),
            syn_count: self.syn_count,
            syn_span_s: ms(self.syn, self.last_syn).map(|v| v / 1000.0),
            synack_packet: self.synack.map(|s| s.number),
            synack_count: self.synack_count,
            ack_packet: self.handshake_ack.map(|s| s.number),
            rtt_syn_synack_ms: ms(self.last_syn, self.synack),
            rtt_synack_ack_ms: ms(self.synack, self.handshake_ack),
            client: self.client,
            server: self.server,
            role_basis: self.role_basis,
            first: self.first,
            last: self.last,
            closes: std::mem::take(&mut self.closes),
            dirs: std::mem::take(&mut self.dirs),
            events_dropped: self.events.dropped,
            events_elided: self.events.elided,
            events: self.events.finish(),
            zeek_conn_state,
            zeek_history: self.zeek.take_history(),
        }
    }
}

/// A finished connection, as later stages read it.
#[derive(Clone, Debug)]
pub struct ConnRecord {
    pub client: Endpoint,
    pub server: Endpoint,
    pub role_basis: RoleBasis,
    pub first: PacketRef,
    pub last: PacketRef,
    pub handshake: Handshake,
    /// The first FIN or RST of the connection.
    pub closed_by: Option<(Role, CloseKind)>,
    pub syn_packet: Option<u64>,
    pub syn_count: u32,
    /// Seconds from the first to the last SYN (SYN retries).
    pub syn_span_s: Option<f64>,
    pub synack_packet: Option<u64>,
    pub synack_count: u32,
    pub ack_packet: Option<u64>,
    pub rtt_syn_synack_ms: Option<f64>,
    pub rtt_synack_ack_ms: Option<f64>,
    pub closes: Vec<CloseEvent>,
    /// Indexed by `Direction::index()`: client→server first.
    pub dirs: [DirFacts; 2],
    /// The packets kept for ladders and rules (see [`super::events`]).
    pub events: Vec<PacketEvent>,
    /// Packets not kept because `--max-events` was reached.
    pub events_dropped: u64,
    /// Ordinary mid-transfer packets left out in compact mode.
    pub events_elided: u64,
    /// Zeek's conn.log view of the same connection.
    pub zeek_conn_state: &'static str,
    pub zeek_history: String,
}

impl ConnRecord {
    pub fn dir(&self, dir: Direction) -> &DirFacts {
        &self.dirs[dir.index()]
    }
    pub fn rewrites(&self) -> impl Iterator<Item = (Direction, &Rewrite)> {
        [Direction::ClientToServer, Direction::ServerToClient]
            .into_iter()
            .flat_map(move |d| self.dirs[d.index()].stream.rewrites.iter().map(move |r| (d, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_id_patterns() {
        let pattern = |ids: &[u16]| {
            let mut t = IpIdTracker::default();
            ids.iter().for_each(|&i| t.add(i));
            t.pattern()
        };
        assert_eq!(pattern(&[]), IpIdPattern::None);
        assert_eq!(pattern(&[0, 0, 0]), IpIdPattern::Zero);
        assert_eq!(pattern(&[7, 7, 7]), IpIdPattern::Constant);
        assert_eq!(pattern(&[100, 101, 102, 104, 105]), IpIdPattern::Incrementing);
        assert_eq!(pattern(&[65535, 0, 1]), IpIdPattern::Incrementing);
        assert_eq!(pattern(&[100, 40000, 1234, 60000, 7]), IpIdPattern::Random);
    }
}
