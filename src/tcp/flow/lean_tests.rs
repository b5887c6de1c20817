//! Lean flows and the caps: a connection without payload costs a few hundred bytes, its early
//! state replays into the same result as a full one, half-open attempts time out early, the
//! memcap and `--max-flows` evict the oldest connections first, and the buffer cap gives up on
//! holes.

use super::key::FlowKey;
use super::state::{BOOKKEEPING, Flow, Full, State};
use super::testkit::{CLIENT, Recorder, SERVER, Wire, feed, feed_watching, run, table};
use super::{BUCKETS, EndReason, FinishPhase, TcpConfig, share};
use crate::decode::TcpFlags;
use crate::tcp::Direction::{ClientToServer as C2S, ServerToClient as S2C};
use crate::tcp::conn::Handshake;

#[test]
fn a_syn_only_or_refused_flow_is_charged_at_most_256_bytes() {
    // The application's state is boxed with the payload state: a flow's size is the same
    // whatever the application.
    assert_eq!(std::mem::size_of::<Flow<Recorder>>(), std::mem::size_of::<Flow<[u8; 4096]>>());
    assert!(std::mem::size_of::<Flow<Recorder>>() + BOOKKEEPING <= 256);
    let mut t = table(TcpConfig::default());
    let mut w = Wire::lab();
    w.syn().rst(SERVER);
    let ended = feed(&mut t, &w, 1);
    assert_eq!((t.open_flows(), ended.len()), (1, 0));
    assert!(t.memory_used() <= 256, "{}", t.memory_used());
    // Payload makes it full: kilobytes, charged as such.
    let mut w = Wire::new(([10, 9, 9, 9], 40001), ([10, 0, 0, 2], 25));
    w.handshake().server("220 hi\r\n");
    feed(&mut t, &w, 10);
    assert!(t.memory_used() > 2048, "{}", t.memory_used());
}

#[test]
fn the_early_state_replays_into_the_same_session() {
    // Every shape of a start: a refused SYN, SYN retries, a handshake, data on the SYN.
    let mut w = Wire::lab();
    w.syn().wait(1.0).syn().wait(1.0).handshake().server("220 hi\r\n").client("QUIT\r\n").close();
    let mut refused = Wire::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
    refused.syn().rst(SERVER);
    w.append(refused, 0);
    let f = run(&w);
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].conn.syn_count, f[0].conn.handshake), (3, Handshake::Complete));
    assert_eq!(f[0].conn.zeek_conn_state, "SF");
    assert_eq!(f[0].app.text(S2C), "220 hi\r\n");
    assert_eq!((f[1].conn.handshake, f[1].conn.zeek_conn_state), (Handshake::SynRst, "REJ"));
    assert_eq!(f[1].conn.events.len(), 2);
    assert!(f[1].app.pieces.is_empty());
}

#[test]
fn a_handshake_that_never_completes_is_handed_on_after_the_half_open_timeout() {
    let mut w = Wire::lab();
    w.syn().wait(4.0).syn().wait(6.0);
    // Another connection's packet, 6 s after the last SYN: past the 5 s, far from 600 s.
    let mut other = Wire::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
    other.now = w.now;
    other.handshake().server("220 hi\r\n");
    w.append(other, 0);
    let f = run(&w);
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].conn.syn_count, f[0].end), (2, EndReason::Idle), "one connection: the retry came within 5 s");
    assert_eq!(f[0].conn.zeek_conn_state, "S0");
    assert_eq!(f[1].end, EndReason::CaptureEnd);
    // An established connection that goes quiet is not half-open.
    let mut quiet = Wire::lab();
    quiet.handshake().wait(30.0).ack(CLIENT);
    assert_eq!(run(&quiet).len(), 1);
}

/// A SYN recorded twice (`tcpdump -i any` on a router: the second copy one hop on) and a
/// retry: the copy is not a packet of another kind, so the attempt still times out at 5 s.
#[test]
fn a_duplicated_syn_does_not_end_the_attempt() {
    let mut w = Wire::lab();
    w.syn().copy_last(1_000_000);
    w.wait(1.0).syn().wait(6.0);
    let mut other = Wire::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
    other.now = w.now;
    other.handshake().server("220 hi\r\n");
    w.append(other, 0);
    let f = run(&w);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].conn.dirs[0].duplicates, 1, "the copy is seen as one");
    assert_eq!((f[0].conn.syn_count, f[0].end), (2, EndReason::Idle), "handed on after 5 s, not 600");
}

/// Zeek's `tcp__one-sided-2745`: only the server's side is captured. Its ACK of data we never
/// see ends the attempt, so a FIN 10 s later belongs to the same connection.
#[test]
fn a_one_sided_capture_is_not_half_open_after_the_servers_first_ack() {
    let mut w = Wire::lab();
    w.raw(SERVER, TcpFlags::SYN | TcpFlags::ACK, 1000, 5001, b"", 63);
    w.raw(SERVER, TcpFlags::ACK, 1001, 5053, b"", 63).wait(10.0);
    w.raw(SERVER, TcpFlags::FIN | TcpFlags::ACK, 1001, 5054, b"", 63);
    let f = run(&w);
    assert_eq!(f.len(), 1, "one connection, as Zeek and tshark count it");
    assert_eq!(f[0].conn.dirs[1].packets, 3);
}

/// `n` sessions, one after another, each opening and sending its banner 1 s after the last.
fn sessions(n: u16, tail: impl Fn(&mut Wire)) -> Wire {
    let mut all = Wire::lab();
    for i in 0..n {
        let mut one = Wire::new(([10, 1, (i >> 8) as u8, i as u8], 40000 + i), ([10, 0, 0, 2], 25));
        one.handshake().server("220 hi\r\n");
        tail(&mut one);
        all.append(one, i64::from(i) * 1_000_000_000);
    }
    all.sent.sort_by_key(|s| s.ts);
    all
}

#[test]
fn the_memcap_evicts_the_oldest_idle_connection_first_and_counts_it() {
    let w = sessions(200, |_| {});
    // Room for a handful of full connections per bucket.
    let full = std::mem::size_of::<Full<Recorder>>() + 2048;
    let mut t = table(TcpConfig { memcap: BUCKETS * 3 * full, ..TcpConfig::default() });
    let ended = feed(&mut t, &w, 1);
    assert!(!ended.is_empty());
    assert!(ended.iter().all(|f| f.end == EndReason::Evicted && f.phase == FinishPhase::Evicted));
    assert_eq!(t.stats.flows_evicted, ended.len() as u64);
    assert_eq!(t.stats.memcap_evictions, ended.len() as u64);
    for bucket in &t.buckets {
        assert!(bucket.used <= share(t.config.memcap), "{} > {}", bucket.used, share(t.config.memcap));
    }
    // Oldest first: within a bucket, every evicted connection started before every open one.
    for f in &ended {
        let bucket = FlowKey::of_endpoints(&f.conn.client, &f.conn.server).bucket();
        let mut open = t.flows.iter().filter(|open| usize::from(open.bucket) == bucket);
        assert!(open.all(|open| open.first > f.conn.first.number));
        assert_eq!(f.app.text(S2C), "220 hi\r\n", "an evicted connection keeps what it carried");
    }
}

#[test]
fn a_closed_connection_pushed_out_by_the_memcap_is_reported_closed() {
    // Closed but not acknowledged: each lingers 5 s, five times as long as they come.
    let w = sessions(100, |s| {
        s.client("QUIT\r\n").server("221 bye\r\n").fin(CLIENT).fin(SERVER);
    });
    let full = std::mem::size_of::<Full<Recorder>>() + 2048;
    let mut t = table(TcpConfig { memcap: BUCKETS * full, ..TcpConfig::default() });
    let mut ended = feed(&mut t, &w, 1);
    t.finish_all(&mut |f| ended.push(f));
    assert_eq!(ended.len(), 100);
    assert!(ended.iter().all(|f| f.end == EndReason::Closed), "none reported dropped");
    assert!(ended.iter().any(|f| f.phase == FinishPhase::Evicted), "the memcap pushed some out");
    assert_eq!(t.stats.flows_evicted, 0);
}

#[test]
fn max_flows_evicts_the_oldest_connection_of_the_bucket() {
    let w = sessions(200, |_| {});
    // One connection per bucket: each new one pushes out the one before it in its bucket.
    let mut t = table(TcpConfig { max_flows: BUCKETS, ..TcpConfig::default() });
    let ended = feed(&mut t, &w, 1);
    assert!(t.open_flows() <= BUCKETS);
    assert_eq!(ended.len() + t.open_flows(), 200);
    assert!(ended.iter().all(|f| f.end == EndReason::Evicted && f.phase == FinishPhase::Evicted));
    assert_eq!((t.stats.flows_evicted, t.stats.memcap_evictions), (ended.len() as u64, 0));
}

#[test]
fn the_buffer_cap_gives_up_on_a_hole_instead_of_buffering_more() {
    let mut w = Wire::lab();
    w.handshake();
    let (seq, ack) = (w.next_seq(CLIENT), w.next_seq(SERVER));
    // Five bytes lost, then twenty out of order: more than the bucket's ten-byte share.
    w.raw(CLIENT, TcpFlags::PSH | TcpFlags::ACK, seq + 5, ack, b"abcdefghijklmnopqrst", 64);
    let mut t = table(TcpConfig { max_buffered_total: BUCKETS * 10, ..TcpConfig::default() });
    let mut ended = feed(&mut t, &w, 1);
    assert_eq!(t.stats.global_cap_flushes, 1);
    assert_eq!(t.buckets.iter().map(|b| b.buffered).sum::<usize>(), 0, "handed on at once, not held to the end");
    t.finish_all(&mut |f| ended.push(f));
    assert_eq!(ended[0].app.text(C2S), "[gap 5]abcdefghijklmnopqrst");
    assert_eq!(ended[0].conn.dirs[0].stream.gap_bytes, 5);
}

/// The library's tests run on the metered allocator (lib.rs), as the binary does: what the
/// application keeps of a connection (the recorder keeps every byte, as a dialogue keeps lines
/// and events) is charged to it, not only the table's own state.
#[test]
fn what_the_application_keeps_is_charged_to_its_connection() {
    let mut t = table(TcpConfig::default());
    let mut w = Wire::lab();
    w.handshake();
    for _ in 0..50 {
        w.client(&"x".repeat(1000));
    }
    let ended = feed(&mut t, &w, 1);
    assert!(ended.is_empty());
    assert!(t.memory_used() >= 50_000, "{} bytes charged for 50,000 kept", t.memory_used());
}

/// Connections of the table past their early state, and how many of them hold a payload box.
fn payload_boxes(t: &super::FlowTable<Recorder>) -> (usize, usize) {
    let fulls = t.flows.iter().filter_map(|f| match &f.state {
        State::Full(full) => Some(full.payload.is_some()),
        State::Early(_) => None,
    });
    fulls.fold((0, 0), |(n, with), has| (n + 1, with + usize::from(has)))
}

/// TCPREFUSE: the server completes the handshake, then resets without a byte. The tracker is
/// made by the third packet; the reassemblers and the application's state never are, yet the
/// connection ends with the same record (and an application that was handed nothing).
#[test]
fn a_handshake_without_payload_never_creates_the_payload_state() {
    let mut w = Wire::lab();
    w.handshake().rst(SERVER);
    let mut t = table(TcpConfig::default());
    let mut seen = Vec::new();
    let mut ended = feed_watching(&mut t, &w, 1, |t| seen.push(payload_boxes(t)));
    assert_eq!(seen, [(0, 0), (0, 0), (1, 0), (1, 0)], "a tracker from the third packet, no payload box");
    // The tracker and its events (the SMTP dialogue and both reassemblers would add 1,500 more).
    assert!(t.memory_used() <= 2560, "{} bytes for a refused handshake", t.memory_used());
    t.finish_all(&mut |f| ended.push(f));
    assert_eq!(ended.len(), 1);
    let f = &ended[0];
    assert!(f.app.pieces.is_empty());
    assert_eq!((f.conn.handshake, f.conn.zeek_conn_state), (Handshake::Complete, "RSTR"));
    assert_eq!(f.conn.events.len(), 4);
}

/// The first payload byte creates the payload state, which then holds the stream as if it had
/// existed from the SYN; an acknowledgment of bytes the capture missed creates it too.
#[test]
fn the_first_payload_byte_or_a_missed_one_creates_the_payload_state() {
    let mut w = Wire::lab();
    w.handshake().server("220 hi\r\n");
    let mut t = table(TcpConfig::default());
    let mut seen = Vec::new();
    let mut ended = feed_watching(&mut t, &w, 1, |t| seen.push(payload_boxes(t)));
    assert_eq!(seen, [(0, 0), (0, 0), (1, 0), (1, 1)]);
    t.finish_all(&mut |f| ended.push(f));
    assert_eq!(ended[0].app.text(S2C), "220 hi\r\n");

    // The client's first 6 bytes were not captured; the server's ACK says they arrived.
    let mut w = Wire::lab();
    w.handshake();
    let (seq, ack) = (w.next_seq(CLIENT), w.next_seq(SERVER));
    w.raw(SERVER, TcpFlags::ACK, ack, seq + 6, b"", 63);
    let mut t = table(TcpConfig::default());
    let mut seen = Vec::new();
    let mut ended = feed_watching(&mut t, &w, 1, |t| seen.push(payload_boxes(t)));
    assert_eq!(seen, [(0, 0), (0, 0), (1, 0), (1, 1)]);
    t.finish_all(&mut |f| ended.push(f));
    assert_eq!(ended[0].app.text(C2S), "[gap 6]");
    assert_eq!(ended[0].conn.dirs[0].stream.gap_bytes, 6);
}

#[test]
fn the_tracker_only_state_does_not_grow_with_the_application() {
    // The application's state and the reassemblers are boxed apart: the tracker's size is the
    // same whatever the application (1,552 bytes, nearly all the connection tracker's).
    assert_eq!(std::mem::size_of::<Full<Recorder>>(), std::mem::size_of::<Full<[u8; 4096]>>());
    assert!(std::mem::size_of::<Full<Recorder>>() <= 1600, "{}", std::mem::size_of::<Full<Recorder>>());
}
