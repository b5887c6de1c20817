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

mod rewrite;

use rewrite::{RECENT_SEGMENTS, Recent};

/// A piece of the reassembled stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// Bytes that crossed the wire but are not in the capture.
    Gap(u64),
}

/// One segment of a direction, as the reassembler takes it.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Sequence number of the first payload byte (ISN + 1 for data carried on a SYN).
    pub seq: SeqNumber,
    pub payload: &'a [u8],
    /// Wire bytes after `payload` that the capture cut off (snaplen).
    pub missing: u32,
    pub fin: bool,
    /// The same packet seen a second time at another capture point (`tcpdump -i any` on a
    /// router, a VLAN host): if its bytes were all delivered, it is compared with the first copy
    /// and not counted as a retransmission.
    pub duplicate: bool,
    pub at: PacketRef,
}

impl<'a> Segment<'a> {
    /// Captured whole, no FIN, seen once.
    pub fn new(seq: SeqNumber, payload: &'a [u8], at: PacketRef) -> Self {
        Segment { seq, payload, missing: 0, fin: false, duplicate: false, at }
    }
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

/// An acknowledgment further ahead than this is nonsense (or hostile), not evidence of loss.
const MAX_ACK_JUMP: i64 = 1 << 30;

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

/// All a direction knows before its first payload byte, FIN or acknowledged hole: where its
/// stream starts. The flow table keeps this instead of a [`Reassembler`] until one is needed,
/// and the reassembler made from it is the one the same packets would have left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStart(Option<SeqNumber>);

impl StreamStart {
    /// A SYN fixes the initial sequence number; the first data byte is ISN + 1.
    pub fn syn(&mut self, isn: SeqNumber) {
        self.0.get_or_insert(isn.plus(1));
    }

    /// A segment without payload or FIN: what [`Reassembler::segment`] keeps of it.
    pub fn empty_segment(&mut self, seq: SeqNumber) {
        self.0.get_or_insert(seq);
    }

    /// Would an acknowledgment up to `ack` declare bytes missing ([`Reassembler::acked`] with
    /// nothing delivered, buffered or finished)?
    pub fn ack_reveals_bytes(&self, ack: SeqNumber) -> bool {
        self.0.is_some_and(|next| (1..=MAX_ACK_JUMP).contains(&ack.since(next)))
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
    /// Heap bytes of `stats.rewrites`, counted as they are kept: the memory budget asks for
    /// `held_bytes` after every packet, and walking the list each time cost more than the rare
    /// push.
    rewrite_bytes: usize,
    pub stats: DirectionStats,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembler {
    pub fn new() -> Self {
        Self::from_start(StreamStart::default())
    }

    /// A direction that has carried nothing yet but the packets that gave it `start`.
    pub fn from_start(start: StreamStart) -> Self {
        Reassembler {
            next: start.0,
            next_offset: 0,
            fin: None,
            fin_acked: false,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            recent: None,
            recent_pos: 0,
            in_gap: false,
            rewrite_bytes: 0,
            stats: DirectionStats::default(),
        }
    }

    /// A SYN fixes the initial sequence number; the first data byte is ISN + 1.
    pub fn syn(&mut self, isn: SeqNumber) {
        if self.next.is_none() {
            self.next = Some(isn.plus(1));
        }
    }

    #[inline]
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Bytes delivered or declared missing so far.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.next_offset
    }

    #[inline]
    pub fn buffered_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Segments waiting for a hole to fill.
    #[inline]
    pub fn pending_segments(&self) -> usize {
        self.pending.len()
    }

    /// Heap bytes held: buffered payload, the segment history and kept rewrites.
    #[inline]
    pub fn held_bytes(&self) -> usize {
        let recent = if self.recent.is_some() { std::mem::size_of::<[Recent; RECENT_SEGMENTS]>() } else { 0 };
        self.pending_bytes + recent + self.rewrite_bytes
    }

    /// The counters, taken out at the connection's end (with them the kept rewrites).
    pub fn take_stats(&mut self) -> DirectionStats {
        self.rewrite_bytes = 0;
        std::mem::take(&mut self.stats)
    }

    /// A FIN was seen and every byte before it has been delivered or declared missing.
    #[inline]
    pub fn finished(&self) -> bool {
        matches!((self.fin, self.next), (Some(f), Some(n)) if f == n)
    }

    /// This direction sent a FIN (a reset is no FIN: its segment is never given here).
    #[inline]
    pub fn fin_seen(&self) -> bool {
        self.fin.is_some()
    }

    /// Holes found so far: missing bytes in a row, however many packets they spanned, are one.
    #[inline]
    pub fn gaps(&self) -> u64 {
        self.stats.gaps
    }

    /// The peer acknowledged this direction's FIN: nothing more is owed in this direction.
    #[inline]
    pub fn fin_acked(&self) -> bool {
        self.fin_acked
    }

    /// One segment of this direction.
    pub fn segment(
        &mut self,
        segment: Segment<'_>,
        limits: &ReassemblyLimits,
        sink: &mut dyn FnMut(Chunk<'_>, PacketRef),
    ) -> SegmentClass {
        let Segment { seq, payload, missing, fin, duplicate, at } = segment;
        let len = payload.len() as u64 + missing as u64;
        let next = *self.next.get_or_insert(seq);
        if duplicate {
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
    #[inline]
    pub fn acked(&mut self, ack: SeqNumber, at: PacketRef, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
        // Most acknowledgments cover delivered bytes only, before any FIN: nothing to do (the
        // test `acked_ahead` starts with, without a call per packet).
        if self.fin.is_none() && self.next.is_some_and(|next| ack.since(next) <= 0) {
            return;
        }
        self.acked_ahead(ack, at, sink);
    }

    fn acked_ahead(&mut self, ack: SeqNumber, at: PacketRef, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
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

    /// Deliver buffered segments that have become contiguous. Inlined for the common case,
    /// nothing buffered: it was a call after every delivered segment.
    #[inline]
    fn drain(&mut self, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
        if !self.pending.is_empty() {
            self.drain_buffered(sink);
        }
    }

    fn drain_buffered(&mut self, sink: &mut dyn FnMut(Chunk<'_>, PacketRef)) {
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
}

#[cfg(test)]
mod tests;
