//! The flow table on its own (see `testkit`): connections found, closed, reused, timed out and
//! refused, and the bytes, gaps and duplicates their streams carry.

use super::testkit::{CLIENT, Piece, SERVER, Wire, feed, feed_watching, run, run_with, table};
use super::{BUCKETS, EndReason, TcpConfig};
use crate::capture::Timestamp;
use crate::decode::TcpFlags;
use crate::tcp::Direction::{ClientToServer as C2S, ServerToClient as S2C};
use crate::tcp::conn::{CloseKind, Endpoint, Handshake, Role};
use crate::tcp::reassembly::SegmentClass;

#[test]
fn syn_retries_are_one_connection_with_a_syn_count() {
    let mut w = Wire::lab();
    w.syn().wait(1.0).syn().wait(2.0);
    w.handshake().server("220 hi\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    let f = run(&w);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].conn.syn_count, 3);
    assert_eq!(f[0].conn.handshake, Handshake::Complete);
    assert_eq!(f[0].app.text(S2C), "220 hi\r\n221 bye\r\n");
    assert_eq!(f[0].app.text(C2S), "QUIT\r\n");
}

#[test]
fn simultaneous_close_is_closed_by_whoever_came_first() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").fin(SERVER).fin(CLIENT).ack(SERVER).ack(CLIENT);
    let f = &run(&w)[0];
    assert_eq!(f.conn.closed_by, Some((Role::Server, CloseKind::Fin)));
    assert_eq!(f.conn.zeek_conn_state, "SF");
    assert_eq!(f.end, EndReason::Closed);
}

#[test]
fn a_fin_from_one_side_leaves_the_connection_open() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").fin(CLIENT).ack(SERVER);
    let f = &run(&w)[0];
    assert_eq!(f.end, EndReason::CaptureEnd, "the server may still send");
    assert_eq!(f.conn.zeek_conn_state, "S2");
}

#[test]
fn rst_mid_stream_ends_the_session_and_keeps_the_stream() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").client("EHLO a\r\n").server("250 ok\r\n").client("MAIL FROM:<a@b>\r\n");
    w.rst(CLIENT);
    let f = &run(&w)[0];
    assert_eq!(f.conn.closed_by, Some((Role::Client, CloseKind::Rst)));
    assert_eq!(f.conn.closes[0].flags.to_string(), "RST/ACK");
    assert_eq!(f.app.text(C2S), "EHLO a\r\nMAIL FROM:<a@b>\r\n");
    assert_eq!(f.conn.zeek_conn_state, "RSTO");
    assert_eq!(f.end, EndReason::Closed);
}

#[test]
fn a_new_syn_on_the_same_ports_after_close_is_a_new_session() {
    let mut w = Wire::lab();
    w.handshake().server("220 one\r\n").close().wait(1.0);
    let mut second = Wire::lab().at_isn(900_000, 80_000);
    second.handshake().server("220 two\r\n").close();
    w.append(second, 2_000_000_000);
    let f = run(&w);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].app.text(S2C), "220 one\r\n");
    assert_eq!(f[1].app.text(S2C), "220 two\r\n");
}

#[test]
fn a_clean_close_is_handed_on_after_the_grace_and_late_packets_do_not_start_a_session() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    // Within the grace: still part of the session (a second copy of the last ACK, say).
    w.wait(0.5).ack(CLIENT);
    // After the grace, inside the linger: a late retransmitted FIN is absorbed, not a session.
    let (fin_seq, ack) = (w.next_seq(SERVER) - 1, w.next_seq(CLIENT));
    w.wait(2.0).raw(SERVER, TcpFlags::FIN | TcpFlags::ACK, fin_seq, ack, b"", 63);
    // A packet after the whole linger is a new (midstream) connection again.
    w.wait(10.0).ack(CLIENT);
    let (f, t) = run_with(TcpConfig::default(), &w);
    assert_eq!(t.stats.late_packets, 1);
    assert_eq!(f.len(), 2, "the session, then the packet after the linger");
    assert_eq!(f[0].end, EndReason::Closed);
    // Handshake 3, dialogue 3, close 4, and the copy within the grace.
    assert_eq!(f[0].conn.dirs[0].packets + f[0].conn.dirs[1].packets, 11);
    assert_eq!(f[1].conn.handshake, Handshake::Midstream);
}

#[test]
fn tombstones_are_capped_like_flows() {
    // The cap is per bucket: ten client ports whose connections share one.
    let end = |ip: [u8; 4], port| Endpoint { ip: ip.into(), port };
    let key = |port: u16| super::key::FlowKey::of_endpoints(&end([10, 0, 0, 1], port), &end([10, 0, 0, 2], 25));
    let bucket = key(40000).bucket();
    let ports: Vec<u16> = (40000..u16::MAX).filter(|&p| key(p).bucket() == bucket).take(10).collect();
    let mut w = Wire::lab();
    for (i, &port) in (0..10u16).zip(&ports) {
        let mut one = Wire::new(([10, 0, 0, 1], port), ([10, 0, 0, 2], 25));
        one.handshake().server("220 hi\r\n").close();
        // Ten connections 0.6 s apart: at most two in their 1 s grace at once, but up to
        // nine in their 5 s linger.
        w.append(one, i64::from(i) * 600_000_000);
    }
    let mut t = table(TcpConfig { max_flows: 3 * BUCKETS, ..TcpConfig::default() });
    let mut most = 0;
    feed_watching(&mut t, &w, 1, |t| most = most.max(t.tombstones()));
    assert_eq!(most, 3, "at most the bucket's share of --max-flows tombstones, and the cap was reached");
}

#[test]
fn a_reset_close_lingers_whole() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").rst(SERVER).wait(3.0).rst(CLIENT);
    let (f, t) = run_with(TcpConfig::default(), &w);
    assert_eq!((f.len(), t.stats.late_packets), (1, 0));
    assert_eq!(f[0].conn.dirs[0].packets, 3, "SYN, ACK and the reset 3 s later");
}

#[test]
fn a_lost_client_segment_becomes_a_gap_when_the_server_acknowledges_it() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").client("EHLO a\r\n").server("250 ok\r\n");
    // MAIL FROM is "sent" but not captured: the next client segment starts after it.
    let mail = "MAIL FROM:<a@b>\r\n";
    let (seq, ack) = (w.next_seq(CLIENT), w.next_seq(SERVER));
    let rcpt_seq = seq + mail.len() as u32;
    w.raw(CLIENT, TcpFlags::PSH | TcpFlags::ACK, rcpt_seq, ack, b"RCPT TO:<c@d>\r\n", 64);
    w.raw(SERVER, TcpFlags::PSH | TcpFlags::ACK, ack, rcpt_seq + 15, b"250 ok\r\n250 ok\r\n", 63);
    let f = &run(&w)[0];
    assert_eq!(f.app.text(C2S), "EHLO a\r\n[gap 17]RCPT TO:<c@d>\r\n");
    let gap = f.app.pieces.iter().find(|(_, p, _)| matches!(p, Piece::Gap(_))).expect("a gap");
    assert_eq!(gap.2.number, 8, "handed on with the server's acknowledgment, not before");
    let stream = &f.conn.dirs[0].stream;
    assert_eq!((stream.gaps, stream.gap_bytes, stream.out_of_order), (1, mail.len() as u64, 1));
    // Zeek records the gap at the acknowledgment too: after the server's data letter.
    assert_eq!(f.conn.zeek_history, "ShAdDG");
}

#[test]
fn a_packet_recorded_twice_is_delivered_once_and_not_a_retransmission() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").copy_last(1_000).client("QUIT\r\n");
    let f = &run(&w)[0];
    assert_eq!(f.app.text(S2C), "220 hi\r\n");
    let server = &f.conn.dirs[1];
    assert_eq!((server.duplicates, server.stream.retransmissions), (1, 0));
    assert_eq!(f.conn.events[4].class, SegmentClass::Duplicate);
    // The copy one hop on is no TTL of the server's own.
    assert_eq!((server.ttl_min, server.ttl_max), (Some(63), Some(63)));
}

#[test]
fn an_idle_session_is_handed_on_after_the_idle_timeout() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").wait(700.0);
    let mut other = Wire::new(([203, 0, 113, 9], 40000), ([198, 51, 100, 25], 25));
    other.now = w.now;
    other.handshake();
    w.append(other, 0);
    let f = run(&w);
    assert_eq!(f[0].end, EndReason::Idle);
    assert_eq!(f[1].end, EndReason::CaptureEnd);
}

#[test]
fn packets_on_other_ports_move_the_idle_clock_too() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n").wait(700.0);
    let mut web = Wire::new(([203, 0, 113, 9], 40000), ([198, 51, 100, 80], 80));
    web.now = w.now;
    web.handshake();
    w.append(web, 0);
    let (f, t) = run_with(TcpConfig::default(), &w);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].end, EndReason::Idle);
    assert_eq!(t.stats.other_port_packets, 3);
}

#[test]
fn a_mail_port_on_the_initiator_side_alone_is_no_mail_session() {
    // An FTP control connection from client port 2525, and a scan's SYN from port 25 to 113
    // answered by a reset.
    let mut ftp = Wire::new(([203, 0, 113, 5], 2525), ([198, 51, 100, 21], 21));
    ftp.handshake().server("220 FTP ready\r\n").client("USER a\r\n").server("331 pass\r\n").close();
    assert!(run(&ftp).is_empty());
    let mut scan = Wire::new(([203, 0, 113, 5], 25), ([198, 51, 100, 21], 113));
    scan.syn().rst(SERVER);
    assert!(run(&scan).is_empty());
}

/// `live` moves the clock without packets: a closed connection leaves when its linger ends,
/// not after the idle timeout counted from its last packet.
#[test]
fn the_clock_alone_hands_on_a_closed_connection_after_its_linger() {
    let mut w = Wire::lab();
    // Both FINs, neither acknowledged: the whole 5 s linger.
    w.handshake().server("220 hi\r\n").fin(CLIENT).fin(SERVER);
    let mut t = table(TcpConfig::default());
    let mut ended = feed(&mut t, &w, 1);
    let last = w.sent.last().expect("packets").ts.0;
    t.expire(Timestamp(last + 4_000_000_000), &mut |f| ended.push(f));
    assert_eq!((ended.len(), t.open_flows()), (0, 1), "still lingering after 4 s");
    t.expire(Timestamp(last + 6_000_000_000), &mut |f| ended.push(f));
    assert_eq!((ended.len(), t.open_flows()), (1, 0));
    assert_eq!(ended[0].end, EndReason::Closed);
}
