//! Bounded line splitter for one direction: lines end at LF (CRLF per RFC 5321 §2.3.8, bare LF
//! tolerated as most servers do). At most `max` bytes of a line are kept; the rest is counted.

use crate::tcp::PacketRef;

/// RFC 5322 §2.1.1: lines of a message must not exceed 998 characters without the CRLF.
pub const LINE_LIMIT: usize = 998;

/// High bit set in exactly the bytes of `word` equal to `byte` (the carry-free form of the
/// "has zero byte" test, so no false positives).
pub fn byte_mask(word: u64, byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// Offset of the first `byte` in `data`. Most command and reply lines are short: the first 32
/// bytes are scanned inline a word at a time, only a longer search calls `memchr`, whose call
/// and set-up cost more than a short line's scan. (Message lines, longer, go to `memchr` at once.)
/// Always inlined: called out of line (it has several callers), the call cost as much again.
#[inline(always)]
pub fn find(byte: u8, data: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(word) = data.get(at..at + 8) {
        if at == 32 {
            return memchr::memchr(byte, &data[at..]).map(|i| at + i);
        }
        let marks = byte_mask(u64::from_le_bytes(word.try_into().expect("8 bytes")), byte);
        if marks != 0 {
            return Some(at + marks.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    data[at..].iter().position(|&b| b == byte).map(|i| at + i)
}

/// Whether `data` holds a NUL byte, a word at a time (lines are short: no `memchr` call).
pub fn has_nul(data: &[u8]) -> bool {
    let mut words = data.chunks_exact(8);
    let found = words.any(|w| byte_mask(u64::from_le_bytes(w.try_into().expect("8 bytes")), 0) != 0);
    found || words.remainder().contains(&0)
}

/// The LFs of a segment, found 64 bytes at a time: a message's lines are taken from the
/// segment's blocks with four 16-byte compares each, where a `memchr` call per line paid its
/// set-up (most of its cost on a 70-byte line) for every line. The mask of the block last read
/// is kept for the next lines in it: asked in increasing order, each block is read once.
pub struct LineEnds<'a> {
    data: &'a [u8],
    /// Offset of the block `mask` describes (a multiple of 64), `usize::MAX` before the first.
    block: usize,
    /// Bit i set when byte `block + i` is an LF.
    mask: u64,
}

impl<'a> LineEnds<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        LineEnds { data, block: usize::MAX, mask: 0 }
    }

    /// Offset of the first LF at or after `from`.
    #[inline(always)]
    pub fn find(&mut self, from: usize) -> Option<usize> {
        let mut block = from & !63;
        if block != self.block {
            if block >= self.data.len() {
                return None;
            }
            self.block = block;
            self.mask = lf_bits(self.data, block);
        }
        let mut mask = self.mask & (u64::MAX << (from - block));
        while mask == 0 {
            block += 64;
            if block >= self.data.len() {
                return None;
            }
            self.block = block;
            self.mask = lf_bits(self.data, block);
            mask = self.mask;
        }
        Some(block + mask.trailing_zeros() as usize)
    }
}

/// A bit per LF in the 64 bytes of `data` from `at` (bit i for byte `at + i`), none past the
/// end of `data`.
#[inline(always)]
fn lf_bits(data: &[u8], at: usize) -> u64 {
    if let Some(whole) = data.get(at..at + 64) {
        return block_lf_bits(whole.try_into().expect("64 bytes"));
    }
    if let Some(start) = data.len().checked_sub(64) {
        // The segment's last 64 bytes, shifted to start at `at` (after `start`): no copy.
        return block_lf_bits(data[start..].try_into().expect("64 bytes")) >> (at - start);
    }
    let mut padded = [0u8; 64];
    padded[..data.len() - at].copy_from_slice(&data[at..]);
    block_lf_bits(&padded)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn block_lf_bits(block: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8};
    let word = |at: usize| i64::from_le_bytes(block[at..at + 8].try_into().expect("eight bytes"));
    let bits = |at: usize| {
        // SAFETY: these intrinsics only require SSE2, which this build enables for every
        // function (the cfg above; it is part of every x86-64 CPU); they touch nothing but
        // their arguments.
        let lfs = unsafe {
            let v = _mm_set_epi64x(word(at + 8), word(at));
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)))
        };
        u64::from(lfs as u16)
    };
    bits(0) | bits(16) << 16 | bits(32) << 32 | bits(48) << 48
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn block_lf_bits(block: &[u8; 64]) -> u64 {
    portable_lf_bits(block)
}

/// [`block_lf_bits`] a word at a time: without SSE2, and what the tests compare it with. The
/// marks of `byte_mask` (each byte's high bit) are gathered into one byte by a multiply.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn portable_lf_bits(block: &[u8; 64]) -> u64 {
    (0..8).fold(0, |bits, w| {
        let word = u64::from_le_bytes(block[8 * w..8 * w + 8].try_into().expect("eight bytes"));
        let marks = byte_mask(word, b'\n');
        bits | ((marks >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * w)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    CrLf,
    BareLf,
    /// The stream ended (or a gap came) before the line did.
    None,
}

#[derive(Clone, Debug)]
pub struct Line {
    /// The line without its ending, cut to the splitter's limit.
    pub bytes: Vec<u8>,
    /// Full length without the ending, including bytes not kept.
    pub len: usize,
    pub ending: Ending,
    pub first: PacketRef,
    pub last: PacketRef,
    /// Bytes of this line are missing from the capture (it started before a gap).
    pub tainted: bool,
}

impl Line {
    pub fn truncated(&self) -> bool {
        self.bytes.len() < self.len
    }

    pub fn as_ref(&self) -> LineRef<'_> {
        LineRef {
            bytes: &self.bytes,
            len: self.len,
            ending: self.ending,
            first: self.first,
            last: self.last,
            tainted: self.tainted,
        }
    }
}

/// A line borrowed from the stream or from the splitter, for the per-line hot path (message
/// bodies), where an owned `Line` would cost an allocation per line.
#[derive(Clone, Copy, Debug)]
pub struct LineRef<'a> {
    pub bytes: &'a [u8],
    pub len: usize,
    pub ending: Ending,
    pub first: PacketRef,
    pub last: PacketRef,
    pub tainted: bool,
}

impl LineRef<'_> {
    pub fn truncated(&self) -> bool {
        self.bytes.len() < self.len
    }
}

#[derive(Clone, Debug)]
pub struct LineBuf {
    buf: Vec<u8>,
    total: usize,
    last_cr: bool,
    first: Option<PacketRef>,
    tainted: bool,
    max: usize,
    /// `buf` still holds the line last lent out by `feed_ref`.
    pending_clear: bool,
}

impl LineBuf {
    pub fn new(max: usize) -> Self {
        LineBuf { buf: Vec::new(), total: 0, last_cr: false, first: None, tainted: false, max, pending_clear: false }
    }

    /// No line is in progress: the next byte starts a fresh, untainted line.
    pub fn is_idle(&self) -> bool {
        self.first.is_none() && !self.tainted
    }

    /// Consumes bytes up to and including the first LF; returns how many were consumed and the
    /// completed line, if any, borrowed: from `data` when the whole line is in it (no copy), else
    /// from the splitter's buffer, which is reused. Inlined into its few callers: called per
    /// command and reply line, the call and the line handed back through memory cost about
    /// as much as the search.
    #[inline(always)]
    pub fn feed_ref<'a>(&'a mut self, data: &'a [u8], at: PacketRef) -> (usize, Option<LineRef<'a>>) {
        if self.pending_clear {
            self.pending_clear = false;
            self.buf.clear();
        }
        let Some(i) = find(b'\n', data) else {
            self.append(data, at);
            return (data.len(), None);
        };
        if self.first.is_none() {
            // The whole line is in `data`: the same result as copying it to `buf` first.
            let part = &data[..i];
            let crlf = i > 0 && part[i - 1] == b'\r';
            let len = i - usize::from(crlf);
            let kept = part.len().min(self.max).min(len);
            let tainted = std::mem::take(&mut self.tainted);
            let ending = if crlf { Ending::CrLf } else { Ending::BareLf };
            let line = LineRef { bytes: &part[..kept], len, ending, first: at, last: at, tainted };
            return (i + 1, Some(line));
        }
        self.append(&data[..i], at);
        let crlf = self.last_cr && self.total > 0;
        let len = if crlf { self.total - 1 } else { self.total };
        let (first, tainted) = (self.first.unwrap_or(at), self.tainted);
        self.start_next_line();
        self.pending_clear = true;
        let ending = if crlf { Ending::CrLf } else { Ending::BareLf };
        let line = LineRef { bytes: &self.buf[..self.buf.len().min(len)], len, ending, first, last: at, tainted };
        (i + 1, Some(line))
    }

    fn append(&mut self, part: &[u8], at: PacketRef) {
        if std::mem::take(&mut self.pending_clear) {
            self.buf.clear();
        }
        if self.first.is_none() {
            self.first = Some(at);
        }
        if part.is_empty() {
            return;
        }
        self.total += part.len();
        self.last_cr = part[part.len() - 1] == b'\r';
        let room = self.max.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn take(&mut self, at: PacketRef, ending: Ending) -> Line {
        let line = Line {
            bytes: std::mem::take(&mut self.buf),
            len: self.total,
            ending,
            first: self.first.unwrap_or(at),
            last: at,
            tainted: self.tainted,
        };
        self.start_next_line();
        line
    }

    /// The line in progress was handed out: the next byte starts a fresh one.
    fn start_next_line(&mut self) {
        self.total = 0;
        self.last_cr = false;
        self.first = None;
        self.tainted = false;
    }

    /// False while resynchronising after a gap (the line in progress misses bytes).
    pub fn untainted(&self) -> bool {
        !self.tainted
    }

    /// The kept bytes of the line begun so far.
    pub fn head(&self) -> &[u8] {
        if self.pending_clear { &[] } else { &self.buf }
    }

    /// Hands out the unfinished line (end of capture, or a switch to TLS mid-line).
    pub fn take_partial(&mut self, at: PacketRef) -> Option<Line> {
        if self.first.is_none() {
            self.tainted = false;
            return None;
        }
        Some(self.take(at, Ending::None))
    }

    /// Bytes are missing here. A gap at a line boundary leaves the next byte a line start
    /// (segments usually carry whole lines); a gap mid-line taints the line up to the next LF.
    /// Returns the length of the line dropped, if one was in progress.
    pub fn gap(&mut self) -> Option<usize> {
        if self.first.is_none() && !self.tainted {
            return None;
        }
        let dropped = self.total;
        self.buf.clear();
        self.pending_clear = false;
        self.total = 0;
        self.last_cr = false;
        self.first = None;
        self.tainted = true;
        Some(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u64) -> PacketRef {
        PacketRef { number: n, ..Default::default() }
    }

    /// Inline scan or `memchr`, near the start or far, the first one is found.
    #[test]
    fn find_and_has_nul_agree_with_a_plain_search() {
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 71, 72, 73, 200] {
            for at in (0..len).chain([len]) {
                let mut data = vec![b'x'; len];
                if at < len {
                    data[at] = b'\n';
                    data[len - 1] = b'\n';
                }
                assert_eq!(find(b'\n', &data), data.iter().position(|&b| b == b'\n'), "{len} {at}");
                data.iter_mut().for_each(|b| *b = if *b == b'\n' { 0 } else { 0x80 });
                assert_eq!(has_nul(&data), data.contains(&0), "{len} {at}");
            }
        }
    }

    /// Block by block, every LF is found in order, from any offset, whatever the length.
    #[test]
    fn line_ends_agree_with_a_plain_search() {
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200] {
            for step in [1, 3, 7, 16, 63, 64, 65, 150] {
                let data: Vec<u8> = (0..len).map(|i| if i % step == step - 1 { b'\n' } else { b'x' }).collect();
                let plain = |from: usize| data[from..].iter().position(|&b| b == b'\n').map(|i| from + i);
                for start in 0..=len {
                    let mut ends = LineEnds::new(&data);
                    let mut from = start;
                    loop {
                        let found = ends.find(from);
                        assert_eq!(found, plain(from), "{len} {step} {start} {from}");
                        match found {
                            Some(nl) => from = nl + 1,
                            None => break,
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn lf_bits_agree_with_the_portable_form() {
        for seed in 0u64..2000 {
            let mut block = [0u8; 64];
            for (i, b) in block.iter_mut().enumerate() {
                let r = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(i as u32) ^ i as u64;
                *b = match r % 4 {
                    0 => b'\n',
                    1 => 0x8a,
                    2 => b'\r',
                    _ => r as u8,
                };
            }
            let plain = (0..64).fold(0u64, |m, i| m | u64::from(block[i] == b'\n') << i);
            assert_eq!(portable_lf_bits(&block), plain, "{block:?}");
            assert_eq!(block_lf_bits(&block), plain, "{block:?}");
        }
    }

    #[test]
    fn crlf_and_bare_lf() {
        let mut lb = LineBuf::new(100);
        let (n, l) = lb.feed_ref(b"EHLO x\r\nQUIT\n", p(1));
        assert_eq!(n, 8);
        let l = l.unwrap();
        assert_eq!((l.bytes, l.ending), (&b"EHLO x"[..], Ending::CrLf));
        let (_, l) = lb.feed_ref(b"QUIT\n", p(1));
        assert_eq!(l.unwrap().ending, Ending::BareLf);
    }

    #[test]
    fn split_across_feeds_keeps_first_packet() {
        let mut lb = LineBuf::new(100);
        assert!(lb.feed_ref(b"250-SIZE 1", p(3)).1.is_none());
        assert!(lb.feed_ref(b"0\r", p(4)).1.is_none());
        let l = lb.feed_ref(b"\n", p(5)).1.unwrap();
        assert_eq!((l.bytes, l.first.number, l.last.number), (&b"250-SIZE 10"[..], 3, 5));
        assert_eq!(l.ending, Ending::CrLf);
    }

    #[test]
    fn long_line_is_capped_but_counted() {
        let mut lb = LineBuf::new(4);
        let l = lb.feed_ref(b"abcdefgh\r\n", p(1)).1.unwrap();
        assert_eq!((l.bytes.len(), l.len, l.truncated()), (4, 8, true));
        assert_eq!(l.ending, Ending::CrLf);
    }

    #[test]
    fn gap_mid_line_taints_next_line_only() {
        let mut lb = LineBuf::new(100);
        lb.feed_ref(b"MAIL FR", p(1));
        assert_eq!(lb.gap(), Some(7));
        let l = lb.feed_ref(b"x>\r\n", p(3)).1.unwrap();
        assert!(l.tainted);
        let l = lb.feed_ref(b"QUIT\r\n", p(3)).1.unwrap();
        assert!(!l.tainted);
        assert_eq!(lb.gap(), None);
        assert!(lb.untainted() && lb.head().is_empty());
    }
}
