//! Testing the TCP layer on its own: [`Wire`] writes a connection's packets (sequence numbers
//! kept right, as a peer would send them) straight as decoded [`Packet`]s, and [`Recorder`] is
//! the application side of a [`FlowTable`], keeping every chunk the table hands out. No pcap,
//! no decoder, no SMTP: what a test sees is what the flow table did.

use super::super::conn::Endpoint;
use super::super::{Direction, PacketRef};
use super::{Finished, FlowTable, StreamConsumer, TcpConfig};
use crate::capture::Timestamp;
use crate::decode::{Packet, TcpFlags};
use std::net::{IpAddr, Ipv4Addr};

pub const CLIENT: usize = 0;
pub const SERVER: usize = 1;

/// One piece of a stream as the table handed it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Data(Vec<u8>),
    Gap(u64),
}

/// Records what the flow table hands a connection's application, in order.
#[derive(Default)]
pub struct Recorder {
    pub pieces: Vec<(Direction, Piece, PacketRef)>,
}

impl StreamConsumer for Recorder {
    fn on_data(&mut self, dir: Direction, data: &[u8], at: PacketRef) {
        self.pieces.push((dir, Piece::Data(data.to_vec()), at));
    }
    fn on_gap(&mut self, dir: Direction, len: u64, at: PacketRef) {
        self.pieces.push((dir, Piece::Gap(len), at));
    }
}

impl Recorder {
    /// One direction's stream as text, a gap shown as `[gap N]`.
    pub fn text(&self, dir: Direction) -> String {
        let mut out = String::new();
        for (_, piece, _) in self.pieces.iter().filter(|(d, ..)| *d == dir) {
            match piece {
                Piece::Data(d) => out.push_str(&String::from_utf8_lossy(d)),
                Piece::Gap(n) => out.push_str(&format!("[gap {n}]")),
            }
        }
        out
    }
}

/// A packet as [`Wire`] keeps it (owning its payload).
#[derive(Clone)]
pub struct Sent {
    pub ts: Timestamp,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub ttl: u8,
    pub ip_id: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
}

impl Sent {
    fn packet(&self, number: u64) -> Packet<'_> {
        Packet {
            number,
            ts: self.ts,
            src: self.src.ip,
            dst: self.dst.ip,
            ttl: self.ttl,
            ip_id: Some(self.ip_id),
            src_port: self.src.port,
            dst_port: self.dst.port,
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.flags),
            window: 64240,
            mss: None,
            payload: &self.payload,
            missing: 0,
        }
    }
}

/// One connection written packet by packet: each side's next sequence number, TTL and IP-ID
/// advance as a real stack's would; 0.1 ms passes after each packet.
pub struct Wire {
    ends: [Endpoint; 2],
    seq: [u32; 2],
    ttl: [u8; 2],
    ip_id: [u16; 2],
    /// Capture time of the next packet, in nanoseconds.
    pub now: i64,
    pub sent: Vec<Sent>,
}

fn endpoint((ip, port): ([u8; 4], u16)) -> Endpoint {
    Endpoint { ip: IpAddr::V4(Ipv4Addr::from(ip)), port }
}

impl Wire {
    pub fn new(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Self {
        Wire {
            ends: [endpoint(client), endpoint(server)],
            seq: [1_000, 50_000],
            ttl: [64, 63],
            ip_id: [100, 7000],
            now: 1_700_000_000_000_000_000,
            sent: Vec::new(),
        }
    }

    /// 203.0.113.5:49152 → 198.51.100.25:25.
    pub fn lab() -> Self {
        Self::new(([203, 0, 113, 5], 49152), ([198, 51, 100, 25], 25))
    }

    pub fn at_isn(mut self, client_isn: u32, server_isn: u32) -> Self {
        self.seq = [client_isn, server_isn];
        self
    }

    pub fn wait(&mut self, secs: f64) -> &mut Self {
        self.now += (secs * 1e9) as i64;
        self
    }

    /// A packet from `side` with explicit flags, numbers and payload (no sequence number moves).
    pub fn raw(&mut self, side: usize, flags: u8, seq: u32, ack: u32, payload: &[u8], ttl: u8) -> &mut Self {
        let ip_id = self.ip_id[side];
        self.ip_id[side] = ip_id.wrapping_add(1);
        let (src, dst) = (self.ends[side], self.ends[1 - side]);
        let ack = if flags & TcpFlags::ACK != 0 { ack } else { 0 };
        self.sent.push(Sent {
            ts: Timestamp(self.now),
            src,
            dst,
            ttl,
            ip_id,
            seq,
            ack,
            flags,
            payload: payload.to_vec(),
        });
        self.now += 100_000;
        self
    }

    /// One segment of `side`, in sequence, acknowledging everything the other side sent.
    pub fn send(&mut self, side: usize, flags: u8, payload: &[u8]) -> &mut Self {
        let (seq, ack, ttl) = (self.seq[side], self.seq[1 - side], self.ttl[side]);
        self.raw(side, flags, seq, ack, payload, ttl);
        let consumed = payload.len() as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        self.seq[side] = self.seq[side].wrapping_add(consumed);
        self
    }

    /// A SYN of the client that does not move its sequence number (a retry sends it again).
    pub fn syn(&mut self) -> &mut Self {
        let (seq, ttl) = (self.seq[CLIENT], self.ttl[CLIENT]);
        self.raw(CLIENT, TcpFlags::SYN, seq, 0, b"", ttl)
    }

    pub fn handshake(&mut self) -> &mut Self {
        self.send(CLIENT, TcpFlags::SYN, b"");
        self.send(SERVER, TcpFlags::SYN | TcpFlags::ACK, b"");
        self.send(CLIENT, TcpFlags::ACK, b"")
    }

    pub fn client(&mut self, text: &str) -> &mut Self {
        self.send(CLIENT, TcpFlags::PSH | TcpFlags::ACK, text.as_bytes())
    }

    pub fn server(&mut self, text: &str) -> &mut Self {
        self.send(SERVER, TcpFlags::PSH | TcpFlags::ACK, text.as_bytes())
    }

    pub fn ack(&mut self, side: usize) -> &mut Self {
        self.send(side, TcpFlags::ACK, b"")
    }

    pub fn fin(&mut self, side: usize) -> &mut Self {
        self.send(side, TcpFlags::FIN | TcpFlags::ACK, b"")
    }

    pub fn rst(&mut self, side: usize) -> &mut Self {
        self.send(side, TcpFlags::RST | TcpFlags::ACK, b"")
    }

    /// Client FIN, server ACK, server FIN, client ACK.
    pub fn close(&mut self) -> &mut Self {
        self.fin(CLIENT).ack(SERVER).fin(SERVER).ack(CLIENT)
    }

    /// The last packet recorded again at a second capture point: `delay_ns` later, one hop on.
    pub fn copy_last(&mut self, delay_ns: i64) -> &mut Self {
        let mut copy = self.sent.last().cloned().expect("a packet to copy");
        copy.ts = Timestamp(copy.ts.0 + delay_ns);
        copy.ttl -= 1;
        self.sent.push(copy);
        self
    }

    /// Sequence number `side` uses next.
    pub fn next_seq(&self, side: usize) -> u32 {
        self.seq[side]
    }

    /// Appends `other`'s packets, their times `shift_ns` later.
    pub fn append(&mut self, other: Wire, shift_ns: i64) -> &mut Self {
        self.sent.extend(other.sent.into_iter().map(|s| Sent { ts: Timestamp(s.ts.0 + shift_ns), ..s }));
        self
    }
}

/// A flow table whose connections record what they are handed.
pub fn table(config: TcpConfig) -> FlowTable<Recorder> {
    FlowTable::new(config, Box::new(|_: &Endpoint, _: &Endpoint| Recorder::default()))
}

/// Feeds `wire`'s packets, numbered from `first`, to `table`, calling `watch` after each;
/// returns the connections they ended.
pub fn feed_watching(
    table: &mut FlowTable<Recorder>,
    wire: &Wire,
    first: u64,
    mut watch: impl FnMut(&FlowTable<Recorder>),
) -> Vec<Finished<Recorder>> {
    let mut ended = Vec::new();
    for (i, sent) in wire.sent.iter().enumerate() {
        table.packet(&sent.packet(first + i as u64), &mut |f| ended.push(f));
        watch(table);
    }
    ended
}

pub fn feed(table: &mut FlowTable<Recorder>, wire: &Wire, first: u64) -> Vec<Finished<Recorder>> {
    feed_watching(table, wire, first, |_| {})
}

/// Every connection of `wire` (packets numbered from 1) through a table with `config`, to the
/// end of input; with the table, for its counters.
pub fn run_with(config: TcpConfig, wire: &Wire) -> (Vec<Finished<Recorder>>, FlowTable<Recorder>) {
    let mut t = table(config);
    let mut ended = feed(&mut t, wire, 1);
    t.finish_all(&mut |f| ended.push(f));
    (ended, t)
}

/// [`run_with`] the default settings, the connections only.
pub fn run(wire: &Wire) -> Vec<Finished<Recorder>> {
    run_with(TcpConfig::default(), wire).0
}
