use super::*;

/// Collects the stream as text, with gaps shown as `[gap N]`.
#[derive(Default)]
struct Out(String);

impl Out {
    fn sink(&mut self) -> impl FnMut(Chunk<'_>, PacketRef) + '_ {
        |c, _| match c {
            Chunk::Data(d) => self.0.push_str(&String::from_utf8_lossy(d)),
            Chunk::Gap(n) => self.0.push_str(&format!("[gap {n}]")),
        }
    }
}

fn at(n: u64) -> PacketRef {
    PacketRef { number: n, ts: Default::default() }
}

fn feed(r: &mut Reassembler, out: &mut Out, seq: u32, data: &str) -> SegmentClass {
    let limits = ReassemblyLimits::default();
    r.segment(Segment::new(SeqNumber(seq), data.as_bytes(), at(seq as u64)), &limits, &mut out.sink())
}

fn started(isn: u32) -> Reassembler {
    let mut r = Reassembler::new();
    r.syn(SeqNumber(isn));
    r
}

#[test]
fn in_order_segments_pass_straight_through() {
    let (mut r, mut out) = (started(99), Out::default());
    assert_eq!(feed(&mut r, &mut out, 100, "EHLO "), SegmentClass::InOrder);
    feed(&mut r, &mut out, 105, "a\r\n");
    assert_eq!(out.0, "EHLO a\r\n");
}

#[test]
fn out_of_order_segment_waits_for_the_hole() {
    let (mut r, mut out) = (started(99), Out::default());
    assert_eq!(feed(&mut r, &mut out, 105, "world"), SegmentClass::OutOfOrder);
    assert_eq!(out.0, "");
    feed(&mut r, &mut out, 100, "hello");
    assert_eq!(out.0, "helloworld");
    assert_eq!(r.stats.out_of_order, 1);
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn duplicate_is_a_retransmission_and_not_delivered_twice() {
    let (mut r, mut out) = (started(99), Out::default());
    feed(&mut r, &mut out, 100, "abc");
    assert_eq!(feed(&mut r, &mut out, 100, "abc"), SegmentClass::Retransmission);
    assert_eq!(out.0, "abc");
    assert_eq!(r.stats.retransmissions, 1);
    assert!(r.stats.rewrites.is_empty());
}

#[test]
fn retransmission_with_different_bytes_is_a_rewrite() {
    let (mut r, mut out) = (started(99), Out::default());
    feed(&mut r, &mut out, 100, "250-STARTTLS\r\n");
    feed(&mut r, &mut out, 100, "250-XXXXXXXA\r\n");
    assert_eq!(out.0, "250-STARTTLS\r\n");
    let rw = &r.stats.rewrites;
    assert_eq!((rw.len(), rw[0].original_packet, rw[0].offset, rw[0].len), (1, 100, 0, 14));
    assert_eq!((rw[0].original.as_str(), rw[0].changed.as_str()), ("250-STARTTLS\\r\\n", "250-XXXXXXXA\\r\\n"));
}

#[test]
fn a_long_retransmission_is_compared_past_the_kept_head_too() {
    let body: String = (0..1400).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let (mut r, mut out) = (started(99), Out::default());
    feed(&mut r, &mut out, 100, &body);
    assert_eq!(feed(&mut r, &mut out, 100, &body), SegmentClass::Retransmission);
    assert!(r.stats.rewrites.is_empty());
    let mut changed = body.clone().into_bytes();
    changed[1000] = b'#';
    feed(&mut r, &mut out, 100, std::str::from_utf8(&changed).unwrap());
    let rw = &r.stats.rewrites;
    assert_eq!((rw.len(), rw[0].offset, rw[0].len), (1, 0, 1400));
}

#[test]
fn a_second_copy_from_another_capture_point_is_compared_not_counted() {
    let (mut r, mut out) = (started(99), Out::default());
    feed(&mut r, &mut out, 100, "220 mx ready\r\n");
    let copy = Segment { duplicate: true, ..Segment::new(SeqNumber(100), b"220 ********\r\n", at(2)) };
    let limits = ReassemblyLimits::default();
    assert_eq!(r.segment(copy, &limits, &mut out.sink()), SegmentClass::Duplicate);
    assert_eq!(r.stats.retransmissions, 0);
    assert_eq!(r.stats.rewrites.len(), 1);
    assert_eq!(out.0, "220 mx ready\r\n");
}

#[test]
fn partial_overlap_delivers_only_new_bytes() {
    let (mut r, mut out) = (started(99), Out::default());
    feed(&mut r, &mut out, 100, "abcd");
    assert_eq!(feed(&mut r, &mut out, 102, "cdef"), SegmentClass::PartialRetransmission);
    assert_eq!(out.0, "abcdef");
}

#[test]
fn overlapping_buffered_segments_with_different_bytes_keep_first_copy() {
    let (mut r, mut out) = (started(99), Out::default());
    feed(&mut r, &mut out, 104, "EFGH");
    feed(&mut r, &mut out, 106, "xyIJ");
    feed(&mut r, &mut out, 100, "ABCD");
    assert_eq!(out.0, "ABCDEFGHIJ");
    assert_eq!(r.stats.rewrites.len(), 1);
    assert_eq!(r.stats.rewrites[0].offset, 6);
}

#[test]
fn sequence_numbers_wrap_around() {
    let isn = u32::MAX - 2;
    let (mut r, mut out) = (started(isn), Out::default());
    feed(&mut r, &mut out, isn.wrapping_add(1), "ab");
    feed(&mut r, &mut out, isn.wrapping_add(5), "ef");
    feed(&mut r, &mut out, isn.wrapping_add(3), "cd");
    assert_eq!(out.0, "abcdef");
}

#[test]
fn ack_beyond_what_was_seen_declares_a_gap() {
    let (mut r, mut out) = (started(99), Out::default());
    feed(&mut r, &mut out, 100, "MAIL FROM:<a>\r\n");
    feed(&mut r, &mut out, 130, "DATA\r\n");
    r.acked(SeqNumber(136), at(9), &mut out.sink());
    assert_eq!(out.0, "MAIL FROM:<a>\r\n[gap 15]DATA\r\n");
    assert_eq!((r.stats.gaps, r.stats.gap_bytes), (1, 15));
}

#[test]
fn ack_of_fin_is_not_a_gap() {
    let (mut r, mut out) = (started(99), Out::default());
    let limits = ReassemblyLimits::default();
    r.segment(Segment { fin: true, ..Segment::new(SeqNumber(100), b"QUIT\r\n", at(1)) }, &limits, &mut out.sink());
    r.acked(SeqNumber(107), at(2), &mut out.sink());
    assert_eq!(out.0, "QUIT\r\n");
    assert!(r.finished());
}

#[test]
fn snaplen_cut_payload_becomes_a_gap() {
    let (mut r, mut out) = (started(99), Out::default());
    let limits = ReassemblyLimits::default();
    r.segment(Segment { missing: 5, ..Segment::new(SeqNumber(100), b"abc", at(1)) }, &limits, &mut out.sink());
    feed(&mut r, &mut out, 108, "next");
    assert_eq!(out.0, "abc[gap 5]next");
}

#[test]
fn flush_turns_holes_and_missing_end_into_gaps() {
    let (mut r, mut out) = (started(99), Out::default());
    let limits = ReassemblyLimits::default();
    feed(&mut r, &mut out, 100, "ab");
    feed(&mut r, &mut out, 110, "kl");
    r.segment(Segment { fin: true, ..Segment::new(SeqNumber(120), b"", at(3)) }, &limits, &mut out.sink());
    r.flush(at(4), &mut out.sink());
    assert_eq!(out.0, "ab[gap 8]kl[gap 8]");
    assert!(r.finished());
}

#[test]
fn buffer_cap_forces_progress_instead_of_growing() {
    let (mut r, mut out) = (started(99), Out::default());
    let limits = ReassemblyLimits { max_buffered_bytes: 4, max_buffered_segments: 100 };
    r.segment(Segment::new(SeqNumber(110), b"abcd", at(1)), &limits, &mut out.sink());
    r.segment(Segment::new(SeqNumber(114), b"efgh", at(2)), &limits, &mut out.sink());
    assert!(r.buffered_bytes() <= 4);
    assert_eq!(out.0, "[gap 10]abcdefgh");
    assert_eq!(r.stats.cap_flushes, 1);
}

#[test]
fn segment_larger_than_the_whole_cap_is_not_buffered() {
    // Found by the reassembly fuzz target: with nothing buffered to give up on, a piece
    // bigger than the cap used to be buffered anyway.
    let (mut r, mut out) = (started(99), Out::default());
    let limits = ReassemblyLimits { max_buffered_bytes: 16, max_buffered_segments: 100 };
    let big = "y".repeat(100);
    r.segment(Segment::new(SeqNumber(110), big.as_bytes(), at(1)), &limits, &mut out.sink());
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(out.0, format!("[gap 10]{big}"));
    assert_eq!((r.stats.cap_flushes, r.stats.gap_bytes), (1, 10));
    // Two buffered pieces before it are given up on in turn, then the hole before it.
    let (mut r, mut out) = (started(99), Out::default());
    r.segment(Segment::new(SeqNumber(105), b"ab", at(1)), &limits, &mut out.sink());
    r.segment(Segment::new(SeqNumber(110), b"cd", at(2)), &limits, &mut out.sink());
    r.segment(Segment::new(SeqNumber(120), big.as_bytes(), at(3)), &limits, &mut out.sink());
    assert!(r.buffered_bytes() <= 16);
    assert_eq!(out.0, format!("[gap 5]ab[gap 3]cd[gap 8]{big}"));
}

#[test]
fn syn_retransmission_does_not_move_the_start() {
    let (mut r, mut out) = (started(99), Out::default());
    r.syn(SeqNumber(99));
    feed(&mut r, &mut out, 100, "x");
    assert_eq!(out.0, "x");
}

#[test]
fn midstream_start_begins_at_first_segment() {
    let (mut r, mut out) = (Reassembler::new(), Out::default());
    feed(&mut r, &mut out, 5000, "250 ok\r\n");
    assert_eq!(out.0, "250 ok\r\n");
}

#[test]
fn many_tiny_reversed_segments_stay_bounded_and_linear() {
    let (mut r, mut out) = (started(0), Out::default());
    let limits = ReassemblyLimits { max_buffered_bytes: 1 << 20, max_buffered_segments: 256 };
    for i in (1..20_000u32).rev() {
        r.segment(Segment::new(SeqNumber(1 + i), b"x", at(i as u64)), &limits, &mut out.sink());
        assert!(r.pending.len() <= 256);
    }
    r.flush(at(0), &mut out.sink());
    assert_eq!(r.offset(), 20_000);
}
