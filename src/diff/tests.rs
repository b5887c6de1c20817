//! The comparison on synthetic pairs: what the lab cannot easily record (twins at the same time,
//! re-segmentation, a capture that starts mid-session).

use super::packets::{self, CaptureView};
use super::pair::Certainty;
use super::{Diff, diff};
use crate::capture::{LinkType, PcapWriter, Timestamp};
use crate::decode::TcpFlags;
use crate::synth::{CLIENT, SERVER, SessionBuilder};

const ACK_PSH: u8 = TcpFlags::ACK | TcpFlags::PSH;

fn view(name: &str, sessions: &[&SessionBuilder]) -> CaptureView {
    let mut frames: Vec<&(Timestamp, Vec<u8>)> = sessions.iter().flat_map(|s| &s.frames).collect();
    frames.sort_by_key(|f| f.0);
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).unwrap();
    for (ts, data) in frames {
        w.write_packet(*ts, data, data.len() as u32).unwrap();
    }
    packets::load_bytes(name, &w.into_inner(), &[25]).unwrap()
}

fn compare(out: &[&SessionBuilder], ins: &[&SessionBuilder]) -> Diff {
    diff(view("outside", out), view("inside", ins), &[], &[]).unwrap()
}

/// A short session; `port` tells twins apart, `t0` places it in time (ns).
fn session(client: ([u8; 4], u16), server: ([u8; 4], u16), isn: (u32, u32), t0: i64) -> SessionBuilder {
    let mut s = SessionBuilder::new(client, server).at_isn(isn.0, isn.1);
    s.now = t0;
    s.handshake();
    s.server("220 esa.example.com ESMTP\r\n").client("EHLO mta.example.net\r\n").server("250 esa.example.com\r\n");
    s.client("QUIT\r\n").server("221 bye\r\n").close();
    s
}

const T0: i64 = 1_700_000_000_000_000_000;
const OUT_SERVER: ([u8; 4], u16) = ([203, 0, 113, 25], 25);
const IN_SERVER: ([u8; 4], u16) = ([198, 51, 100, 25], 25);

#[test]
fn a_translated_and_shifted_session_pairs_with_its_offsets() {
    let o = session(([203, 0, 113, 5], 40000), OUT_SERVER, (1000, 50_000), T0);
    let i = session(([198, 51, 100, 1], 30001), IN_SERVER, (1000 + 0x1a2b_3c4d, 50_000 - 77), T0 + 30_000);
    let d = compare(&[&o], &[&i]);
    assert_eq!(d.pairs.len(), 1);
    let p = &d.pairs[0];
    assert_eq!(p.certainty, Certainty::Certain);
    assert_eq!(p.translation.seq_offset.client_to_server, Some(0x1a2b_3c4d));
    assert_eq!(p.translation.seq_offset.server_to_client, Some(-77));
    assert!(p.translation.client.port_translated && p.translation.server.address_translated);
    assert!(p.verdicts.is_empty() && p.findings.resegmented.is_empty(), "{:?}", p.verdicts);
    // Every inside packet 30 µs after its outside copy, server packets too: no transit explains
    // that (a server packet reaches the inside first), a clock 30 µs ahead does.
    assert_eq!(d.clocks.skew_s, 0.00003);
    let delay = p.findings.delay_ms.client_to_server.unwrap();
    assert_eq!((delay.median, delay.max), (0.0, 0.0));
}

#[test]
fn twins_at_the_same_time_are_ambiguous_not_certain() {
    // Two connections with the same bytes, sequence numbers and IP-IDs, opened together: nothing
    // tells which inside connection is which outside one.
    let o1 = session(([203, 0, 113, 5], 40000), OUT_SERVER, (1000, 50_000), T0);
    let o2 = session(([203, 0, 113, 5], 40001), OUT_SERVER, (1000, 50_000), T0 + 10_000);
    let i1 = session(([198, 51, 100, 1], 30001), IN_SERVER, (9000, 50_000), T0 + 30_000);
    let i2 = session(([198, 51, 100, 1], 30002), IN_SERVER, (9000, 50_000), T0 + 40_000);
    let d = compare(&[&o1, &o2], &[&i1, &i2]);
    assert_eq!(d.pairs.len(), 2);
    assert!(d.pairs.iter().all(|p| p.certainty == Certainty::Ambiguous), "{:?}", d.pairs[0].certainty);
    assert!(d.notes.iter().any(|n| n.contains("not certain")), "{:?}", d.notes);
}

#[test]
fn bytes_cut_into_other_segments_are_resegmented_not_rewritten() {
    let mut o = SessionBuilder::new(([203, 0, 113, 5], 40000), OUT_SERVER).at_isn(1000, 50_000);
    o.now = T0;
    o.handshake().server("220 esa ESMTP\r\n").client("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n").server("250 ok\r\n");
    let mut i = SessionBuilder::new(([198, 51, 100, 1], 30001), IN_SERVER).at_isn(1000, 50_000);
    i.now = T0 + 20_000;
    i.handshake().server("220 esa ESMTP\r\n");
    // The device passes the client's 32 bytes as 17 + 15.
    i.send(CLIENT, ACK_PSH, b"MAIL FROM:<a@b>\r\n").send(CLIENT, ACK_PSH, b"RCPT TO:<c@d>\r\n");
    i.send(SERVER, ACK_PSH, b"250 ok\r\n");
    let d = compare(&[&o], &[&i]);
    let f = &d.pairs[0].findings;
    assert!(f.rewrites.is_empty() && f.lost.is_empty() && f.injected.is_empty(), "{f:?}");
    assert_eq!(f.resegmented.len(), 1, "{:?}", f.resegmented);
    let r = &f.resegmented[0];
    assert_eq!((r.offset, r.len, r.packets.outside.len(), r.packets.inside.len()), (0, 32, 1, 2));
    assert!(d.pairs[0].verdicts.is_empty());
}

#[test]
fn captures_that_start_mid_session_are_aligned_by_their_payloads() {
    // No SYN on either side: the offset comes from the payloads both sides carry.
    let mid = |client, server, isn: (u32, u32), t0| {
        let mut s = SessionBuilder::new(client, server).at_isn(isn.0, isn.1);
        s.now = t0;
        s.client("MAIL FROM:<sender@example.net>\r\n").server("250 OK\r\n");
        s.client("RCPT TO:<rcpt@example.com>\r\n").server("250 Accepted\r\n");
        s.client("STARTTLS\r\n").server("500 unrecognized command\r\n");
        s
    };
    let o = mid(([203, 0, 113, 5], 40000), OUT_SERVER, (1000, 50_000), T0);
    let mut i = mid(([198, 51, 100, 1], 30001), IN_SERVER, (7000, 50_000), T0 + 20_000);
    // The device masked the unknown command on its way in.
    let masked = i.frames.iter_mut().find(|(_, f)| f.ends_with(b"STARTTLS\r\n")).unwrap();
    let n = masked.1.len();
    masked.1[n - 10..n - 2].copy_from_slice(b"XXXXXXXX");
    let d = compare(&[&o], &[&i]);
    let p = &d.pairs[0];
    assert_eq!(p.translation.seq_offset.client_to_server, Some(6000));
    assert_eq!(p.findings.rewrites.len(), 1, "{:?}", p.findings.rewrites);
    let r = &p.findings.rewrites[0];
    assert_eq!((r.sent.as_str(), r.received.as_str()), ("STARTTLS", "XXXXXXXX"));
    assert_eq!(r.word.as_deref(), Some("STARTTLS"));
}

#[test]
fn a_client_on_the_inside_is_found_and_delays_come_out_positive() {
    // Outbound mail: the client's packets reach the inside capture 30 µs before the outside one,
    // the server's reach the outside 30 µs before the inside.
    let o = session(([203, 0, 113, 7], 30001), ([192, 0, 2, 25], 25), (1000, 50_000), T0);
    let mut i = session(([10, 0, 0, 5], 40000), ([192, 0, 2, 25], 25), (1000, 50_000), T0);
    for (ts, frame) in &mut i.frames {
        // Ethernet (14) + IPv4 source address at 12..16.
        let from_client = frame[26..30] == [10, 0, 0, 5];
        ts.0 += if from_client { -30_000 } else { 30_000 };
    }
    let d = compare(&[&o], &[&i]);
    let p = &d.pairs[0];
    assert_eq!(p.translation.client_side, super::Side::Inside);
    assert_eq!(d.clocks.skew_s, 0.0);
    for delay in [p.findings.delay_ms.client_to_server, p.findings.delay_ms.server_to_client] {
        let delay = delay.unwrap();
        assert_eq!((delay.median, delay.max), (0.03, 0.03));
    }
}
