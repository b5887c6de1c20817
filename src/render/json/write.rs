//! The few JSON primitives the session record is written with, straight into the output buffer:
//! objects whose fields are written in schema order (each absent field simply not written),
//! arrays, numbers, and strings escaped as serde_json escapes them (byte for byte the same text).
//!
//! Written by hand rather than through serde: per session the record is kilobytes of short
//! strings, and serde_json's per-byte escape loop and per-field plumbing cost more than the
//! rest of the session's output path together.

/// An object being written into `out`: each field appends `,"name":value` (no comma before the
/// first). Closed by [`Obj::end`].
pub(super) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object.
    pub(super) fn open(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Continues an object already opened with a field in it (the record after its head).
    pub(super) fn continued(out: &'a mut Vec<u8>) -> Obj<'a> {
        Obj { out, empty: false }
    }

    pub(super) fn end(self) {
        self.out.push(b'}');
    }

    /// Writes the field's name and returns the buffer its value goes into.
    #[inline]
    pub(super) fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        // Field names are ours: plain ASCII that needs no escaping.
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    #[inline]
    pub(super) fn str(&mut self, name: &str, v: &str) {
        string(self.key(name), v);
    }

    #[inline]
    pub(super) fn num(&mut self, name: &str, v: impl itoa::Integer) {
        int(self.key(name), v);
    }

    pub(super) fn float(&mut self, name: &str, v: f64) {
        float(self.key(name), v);
    }

    pub(super) fn bool(&mut self, name: &str, v: bool) {
        self.key(name).extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// A nested object, written by `f`.
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
    pub(super) fn list<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Vec<u8>, T),
    ) {
        let out = self.key(name);
        out.push(b'[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            f(out, item);
        }
        out.push(b']');
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

    #[inline]
    pub(super) fn some_str(&mut self, name: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(name, v);
        }
    }

    #[inline]
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

    #[inline]
    pub(super) fn nonzero(&mut self, name: &str, v: impl itoa::Integer + Default + PartialEq) {
        if v != Default::default() {
            self.num(name, v);
        }
    }

    #[inline]
    pub(super) fn flag(&mut self, name: &str, v: bool) {
        if v {
            self.bool(name, true);
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
}

#[inline]
pub(super) fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// The shortest text that reads back as `v` (serde_json's own algorithm); null when not finite.
pub(super) fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// `s` as a JSON string: runs that need no escaping are copied whole; `"`, `\` and the C0
/// controls are escaped as serde_json escapes them (`\n`, `\u001b`); everything else, non-ASCII
/// included, is written as it is.
#[inline]
pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(at) = first_to_escape(rest) {
        out.extend_from_slice(&rest[..at]);
        escape(out, rest[at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Where the first byte that needs escaping is, eight bytes at a time: text from the wire is
/// nearly always clean, and a byte-by-byte loop over it was the largest cost of the record.
#[inline]
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 8 {
        return bytes.iter().position(|&b| needs_escape(b));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let mut at = 0;
    while at + 8 <= bytes.len() {
        if word_needs_escape(word(at)) {
            return bytes[at..at + 8].iter().position(|&b| needs_escape(b)).map(|i| at + i);
        }
        at += 8;
    }
    // The tail shorter than a word: the last eight bytes, overlapping words already clean.
    let last = bytes.len() - 8;
    if at < bytes.len() && word_needs_escape(word(last)) {
        return bytes[last..].iter().position(|&b| needs_escape(b)).map(|i| last + i);
    }
    None
}

/// Whether any byte of `w` needs escaping, by the bit tricks of "Bit Twiddling Hacks"
/// (hasless, haszero): each is nonzero exactly when some byte matches, because a borrow only
/// starts at a matching byte.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let control = below(w, 0x20);
    let quote = below(w ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(w ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

fn escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => 0,
    };
    if short != 0 {
        out.extend_from_slice(&[b'\\', short]);
    } else {
        out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
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
    /// the overlapping last word, strings shorter than a word).
    #[test]
    fn escapes_are_found_wherever_they_are() {
        for len in 0..26 {
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
    fn a_word_needs_escape_exactly_when_a_byte_does() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                assert_eq!(word_needs_escape(u64::from_le_bytes(w)), needs_escape(b), "{b:#x} at {pos}");
                let mut high = [0xffu8; 8];
                high[pos] = b;
                assert_eq!(word_needs_escape(u64::from_le_bytes(high)), needs_escape(b), "{b:#x} among 0xff");
            }
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [0.0, 0.022, 1_800_000_003.815_568_4, 1e21, -0.5, 123.0, f64::NAN, f64::INFINITY] {
            let mut out = Vec::new();
            float(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&v).unwrap());
        }
        let mut out = Vec::new();
        int(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn objects_leave_out_what_is_absent() {
        let mut out = Vec::new();
        let mut o = Obj::open(&mut out);
        o.some_str("a", None);
        o.obj_unless_empty("empty", |o| o.nonzero("z", 0u64));
        o.nums("n", &[1u16, 2]);
        o.obj_unless_empty("full", |o| o.flag("f", true));
        o.strs("none", &[] as &[String]);
        o.end();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"n":[1,2],"full":{"f":true}}"#);
    }
}
