//! `ZeekConn` against Zeek's own conn.log baselines in the shared corpus.
//!
//! For every connection of `/work/shared/corpus/facts.jsonl` whose Zeek baseline has exactly one
//! conn.log row in the same orientation as the manifest, the capture's packets of that 4-tuple
//! are fed to `ZeekConn` and its `conn_state`/`history` compared with Zeek's. The corpus is not
//! part of the repository: without it the test passes without checking anything.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use etherparse::{LaxNetSlice, LaxSlicedPacket};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};
use serde_json::Value;
use smtpdiag::tcp::zeek::ZeekConn;

const CORPUS: &str = "/work/shared/corpus";

/// Baselines we cannot reproduce from one packet stream, and why.
const KNOWN: &[(&str, &str)] = &[(
    "zeek/smtp__mime-header-size-limit.pcap",
    "history letter 'X' is not one of the TCP analyzer's letters (baseline from a script \
     outside TCP state)",
)];

/// Baselines whose btest ran `zeek -C` (checksums ignored); the others validate checksums,
/// as `core.tcp.bad-checksum-syn` shows with its `C` history.
const RUN_WITH_MINUS_C: &[&str] = &[
    // testing/btest/core/tcp/rxmit-history.zeek: `zeek -C -r .../retransmit-fast009.trace`
    "core.tcp.rxmit-history/",
];

/// One TCP segment of the connection under test, in capture order.
#[derive(Clone, Copy, Debug)]
struct Pkt {
    from_first: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    window: u16,
    checksum_ok: bool,
    /// Payload fully captured; Zeek's reassembler never sees truncated payload
    /// (`TCP_Endpoint::DataSent`: "truncated_tcp_payload"), so a later ack reveals a gap.
    complete: bool,
}

/// What the manifest says Zeek logged.
struct Case {
    capture: String,
    client: SocketAddr,
    server: SocketAddr,
    conn_state: Option<String>,
    history: Option<String>,
    ignore_checksums: bool,
}

#[test]
fn zeek_conn_log_reference() {
    let root = Path::new(CORPUS);
    let Ok(text) = std::fs::read_to_string(root.join("facts.jsonl")) else {
        eprintln!("{CORPUS} not available: skipping the Zeek reference comparison");
        return;
    };
    let (mut checked, mut matched, mut unexpected) = (0, 0, Vec::new());
    for case in text.lines().filter_map(case_of) {
        let Some(pkts) = packets_of(&root.join(&case.capture), case.client, case.server) else {
            println!("SKIP {}: capture unreadable", case.capture);
            continue;
        };
        let ports = first_ports(&pkts, case.client, case.server);
        let got = replay(&pkts, ports, case.ignore_checksums);
        checked += 1;
        let state_ok = case.conn_state.as_deref().is_none_or(|s| s == got.conn_state());
        let hist_ok = case.history.as_deref().is_none_or(|h| h == got.history());
        if state_ok && hist_ok {
            matched += 1;
            continue;
        }
        let known = KNOWN.iter().find(|(c, _)| *c == case.capture);
        println!(
            "MISMATCH {} {} -> {}: zeek {:?} {:?}, ours {} {}{}",
            case.capture,
            case.client,
            case.server,
            case.conn_state,
            case.history,
            got.conn_state(),
            got.history(),
            known.map(|(_, why)| format!(" (known: {why})")).unwrap_or_default()
        );
        if known.is_none() {
            unexpected.push(case.capture.clone());
        }
    }
    println!("zeek reference: {matched}/{checked} connections match");
    assert!(unexpected.is_empty(), "unexpected mismatches: {unexpected:?}");
}

/// A manifest line with exactly one same-orientation Zeek conn.log row carrying
/// `conn_state` or `history`; gzip captures are skipped.
fn case_of(line: &str) -> Option<Case> {
    let v: Value = serde_json::from_str(line).ok()?;
    let zeek = v.get("zeek")?;
    if zeek.get("orientation")?.as_str()? != "same" {
        return None;
    }
    let rows = zeek.get("conn_log")?.as_array()?;
    let [row] = rows.as_slice() else { return None };
    let field = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
    let (conn_state, history) = (field("conn_state"), field("history"));
    let capture = v.get("capture")?.as_str()?.to_owned();
    if (conn_state.is_none() && history.is_none()) || capture.ends_with(".gz") {
        return None;
    }
    let sources = zeek.get("sources").and_then(Value::as_array);
    let ignore_checksums = sources.is_some_and(|list| {
        list.iter().filter_map(Value::as_str).any(|src| RUN_WITH_MINUS_C.iter().any(|p| src.starts_with(p)))
    });
    Some(Case {
        capture,
        ignore_checksums,
        client: v.get("client")?.as_str()?.parse().ok()?,
        server: v.get("server")?.as_str()?.parse().ok()?,
        conn_state,
        history,
    })
}

/// Ports of (first sender, other side), for Zeek's port-based role guess.
fn first_ports(pkts: &[(SocketAddr, Pkt)], client: SocketAddr, server: SocketAddr) -> (u16, u16) {
    match pkts.first() {
        Some((src, _)) if *src == server => (server.port(), client.port()),
        _ => (client.port(), server.port()),
    }
}

/// Feeds the packets to `ZeekConn`, reporting content gaps the way Zeek's reassembler does.
fn replay(pkts: &[(SocketAddr, Pkt)], ports: (u16, u16), ignore_checksums: bool) -> ZeekConn {
    let mut conn = ZeekConn::with_ports(ports.0, ports.1);
    let mut gaps = GapTracker::default();
    for (_, p) in pkts {
        let ok = ignore_checksums || p.checksum_ok;
        conn.on_packet(p.from_first, p.flags, p.seq, p.ack, p.len, p.window, ok);
        if ok {
            for dir in gaps.on_packet(p) {
                conn.on_content_gap(dir);
            }
        }
    }
    conn
}

/// Per-direction sequence coverage, enough to spot what Zeek calls a content gap: the peer
/// acknowledges bytes that never appeared in the capture (Zeek's reassembler learns of holes
/// from acks, `TCP_Reassembler::AckReceived`).
#[derive(Default)]
struct GapTracker {
    /// Indexed by `from_first`: next expected sequence number and segments beyond it.
    dirs: [Option<Dir>; 2],
}

struct Dir {
    expect: u32,
    ahead: BTreeMap<i64, u32>,
}

impl GapTracker {
    /// Returns the directions (`from_first`) in which this packet revealed a gap.
    fn on_packet(&mut self, p: &Pkt) -> Vec<bool> {
        let own = usize::from(p.from_first);
        let syn = p.flags & 0x02 != 0;
        let rst = p.flags & 0x04 != 0;
        let fin = p.flags & 0x01 != 0;
        if !rst && (p.complete || p.len == 0) {
            let start = if syn { p.seq.wrapping_add(1) } else { p.seq };
            let dir = self.dirs[own].get_or_insert(Dir { expect: start, ahead: BTreeMap::new() });
            let end = start.wrapping_add(p.len).wrapping_add(u32::from(fin));
            dir.cover(start, end);
        }
        let mut found = Vec::new();
        let peer = 1 - own;
        if p.flags & 0x10 != 0
            && !rst
            && let Some(dir) = self.dirs[peer].as_mut()
            && (p.ack.wrapping_sub(dir.expect) as i32) > 0
        {
            found.push(peer == 1);
            dir.expect = p.ack;
            dir.absorb();
        }
        found
    }
}

impl Dir {
    fn cover(&mut self, start: u32, end: u32) {
        let off = i64::from(start.wrapping_sub(self.expect) as i32);
        if off <= 0 {
            if (end.wrapping_sub(self.expect) as i32) > 0 {
                self.expect = end;
            }
            self.absorb();
        } else {
            self.ahead.insert(off + i64::from(self.expect), end);
        }
    }

    /// Takes in buffered segments that now touch the covered range.
    fn absorb(&mut self) {
        let segs: Vec<(i64, u32)> = self.ahead.iter().map(|(k, v)| (*k, *v)).collect();
        self.ahead.clear();
        for (k, end) in segs {
            let start = k as u32;
            if (start.wrapping_sub(self.expect) as i32) <= 0 {
                if (end.wrapping_sub(self.expect) as i32) > 0 {
                    self.expect = end;
                }
            } else {
                self.ahead.insert(k, end);
            }
        }
    }
}

/// The TCP packets between `a` and `b`, with the sender's address; None if unreadable.
fn packets_of(path: &PathBuf, a: SocketAddr, b: SocketAddr) -> Option<Vec<(SocketAddr, Pkt)>> {
    let mut out: Vec<(SocketAddr, Pkt)> = Vec::new();
    let mut first: Option<SocketAddr> = None;
    for_each_frame(path, |linktype, data| {
        let Some((src, dst, mut pkt)) = decode(linktype, data) else {
            return;
        };
        if !((src == a && dst == b) || (src == b && dst == a)) {
            return;
        }
        let first_sender = *first.get_or_insert(src);
        pkt.from_first = src == first_sender;
        out.push((src, pkt));
    })?;
    Some(out)
}

/// Calls `f(linktype, frame)` for every frame of a pcap or pcapng file; stops quietly at a
/// corrupt record.
fn for_each_frame(path: &PathBuf, mut f: impl FnMut(i32, &[u8])) -> Option<()> {
    let file = File::open(path).ok()?;
    let mut reader = create_reader(1 << 16, file).ok()?;
    let mut legacy_linktype = 1;
    let mut if_linktypes: Vec<i32> = Vec::new();
    let mut stalled = false;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                stalled = false;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => legacy_linktype = h.network.0,
                    PcapBlockOwned::Legacy(b) => f(legacy_linktype, b.data),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => if_linktypes.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(i)) => if_linktypes.push(i.linktype.0),
                    PcapBlockOwned::NG(Block::EnhancedPacket(e)) => {
                        let lt = if_linktypes.get(e.if_id as usize).copied().unwrap_or(1);
                        let n = (e.caplen as usize).min(e.data.len());
                        f(lt, &e.data[..n]);
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(s)) => f(if_linktypes.first().copied().unwrap_or(1), s.data),
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) if !stalled => {
                stalled = true;
                reader.refill().ok()?;
            }
            Err(_) => break,
        }
    }
    Some(())
}

/// Decodes one frame into (source, destination, segment) when it is TCP.
fn decode(linktype: i32, frame: &[u8]) -> Option<(SocketAddr, SocketAddr, Pkt)> {
    let sliced = match linktype {
        1 => LaxSlicedPacket::from_ethernet(frame).ok()?,
        // DLT_NULL / DLT_LOOP: a 4-byte address family header.
        0 | 108 => LaxSlicedPacket::from_ip(frame.get(4..)?).ok()?,
        // Raw IP (DLT_RAW values 12/14, LINKTYPE_RAW 101, IPV4 228, IPV6 229).
        12 | 14 | 101 | 228 | 229 => LaxSlicedPacket::from_ip(frame).ok()?,
        // Linux cooked capture: 16-byte header.
        113 => LaxSlicedPacket::from_ip(frame.get(16..)?).ok()?,
        _ => return None,
    };
    let (src, dst, ip_payload_len, payload) = match sliced.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let ip_len = usize::from(h.total_len()).saturating_sub(h.slice().len());
            let p = v4.payload();
            (IpAddr::from(h.source()), IpAddr::from(h.destination()), ip_len, p.clone())
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            let ext = usize::from(h.payload_length()).saturating_sub(p.payload.len());
            let ip_len = usize::from(h.payload_length()).saturating_sub(if p.incomplete { 0 } else { ext });
            (IpAddr::from(h.source()), IpAddr::from(h.destination()), ip_len, p.clone())
        }
        _ => return None,
    };
    if payload.ip_number != etherparse::IpNumber::TCP || payload.fragmented {
        return None;
    }
    let tcp = payload.payload;
    if tcp.len() < 20 {
        return None;
    }
    let hdr_len = usize::from(tcp[12] >> 4) * 4;
    let wire_len = ip_payload_len.max(tcp.len()).saturating_sub(hdr_len);
    let complete = !payload.incomplete && tcp.len() >= hdr_len + wire_len;
    let pkt = Pkt {
        from_first: false,
        flags: tcp[13],
        seq: u32::from_be_bytes(tcp[4..8].try_into().ok()?),
        ack: u32::from_be_bytes(tcp[8..12].try_into().ok()?),
        len: u32::try_from(wire_len).ok()?,
        window: u16::from_be_bytes([tcp[14], tcp[15]]),
        // Zeek only verifies checksums of fully captured packets.
        checksum_ok: !complete || checksum_ok(src, dst, &tcp[..hdr_len + wire_len]),
        complete,
    };
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport), pkt))
}

/// The TCP checksum over the pseudo-header and segment sums to 0xffff when valid.
fn checksum_ok(src: IpAddr, dst: IpAddr, segment: &[u8]) -> bool {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        for chunk in bytes.chunks(2) {
            let hi = u64::from(chunk[0]) << 8;
            sum += hi | chunk.get(1).map_or(0, |b| u64::from(*b));
        }
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            add(&s.octets());
            add(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            add(&s.octets());
            add(&d.octets());
        }
        _ => return true,
    }
    add(&[0, 6]);
    add(&(segment.len() as u32).to_be_bytes());
    add(segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}
