//! Counting a run of folded header lines (RFC 5322 §2.2.3: continuation lines start with SP or
//! HTAB). A field folded over thousands of short lines (a crafted Subject of 100,000 " x"
//! lines) would otherwise cost a `memchr` call and the per-line path for every fold.

use super::line::{LINE_LIMIT, byte_mask};

/// The CRLF continuation lines counted so far from the start of a packet's data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FoldRun {
    /// Offset just past the last line counted: the start of the next line.
    pub end: usize,
    pub lines: u64,
    /// Longest content (without CRLF) and how many exceed RFC 5322's 998.
    pub longest: usize,
    pub over_998: u64,
}

impl FoldRun {
    /// `longest`: the longest line already seen; shorter ones need not be measured.
    pub fn after(longest: usize) -> Self {
        FoldRun { longest, ..Default::default() }
    }

    /// Counts the next line when it is a complete CRLF continuation line; returns its content.
    pub fn next_line<'a>(&mut self, data: &'a [u8]) -> Option<&'a [u8]> {
        let rest = &data[self.end..];
        let nl = memchr::memchr(b'\n', rest)?;
        let content = match &rest[..nl] {
            line @ [b' ' | b'\t', .., b'\r'] => &line[..line.len() - 1],
            _ => return None,
        };
        self.count(self.end + nl);
        Some(content)
    }

    /// Counts every continuation line left, eight bytes at a time: in a word where each line
    /// that ends starts with SP/HTAB and ends with CRLF, only the LFs' positions are needed.
    /// Any other word (a line that is no fold, the data's end) goes line by line.
    pub fn count_rest(&mut self, data: &[u8]) {
        let mut base = self.end;
        // High bit of byte 0 when a line starts there / the byte before it is CR.
        let (mut starts_in, mut cr_in) = (0x80u64, 0u64);
        // The last word counted whole, for a word that repeats it (a fold of " x" lines over and
        // over): same bytes and carries give the same verdict and count. Its first line, begun
        // in a word that had an LF, is shorter than 16, so it matters once 16 was seen.
        let mut last: Option<Repeat> = None;
        let mut prev_lf = false;
        while base < data.len() {
            let word = word_at(data, base);
            if let Some(r) = last
                && (r.word, r.starts_in, r.cr_in) == (word, starts_in, cr_in)
                && prev_lf
                && self.longest >= 16
            {
                // A word that leaves the carries as it found them repeats as long as the data
                // does: those words are found by comparing the data with itself 8 bytes on.
                let more =
                    if (r.starts_out, r.cr_out) == (starts_in, cr_in) { repeated_words(data, base + 8) } else { 0 };
                self.lines += r.lines * (1 + more as u64);
                self.end = base + 8 * more + r.end;
                (starts_in, cr_in) = (r.starts_out, r.cr_out);
                base += 8 * (1 + more);
                continue;
            }
            let lf = byte_mask(word, b'\n');
            let cr = byte_mask(word, b'\r');
            let fold = byte_mask(word, b' ') | byte_mask(word, b'\t');
            let starts = (lf << 8) | starts_in;
            let after_cr = (cr << 8) | cr_in;
            if (lf & !after_cr) | (starts & !fold) != 0 {
                while self.next_line(data).is_some() {}
                return;
            }
            if lf != 0 && self.longest >= 8 {
                // Only the first line ending in this word can be long (it began before the
                // word); the others lie inside it, shorter than 8, so they only add to the count.
                self.count(base + lf.trailing_zeros() as usize / 8);
                self.lines += bytes_marked(lf) - 1;
                self.end = base + (63 - lf.leading_zeros() as usize) / 8 + 1;
            } else {
                let mut ends = lf;
                while ends != 0 {
                    self.count(base + ends.trailing_zeros() as usize / 8);
                    ends &= ends - 1;
                }
            }
            let (starts_out, cr_out) = ((lf >> 63) << 7, (cr >> 63) << 7);
            if lf != 0 {
                let (lines, end) = (bytes_marked(lf), self.end - base);
                last = Some(Repeat { word, starts_in, cr_in, lines, end, starts_out, cr_out });
            }
            prev_lf = lf != 0;
            (starts_in, cr_in) = (starts_out, cr_out);
            base += 8;
        }
    }

    /// The line from `end` to the LF at `nl` (a CR before it) is a fold.
    #[inline]
    fn count(&mut self, nl: usize) {
        let len = nl - 1 - self.end;
        self.longest = self.longest.max(len);
        self.over_998 += u64::from(len > LINE_LIMIT);
        self.lines += 1;
        self.end = nl + 1;
    }
}

/// A word of folds with an LF, counted whole, and what it gave.
#[derive(Clone, Copy)]
struct Repeat {
    word: u64,
    starts_in: u64,
    cr_in: u64,
    lines: u64,
    /// Offset in the word just past its last LF.
    end: usize,
    starts_out: u64,
    cr_out: u64,
}

/// How many whole words from `start` repeat the word just before it. Slices are compared (a
/// vectorised `bcmp`) in steps that double while they match and halve when they do not.
fn repeated_words(data: &[u8], start: usize) -> usize {
    const MAX_STEP: usize = 64 * 1024;
    let (mut n, mut step) = (0, 64);
    loop {
        let at = start + n;
        if at + step <= data.len() && data[at..at + step] == data[at - 8..at + step - 8] {
            n += step;
            step = (step * 2).min(MAX_STEP);
        } else if step > 8 {
            step /= 2;
        } else {
            return n / 8;
        }
    }
}

/// How many bytes of a `byte_mask` result are marked (without a popcount instruction, which
/// the baseline x86-64 target lacks): the marks shifted to each byte's low bit, summed by a
/// multiplication into the top byte.
fn bytes_marked(mask: u64) -> u64 {
    (mask >> 7).wrapping_mul(0x0101_0101_0101_0101) >> 56
}

/// Eight bytes from `start`, zero-padded past the end of `data`.
fn word_at(data: &[u8], start: usize) -> u64 {
    if let Some(whole) = data.get(start..start + 8) {
        // A fixed-size copy: a copy of variable length would be a memcpy call per word.
        return u64::from_le_bytes(whole.try_into().expect("8 bytes"));
    }
    let mut word = [0u8; 8];
    let end = (start + 8).min(data.len());
    word[..end - start].copy_from_slice(&data[start..end]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line_by_line(data: &[u8], longest: usize) -> FoldRun {
        let mut run = FoldRun::after(longest);
        while run.next_line(data).is_some() {}
        run
    }

    #[test]
    fn marked_bytes_are_counted() {
        assert_eq!(bytes_marked(byte_mask(u64::from_le_bytes(*b"\n\n\n\n\n\n\n\n"), b'\n')), 8);
        assert_eq!(bytes_marked(byte_mask(u64::from_le_bytes(*b" x\r\n x\r\n"), b'\n')), 2);
        assert_eq!(bytes_marked(0), 0);
    }

    #[test]
    fn a_long_fold_run_stops_at_the_next_field() {
        let mut data = " x\r\n".repeat(1000).into_bytes();
        data.extend_from_slice(b"\t");
        data.extend_from_slice(&[b'y'; 1200]);
        data.extend_from_slice(b"\r\nTo: z\r\n x\r\n");
        for known in [0, 10] {
            let mut run = FoldRun::after(known);
            run.count_rest(&data);
            assert_eq!(run, FoldRun { end: 4000 + 1203, lines: 1001, longest: 1201, over_998: 1 });
        }
    }

    /// Folds of many lengths, and the bytes that end a run.
    const PIECES: &[&[u8]] = &[
        b" x\r\n",
        b" xx\r\n",
        b" xxx\r\n",
        b" xxxx\r\n",
        b"\t\r\n",
        b" \r\n",
        b" xxxxxxxxxxxx\r\n",
        b" xxxxx",
        b"x",
        b"\r",
        b"\n",
        b" ",
        b"\t",
        b"\x8a",
    ];

    #[test]
    fn repeated_words_are_found_whole() {
        let data = b"12345678".repeat(100);
        assert_eq!(repeated_words(&data, 8), 99);
        assert_eq!(repeated_words(&data[..8 * 50 + 7], 8), 49);
        let mut changed = data.clone();
        changed[8 * 37 + 3] = b'x';
        assert_eq!(repeated_words(&changed, 8), 36);
        assert_eq!(repeated_words(&changed, 8 * 38), 0);
        assert_eq!(repeated_words(&changed, 8 * 39), 61);
    }

    #[test]
    fn a_long_run_of_folds_is_counted_whole() {
        let mut data = " x\r\n".repeat(100_000).into_bytes();
        data.extend_from_slice(b"To: z\r\n");
        for known in [0, 20] {
            let mut run = FoldRun::after(known);
            run.count_rest(&data);
            assert_eq!(run, line_by_line(&data, known));
            assert_eq!((run.lines, run.end), (100_000, 400_000));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Word at a time or line by line, the same lines are counted, whatever the bytes.
        #[test]
        fn word_at_a_time_counts_as_line_by_line(
            pieces in proptest::collection::vec(prop::sample::select(PIECES), 0..60),
            longest in 0..24usize,
        ) {
            let data = pieces.concat();
            let mut run = FoldRun::after(longest);
            run.count_rest(&data);
            prop_assert_eq!(run, line_by_line(&data, longest));
        }
    }
}
