//! The few JSON primitives the session record is written with, straight into the output text:
//! objects whose fields are written in schema order (each absent field simply not written),
//! arrays, numbers, and strings escaped as serde_json escapes them (byte for byte the same text).
//!
//! Written by hand rather than through serde: per session the record is kilobytes of short
//! strings, and serde_json's per-byte escape loop and per-field plumbing cost more than the
//! rest of the session's output path together. Written into a `String` (every piece is a
//! `str`), so the finished line needs no UTF-8 check.

/// A field's name as the record writes it, quotes and colon included, in both the forms a field
/// can take: first in its object, with the object's opening brace (`{"name":`), or after another
/// field (`,"name":`). Both are the same length, so writing a name is one copy of a size known
/// where it is written, whichever form it takes (a record has some seventy names). Made by
/// [`key!`](key).
#[derive(Clone, Copy)]
pub(super) struct Key {
    first: &'static str,
    next: &'static str,
}

impl Key {
    /// Use [`key!`](key), which spells both forms from the name.
    pub(super) const fn new(first: &'static str, next: &'static str) -> Key {
        assert!(first.len() == next.len());
        Key { first, next }
    }
}

/// The [`Key`] of a field named by a literal (plain ASCII that needs no escaping).
macro_rules! key {
    ($name:literal) => {
        const { $crate::render::json::write::Key::new(concat!("{\"", $name, "\":"), concat!(",\"", $name, "\":")) }
    };
}
pub(super) use key;

/// An object being written into `out`: each field appends its [`Key`] and value. Its opening
/// brace is written with its first field (or by [`Obj::end`] when it has none).
pub(super) struct Obj<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object.
    pub(super) fn open(out: &'a mut String) -> Obj<'a> {
        Obj { out, empty: true }
    }

    /// Continues an object already opened with a field in it (the record after its head).
    pub(super) fn continued(out: &'a mut String) -> Obj<'a> {
        Obj { out, empty: false }
    }

    pub(super) fn end(self) {
        if self.empty {
            self.out.push('{');
        }
        self.out.push('}');
    }

    /// Writes the field's name and returns the text its value goes into. Inlined into every
    /// field: the name is a literal there, so its copy is a few moves, not a call.
    #[inline(always)]
    pub(super) fn key(&mut self, key: Key) -> &mut String {
        let piece = if self.empty { key.first } else { key.next };
        self.empty = false;
        self.out.push_str(piece);
        self.out
    }

    #[inline(always)]
    pub(super) fn str(&mut self, key: Key, v: &str) {
        string(self.key(key), v);
    }

    /// A string of ours that needs no escaping (an enum's name, a verdict code): copied as it is.
    #[inline(always)]
    pub(super) fn name(&mut self, key: Key, v: &'static str) {
        plain(self.key(key), v);
    }

    #[inline(always)]
    pub(super) fn num(&mut self, key: Key, v: impl Int) {
        int(self.key(key), v.wide());
    }

    #[inline(always)]
    pub(super) fn float(&mut self, key: Key, v: f64) {
        float(self.key(key), v);
    }

    #[inline(always)]
    pub(super) fn bool(&mut self, key: Key, v: bool) {
        self.key(key).push_str(if v { "true" } else { "false" });
    }

    /// A nested object, written by `f`.
    #[inline(always)]
    pub(super) fn obj(&mut self, key: Key, f: impl FnOnce(&mut Obj<'_>)) {
        let mut o = Obj::open(self.key(key));
        f(&mut o);
        o.end();
    }

    /// A nested object written by `f`, left out (field name and all) when `f` writes no field.
    #[inline(always)]
    pub(super) fn obj_unless_empty(&mut self, key: Key, f: impl FnOnce(&mut Obj<'_>)) {
        let (mark, was_empty) = (self.out.len(), self.empty);
        let mut o = Obj::open(self.key(key));
        f(&mut o);
        if o.empty {
            self.out.truncate(mark);
            self.empty = was_empty;
        } else {
            o.end();
        }
    }

    /// A list of `items`, each written by `f`.
    #[inline(always)]
    pub(super) fn list<T>(&mut self, key: Key, items: impl IntoIterator<Item = T>, mut f: impl FnMut(&mut String, T)) {
        let out = self.key(key);
        out.push('[');
        let mut first = true;
        for item in items {
            if !first {
                out.push(',');
            }
            first = false;
            f(out, item);
        }
        out.push(']');
    }

    /// A list of objects, each written by `f`.
    #[inline(always)]
    pub(super) fn objs<T>(&mut self, key: Key, items: impl IntoIterator<Item = T>, mut f: impl FnMut(&mut Obj<'_>, T)) {
        self.list(key, items, |out, item| {
            let mut o = Obj::open(out);
            f(&mut o, item);
            o.end();
        });
    }

    // What the record leaves out: a field that is null, empty, zero or false is not written,
    // so a consumer reads a missing field as that value.

    #[inline(always)]
    pub(super) fn some_str(&mut self, key: Key, v: Option<&str>) {
        if let Some(v) = v {
            self.str(key, v);
        }
    }

    #[inline(always)]
    pub(super) fn some_name(&mut self, key: Key, v: Option<&'static str>) {
        if let Some(v) = v {
            self.name(key, v);
        }
    }

    #[inline(always)]
    pub(super) fn some_num(&mut self, key: Key, v: Option<impl Int>) {
        if let Some(v) = v {
            self.num(key, v);
        }
    }

    #[inline(always)]
    pub(super) fn some_float(&mut self, key: Key, v: Option<f64>) {
        if let Some(v) = v {
            self.float(key, v);
        }
    }

    #[inline(always)]
    pub(super) fn nonzero(&mut self, key: Key, v: impl Int) {
        if v.wide() != 0 {
            self.num(key, v);
        }
    }

    #[inline(always)]
    pub(super) fn flag(&mut self, key: Key, v: bool) {
        if v {
            self.key(key).push_str("true");
        }
    }

    #[inline(always)]
    pub(super) fn strs(&mut self, key: Key, v: &[impl AsRef<str>]) {
        if !v.is_empty() {
            self.list(key, v, |out, s| string(out, s.as_ref()));
        }
    }

    #[inline(always)]
    pub(super) fn nums<T: Int>(&mut self, key: Key, v: &[T]) {
        if !v.is_empty() {
            self.list(key, v, |out, n| int(out, n.wide()));
        }
    }
}

/// The unsigned integers a record holds, widened for [`int`].
pub(super) trait Int: Copy {
    fn wide(self) -> u64;
}

macro_rules! int_types {
    ($($t:ty),*) => {$(
        impl Int for $t {
            #[inline(always)]
            fn wide(self) -> u64 {
                self as u64
            }
        }
    )*};
}
int_types!(u8, u16, u32, u64, usize);

/// `v` in decimal, three digits at a time from [`DIGITS`] (a record has about thirty numbers,
/// most below 1000: reply codes, counts, lengths; through itoa each cost a buffer and a call to
/// copy it).
#[inline(always)]
pub(super) fn int(out: &mut String, v: u64) {
    if v < 1000 {
        below_1000(out, v as usize);
    } else {
        above_1000(out, v);
    }
}

/// The digits before the last three (a number below 1000 without leading zeros), then those.
#[inline(never)]
fn above_1000(out: &mut String, v: u64) {
    let high = v / 1000;
    if high < 1000 {
        below_1000(out, high as usize);
    } else {
        above_1000(out, high);
    }
    let at = (v % 1000) as usize * 3;
    out.push_str(&DIGITS[at..at + 3]);
}

#[inline(always)]
fn below_1000(out: &mut String, v: usize) {
    let at = v * 3;
    if v >= 100 {
        out.push_str(&DIGITS[at..at + 3]);
    } else if v >= 10 {
        out.push_str(&DIGITS[at + 1..at + 3]);
    } else {
        out.push(char::from(b'0' + v as u8));
    }
}

/// "000001002…999": every number below 1000 as three digits, in order.
const DIGITS: &str = {
    const BYTES: [u8; 3000] = {
        let mut t = [0u8; 3000];
        let mut n = 0;
        while n < 1000 {
            t[n * 3] = b'0' + (n / 100) as u8;
            t[n * 3 + 1] = b'0' + (n / 10 % 10) as u8;
            t[n * 3 + 2] = b'0' + (n % 10) as u8;
            n += 1;
        }
        t
    };
    match std::str::from_utf8(&BYTES) {
        Ok(text) => text,
        Err(_) => panic!("digits are ASCII"),
    }
};

/// The shortest text that reads back as `v` (serde_json's own algorithm); null when not finite.
pub(super) fn float(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(zmij::Buffer::new().format_finite(v));
    } else {
        out.push_str("null");
    }
}

/// `s`, which needs no escaping (our own names), as a JSON string.
#[inline(always)]
pub(super) fn plain(out: &mut String, s: &str) {
    debug_assert!(first_to_escape(s.as_bytes()).is_none(), "{s:?} needs escaping");
    out.reserve(s.len() + 2);
    out.push('"');
    out.push_str(s);
    out.push('"');
}

/// `s` as a JSON string: runs that need no escaping are copied whole; `"`, `\` and the C0
/// controls are escaped as serde_json escapes them (`\n`, `\u001b`); everything else, non-ASCII
/// included, is written as it is.
pub(super) fn string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    if is_clean(s.as_bytes()) {
        out.push_str(s);
    } else {
        escaped(out, s);
    }
    out.push('"');
}

/// `s` (which has a byte to escape) with its escapes, without quotes.
#[cold]
#[inline(never)]
fn escaped(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(at) = first_to_escape(rest.as_bytes()) {
        // The byte found is ASCII, so `at` and `at + 1` are character boundaries.
        let (clean, tail) = rest.split_at(at);
        out.push_str(clean);
        escape(out, tail.as_bytes()[0]);
        rest = &tail[1..];
    }
    out.push_str(rest);
}

/// No byte of `bytes` needs escaping. Most strings of a record are shorter than a block of
/// [`first_to_escape`] (addresses, EHLO keywords, queue ids): those are tested a word at a
/// time in place, where copying them into a padded block took a call.
#[inline(always)]
fn is_clean(bytes: &[u8]) -> bool {
    let len = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let half = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")));
    match len {
        0..4 => !bytes.iter().any(|&b| needs_escape(b)),
        // Two words that overlap in the middle cover the string.
        4..8 => clean_word(half(0) | half(len - 4) << 32),
        8..16 => clean_word(word(0)) && clean_word(word(len - 8)),
        _ => first_to_escape(bytes).is_none(),
    }
}

/// No byte of `w` is below 0x20, `"` or `\`. Each test is the classic "some byte is zero /
/// below n" bit trick: a byte's borrow can mark a byte above it falsely, but only when a byte
/// below already made the answer true, so the answer is exact.
#[inline(always)]
fn clean_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS;
    below(w, 0x20) | below(w ^ (ONES * u64::from(b'"')), 1) | below(w ^ (ONES * u64::from(b'\\')), 1) == 0
}

#[inline(always)]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Where the first byte that needs escaping is, sixteen bytes at a time: text from the wire is
/// nearly always clean, and a byte-by-byte loop over it was the largest cost of the record.
#[inline]
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    let len = bytes.len();
    if len < 16 {
        // Padded with spaces, which need no escaping.
        let mut padded = [b' '; 16];
        padded[..len].copy_from_slice(bytes);
        return first_in(escape_mask(&padded), 0);
    }
    let mut at = 0;
    while at + 16 <= len {
        if let Some(i) = first_in(escape_mask(block(bytes, at)), at) {
            return Some(i);
        }
        at += 16;
    }
    // The tail shorter than a block: the last sixteen bytes, whose overlap is already clean.
    if at < len {
        return first_in(escape_mask(block(bytes, len - 16)), len - 16);
    }
    None
}

fn block(bytes: &[u8], at: usize) -> &[u8; 16] {
    bytes[at..at + 16].try_into().expect("sixteen bytes")
}

/// The first byte a mask of [`escape_mask`] marks, as an index from `base`.
#[inline(always)]
fn first_in(mask: u32, base: usize) -> Option<usize> {
    (mask != 0).then(|| base + mask.trailing_zeros() as usize)
}

/// A bit per byte of `block` (bit i for byte i) that needs escaping: three SSE2 compares.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn escape_mask(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
    };
    let half = |at: usize| i64::from_le_bytes(block[at..at + 8].try_into().expect("eight bytes"));
    // SAFETY: these intrinsics only require SSE2, which this build enables for every function
    // (the cfg above; it is part of every x86-64 CPU); they touch nothing but their arguments.
    unsafe {
        let v = _mm_set_epi64x(half(8), half(0));
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // Below 0x20 exactly when the unsigned minimum with 0x1f is the byte itself.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn escape_mask(block: &[u8; 16]) -> u32 {
    portable_mask(block)
}

/// [`escape_mask`] byte by byte: without SSE2, and what the tests compare it with.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn portable_mask(block: &[u8; 16]) -> u32 {
    (block.iter().enumerate()).fold(0, |mask, (i, &b)| mask | u32::from(needs_escape(b)) << i)
}

fn escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => '"',
        b'\\' => '\\',
        0x08 => 'b',
        0x0c => 'f',
        b'\n' => 'n',
        b'\r' => 'r',
        b'\t' => 't',
        _ => '\0',
    };
    out.push('\\');
    if short != '\0' {
        out.push(short);
    } else {
        out.push_str("u00");
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = String::new();
        string(&mut out, s);
        out
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every: String = (0u8..0x80).map(char::from).collect();
        every.push_str("é — \u{202e} \u{1F600}\u{7f}");
        let samples = [
            "",
            "plain",
            "exactly8",
            "sixteen bytes ok",
            "a\"b\\c",
            "\"\"\"\"\"\"\"\"\"",
            "tab\there\r\nand \u{1b}[2J\0 end",
            "long clean run before the quote at the end of it\"",
            every.as_str(),
        ];
        for s in samples {
            assert_eq!(json(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    /// Every length around the word size, with one byte to escape at every place (the words,
    /// the overlapping last block, strings shorter than a block).
    #[test]
    fn escapes_are_found_wherever_they_are() {
        for len in 0..40 {
            let clean = "é".repeat(len / 2) + &"x".repeat(len % 2);
            assert_eq!(json(&clean), serde_json::to_string(&clean).unwrap());
            for at in 0..=clean.len() {
                if !clean.is_char_boundary(at) {
                    continue;
                }
                for c in ["\"", "\\", "\n", "\u{1}"] {
                    let s = format!("{}{c}{}", &clean[..at], &clean[at..]);
                    assert_eq!(json(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn a_block_marks_exactly_the_bytes_that_need_escape() {
        for b in 0..=255u8 {
            for pos in 0..16 {
                for fill in [b'a', 0xff, 0x7f, 0x20] {
                    let mut block = [fill; 16];
                    block[pos] = b;
                    assert_eq!(escape_mask(&block), portable_mask(&block), "{b:#x} at {pos} among {fill:#x}");
                    assert_eq!(escape_mask(&block) >> pos & 1 == 1, needs_escape(b), "{b:#x} at {pos}");
                }
            }
        }
    }

    /// A word is clean exactly when each of its bytes is: every byte value at every place,
    /// among bytes next to the limits (a borrow from one byte must not hide or fake another).
    #[test]
    fn a_word_is_clean_exactly_when_its_bytes_are() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                for fill in [b'a', 0x20, 0x21, 0x23, 0x5d, 0x7f, 0x80, 0xff] {
                    let mut word = [fill; 8];
                    word[pos] = b;
                    let clean = !word.iter().any(|&x| needs_escape(x));
                    assert_eq!(clean_word(u64::from_le_bytes(word)), clean, "{b:#x} at {pos} among {fill:#x}");
                }
            }
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [0.0, 0.022, 1_800_000_003.815_568_4, 1e21, -0.5, 123.0, f64::NAN, f64::INFINITY] {
            let mut out = String::new();
            float(&mut out, v);
            assert_eq!(out, serde_json::to_string(&v).unwrap());
        }
        let around_powers = (0..20).flat_map(|e| {
            let p = 10u64.pow(e);
            [p - 1, p, p + 1, p.saturating_mul(2).saturating_add(7)]
        });
        for v in around_powers.chain([0, 7, 99, 250, 421, 1000, 1001, 65535, 1_000_999, u64::MAX]) {
            let mut out = String::new();
            int(&mut out, v);
            assert_eq!(out, v.to_string());
        }
    }

    #[test]
    fn objects_leave_out_what_is_absent() {
        let mut out = String::new();
        let mut o = Obj::open(&mut out);
        o.some_str(key!("a"), None);
        o.obj_unless_empty(key!("empty"), |o| o.nonzero(key!("z"), 0u64));
        o.nums(key!("n"), &[1u16, 2]);
        o.obj_unless_empty(key!("full"), |o| o.flag(key!("f"), true));
        o.strs(key!("none"), &[] as &[String]);
        o.obj(key!("nothing"), |_| {});
        o.objs(key!("objects"), [1u8, 2], |o, n| {
            if n == 2 {
                o.num(key!("n"), n);
            }
        });
        o.end();
        assert_eq!(out, r#"{"n":[1,2],"full":{"f":true},"nothing":{},"objects":[{},{"n":2}]}"#);
    }
}
