//! A small builder of hostile and ordinary captures for the tests: Ethernet/IPv4/TCP packets
//! made with etherparse, written with `PcapWriter`, and a runner that pushes frames through the
//! analyzer and collects sessions and warnings.
#![allow(dead_code)]

use etherparse::PacketBuilder;
use smtpdiag::capture::{self, CaptureError, Frame, LinkType, PcapWriter, ReadStats, Timestamp};
use smtpdiag::session::{Analyzer, AnalyzerConfig, Session};
use std::ops::ControlFlow;

pub const CLIENT: [u8; 4] = [203, 0, 113, 5];
pub const SERVER: [u8; 4] = [198, 51, 100, 25];

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;

/// One TCP packet as Ethernet bytes.
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 64240);
    if flags & SYN != 0 {
        b = b.syn();
    }
    if flags & ACK != 0 {
        b = b.ack(ack);
    }
    if flags & FIN != 0 {
        b = b.fin();
    }
    if flags & RST != 0 {
        b = b.rst();
    }
    if flags & PSH != 0 {
        b = b.psh();
    }
    let mut out = Vec::with_capacity(54 + payload.len());
    b.write(&mut out, payload).expect("packet builds");
    out
}

/// A pcap being written in memory, one millisecond between packets.
pub struct Pcap {
    pub w: PcapWriter<Vec<u8>>,
    pub ts: i64,
}

impl Default for Pcap {
    fn default() -> Self {
        Pcap { w: PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).unwrap(), ts: 1_700_000_000_000_000_000 }
    }
}

impl Pcap {
    pub fn frame(&mut self, data: &[u8]) -> &mut Self {
        self.ts += 1_000_000;
        self.w.write_packet(Timestamp(self.ts), data, data.len() as u32).unwrap();
        self
    }

    /// A packet from the client (`c2s`) or the server of the default pair, port 40000 → 25.
    pub fn tcp(&mut self, c2s: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> &mut Self {
        let f = if c2s {
            tcp_frame(CLIENT, SERVER, 40000, 25, seq, ack, flags, payload)
        } else {
            tcp_frame(SERVER, CLIENT, 25, 40000, seq, ack, flags, payload)
        };
        self.frame(&f)
    }

    pub fn bytes(&mut self) -> Vec<u8> {
        self.w.get_mut().clone()
    }
}

/// What one analysis produced.
pub struct Outcome {
    pub read: Result<ReadStats, CaptureError>,
    pub sessions: Vec<Session>,
    pub warnings: Vec<String>,
    pub evicted: u64,
    pub max_open_flows: u64,
}

/// Reads a capture held in memory through the whole analyzer.
pub fn analyze(bytes: &[u8], config: AnalyzerConfig) -> Outcome {
    let mut sessions = Vec::new();
    let mut a = Analyzer::new("t", config, |s| {
        sessions.push(s);
        ControlFlow::Continue(())
    });
    let read = capture::read_bytes("t", bytes, &mut a);
    a.finish();
    let warnings = a.warnings.iter().map(|w| w.message.clone()).collect();
    let (evicted, max_open_flows) = (a.table_stats().flows_evicted, a.table_stats().max_open_flows);
    drop(a);
    Outcome { read, sessions, warnings, evicted, max_open_flows }
}

/// Pushes frames straight into an analyzer, for inputs too big to hold as a capture.
pub struct Feeder<F: FnMut(Session) -> ControlFlow<()>> {
    pub analyzer: Analyzer<F>,
    number: u64,
    pub ts: i64,
}

impl<F: FnMut(Session) -> ControlFlow<()>> Feeder<F> {
    pub fn new(config: AnalyzerConfig, on_session: F) -> Self {
        Feeder { analyzer: Analyzer::new("t", config, on_session), number: 0, ts: 1_700_000_000_000_000_000 }
    }

    pub fn frame(&mut self, data: &[u8]) {
        use smtpdiag::capture::FrameSink;
        self.number += 1;
        self.ts += 1_000;
        let frame = Frame {
            number: self.number,
            ts: Timestamp(self.ts),
            link_type: LinkType::ETHERNET,
            data,
            orig_len: data.len() as u32,
            offset: 0,
        };
        let _ = self.analyzer.frame(&frame);
    }
}
