//! The few JSON primitives the session record is written with, straight into the output text:
//! objects whose fields are written in schema order (each absent field simply not written),
//! arrays, numbers, and strings escaped as serde_json escapes them (byte for byte the same text).
//!
//! Written by hand rather than through serde: per session the record is kilobytes of short
//! strings, and serde_json's per-byte escape loop and per-field plumbing cost more than the
//! rest of the session's output path together. Written into a `String` (every piece is a
//! `str`), so the finished line needs no UTF-8 check.

/// An object being written into `out`: each field appends `,"name":value` (no comma before the
/// first). Closed by [`Obj::end`].
pub(super) struct Obj<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object.
    pub(super) fn open(out: &'a mut String) -> Obj<'a> {
        out.push('{');
        Obj { out, empty: true }
    }

    /// Continues an object already opened with a field in it (the record after its head).
    pub(super) fn continued(out: &'a mut String) -> Obj<'a> {
        Obj { out, empty: false }
    }

    pub(super) fn end(self) {
        self.out.push('}');
    }

    /// Writes the field's name and returns the text its value goes into. Inlined into every
    /// field: the name is a literal there, so its copy is a few moves, not a call.
    #[inline(always)]
    pub(super) fn key(&mut self, name: &str) -> &mut String {
        // Field names are ours: plain ASCII that needs no escaping.
        self.out.reserve(name.len() + 4);
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
        self.out
    }

    #[inline(always)]
    pub(super) fn str(&mut self, name: &str, v: &str) {
        string(self.key(name), v);
    }

    /// A string of ours that needs no escaping (an enum's name, a verdict code): copied as it is.
    #[inline(always)]
    pub(super) fn name(&mut self, name: &str, v: &'static str) {
        plain(self.key(name), v);
    }

    #[inline(always)]
    pub(super) fn num(&mut self, name: &str, v: impl itoa::Integer) {
        int(self.key(name), v);
    }

    /// A reply code, the record's most frequent number (see [`code`]).
    #[inline(always)]
    pub(super) fn code(&mut self, name: &str, v: u16) {
        code(self.key(name), v);
    }

    pub(super) fn float(&mut self, name: &str, v: f64) {
        float(self.key(name), v);
    }

    pub(super) fn bool(&mut self, name: &str, v: bool) {
        self.key(name).push_str(if v { "true" } else { "false" });
    }

    /// A nested object, written by `f`.
    #[inline(always)]
    pub(super) fn obj(&mut self, name: &str, f: impl FnOnce(&mut Obj<'_>)) {
        let mut o = Obj::open(self.key(name));
        f(&mut o);
        o.end();
    }

    /// A nested object written by `f`, left out (field name and all) when `f` writes no field.
    pub(super) fn obj_unless_empty(&mut self, name: &str, f: impl FnOnce(&mut Obj<'_>)) {
        let (mark, was_empty) = (self.out.len(), self.empty);
        let mut o = Obj::open(self.key(name));
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
    pub(super) fn list<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut String, T),
    ) {
        let out = self.key(name);
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
    pub(super) fn objs<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Obj<'_>, T),
    ) {
        self.list(name, items, |out, item| {
            let mut o = Obj::open(out);
            f(&mut o, item);
            o.end();
        });
    }

    // What the record leaves out: a field that is null, empty, zero or false is not written,
    // so a consumer reads a missing field as that value.

    #[inline(always)]
    pub(super) fn some_str(&mut self, name: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(name, v);
        }
    }

    #[inline(always)]
    pub(super) fn some_name(&mut self, name: &str, v: Option<&'static str>) {
        if let Some(v) = v {
            self.name(name, v);
        }
    }

    #[inline(always)]
    pub(super) fn some_code(&mut self, name: &str, v: Option<u16>) {
        if let Some(v) = v {
            self.code(name, v);
        }
    }

    #[inline(always)]
    pub(super) fn some_num(&mut self, name: &str, v: Option<impl itoa::Integer>) {
        if let Some(v) = v {
            self.num(name, v);
        }
    }

    pub(super) fn some_float(&mut self, name: &str, v: Option<f64>) {
        if let Some(v) = v {
            self.float(name, v);
        }
    }

    #[inline(always)]
    pub(super) fn nonzero(&mut self, name: &str, v: impl itoa::Integer + Default + PartialEq) {
        if v != Default::default() {
            self.num(name, v);
        }
    }

    #[inline(always)]
    pub(super) fn flag(&mut self, name: &str, v: bool) {
        if v {
            self.key(name).push_str("true");
        }
    }

    pub(super) fn strs(&mut self, name: &str, v: &[impl AsRef<str>]) {
        if !v.is_empty() {
            self.list(name, v, |out, s| string(out, s.as_ref()));
        }
    }

    pub(super) fn nums<T: itoa::Integer + Copy>(&mut self, name: &str, v: &[T]) {
        if !v.is_empty() {
            self.list(name, v, |out, n| int(out, *n));
        }
    }

    pub(super) fn codes(&mut self, name: &str, v: &[u16]) {
        if !v.is_empty() {
            self.list(name, v, |out, c| code(out, *c));
        }
    }
}

#[inline]
pub(super) fn int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// A reply code: one of the three-digit texts of [`CODES`] (a record has dozens; through itoa
/// each cost a buffer and a copy call), any other number through [`int`].
#[inline]
pub(super) fn code(out: &mut String, v: u16) {
    match usize::from(v).checked_sub(100).filter(|&i| i < 900) {
        Some(i) => out.push_str(&CODES[i * 3..i * 3 + 3]),
        None => int(out, v),
    }
}

/// "100101102…999": every three-digit number, in order.
const CODES: &str = {
    const DIGITS: [u8; 2700] = {
        let mut t = [0u8; 2700];
        let mut i = 0;
        while i < 900 {
            let n = i + 100;
            t[i * 3] = b'0' + (n / 100) as u8;
            t[i * 3 + 1] = b'0' + (n / 10 % 10) as u8;
            t[i * 3 + 2] = b'0' + (n % 10) as u8;
            i += 1;
        }
        t
    };
    match std::str::from_utf8(&DIGITS) {
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
    let mut rest = s;
    while let Some(at) = first_to_escape(rest.as_bytes()) {
        // The byte found is ASCII, so `at` and `at + 1` are character boundaries.
        let (clean, tail) = rest.split_at(at);
        out.push_str(clean);
        escape(out, tail.as_bytes()[0]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out.push('"');
}

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
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

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [0.0, 0.022, 1_800_000_003.815_568_4, 1e21, -0.5, 123.0, f64::NAN, f64::INFINITY] {
            let mut out = String::new();
            float(&mut out, v);
            assert_eq!(out, serde_json::to_string(&v).unwrap());
        }
        let mut out = String::new();
        int(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string());
        for c in [0, 7, 99, 100, 250, 421, 999, 1000, u16::MAX] {
            let mut out = String::new();
            code(&mut out, c);
            assert_eq!(out, c.to_string());
        }
    }

    #[test]
    fn objects_leave_out_what_is_absent() {
        let mut out = String::new();
        let mut o = Obj::open(&mut out);
        o.some_str("a", None);
        o.obj_unless_empty("empty", |o| o.nonzero("z", 0u64));
        o.nums("n", &[1u16, 2]);
        o.obj_unless_empty("full", |o| o.flag("f", true));
        o.strs("none", &[] as &[String]);
        o.end();
        assert_eq!(out, r#"{"n":[1,2],"full":{"f":true}}"#);
    }
}
