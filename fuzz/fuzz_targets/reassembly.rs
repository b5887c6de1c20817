//! The TCP reassembler fed arbitrary segment sequences: SYNs, data (possibly cut by a snaplen),
//! FINs, acknowledgments, sequence jumps of up to 2^32, overlaps with equal or different bytes.
//!
//! Oracle: every segment carries the bytes of one reference stream (byte = f(sequence number))
//! unless the input asks for a conflicting copy; while no conflicting copy was sent, every byte
//! delivered must be the reference byte for its position and no rewrite may be reported. Always:
//! the buffer stays within its caps, and data plus gaps add up to the stream offset.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpdiag::tcp::PacketRef;
use smtpdiag::tcp::reassembly::{Chunk, Reassembler, ReassemblyLimits, Segment};
use smtpdiag::tcp::seq::SeqNumber;

fn reference(seq: u32) -> u8 {
    (seq.wrapping_mul(0x9e37_79b9) >> 24) as u8
}

struct Ops<'a>(&'a [u8]);

impl Ops<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?]))
    }
}

/// What the harness knows of the stream delivered so far.
struct Stream {
    /// Sequence number of stream offset 0, known once the reassembler has started.
    start: Option<SeqNumber>,
    /// A segment with bytes other than the reference ones was sent.
    conflicting: bool,
    delivered: u64,
}

impl Stream {
    fn chunk(&mut self, c: Chunk<'_>) {
        match c {
            Chunk::Data(d) => {
                if let (false, Some(s)) = (self.conflicting, self.start) {
                    for (i, &b) in d.iter().enumerate() {
                        let offset = self.delivered + i as u64;
                        assert_eq!(b, reference(s.plus(offset).0), "wrong byte at offset {offset}");
                    }
                }
                self.delivered += d.len() as u64;
            }
            Chunk::Gap(n) => {
                assert!(n > 0);
                self.delivered += n;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut ops = Ops(data);
    let (Some(base), Some(caps)) = (ops.u32(), ops.byte()) else { return };
    let limits = ReassemblyLimits {
        max_buffered_bytes: 16 + (caps as usize & 0x0f) * 64,
        max_buffered_segments: 1 + (caps as usize >> 4),
    };
    let mut r = Reassembler::new();
    let mut st = Stream { start: None, conflicting: false, delivered: 0 };
    let mut number = 0u64;
    while let Some(kind) = ops.byte() {
        number += 1;
        let at = PacketRef { number, ts: Default::default() };
        let Some(rel) = ops.u16() else { break };
        let mut seq = SeqNumber(base).plus(rel as u64);
        if kind & 0x80 != 0 {
            // Far jumps: half the sequence space, or anywhere.
            seq = if kind & 0x40 != 0 { seq.plus(1 << 31) } else { SeqNumber(ops.u32().unwrap_or(0)) };
        }
        match kind & 0x07 {
            0 => {
                r.syn(seq);
                st.start.get_or_insert(seq.plus(1));
            }
            1 => r.acked(seq, at, &mut |c, _| st.chunk(c)),
            2 => r.flush_pending(at, &mut |c, _| st.chunk(c)),
            _ => {
                let len = ops.byte().unwrap_or(0) as usize;
                let missing = if kind & 0x08 != 0 { ops.byte().unwrap_or(0) as u32 } else { 0 };
                let fin = kind & 0x10 != 0;
                let bad = kind & 0x20 != 0 && kind & 0x07 == 7;
                st.conflicting |= bad;
                let payload: Vec<u8> =
                    (0..len).map(|i| reference(seq.plus(i as u64).0) ^ if bad { 0x5a } else { 0 }).collect();
                st.start.get_or_insert(seq);
                let segment = Segment { missing, fin, ..Segment::new(seq, &payload, at) };
                r.segment(segment, &limits, &mut |c, _| st.chunk(c));
            }
        }
        assert!(r.buffered_bytes() <= limits.max_buffered_bytes, "{} buffered", r.buffered_bytes());
        assert_eq!(st.delivered, r.offset());
        if !st.conflicting {
            assert!(r.stats.rewrites.is_empty(), "{:?}", r.stats.rewrites);
        }
    }
    let delivered = st.delivered;
    let mut end = 0u64;
    r.flush(PacketRef::default(), &mut |c, _| {
        end += match c {
            Chunk::Data(d) => d.len() as u64,
            Chunk::Gap(n) => n,
        }
    });
    assert_eq!(r.buffered_bytes(), 0);
    assert_eq!(delivered + end, r.offset());
});
