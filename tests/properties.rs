//! Reassembly and the whole pipeline are indifferent to how TCP cut, reordered and repeated a
//! stream: any permutation, duplication and overlap (with identical bytes) of the segments gives
//! back the original bytes, and the same SMTP record, built from real pcaps.

mod common;

use common::pcap::*;
use proptest::prelude::*;
use smtpdiag::render::json::JsonDetail;
use smtpdiag::session::AnalyzerConfig;
use smtpdiag::tcp::PacketRef;
use smtpdiag::tcp::reassembly::{Chunk, Reassembler, ReassemblyLimits, Segment};
use smtpdiag::tcp::seq::SeqNumber;

/// Segments [start, end) of a stream of `len` bytes: cut at `cuts`, plus duplicates of some
/// and overlapping ranges, all in the order `order` gives.
fn segments(len: usize, cuts: &[usize], extra: &[(usize, usize)], order: &[usize]) -> Vec<(usize, usize)> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    at.extend([0, len]);
    at.sort_unstable();
    at.dedup();
    let mut segs: Vec<(usize, usize)> = at.windows(2).map(|w| (w[0], w[1])).collect();
    for &(a, b) in extra {
        let (a, b) = (a % len, b % len);
        segs.push((a.min(b), a.max(b) + 1));
    }
    // A permutation: sort by the random keys.
    let mut keyed: Vec<(usize, (usize, usize))> =
        segs.into_iter().enumerate().map(|(i, s)| (order.get(i).copied().unwrap_or(i), s)).collect();
    keyed.sort_by_key(|k| k.0);
    keyed.into_iter().map(|k| k.1).collect()
}

fn stream(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 13) as u8).collect()
}

/// A dialogue whose bursts (one direction's bytes before the other answers) are cut apart.
fn dialogue() -> Vec<(bool, Vec<u8>)> {
    vec![
        (false, b"220-mx.example ESMTP\r\n220 ready\r\n".to_vec()),
        (true, b"EHLO c.example\r\n".to_vec()),
        (false, b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 1000000\r\n".to_vec()),
        (true, b"MAIL FROM:<a@b.org>\r\nRCPT TO:<c@d.org>\r\nRCPT TO:<e@f.org>\r\nDATA\r\n".to_vec()),
        (false, b"250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n".to_vec()),
        (true, b"Subject: t\r\n\r\n..stuffed\r\nline \x00\xff\r\n.\r\n".to_vec()),
        (false, b"250 queued as Q1\r\n".to_vec()),
        (true, b"QUIT\r\n".to_vec()),
        (false, b"221 bye\r\n".to_vec()),
    ]
}

/// The dialogue as a pcap: handshake, each burst's segments in the given shapes, both FINs.
fn session_pcap(shapes: &[Vec<(usize, usize)>]) -> Vec<u8> {
    let mut p = Pcap::default();
    let (mut cseq, mut sseq) = (1001u32, 5001u32);
    p.tcp(true, 1000, 0, SYN, b"").tcp(false, 5000, 1001, SYN | ACK, b"").tcp(true, 1001, 5001, ACK, b"");
    for ((client, bytes), shape) in dialogue().iter().zip(shapes) {
        let (base, ack) = if *client { (cseq, sseq) } else { (sseq, cseq) };
        for &(a, b) in shape {
            p.tcp(*client, base + a as u32, ack, ACK | PSH, &bytes[a..b]);
        }
        let end = base + bytes.len() as u32;
        // The peer acknowledges the whole burst before answering.
        p.tcp(!*client, ack, end, ACK, b"");
        if *client { cseq = end } else { sseq = end }
    }
    p.tcp(false, sseq, cseq, FIN | ACK, b"").tcp(true, cseq, sseq + 1, FIN | ACK, b"");
    p.tcp(false, sseq + 1, cseq + 1, ACK, b"");
    p.bytes()
}

/// The SMTP record as JSON, without what depends on packet boundaries: packet numbers, and
/// the PIPELINING observation ("several commands in one packet").
fn smtp_json(bytes: &[u8]) -> serde_json::Value {
    let out = analyze(bytes, AnalyzerConfig::default());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(out.sessions.len(), 1);
    let s = &out.sessions[0];
    assert_eq!((s.conn.dirs[0].stream.gaps, s.conn.dirs[1].stream.gaps), (0, 0));
    assert!(s.conn.rewrites().next().is_none());
    let mut v =
        smtpdiag::render::json::session_value(s, &[], JsonDetail { events: true, explain: false })["smtp"].clone();
    strip(&mut v);
    v
}

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !k.ends_with("packet") && k != "pipelining");
            m.values_mut().for_each(strip);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_permutation_duplication_and_overlap_reassembles_the_stream(
        len in 1usize..600,
        isn in any::<u32>(),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
        extra in prop::collection::vec((any::<usize>(), any::<usize>()), 0..15),
        order in prop::collection::vec(any::<usize>(), 60),
    ) {
        let data = stream(len);
        let mut r = Reassembler::new();
        r.syn(SeqNumber(isn));
        let mut out = Vec::new();
        let limits = ReassemblyLimits::default();
        for (i, (a, b)) in segments(len, &cuts, &extra, &order).into_iter().enumerate() {
            let at = PacketRef { number: i as u64, ts: Default::default() };
            let seq = SeqNumber(isn).plus(1 + a as u64);
            r.segment(Segment::new(seq, &data[a..b], at), &limits, &mut |c, _| match c {
                Chunk::Data(d) => out.extend_from_slice(d),
                Chunk::Gap(n) => panic!("gap of {n}"),
            });
        }
        prop_assert_eq!(&out, &data);
        prop_assert_eq!(r.buffered_bytes(), 0);
        prop_assert!(r.stats.rewrites.is_empty());
    }

    #[test]
    fn any_segmentation_of_a_dialogue_gives_the_same_smtp_record(
        cuts in prop::collection::vec(prop::collection::vec(any::<usize>(), 0..6), 9),
        extra in prop::collection::vec(prop::collection::vec((any::<usize>(), any::<usize>()), 0..3), 9),
        order in prop::collection::vec(prop::collection::vec(any::<usize>(), 12), 9),
    ) {
        let d = dialogue();
        let whole: Vec<Vec<(usize, usize)>> = d.iter().map(|(_, b)| vec![(0, b.len())]).collect();
        let shapes: Vec<Vec<(usize, usize)>> =
            d.iter().enumerate().map(|(i, (_, b))| segments(b.len(), &cuts[i], &extra[i], &order[i])).collect();
        prop_assert_eq!(smtp_json(&session_pcap(&whole)), smtp_json(&session_pcap(&shapes)));
    }
}

#[test]
fn reference_dialogue_reads_as_intended() {
    let d = dialogue();
    let whole: Vec<Vec<(usize, usize)>> = d.iter().map(|(_, b)| vec![(0, b.len())]).collect();
    let out = analyze(&session_pcap(&whole), AnalyzerConfig::default());
    let s = &out.sessions[0];
    use smtpdiag::smtp::Verb::*;
    assert_eq!(s.smtp.commands, [Ehlo, Mail, Rcpt, Rcpt, Data, Quit]);
    assert_eq!(s.smtp.replies, [220, 250, 250, 250, 550, 354, 250, 221]);
    assert_eq!(s.smtp.transactions[0].queue_id.as_deref(), Some("Q1"));
}
