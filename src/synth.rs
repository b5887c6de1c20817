//! Synthetic TCP sessions for tests and benchmarks: packets built with etherparse, written as a
//! pcap with [`PcapWriter`], or analysed in memory. Not for captures shipped as evidence — those
//! come from the lab (`scripts/lab`).
//!
//! Dev-only, one source for three test builds: the library's unit tests (`crate::synth`, under
//! `cfg(test)` in lib.rs), the binary's (`#[path]` in main.rs) and the integration tests
//! (`tests/common/mod.rs`, `common::synth`). Hence every library path here is spelled
//! `smtpdiag::`, which lib.rs makes valid inside the library for its tests.

use etherparse::PacketBuilder;
use smtpdiag::capture::{self, CaptureWarning, FrameSink, LinkType, PcapWriter, Timestamp};
use smtpdiag::decode::TcpFlags;
use smtpdiag::session::{Analyzer, AnalyzerConfig, Session};
use std::ops::ControlFlow;

/// Builds one connection packet by packet, keeping sequence numbers right.
pub struct SessionBuilder {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    seq: [u32; 2],
    ttl: [u8; 2],
    ip_id: [u16; 2],
    pub now: i64,
    /// Each frame: timestamp and Ethernet bytes.
    pub frames: Vec<(Timestamp, Vec<u8>)>,
}

pub const CLIENT: usize = 0;
pub const SERVER: usize = 1;

impl SessionBuilder {
    pub fn new(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Self {
        SessionBuilder {
            client,
            server,
            seq: [1_000, 50_000],
            ttl: [64, 63],
            ip_id: [100, 7000],
            now: 1_700_000_000_000_000_000,
            frames: Vec::new(),
        }
    }

    /// The usual lab addresses: 203.0.113.5:49152 → 198.51.100.25:25.
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

    /// A packet from `side` with explicit flags, sequence number and payload (nothing advances).
    pub fn raw(&mut self, side: usize, flags: u8, seq: u32, ack: u32, payload: &[u8], ttl: u8) -> &mut Self {
        let (src, dst) = if side == CLIENT { (self.client, self.server) } else { (self.server, self.client) };
        let mut header =
            etherparse::Ipv4Header::new(0, ttl, etherparse::IpNumber::TCP, src.0, dst.0).expect("valid header");
        header.identification = self.ip_id[side];
        self.ip_id[side] = self.ip_id[side].wrapping_add(1);
        let f = TcpFlags(flags);
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ip(etherparse::IpHeaders::Ipv4(header, Default::default()))
            .tcp(src.1, dst.1, seq, 64240);
        if f.syn() {
            b = b.syn();
        }
        if f.ack() {
            b = b.ack(ack);
        }
        if f.fin() {
            b = b.fin();
        }
        if f.rst() {
            b = b.rst();
        }
        if f.has(TcpFlags::PSH) {
            b = b.psh();
        }
        let mut bytes = Vec::new();
        b.write(&mut bytes, payload).expect("write packet");
        self.frames.push((Timestamp(self.now), bytes));
        self.now += 100_000;
        self
    }

    /// One segment of `side` with these flags and payload, in sequence.
    pub fn send(&mut self, side: usize, flags: u8, payload: &[u8]) -> &mut Self {
        let (seq, ack) = (self.seq[side], self.seq[1 - side]);
        let ttl = self.ttl[side];
        self.raw(side, flags, seq, ack, payload, ttl);
        let consumed = payload.len() as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        self.seq[side] = self.seq[side].wrapping_add(consumed);
        self
    }

    pub fn handshake(&mut self) -> &mut Self {
        self.send(CLIENT, TcpFlags::SYN, b"").send(SERVER, TcpFlags::SYN | TcpFlags::ACK, b"").send(
            CLIENT,
            TcpFlags::ACK,
            b"",
        )
    }

    pub fn syn(&mut self) -> &mut Self {
        let seq = self.seq[CLIENT];
        let ttl = self.ttl[CLIENT];
        self.raw(CLIENT, TcpFlags::SYN, seq, 0, b"", ttl)
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

    /// A reset "from" `side` with another TTL than that side's packets (a middlebox forging it).
    pub fn forged_rst(&mut self, side: usize, ttl: u8) -> &mut Self {
        let (seq, ack) = (self.seq[side], self.seq[1 - side]);
        self.raw(side, TcpFlags::RST | TcpFlags::ACK, seq, ack, b"", ttl)
    }

    /// Client FIN, server ACK, server FIN, client ACK.
    pub fn close(&mut self) -> &mut Self {
        self.fin(CLIENT).ack(SERVER).fin(SERVER).ack(CLIENT)
    }

    /// Sequence number the side will use next.
    pub fn next_seq(&self, side: usize) -> u32 {
        self.seq[side]
    }

    pub fn pcap(&self) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).expect("in-memory writer");
        for (ts, data) in &self.frames {
            w.write_packet(*ts, data, data.len() as u32).expect("in-memory write");
        }
        w.into_inner()
    }

    /// Runs the frames through the whole pipeline.
    pub fn analyze(&self) -> Vec<Session> {
        analyze_pcap(&self.pcap(), AnalyzerConfig::default()).0
    }
}

/// Sessions and warnings of an in-memory capture.
pub fn analyze_pcap(pcap: &[u8], config: AnalyzerConfig) -> (Vec<Session>, Vec<CaptureWarning>) {
    let mut sessions = Vec::new();
    let mut analyzer = Analyzer::new("synthetic", config, |s| {
        sessions.push(s);
        ControlFlow::Continue(())
    });
    let _ = capture::read_bytes("synthetic", pcap, &mut analyzer as &mut dyn FrameSink);
    analyzer.finish();
    let warnings = analyzer.warnings.clone();
    drop(analyzer);
    sessions.sort_by_key(|s| s.index);
    (sessions, warnings)
}
