//! One capture as `diff` needs it: every TCP packet on the mail ports, grouped by connection,
//! with its payload kept. `read` keeps no payload past reassembly; a diff compares the bytes of
//! two captures after the fact, so it reads each file once more on its own, only when asked.

use super::DiffError;
use crate::capture::{self, CaptureWarning, Frame, FrameSink, LinkType, Timestamp};
use crate::decode::{self, TcpFlags};
use crate::tcp::Direction;
use crate::tcp::conn::Endpoint;
use std::collections::HashMap;
use std::ops::{ControlFlow, Range};
use std::path::Path;

/// Payload bytes one capture may hold in memory for a diff; a larger capture is cut down first.
pub const MAX_PAYLOAD_BYTES: usize = 512 << 20;

/// The IP and TCP facts of one packet, its payload as a range of [`CaptureView::bytes`].
#[derive(Clone, Debug)]
pub struct Pkt {
    pub number: u64,
    pub ts: Timestamp,
    pub dir: Direction,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub payload: Range<usize>,
}

impl Pkt {
    pub fn len(&self) -> usize {
        self.payload.len()
    }
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }
    /// SYN, FIN or RST: a packet whose loss or forgery matters even without payload.
    pub fn is_control(&self) -> bool {
        self.flags.0 & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST) != 0
    }
}

/// One TCP connection as seen in one capture.
#[derive(Clone, Debug)]
pub struct Conn {
    pub client: Endpoint,
    pub server: Endpoint,
    pub pkts: Vec<Pkt>,
    /// Sequence number of each direction's SYN (client→server first), when seen.
    pub isn: [Option<u32>; 2],
    /// The `read` session this connection is (its id), filled in by the caller.
    pub session: Option<u64>,
}

impl Conn {
    pub fn first_ts(&self) -> Timestamp {
        self.pkts[0].ts
    }
    pub fn last_ts(&self) -> Timestamp {
        self.pkts.last().map_or(Timestamp(0), |p| p.ts)
    }
    pub fn first_packet(&self) -> u64 {
        self.pkts[0].number
    }
    pub fn last_packet(&self) -> u64 {
        self.pkts.last().map_or(0, |p| p.number)
    }
    /// Where a direction's byte stream starts: after the SYN, else at its first payload.
    pub fn base(&self, dir: Direction) -> Option<u32> {
        if let Some(isn) = self.isn[dir.index()] {
            return Some(isn.wrapping_add(1));
        }
        self.pkts.iter().find(|p| p.dir == dir && !p.is_empty()).map(|p| p.seq)
    }
    pub fn payload_bytes(&self, dir: Direction) -> usize {
        self.pkts.iter().filter(|p| p.dir == dir).map(Pkt::len).sum()
    }
}

/// A capture read for a diff.
#[derive(Debug)]
pub struct CaptureView {
    pub name: String,
    pub conns: Vec<Conn>,
    pub bytes: Vec<u8>,
    pub link_types: Vec<LinkType>,
    pub frames: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Time and bytes of the first frames: two files with the same ones are the same capture.
    pub head: Vec<(Timestamp, Vec<u8>)>,
    pub warnings: Vec<CaptureWarning>,
}

impl CaptureView {
    pub fn payload(&self, p: &Pkt) -> &[u8] {
        &self.bytes[p.payload.clone()]
    }
}

/// Frames compared to tell one capture given twice.
const HEAD_FRAMES: usize = 16;

/// Reads `path`, keeping the TCP packets on `ports`.
pub fn load(path: &Path, ports: &[u16]) -> Result<CaptureView, DiffError> {
    let name = path.display().to_string();
    let mut b = Builder::new(&name, ports);
    capture::read_path(path, &mut b).map_err(DiffError::Capture)?;
    b.done()
}

/// The same for a capture already in memory.
pub fn load_bytes(name: &str, bytes: &[u8], ports: &[u16]) -> Result<CaptureView, DiffError> {
    let mut b = Builder::new(name, ports);
    capture::read_bytes(name, bytes, &mut b).map_err(DiffError::Capture)?;
    b.done()
}

impl<'p> Builder<'p> {
    fn new(name: &str, ports: &'p [u16]) -> Builder<'p> {
        Builder {
            view: CaptureView {
                name: name.to_string(),
                conns: Vec::new(),
                bytes: Vec::new(),
                link_types: Vec::new(),
                frames: 0,
                first_ts: None,
                last_ts: None,
                head: Vec::new(),
                warnings: Vec::new(),
            },
            ports,
            open: HashMap::new(),
            raw: Vec::new(),
            too_big: false,
        }
    }

    fn done(mut self) -> Result<CaptureView, DiffError> {
        if self.too_big {
            return Err(DiffError::TooLarge { capture: self.view.name.clone(), limit: MAX_PAYLOAD_BYTES });
        }
        self.finish();
        Ok(self.view)
    }
}

/// A connection while it is being read: packets with their sender, roles decided at the end.
struct RawConn {
    a: Endpoint,
    b: Endpoint,
    pkts: Vec<(bool, Pkt)>,
    /// First SYN (without ACK) and SYN/ACK senders, as "sent by a".
    syn_from_a: Option<bool>,
    synack_from_a: Option<bool>,
    syn_seq: Option<u32>,
    closed: bool,
}

struct Builder<'p> {
    view: CaptureView,
    ports: &'p [u16],
    open: HashMap<(Endpoint, Endpoint), usize>,
    raw: Vec<RawConn>,
    too_big: bool,
}

impl FrameSink for Builder<'_> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        let v = &mut self.view;
        v.frames += 1;
        if !v.link_types.contains(&frame.link_type) {
            v.link_types.push(frame.link_type);
        }
        v.first_ts.get_or_insert(frame.ts);
        v.last_ts = Some(v.last_ts.map_or(frame.ts, |t| t.max(frame.ts)));
        if v.head.len() < HEAD_FRAMES {
            v.head.push((frame.ts, frame.data.to_vec()));
        }
        let Ok(p) = decode::decode(frame) else { return ControlFlow::Continue(()) };
        if !self.ports.contains(&p.src_port) && !self.ports.contains(&p.dst_port) {
            return ControlFlow::Continue(());
        }
        if v.bytes.len() + p.payload.len() > MAX_PAYLOAD_BYTES {
            self.too_big = true;
            return ControlFlow::Break(());
        }
        let start = v.bytes.len();
        v.bytes.extend_from_slice(p.payload);
        let src = Endpoint { ip: p.src, port: p.src_port };
        let dst = Endpoint { ip: p.dst, port: p.dst_port };
        let pkt = Pkt {
            number: p.number,
            ts: p.ts,
            dir: Direction::ClientToServer,
            seq: p.seq,
            ack: p.ack,
            flags: p.flags,
            ttl: p.ttl,
            ip_id: p.ip_id,
            payload: start..v.bytes.len(),
        };
        self.add(src, dst, pkt);
        ControlFlow::Continue(())
    }

    fn warning(&mut self, warning: CaptureWarning) {
        self.view.warnings.push(warning);
    }
}

impl Builder<'_> {
    fn add(&mut self, src: Endpoint, dst: Endpoint, pkt: Pkt) {
        let key = if (src.ip, src.port) <= (dst.ip, dst.port) { (src, dst) } else { (dst, src) };
        let fresh_syn = pkt.flags.syn() && !pkt.flags.ack();
        let index = match self.open.get(&key) {
            // A new SYN on a closed connection's addresses (another ISN): the port was reused.
            Some(&i) if fresh_syn && self.raw[i].closed && self.raw[i].syn_seq != Some(pkt.seq) => None,
            Some(&i) => Some(i),
            None => None,
        };
        let i = index.unwrap_or_else(|| {
            self.raw.push(RawConn {
                a: src,
                b: dst,
                pkts: Vec::new(),
                syn_from_a: None,
                synack_from_a: None,
                syn_seq: None,
                closed: false,
            });
            self.open.insert(key, self.raw.len() - 1);
            self.raw.len() - 1
        });
        let c = &mut self.raw[i];
        let from_a = src == c.a;
        if fresh_syn && c.syn_from_a.is_none() {
            c.syn_from_a = Some(from_a);
            c.syn_seq = Some(pkt.seq);
        }
        if pkt.flags.syn() && pkt.flags.ack() && c.synack_from_a.is_none() {
            c.synack_from_a = Some(from_a);
        }
        c.closed |= pkt.flags.fin() || pkt.flags.rst();
        c.pkts.push((from_a, pkt));
    }

    fn finish(&mut self) {
        let ports = self.ports;
        for c in self.raw.drain(..) {
            // The client is the SYN's sender, else the SYN/ACK's receiver, else not on a mail port.
            let client_is_a = c
                .syn_from_a
                .or(c.synack_from_a.map(|a| !a))
                .unwrap_or_else(|| !ports.contains(&c.a.port) || ports.contains(&c.b.port) && c.a.port > c.b.port);
            let (client, server) = if client_is_a { (c.a, c.b) } else { (c.b, c.a) };
            let mut isn = [None, None];
            let pkts: Vec<Pkt> = c
                .pkts
                .into_iter()
                .map(|(from_a, mut p)| {
                    p.dir = if from_a == client_is_a { Direction::ClientToServer } else { Direction::ServerToClient };
                    if p.flags.syn() && isn[p.dir.index()].is_none() {
                        isn[p.dir.index()] = Some(p.seq);
                    }
                    p
                })
                .collect();
            self.view.conns.push(Conn { client, server, pkts, isn, session: None });
        }
        self.view.conns.sort_by_key(Conn::first_packet);
    }
}
