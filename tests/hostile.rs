//! Hostile and broken captures: each is built here at run time (small ones in memory as pcap or
//! pcapng files, the huge ones streamed frame by frame into the analyzer) and must give exactly
//! the warnings and records below, without a panic and within the configured caps.

mod common;

use common::pcap::*;
use smtpdiag::capture::CaptureWarning;
use smtpdiag::session::{Analyzer, AnalyzerConfig, Session};
use smtpdiag::smtp::{AnomalyKind, SmtpConfig, Verb};
use smtpdiag::tcp::flow::{EndReason, TcpConfig};
use std::ops::ControlFlow;

fn kinds(s: &Session) -> Vec<AnomalyKind> {
    s.smtp.anomalies.iter().map(|a| a.kind).collect()
}

/// The start of an ordinary session: handshake and banner. Client ISN 1000, server ISN 5000.
fn opening(p: &mut Pcap) {
    p.tcp(true, 1000, 0, SYN, b"").tcp(false, 5000, 1001, SYN | ACK, b"").tcp(true, 1001, 5001, ACK, b"");
    p.tcp(false, 5001, 1001, ACK | PSH, b"220 mx ESMTP\r\n");
}

#[test]
fn record_length_beyond_file_end() {
    let mut p = Pcap::default();
    opening(&mut p);
    p.tcp(true, 1001, 5015, ACK | PSH, b"EHLO c\r\n");
    let mut bytes = p.bytes();
    bytes.truncate(bytes.len() - 5);
    let out = analyze(&bytes, AnalyzerConfig::default());
    let stats = out.read.unwrap();
    assert_eq!((stats.frames, stats.truncated, stats.corrupt), (4, true, false));
    assert_eq!(
        out.warnings,
        [
            "capture ends in the middle of packet 5 (record header says 62 bytes, 57 left): the rest of the file is ignored"
        ]
    );
    assert_eq!(out.sessions.len(), 1);
    assert_eq!(out.sessions[0].smtp.replies, [220]);
    assert_eq!(out.sessions[0].end, EndReason::CaptureEnd);
}

/// A record header with any caplen, appended to a pcap.
fn raw_record(bytes: &mut Vec<u8>, caplen: u32, data: &[u8]) {
    bytes.extend([0x00, 0x5e, 0x00, 0x00, 0, 0, 0, 0]);
    bytes.extend(caplen.to_le_bytes());
    bytes.extend(caplen.to_le_bytes());
    bytes.extend(data);
}

#[test]
fn caplen_beyond_snaplen_or_4_gib() {
    for (caplen, message) in [
        (
            200,
            "packet 5 claims 200 captured bytes, more than the file's snapshot length of 128: the file is damaged here and the rest of it is ignored",
        ),
        (
            u32::MAX,
            "packet 5 claims 4294967295 captured bytes, more than any capture holds (262144): the file is damaged here and the rest of it is ignored",
        ),
    ] {
        let mut p = Pcap {
            w: smtpdiag::capture::PcapWriter::new(Vec::new(), smtpdiag::capture::LinkType::ETHERNET, 128).unwrap(),
            ..Pcap::default()
        };
        opening(&mut p);
        let mut bytes = p.bytes();
        raw_record(&mut bytes, caplen, &[0x41; 300]);
        let out = analyze(&bytes, AnalyzerConfig::default());
        let stats = out.read.unwrap();
        assert_eq!((stats.frames, stats.truncated, stats.corrupt), (4, true, true));
        assert_eq!(out.warnings, [message]);
        assert_eq!(out.sessions[0].smtp.replies, [220]);
    }
}

#[test]
fn zero_length_and_one_byte_records() {
    let mut p = Pcap::default();
    p.frame(b"").frame(b"\x45");
    opening(&mut p);
    p.frame(b"").frame(b"\xff");
    let out = analyze(&p.bytes(), AnalyzerConfig::default());
    assert_eq!(out.read.unwrap().frames, 8);
    assert_eq!(out.warnings.len(), 4, "{:?}", out.warnings);
    for (w, n) in out.warnings.iter().zip([1, 2, 7, 8]) {
        assert!(w.starts_with(&format!("packet {n}: malformed headers (")), "{w}");
    }
    assert_eq!(out.sessions.len(), 1);
    assert_eq!(out.sessions[0].smtp.replies, [220]);
}

/// A little-endian pcapng block.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len().next_multiple_of(4)) as u32;
    let mut b = kind.to_le_bytes().to_vec();
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.resize(len as usize - 4, 0);
    b.extend(len.to_le_bytes());
    b
}

fn epb(data: &[u8], ts: u64) -> Vec<u8> {
    let mut body = 0u32.to_le_bytes().to_vec();
    body.extend(((ts >> 32) as u32).to_le_bytes());
    body.extend((ts as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(data);
    block(6, &body)
}

#[test]
fn pcapng_unknown_block_type_and_corrupt_block_length() {
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend([1, 0, 0, 0]);
    shb.extend(u64::MAX.to_le_bytes());
    let mut ng = block(0x0a0d_0d0a, &shb);
    ng.extend(block(1, &[1, 0, 0, 0, 0, 0, 0, 0]));
    let syn = tcp_frame(CLIENT, SERVER, 40000, 25, 1000, 0, SYN, b"");
    ng.extend(epb(&syn, 1));
    ng.extend(block(0x1234_5678, b"what is this"));
    let synack = tcp_frame(SERVER, CLIENT, 25, 40000, 5000, 1001, SYN | ACK, b"");
    ng.extend(epb(&synack, 2));
    let bad_at = ng.len();
    let mut bad = epb(&tcp_frame(CLIENT, SERVER, 40000, 25, 1001, 5001, ACK, b""), 3);
    bad[4..8].copy_from_slice(&47u32.to_le_bytes());
    ng.extend(bad);
    ng.extend(epb(&tcp_frame(CLIENT, SERVER, 40000, 25, 1001, 5001, ACK, b"lost"), 4));
    let out = analyze(&ng, AnalyzerConfig::default());
    let stats = out.read.unwrap();
    assert_eq!((stats.frames, stats.corrupt, stats.bytes), (2, true, bad_at as u64));
    assert_eq!(
        out.warnings,
        [
            "packet 3 has an impossible block length of 47 bytes (block lengths are multiples of 4, at least 12): the file is damaged here and the rest of it is ignored"
        ]
    );
    assert_eq!(out.sessions.len(), 1);
    assert_eq!(out.sessions[0].conn.synack_packet, Some(2));
}

#[test]
fn sequence_number_jumping_by_2_31() {
    let mut p = Pcap::default();
    opening(&mut p);
    p.tcp(true, 1001, 5015, ACK | PSH, b"EHLO c\r\n");
    // Half the sequence space away: neither ahead nor behind in any meaningful way.
    p.tcp(true, 1009u32.wrapping_add(1 << 31), 5015, ACK | PSH, b"RCPT TO:<evil@x>\r\n");
    p.tcp(false, 5015u32.wrapping_add(1 << 31), 1009, ACK | PSH, b"250 evil\r\n");
    p.tcp(false, 5015, 1009, ACK | PSH, b"250 mx\r\n");
    p.tcp(true, 1009, 5023, ACK | PSH, b"QUIT\r\n");
    p.tcp(false, 5023, 1015, ACK | PSH, b"221 bye\r\n");
    let out = analyze(&p.bytes(), AnalyzerConfig::default());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let s = &out.sessions[0];
    assert_eq!(s.smtp.commands, [Verb::Ehlo, Verb::Quit]);
    assert_eq!(s.smtp.replies, [220, 250, 221]);
    assert_eq!(s.conn.dirs[0].stream.retransmissions, 1);
    assert_eq!(s.conn.dirs[1].stream.retransmissions, 1);
    assert_eq!(s.conn.dirs[0].stream.gap_bytes, 0);
}

#[test]
fn overlapping_segments_with_different_bytes_first_copy_wins() {
    let mut p = Pcap::default();
    opening(&mut p);
    // Two copies of the EHLO reply's tail, ahead of a hole, that disagree.
    p.tcp(false, 5015 + 8, 1001, ACK | PSH, b"250-STARTTLS\r\n250 OK\r\n");
    p.tcp(false, 5015 + 8, 1001, ACK | PSH, b"250-XXXXXXXA\r\n250 OK\r\n");
    p.tcp(false, 5015, 1001, ACK | PSH, b"250-mx\r\n");
    let out = analyze(&p.bytes(), AnalyzerConfig::default());
    let s = &out.sessions[0];
    assert_eq!(s.smtp.ehlo_keywords, Vec::<String>::new(), "no EHLO was sent, so no keywords are taken");
    assert_eq!(s.smtp.replies, [220, 250]);
    let rewrites = &s.conn.dirs[1].stream.rewrites;
    assert_eq!(rewrites.len(), 1, "{rewrites:?}");
    assert_eq!((rewrites[0].offset, rewrites[0].len), (22, 22));
    let events = format!("{:?}", s.smtp.events);
    assert!(events.contains("STARTTLS") && !events.contains("XXXXXXXA"), "{events}");
}

#[test]
fn flow_that_never_closes() {
    let mut p = Pcap::default();
    opening(&mut p);
    p.tcp(true, 1001, 5015, ACK | PSH, b"EHLO c\r\n");
    let out = analyze(&p.bytes(), AnalyzerConfig::default());
    assert_eq!(out.sessions[0].end, EndReason::CaptureEnd);
    assert_eq!(out.sessions[0].smtp.commands, [Verb::Ehlo]);
    // With a short idle timeout, a later packet of another flow hands it on as idle.
    let mut p2 = Pcap::default();
    opening(&mut p2);
    p2.ts += 10_000_000_000;
    p2.frame(&tcp_frame(CLIENT, SERVER, 40001, 25, 77, 0, SYN, b""));
    let config =
        AnalyzerConfig { tcp: TcpConfig { idle_timeout_s: 5.0, ..TcpConfig::default() }, ..Default::default() };
    let out = analyze(&p2.bytes(), config);
    assert_eq!(out.sessions.iter().map(|s| s.end).collect::<Vec<_>>(), [EndReason::Idle, EndReason::CaptureEnd]);
}

/// A frame template whose sequence number is patched in place: building a million packets
/// with etherparse would dominate the test's time.
fn patch_seq(frame: &mut [u8], seq: u32) {
    frame[38..42].copy_from_slice(&seq.to_be_bytes());
}

#[test]
fn million_tiny_out_of_order_segments_in_one_flow() {
    let config = AnalyzerConfig::default();
    let mut sessions = Vec::new();
    let mut f = Feeder::new(config, |s| {
        sessions.push(s);
        ControlFlow::Continue(())
    });
    f.frame(&tcp_frame(CLIENT, SERVER, 40000, 25, 0, 0, SYN, b""));
    let mut seg = tcp_frame(CLIENT, SERVER, 40000, 25, 0, 0, ACK, b"a");
    // Blocks of 1000 one-byte segments, each block sent last byte first.
    for block in 0..1000u32 {
        for i in (0..1000u32).rev() {
            patch_seq(&mut seg, 1 + block * 1000 + i);
            f.frame(&seg);
        }
    }
    f.analyzer.finish();
    let warnings: Vec<String> = f.analyzer.warnings.iter().map(|w: &CaptureWarning| w.message.clone()).collect();
    drop(f);
    assert_eq!(
        warnings,
        [
            "session 1: more than 20000 packets (--max-events): the events of later packets were not kept for ladders and rules",
            "session 1: a line longer than 65536 bytes (--max-line) was cut; its full length is still reported",
        ]
    );
    let s = &sessions[0];
    let c2s = &s.conn.dirs[0];
    assert_eq!((c2s.packets, c2s.payload_bytes), (1_000_001, 1_000_000));
    assert_eq!((c2s.stream.gaps, c2s.stream.cap_flushes), (0, 0));
    assert_eq!(c2s.stream.out_of_order, 999_000);
    assert_eq!((s.conn.events.len(), s.conn.events_dropped), (20_000, 980_001));
}

#[test]
fn syn_flood_of_a_million_distinct_flows() {
    let config = AnalyzerConfig { tcp: TcpConfig { max_flows: 1000, ..TcpConfig::default() }, ..Default::default() };
    let mut count = 0u64;
    let mut ends = [0u64; 4];
    let mut f = Feeder::new(config, |s: Session| {
        count += 1;
        ends[s.end as usize] += 1;
        ControlFlow::Continue(())
    });
    let mut syn = tcp_frame(CLIENT, SERVER, 1024, 25, 7, 0, SYN, b"");
    for i in 0..1_000_000u32 {
        // Source address and port both vary: a million distinct 4-tuples.
        syn[26..30].copy_from_slice(&(0x0a00_0000 | (i >> 6)).to_be_bytes());
        syn[34..36].copy_from_slice(&(1024 + (i & 63) as u16).to_be_bytes());
        f.frame(&syn);
        assert!(f.analyzer.open_flows() <= 1000);
    }
    let stats = f.analyzer.table_stats().clone();
    f.analyzer.finish();
    let warnings: Vec<String> = f.analyzer.warnings.iter().map(|w| w.message.clone()).collect();
    drop(f);
    // The cap is shared out over the table's buckets (31 each): the first eviction comes when
    // one bucket is full, and the table holds at most 992.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].ends_with(
            "more than 1000 connections open at once (--max-flows): the oldest idle ones are closed early from here on, and counted in the totals"
        ),
        "{warnings:?}"
    );
    assert_eq!(stats.flows, 1_000_000);
    assert!((960..=992).contains(&stats.max_open_flows), "{}", stats.max_open_flows);
    assert!(stats.flows_evicted >= 1_000_000 - 992, "{}", stats.flows_evicted);
    assert_eq!(count, 1_000_000);
    assert_eq!(ends, [0, 0, stats.flows_evicted, 1_000_000 - stats.flows_evicted]);
}

/// Client bytes in 1400-byte segments after the opening, then the capture ends.
fn client_stream(config: AnalyzerConfig, head: &[u8], filler: u8, total: usize) -> (Vec<Session>, Vec<String>) {
    let mut sessions = Vec::new();
    let mut f = Feeder::new(config, |s| {
        sessions.push(s);
        ControlFlow::Continue(())
    });
    f.frame(&tcp_frame(CLIENT, SERVER, 40000, 25, 1000, 0, SYN, b""));
    f.frame(&tcp_frame(SERVER, CLIENT, 25, 40000, 5000, 1001, SYN | ACK, b""));
    f.frame(&tcp_frame(SERVER, CLIENT, 25, 40000, 5001, 1001, ACK | PSH, b"220 mx\r\n"));
    f.frame(&tcp_frame(CLIENT, SERVER, 40000, 25, 1001, 5009, ACK | PSH, head));
    let mut seq = 1001 + head.len() as u32;
    let mut seg = tcp_frame(CLIENT, SERVER, 40000, 25, 0, 5009, ACK, &[filler; 1400]);
    let mut sent = 0;
    while sent < total {
        patch_seq(&mut seg, seq);
        f.frame(&seg);
        seq = seq.wrapping_add(1400);
        sent += 1400;
    }
    f.analyzer.finish();
    let warnings = f.analyzer.warnings.iter().map(|w| w.message.clone()).collect();
    drop(f);
    (sessions, warnings)
}

#[test]
fn ten_megabyte_line_without_crlf() {
    let config = AnalyzerConfig { smtp: SmtpConfig { max_line_len: 4096, ..Default::default() }, ..Default::default() };
    let (sessions, warnings) = client_stream(config, b"EHLO ", b'x', 10 << 20);
    assert_eq!(
        warnings,
        ["session 1: a line longer than 4096 bytes (--max-line) was cut; its full length is still reported"]
    );
    let s = &sessions[0];
    assert_eq!(s.smtp.commands, [Verb::Ehlo]);
    assert!(kinds(s).contains(&AnomalyKind::LineTooLong) && kinds(s).contains(&AnomalyKind::PartialLineAtEnd));
}

#[test]
fn data_body_that_never_ends() {
    let head = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n";
    let config = AnalyzerConfig::default();
    let mut sessions = Vec::new();
    let mut f = Feeder::new(config, |s| {
        sessions.push(s);
        ControlFlow::Continue(())
    });
    f.frame(&tcp_frame(CLIENT, SERVER, 40000, 25, 1000, 0, SYN, b""));
    f.frame(&tcp_frame(SERVER, CLIENT, 25, 40000, 5000, 1001, SYN | ACK, b""));
    f.frame(&tcp_frame(SERVER, CLIENT, 25, 40000, 5001, 1001, ACK | PSH, b"220 mx\r\n"));
    f.frame(&tcp_frame(CLIENT, SERVER, 40000, 25, 1001, 5009, ACK | PSH, head));
    let replies = b"250 ok\r\n250 ok\r\n354 go\r\n";
    f.frame(&tcp_frame(SERVER, CLIENT, 25, 40000, 5009, 1001 + head.len() as u32, ACK | PSH, replies));
    let mut seq = 1001 + head.len() as u32;
    let line = b"body line with . dots and \x00 NUL\r\n".repeat(40);
    let mut seg = tcp_frame(CLIENT, SERVER, 40000, 25, 0, 5033, ACK, &line);
    for _ in 0..5000 {
        patch_seq(&mut seg, seq);
        f.frame(&seg);
        seq = seq.wrapping_add(line.len() as u32);
    }
    f.analyzer.finish();
    assert!(f.analyzer.warnings.is_empty());
    drop(f);
    let s = &sessions[0];
    let body = s.smtp.transactions[0].body.as_ref().unwrap();
    assert_eq!((body.bytes, body.lines, body.terminated), (5000 * line.len() as u64, 200_000, false));
    assert!(kinds(s).contains(&AnomalyKind::DataBodyUnterminated), "{:?}", kinds(s));
    assert_eq!(s.smtp.commands, [Verb::Mail, Verb::Rcpt, Verb::Data]);
}

#[test]
fn nul_and_8_bit_bytes_everywhere() {
    let mut p = Pcap::default();
    p.tcp(true, 1000, 0, SYN, b"").tcp(false, 5000, 1001, SYN | ACK, b"").tcp(true, 1001, 5001, ACK, b"");
    p.tcp(false, 5001, 1001, ACK | PSH, b"220 \xff\x00\xfe mx\r\n");
    p.tcp(true, 1001, 5013, ACK | PSH, b"EH\x00LO \xc3\x28\xff\r\nMAIL FROM:<\x00\x80@\xff>\r\n");
    p.tcp(false, 5013, 1030, ACK | PSH, b"250\x00ok\r\n\x80\x81\x82\r\n");
    let out = analyze(&p.bytes(), AnalyzerConfig::default());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let s = &out.sessions[0];
    assert_eq!(s.smtp.banner.as_ref().map(|b| b.code), Some(220));
    assert_eq!(s.smtp.commands, [Verb::Other("EH\u{0}LO".into()), Verb::Mail]);
    assert!(kinds(s).contains(&AnomalyKind::NulByte), "{:?}", kinds(s));
    // Everything still renders as JSON, one line per session.
    let verdicts = smtpdiag::diagnose::diagnose(s, &Default::default());
    let line = smtpdiag::render::json::session_line(s, &verdicts, Default::default());
    assert!(!line.contains('\n') && serde_json::from_str::<serde_json::Value>(&line).is_ok());
}

#[test]
fn caps_are_named_once_each() {
    // The analyzer itself is what the binary uses: check the warning for the global buffer too
    // (each of the table's buckets holds its share: 1000 bytes here).
    let total = 1000 * smtpdiag::tcp::flow::BUCKETS;
    let config =
        AnalyzerConfig { tcp: TcpConfig { max_buffered_total: total, ..TcpConfig::default() }, ..Default::default() };
    let mut sessions = 0;
    let mut a = Analyzer::new("t", config, |_| {
        sessions += 1;
        ControlFlow::Continue(())
    });
    let mut p = Pcap::default();
    opening(&mut p);
    for i in 0..10u32 {
        // Ahead of a hole at 1001: buffered until the global cap gives up on it.
        p.tcp(true, 2001 + i * 600, 5015, ACK, &[b'z'; 600]);
    }
    smtpdiag::capture::read_bytes("t", &p.bytes(), &mut a).unwrap();
    a.finish();
    let warnings: Vec<String> = a.warnings.iter().map(|w| w.message.clone()).collect();
    drop(a);
    assert_eq!(sessions, 1);
    assert_eq!(
        warnings,
        [
            "packet 6: more than 32000 out-of-order bytes buffered by all connections (--max-buffer): connections stop waiting for missing segments and report them as gaps",
        ]
    );
}

#[test]
fn closed_connection_is_handed_on_after_its_linger_not_the_idle_timeout() {
    let mut ended = Vec::new();
    let mut f = Feeder::new(AnalyzerConfig::default(), |s: Session| {
        ended.push(s.end);
        ControlFlow::Continue(())
    });
    f.frame(&tcp_frame(CLIENT, SERVER, 40000, 25, 1000, 0, SYN, b""));
    f.frame(&tcp_frame(SERVER, CLIENT, 25, 40000, 5000, 1001, SYN | ACK, b""));
    f.frame(&tcp_frame(CLIENT, SERVER, 40000, 25, 1001, 5001, RST, b""));
    f.ts += 6_000_000_000;
    let late = tcp_frame(CLIENT, SERVER, 40002, 25, 1, 0, SYN, b"");
    f.frame(&late);
    drop(f);
    assert_eq!(ended, [EndReason::Closed]);
}

/// Heap bytes counted per thread, as the binary does: the flow table charges each connection
/// what handling it allocated (`smtpdiag::heap`).
#[global_allocator]
static ALLOCATOR: smtpdiag::heap::Metered<std::alloc::System> = smtpdiag::heap::Metered(std::alloc::System);

/// One ordinary session from `client`, delivered and closed cleanly (as `hostile_gen mixed`).
fn delivered_session(client: [u8; 4], port: u16) -> Vec<Vec<u8>> {
    let (c, s) = (client, SERVER);
    vec![
        tcp_frame(c, s, port, 25, 100, 0, SYN, b""),
        tcp_frame(s, c, 25, port, 500, 101, SYN | ACK, b""),
        tcp_frame(c, s, port, 25, 101, 501, ACK, b""),
        tcp_frame(s, c, 25, port, 501, 101, ACK | PSH, b"220 mx\r\n"),
        tcp_frame(c, s, port, 25, 101, 509, ACK | PSH, b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
        tcp_frame(s, c, 25, port, 509, 151, ACK | PSH, b"250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        tcp_frame(c, s, port, 25, 151, 543, ACK | PSH, b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n"),
        tcp_frame(s, c, 25, port, 543, 183, ACK | PSH, b"250 queued as X\r\n221 bye\r\n"),
        tcp_frame(s, c, 25, port, 569, 183, FIN | ACK, b""),
        tcp_frame(c, s, port, 25, 183, 570, FIN | ACK, b""),
        tcp_frame(s, c, 25, port, 570, 184, ACK, b""),
    ]
}

/// Issue 18's flood: a million SYNs of distinct flows with 1,000 ordinary sessions among them,
/// default options. Every ordinary session is reported delivered and closed (SF), none evicted
/// or cut short, and the memory the flow table charges (everything each connection holds, as
/// counted by the metered allocator) stays under `--memcap` after every packet.
#[test]
fn a_million_syns_with_a_thousand_ordinary_sessions_among_them() {
    let config = AnalyzerConfig::default();
    let memcap = config.tcp.memcap;
    let (mut total, mut ordinary, mut delivered) = (0u64, 0u64, 0u64);
    let mut f = Feeder::new(config, |s: Session| {
        total += 1;
        if s.conn.client.ip == std::net::IpAddr::from([192, 0, 2, (s.conn.client.port % 250) as u8]) {
            ordinary += 1;
            let t = &s.smtp.transactions;
            let data_reply = t.first().and_then(|t| t.data_reply.as_ref()).map(|r| r.code);
            let right = s.conn.zeek_conn_state == "SF"
                && s.end == EndReason::Closed
                && t.len() == 1
                && data_reply == Some(250)
                && s.smtp.replies == [220, 250, 250, 250, 354, 250, 221];
            delivered += u64::from(right);
        }
        ControlFlow::Continue(())
    });
    let mut syn = tcp_frame(CLIENT, SERVER, 1024, 25, 7, 0, SYN, b"");
    let mut most_charged = 0;
    for i in 0..1_000_000u32 {
        syn[26..30].copy_from_slice(&(0x0a00_0000 | (i >> 6)).to_be_bytes());
        syn[34..36].copy_from_slice(&(1024 + (i & 63) as u16).to_be_bytes());
        f.frame(&syn);
        if i % 1000 == 0 {
            let n = i / 1000;
            for frame in delivered_session([192, 0, 2, (n % 250) as u8], 2000 + n as u16) {
                f.frame(&frame);
                most_charged = most_charged.max(f.analyzer.memory_used());
            }
        }
        most_charged = most_charged.max(f.analyzer.memory_used());
    }
    f.analyzer.finish();
    drop(f);
    assert_eq!(total, 1_001_000);
    assert_eq!((ordinary, delivered), (1000, 1000), "every ordinary session reported, delivered and closed");
    assert!(most_charged <= memcap, "{most_charged} bytes charged, over the {memcap}-byte memcap");
    // The flood filled the table (200,000 flows of about 230 bytes): the accounting counted it.
    assert!(most_charged > 200_000 * 200, "{most_charged} bytes charged");
}
