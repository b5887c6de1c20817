use super::state::BOOKKEEPING;
use super::*;
use crate::capture::{Frame, LinkType, Timestamp};
use crate::decode::TcpFlags;
use crate::synth::{CLIENT, SERVER, SessionBuilder, analyze_pcap};
use crate::tcp::conn::Handshake;

/// Counts the bytes it is given, as the SMTP stage would receive them.
#[derive(Default)]
struct Bytes(u64);
impl StreamConsumer for Bytes {
    fn on_data(&mut self, _: Direction, d: &[u8], _: PacketRef) {
        self.0 += d.len() as u64;
    }
    fn on_gap(&mut self, _: Direction, _: u64, _: PacketRef) {}
}

/// Feeds the builder's frames (renumbered from `first`) to `table`; returns what ended.
fn feed(table: &mut FlowTable<Bytes>, b: &SessionBuilder, first: u64, ended: &mut Vec<Finished<Bytes>>) {
    for (i, (ts, data)) in b.frames.iter().enumerate() {
        let frame =
            Frame { number: first + i as u64, ts: *ts, link_type: LinkType::ETHERNET, data, orig_len: 0, offset: 0 };
        let p = crate::decode::decode(&frame).expect("synthetic frames decode");
        table.packet(&p, &mut |f| ended.push(f));
    }
}

fn table(config: TcpConfig) -> FlowTable<Bytes> {
    FlowTable::new(config, Box::new(|_: &Endpoint, _: &Endpoint| Bytes::default()))
}

#[test]
fn a_syn_only_or_refused_flow_is_charged_at_most_256_bytes() {
    assert!(std::mem::size_of::<Flow<crate::session::LeanProbe>>() + BOOKKEEPING <= 256);
    let mut t = table(TcpConfig::default());
    let mut b = SessionBuilder::lab();
    b.syn().rst(SERVER);
    let mut ended = Vec::new();
    feed(&mut t, &b, 1, &mut ended);
    assert_eq!((t.open_flows(), ended.len()), (1, 0));
    assert!(t.memory_used() <= 256, "{}", t.memory_used());
    // Payload makes it full: kilobytes, charged as such.
    let mut b = SessionBuilder::new(([10, 9, 9, 9], 40001), ([10, 0, 0, 2], 25));
    b.handshake().server("220 hi\r\n");
    feed(&mut t, &b, 10, &mut ended);
    assert!(t.memory_used() > 2048, "{}", t.memory_used());
}

#[test]
fn the_early_state_replays_into_the_same_session() {
    // Every shape of a start: a refused SYN, SYN retries, a handshake, data on the SYN.
    let mut b = SessionBuilder::lab();
    b.syn().wait(1.0).syn().wait(1.0).handshake().server("220 hi\r\n").client("QUIT\r\n").close();
    let mut refused = SessionBuilder::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
    refused.syn().rst(SERVER);
    b.frames.extend(refused.frames);
    let s = b.analyze();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].conn.syn_count, s[0].conn.handshake), (3, Handshake::Complete));
    assert_eq!(s[0].conn.zeek_conn_state, "SF");
    assert_eq!(s[0].smtp.replies, [220]);
    assert_eq!((s[1].conn.handshake, s[1].conn.zeek_conn_state), (Handshake::SynRst, "REJ"));
    assert_eq!(s[1].conn.events.len(), 2);
}

#[test]
fn a_handshake_that_never_completes_is_handed_on_after_the_half_open_timeout() {
    let mut b = SessionBuilder::lab();
    b.syn().wait(4.0).syn().wait(6.0);
    // Another connection's packet, 6 s after the last SYN: past the 5 s, far from 600 s.
    let mut other = SessionBuilder::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
    other.now = b.now;
    other.handshake().server("220 hi\r\n");
    b.frames.extend(other.frames);
    let (s, _) = analyze_pcap(&b.pcap(), Default::default());
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].conn.syn_count, s[0].end), (2, EndReason::Idle), "one connection: the retry came within 5 s");
    assert_eq!(s[0].conn.zeek_conn_state, "S0");
    assert_eq!(s[1].end, EndReason::CaptureEnd);
    // An established connection that goes quiet is not half-open.
    let mut quiet = SessionBuilder::lab();
    quiet.handshake().wait(30.0).ack(CLIENT);
    assert_eq!(quiet.analyze().len(), 1);
}

/// A SYN recorded twice (`tcpdump -i any` on a router: the second copy one hop on) and a
/// retry: the copy is not a packet of another kind, so the attempt still times out at 5 s.
#[test]
fn a_duplicated_syn_does_not_end_the_attempt() {
    let mut b = SessionBuilder::lab();
    b.syn();
    let (ts, mut copy) = b.frames.last().cloned().unwrap();
    copy[22] -= 1; // the IPv4 TTL, one router further on
    b.frames.push((Timestamp(ts.0 + 1_000_000), copy));
    b.wait(1.0).syn().wait(6.0);
    let mut other = SessionBuilder::new(([10, 7, 7, 7], 40002), ([10, 0, 0, 2], 25));
    other.now = b.now;
    other.handshake().server("220 hi\r\n");
    b.frames.extend(other.frames);
    let (s, _) = analyze_pcap(&b.pcap(), Default::default());
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].conn.dirs[0].duplicates, 1, "the copy is seen as one");
    assert_eq!((s[0].conn.syn_count, s[0].end), (2, EndReason::Idle), "handed on after 5 s, not 600");
}

/// Zeek's `tcp__one-sided-2745`: only the server's side is captured. Its ACK of data we never
/// see ends the attempt, so a FIN 10 s later belongs to the same connection.
#[test]
fn a_one_sided_capture_is_not_half_open_after_the_servers_first_ack() {
    let mut b = SessionBuilder::lab();
    b.raw(SERVER, TcpFlags::SYN | TcpFlags::ACK, 1000, 5001, b"", 63);
    b.raw(SERVER, TcpFlags::ACK, 1001, 5053, b"", 63).wait(10.0);
    b.raw(SERVER, TcpFlags::FIN | TcpFlags::ACK, 1001, 5054, b"", 63);
    let s = b.analyze();
    assert_eq!(s.len(), 1, "one connection, as Zeek and tshark count it");
    assert_eq!(s[0].conn.dirs[1].packets, 3);
}

/// `n` sessions, one after another, each opening and sending its banner 1 s after the last.
fn sessions(n: u16, tail: impl Fn(&mut SessionBuilder)) -> SessionBuilder {
    let mut all = SessionBuilder::lab();
    all.frames.clear();
    for i in 0..n {
        let mut one = SessionBuilder::new(([10, 1, (i >> 8) as u8, i as u8], 40000 + i), ([10, 0, 0, 2], 25));
        one.now = all.now + i64::from(i) * 1_000_000_000;
        one.handshake().server("220 hi\r\n");
        tail(&mut one);
        all.frames.extend(one.frames);
    }
    all.frames.sort_by_key(|(ts, _)| *ts);
    all
}

#[test]
fn the_memcap_evicts_the_oldest_idle_connection_first_and_counts_it() {
    let b = sessions(200, |_| {});
    let mut ended = Vec::new();
    // Room for a handful of full connections per bucket.
    let full = std::mem::size_of::<Full<Bytes>>() + 2048;
    let mut t = table(TcpConfig { memcap: BUCKETS * 3 * full, ..TcpConfig::default() });
    feed(&mut t, &b, 1, &mut ended);
    assert!(!ended.is_empty());
    assert!(ended.iter().all(|f| f.end == EndReason::Evicted && f.phase == FinishPhase::Evicted));
    assert_eq!(t.stats.flows_evicted, ended.len() as u64);
    assert_eq!(t.stats.memcap_evictions, ended.len() as u64);
    for bucket in &t.buckets {
        assert!(bucket.used <= share(t.config.memcap), "{} > {}", bucket.used, share(t.config.memcap));
    }
    // Oldest first: within a bucket, every evicted connection started before every open one.
    for f in &ended {
        let bucket = &t.buckets[FlowKey::of_endpoints(&f.conn.client, &f.conn.server).bucket()];
        assert!(bucket.flows.iter().all(|open| open.first > f.conn.first.number));
    }
}

#[test]
fn a_closed_connection_pushed_out_by_the_memcap_is_reported_closed() {
    // Closed but not acknowledged: each lingers 5 s, five times as long as they come.
    let b = sessions(100, |s| {
        s.client("QUIT\r\n").server("221 bye\r\n").fin(CLIENT).fin(SERVER);
    });
    let mut ended = Vec::new();
    let full = std::mem::size_of::<Full<Bytes>>() + 2048;
    let mut t = table(TcpConfig { memcap: BUCKETS * full, ..TcpConfig::default() });
    feed(&mut t, &b, 1, &mut ended);
    t.finish_all(&mut |f| ended.push(f));
    assert_eq!(ended.len(), 100);
    assert!(ended.iter().all(|f| f.end == EndReason::Closed), "none reported dropped");
    assert!(ended.iter().any(|f| f.phase == FinishPhase::Evicted), "the memcap pushed some out");
    assert_eq!(t.stats.flows_evicted, 0);
}
