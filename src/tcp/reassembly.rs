//! One direction of a TCP stream put back in order.
//!
//! Segments are delivered as soon as they are contiguous with what was delivered before.
//! Segments ahead of that point wait in a bounded buffer keyed by stream offset. Bytes the capture
//! never had become a `Gap`: when the peer acknowledges data we never saw (the receiver got it, the
//! capture did not — Wireshark's "ACKed segment that wasn't captured"), when the snaplen cut a
//! payload, when a buffer cap forces progress, and at the end of the connection.
//!
//! Overlap policy: first copy wins (what most stacks and Wireshark do). An overlap whose bytes
//! differ from the first copy is kept as a [`Rewrite`]: in-path editing leaves exactly that trace.

use super::PacketRef;
use super::seq::SeqNumber;
use std::collections::BTreeMap;

/// A piece of the reassembled stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// Bytes that crossed the wire but are not in the capture.
    Gap(u64),
}

/// Caps on what one direction may hold while waiting for a hole to fill.
#[derive(Clone, Copy, Debug)]
pub struct ReassemblyLimits {
    pub max_buffered_bytes: usize,
    pub max_buffered_segments: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits { max_buffered_bytes: 1 << 20, max_buffered_segments: 1024 }
    }
}

/// How a segment related to the stream when it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentClass {
    /// No payload.
    Empty,
    InOrder,
    /// Every byte was seen before.
    Retransmission,
    /// Starts before the delivered point and carries new bytes too.
    PartialRetransmission,
    /// Ahead of a hole: buffered.
    OutOfOrder,
    /// The same packet seen again at another capture point (`tcpdump -i any` on a router, a
    /// VLAN host): compared with the first copy, not counted as a retransmission.
    Duplicate,
}

/// Bytes seen twice with different content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    /// Packet that carried the first copy.
    pub original_packet: u64,
    /// Packet whose copy differs.
    pub packet: u64,
    /// Stream offset (bytes from the start of the direction) of the segment.
    pub offset: u64,
    pub len: u32,
    /// The first copy and the differing one around the first changed byte (lossy text).
    pub original: String,
    pub changed: String,
}

/// Counters of one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    pub retransmissions: u64,
    pub retransmitted_bytes: u64,
    pub out_of_order: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Times a buffer cap forced delivery past a hole.
    pub cap_flushes: u64,
    pub rewrites: Vec<Rewrite>,
}

const MAX_REWRITES_KEPT: usize = 16;
const RECENT_SEGMENTS: usize = 3;
/// An acknowledgment further ahead than this is nonsense (or hostile), not evidence of loss.
const MAX_ACK_JUMP: i64 = 1 << 30;

/// Bytes of a delivered segment kept for showing a rewrite.
const RECENT_HEAD: usize = 192;

#[derive(Clone, Copy)]
struct Recent {
    offset: u64,
    len: u32,
    hash: u64,
    packet: u64,
    head: [u8; RECENT_HEAD],
}

impl Default for Recent {
    fn default() -> Self {
        Recent { offset: 0, len: 0, hash: 0, packet: 0, head: [0; RECENT_HEAD] }
    }
}

struct Pending {
    data: Vec<u8>,
    /// Wire bytes after `data` that the capture cut off.
    missing: u32,
    at: PacketRef,
}

impl Pending {
    fn len(&self) -> u64 {
        self.data.len() as u64 + self.missing as u64
    }
}

pub struct Reassembler {
    /// Sequence number of stream offset `next_offset`; None until the first SYN or data.
    next: Option<SeqNumber>,
    next_offset: u64,
    fin: Option<SeqNumber>,
    /// The peer acknowledged the FIN.
    fin_acked: bool,
    pending: BTreeMap<u64, Pending>,
    pending_bytes: usize,
    /// The last delivered segments, for comparing retransmitted copies. Allocated with the first
    /// payload and given back when the connection has closed: thousands of connections open or
    /// lingering would otherwise each hold it inline.
    recent: Option<Box<[Recent; RECENT_SEGMENTS]>>,
    recent_pos: usize,
    /// The last thing handed on was a gap: more missing bytes extend the same hole.
    in_gap: bool,
    /// The next segment is a second copy of one already seen (set by the connection tracker).
    duplicate_next: bool,
    pub stats: DirectionStats,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembler {
    pub fn new() -> Self {
        Reassembler {
            next: None,
            next_offset: 0,
            fin: None,
            fin_acked: false,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            recent: None,
            recent_pos: 0,
            in_gap: false,
            duplicate_next: false,
            stats: DirectionStats::default(),
        }
    }

    /// A SYN fixes the initial sequence number; the first data byte is ISN + 1.
    pub fn syn(&mut self, isn: SeqNumber) {
        if self.next.is_none() {
            self.next = Some(isn.plus(1));
        }
    }

    /// The next segment is the same packet seen at another capture point.
    pub fn expect_duplicate(&mut self) {
        self.duplicate_next = true;
    }

    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Bytes delivered or declared missing so far.
    pub fn offset(&self) -> u64 {
        self.next_offset
    }

    pub fn buffered_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Segments waiting for a hole to fill.
    pub fn pending_segments(&self) -> usize {
        self.pending.len()
    }

    /// Heap bytes held: buffered payload, the segment history and kept rewrites.
    pub fn held_bytes(&self) -> usize {
        let recent = if self.recent.is_some() { std::mem::size_of::<[Recent; RECENT_SEGMENTS]>() } else { 0 };
        let rewrites = self.stats.rewrites.iter().map(|r| 64 + r.original.len() + r.changed.len()).sum::<usize>();
        self.pending_bytes + recent + rewrites
    }

    /// A FIN was seen and every byte before it has been delivered or declared missing.
    pub fn finished(&self) -> bool {
        matches!((self.fin, self.next), (Some(f), Some(n)) if f == n)
    }

    pub fn fin_seen(&self) -> bool {
        self.fin.is_some()
    }

    /// The peer acknowledged this direction's FIN: nothing more is owed in this direction.
    pub fn fin_acked(&self) -> bool {
        self.fin_acked
    }

    /// One segment of this direction. `seq` is the sequence number of the first payload byte
    /// (ISN + 1 for data carried on a SYN).
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        seq: SeqNumber,
        payload: &[u8],
        missing: u32,
        fin: bool,
        at: PacketRef,
        limits: &ReassemblyLimits,
        sink: &mut dyn FnMut(Chunk<'_>, PacketRef),
    ) -> SegmentClass {
        let len = payload.len() as u64 + missing as u64;
        let next = *self.next.get_or_insert(seq);
        if self.duplicate_next {
            self.duplicate_next = false;
            let rel = seq.since(next);
            if rel + len as i64 <= 0 {
                self.check_rewrite(self.next_offset.wrapping_add_signed(rel), payload, at);
                return SegmentClass::Duplicate;
            }
        }
        if fin && self.fin.is_none() {
            self.fin = Some(seq.plus(len));
        }
        if len == 0 {
            return SegmentClass::Empty;
        }
        let rel = seq.since(next);
        if rel + len as i64 <= 0 {
            self.count_retransmission(len);
            self.check_rewrite(self.next_offset.wrapping_add_signed(rel), payload, at);
            return SegmentClass::Retransmission;
        }
        if rel <= 0 {
            let skip = rel.unsigned_abs();
            if skip > 0 {
                self.count_retransmission(skip);
            }
            self.deliver(payload, missing, skip, at, sink);
            self.drain(sink);
            return if skip > 0 { SegmentClass::PartialRetransmission } else { SegmentClass::InOrder };
        }
        self.stats.out_of_order += 1;
        let offset = self.next_offset + rel as u64;
        self.buffer(offset, payload, missing, at, limits, sink);
        SegmentClass::OutOfOrder
    }

    /// The peer acknowledged everything before `ack`: bytes up to there that we have not seen
    /// were lost by the capture, not by the network.
    pub fn acked(&mut self, ack: SeqNumber, at: PacketRef, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
        let Some(next) = self.next else { return };
        // The FIN itself takes a sequence number but carries no byte.
        let end = match self.fin {
            Some(f) if ack.since(f) > 0 => {
                self.fin_acked = true;
                f
            }
            _ => ack,
        };
        let rel = end.since(next);
        if rel <= 0 || rel > MAX_ACK_JUMP {
            return;
        }
        let hole_end = self.next_offset + rel as u64;
        let first_pending = self.pending.keys().next().copied().unwrap_or(u64::MAX);
        let gap = hole_end.min(first_pending) - self.next_offset;
        if gap > 0 {
            self.declare_gap(gap, at, sink);
            self.drain(sink);
        }
    }

    /// End of the connection: deliver everything buffered, with the holes between as gaps, and
    /// the bytes before a seen FIN that never arrived.
    pub fn flush(&mut self, at: PacketRef, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
        self.flush_pending(at, sink);
        if let (Some(fin), Some(next)) = (self.fin, self.next) {
            let rel = fin.since(next);
            if rel > 0 && rel <= MAX_ACK_JUMP {
                self.declare_gap(rel as u64, at, sink);
            }
        }
    }

    /// Stop waiting for holes to fill: deliver everything buffered, holes as gaps.
    pub fn flush_pending(&mut self, at: PacketRef, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
        while let Some((&offset, _)) = self.pending.iter().next() {
            let hole = offset - self.next_offset;
            self.declare_gap(hole, at, sink);
            self.drain(sink);
        }
    }

    fn count_retransmission(&mut self, bytes: u64) {
        self.stats.retransmissions += 1;
        self.stats.retransmitted_bytes += bytes;
    }

    fn deliver(
        &mut self,
        payload: &[u8],
        missing: u32,
        skip: u64,
        at: PacketRef,
        sink: &mut dyn FnMut(Chunk<'_>, PacketRef),
    ) {
        let start_offset = self.next_offset;
        let captured = payload.len() as u64;
        if skip < captured {
            let fresh = &payload[skip as usize..];
            if skip == 0 {
                self.remember(start_offset, fresh, at);
            }
            sink(Chunk::Data(fresh), at);
            self.in_gap = false;
            self.advance(captured - skip);
        }
        let missing_left = (captured + missing as u64).saturating_sub(skip.max(captured));
        if missing_left > 0 {
            self.declare_gap(missing_left, at, sink);
        }
    }

    fn declare_gap(&mut self, len: u64, at: PacketRef, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
        if len == 0 {
            return;
        }
        // Contiguous missing bytes are one hole, however many packets they spanned.
        if !self.in_gap {
            self.stats.gaps += 1;
            self.in_gap = true;
        }
        self.stats.gap_bytes += len;
        sink(Chunk::Gap(len), at);
        self.advance(len);
    }

    fn advance(&mut self, len: u64) {
        self.next_offset += len;
        if let Some(n) = self.next.as_mut() {
            *n = n.plus(len);
        }
    }

    /// Deliver buffered segments that have become contiguous.
    fn drain(&mut self, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.next_offset {
                break;
            }
            let offset = *entry.key();
            let seg = entry.remove();
            self.pending_bytes -= seg.data.len();
            let skip = self.next_offset - offset;
            if skip < seg.len() {
                self.deliver(&seg.data, seg.missing, skip, seg.at, sink);
            }
        }
    }

    /// Keep the parts of a segment ahead of the stream that no buffered segment covers yet;
    /// compare the parts that one does.
    fn buffer(
        &mut self,
        offset: u64,
        payload: &[u8],
        missing: u32,
        at: PacketRef,
        limits: &ReassemblyLimits,
        sink: &mut dyn FnMut(Chunk<'_>, PacketRef),
    ) {
        let end = offset + payload.len() as u64 + missing as u64;
        let mut cursor = offset;
        let overlapping: Vec<(u64, u64)> = self
            .pending
            .range(..end)
            .rev()
            .take_while(|(o, p)| *o + p.len() > offset)
            .map(|(o, p)| (*o, *o + p.len()))
            .collect();
        let mut pieces = Vec::new();
        for (seg_start, seg_end) in overlapping.into_iter().rev() {
            if seg_start > cursor {
                pieces.push((cursor, seg_start));
            }
            self.compare_buffered(seg_start, offset, payload, at);
            cursor = cursor.max(seg_end);
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        if pieces.is_empty() {
            self.count_retransmission(end - offset);
            return;
        }
        for (start, stop) in pieces {
            let rel_start = (start - offset) as usize;
            let rel_stop = (stop - offset) as usize;
            let captured_stop = rel_stop.min(payload.len());
            let data = payload.get(rel_start..captured_stop).unwrap_or(&[]).to_vec();
            let piece_missing = (rel_stop - rel_start - data.len()) as u32;
            self.make_room(start, data.len(), at, limits, sink);
            if start <= self.next_offset {
                // make_room moved the stream up to (or past) this piece: deliver directly.
                let skip = self.next_offset - start;
                self.deliver(&data, piece_missing, skip, at, sink);
                self.drain(sink);
                continue;
            }
            self.pending_bytes += data.len();
            self.pending.insert(start, Pending { data, missing: piece_missing, at });
        }
    }

    /// Before buffering `len` bytes at `start`: while a cap would be exceeded, give up waiting
    /// for the first hole; when nothing buffered lies before `start` and the piece still does
    /// not fit (it alone is larger than the cap), give up waiting for the hole before it too.
    fn make_room(
        &mut self,
        start: u64,
        len: usize,
        at: PacketRef,
        limits: &ReassemblyLimits,
        sink: &mut dyn FnMut(Chunk<'_>, PacketRef),
    ) {
        let full = |r: &Self| {
            r.pending_bytes + len > limits.max_buffered_bytes || r.pending.len() >= limits.max_buffered_segments
        };
        if !full(self) {
            return;
        }
        self.stats.cap_flushes += 1;
        while full(self) {
            match self.pending.keys().next() {
                Some(&first) if first < start => {
                    self.declare_gap(first - self.next_offset, at, sink);
                    self.drain(sink);
                }
                _ => {
                    if start > self.next_offset {
                        self.declare_gap(start - self.next_offset, at, sink);
                    }
                    return;
                }
            }
        }
    }

    fn compare_buffered(&mut self, seg_start: u64, offset: u64, payload: &[u8], at: PacketRef) {
        let Some(seg) = self.pending.get(&seg_start) else { return };
        let lo = seg_start.max(offset);
        let hi = (seg_start + seg.data.len() as u64).min(offset + payload.len() as u64);
        if lo >= hi {
            return;
        }
        let old = &seg.data[(lo - seg_start) as usize..(hi - seg_start) as usize];
        let new = &payload[(lo - offset) as usize..(hi - offset) as usize];
        if old != new {
            let (original, changed) = excerpts(old, new);
            let rewrite = Rewrite {
                original_packet: seg.at.number,
                packet: at.number,
                offset: lo,
                len: (hi - lo) as u32,
                original,
                changed,
            };
            self.push_rewrite(rewrite);
        }
    }

    fn remember(&mut self, offset: u64, data: &[u8], at: PacketRef) {
        let slots = self.recent.get_or_insert_with(|| Box::new([Recent::default(); RECENT_SEGMENTS]));
        let r = &mut slots[self.recent_pos];
        let n = data.len().min(RECENT_HEAD);
        r.head[..n].copy_from_slice(&data[..n]);
        (r.offset, r.len, r.hash, r.packet) = (offset, data.len() as u32, hash_bytes(data), at.number);
        self.recent_pos = (self.recent_pos + 1) % RECENT_SEGMENTS;
    }

    /// The connection has closed: retransmitted data is no longer compared with what was
    /// delivered, and the segment history is given back.
    pub fn release_history(&mut self) {
        self.recent = None;
    }

    /// A full retransmission of one of the last delivered segments must carry the same bytes.
    fn check_rewrite(&mut self, offset: u64, payload: &[u8], at: PacketRef) {
        if payload.is_empty() {
            return;
        }
        let len = payload.len() as u32;
        let Some(slots) = &self.recent else { return };
        let found = slots.iter().find(|r| r.len == len && r.offset == offset && r.packet != 0).copied();
        if let Some(r) = found.filter(|r| r.hash != hash_bytes(payload)) {
            let kept = &r.head[..(r.len as usize).min(RECENT_HEAD)];
            let (original, changed) = excerpts(kept, payload);
            self.push_rewrite(Rewrite { original_packet: r.packet, packet: at.number, offset, len, original, changed });
        }
    }

    fn push_rewrite(&mut self, rewrite: Rewrite) {
        if self.stats.rewrites.len() < MAX_REWRITES_KEPT {
            self.stats.rewrites.push(rewrite);
        }
    }
}

/// Enough to tell two copies of a segment apart. Every delivered segment goes through this, so
/// it must cost far less than reading the bytes for SMTP: Fletcher-style sums over eight-byte
/// words in four lanes (`s1` = sum of the words, `s2` = sum of the running `s1`), which the
/// compiler turns into a few adds per 32 bytes. Any single changed byte changes `s1`; a change
/// undone elsewhere in the same lane still changes `s2` (the position weighs in), so moved or
/// swapped blocks are caught too. It tells edits apart, as a middlebox makes them; it is not
/// meant to resist a sender who crafts a collision to hide its own retransmission.
fn hash_bytes(data: &[u8]) -> u64 {
    fn add_block(block: &[u8; 32], s1: &mut [u64; 4], s2: &mut [u64; 4]) {
        for lane in 0..4 {
            let word = u64::from_le_bytes(block[lane * 8..lane * 8 + 8].try_into().unwrap_or_default());
            s1[lane] = s1[lane].wrapping_add(word);
            s2[lane] = s2[lane].wrapping_add(s1[lane]);
        }
    }
    let (mut s1, mut s2) = ([0u64; 4], [0u64; 4]);
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        add_block(block.try_into().unwrap_or(&[0; 32]), &mut s1, &mut s2);
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 32];
        last[..rest.len()].copy_from_slice(rest);
        add_block(&last, &mut s1, &mut s2);
    }
    // Fold the eight sums and the length into one word (a multiply-xorshift mix per step).
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = data.len() as u64;
    for sum in s1.into_iter().chain(s2) {
        h = (h ^ sum).wrapping_mul(K);
        h ^= h >> 29;
    }
    h
}

/// Up to 40 bytes of each copy, starting a little before the first byte that differs.
fn excerpts(old: &[u8], new: &[u8]) -> (String, String) {
    let first = old.iter().zip(new).position(|(a, b)| a != b).unwrap_or(old.len().min(new.len()));
    let start = first.saturating_sub(8);
    let cut = |b: &[u8]| {
        let end = b.len().min(start + 40);
        String::from_utf8_lossy(b.get(start..end).unwrap_or(&[])).escape_debug().to_string()
    };
    (cut(old), cut(new))
}

#[cfg(test)]
mod tests {
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
        r.segment(SeqNumber(seq), data.as_bytes(), 0, false, at(seq as u64), &limits, &mut out.sink())
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
    fn fingerprint_sees_single_bytes_moved_blocks_and_length() {
        let base: Vec<u8> = (0..1448u32).map(|i| (i * 7 % 251) as u8).collect();
        let h = hash_bytes(&base);
        assert_eq!(h, hash_bytes(&base.clone()));
        for at in [0, 1, 31, 32, 700, 1447] {
            let mut changed = base.clone();
            changed[at] ^= 0x20;
            assert_ne!(h, hash_bytes(&changed), "byte {at}");
        }
        // Two 32-byte blocks swapped: the plain sums stay, the weighted ones do not.
        let mut swapped = base.clone();
        let (a, b) = swapped.split_at_mut(64);
        a[..32].swap_with_slice(&mut b[..32]);
        assert_ne!(h, hash_bytes(&swapped));
        // A change undone in the next block of the same lane.
        let mut undone = base.clone();
        undone[8] = undone[8].wrapping_add(1);
        undone[40] = undone[40].wrapping_sub(1);
        assert_ne!(h, hash_bytes(&undone));
        assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abc\0"));
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
    fn a_second_copy_from_another_capture_point_is_compared_not_counted() {
        let (mut r, mut out) = (started(99), Out::default());
        feed(&mut r, &mut out, 100, "220 mx ready\r\n");
        r.expect_duplicate();
        assert_eq!(feed(&mut r, &mut out, 100, "220 ********\r\n"), SegmentClass::Duplicate);
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
        r.segment(SeqNumber(100), b"QUIT\r\n", 0, true, at(1), &limits, &mut out.sink());
        r.acked(SeqNumber(107), at(2), &mut out.sink());
        assert_eq!(out.0, "QUIT\r\n");
        assert!(r.finished());
    }

    #[test]
    fn snaplen_cut_payload_becomes_a_gap() {
        let (mut r, mut out) = (started(99), Out::default());
        let limits = ReassemblyLimits::default();
        r.segment(SeqNumber(100), b"abc", 5, false, at(1), &limits, &mut out.sink());
        feed(&mut r, &mut out, 108, "next");
        assert_eq!(out.0, "abc[gap 5]next");
    }

    #[test]
    fn flush_turns_holes_and_missing_end_into_gaps() {
        let (mut r, mut out) = (started(99), Out::default());
        let limits = ReassemblyLimits::default();
        feed(&mut r, &mut out, 100, "ab");
        feed(&mut r, &mut out, 110, "kl");
        r.segment(SeqNumber(120), b"", 0, true, at(3), &limits, &mut out.sink());
        r.flush(at(4), &mut out.sink());
        assert_eq!(out.0, "ab[gap 8]kl[gap 8]");
        assert!(r.finished());
    }

    #[test]
    fn buffer_cap_forces_progress_instead_of_growing() {
        let (mut r, mut out) = (started(99), Out::default());
        let limits = ReassemblyLimits { max_buffered_bytes: 4, max_buffered_segments: 100 };
        r.segment(SeqNumber(110), b"abcd", 0, false, at(1), &limits, &mut out.sink());
        r.segment(SeqNumber(114), b"efgh", 0, false, at(2), &limits, &mut out.sink());
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
        r.segment(SeqNumber(110), big.as_bytes(), 0, false, at(1), &limits, &mut out.sink());
        assert_eq!(r.buffered_bytes(), 0);
        assert_eq!(out.0, format!("[gap 10]{big}"));
        assert_eq!((r.stats.cap_flushes, r.stats.gap_bytes), (1, 10));
        // Two buffered pieces before it are given up on in turn, then the hole before it.
        let (mut r, mut out) = (started(99), Out::default());
        r.segment(SeqNumber(105), b"ab", 0, false, at(1), &limits, &mut out.sink());
        r.segment(SeqNumber(110), b"cd", 0, false, at(2), &limits, &mut out.sink());
        r.segment(SeqNumber(120), big.as_bytes(), 0, false, at(3), &limits, &mut out.sink());
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
            r.segment(SeqNumber(1 + i), b"x", 0, false, at(i as u64), &limits, &mut out.sink());
            assert!(r.pending.len() <= 256);
        }
        r.flush(at(0), &mut out.sink());
        assert_eq!(r.offset(), 20_000);
    }
}
