//! Server reply lines (RFC 5321 §4.2): "ddd-text" continues, "ddd text" or "ddd" ends a reply.

use super::line::LineRef;
use crate::tcp::PacketRef;
use std::borrow::Cow;

/// Lines of one reply kept in full; a 5 KB banner or a 1000-line reply is counted, not stored.
const MAX_REPLY_LINES: usize = 256;
/// Bytes of text reserved at the first line of a multi-line reply (a typical EHLO reply fits).
const MULTI_LINE_ROOM: usize = 512;

/// One reply line, its text borrowed from the wire bytes when they are valid UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    pub code: u16,
    pub last: bool,
    pub text: Cow<'a, str>,
}

/// The text lines of one reply in a single string, separated by "\n": one allocation per reply
/// instead of one per line. A line never holds a "\n" of its own (lines are split at LF).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyLines {
    joined: String,
    // u32 counts keep a reply event within the 96 bytes of the largest other event.
    count: u32,
    /// Bytes of the longest line, so the event's cut needs no walk over the lines.
    longest: u32,
}

impl ReplyLines {
    pub fn push(&mut self, line: &str) {
        if self.count == 0 && self.joined.capacity() == 0 {
            // A single-line reply (most): its text allocated once at its size, not grown.
            self.joined = line.to_owned();
        } else {
            if self.count > 0 {
                self.joined.push('\n');
            }
            self.joined.push_str(line);
        }
        self.count += 1;
        self.longest = self.longest.max(u32::try_from(line.len()).unwrap_or(u32::MAX));
    }

    /// Bytes of the longest line.
    pub fn longest(&self) -> usize {
        self.longest as usize
    }

    /// Room for `bytes` more text at once (a multi-line reply, EHLO's mostly, is a few hundred).
    pub fn reserve(&mut self, bytes: usize) {
        self.joined.reserve(bytes);
    }

    pub fn iter(&self) -> Lines<'_> {
        Lines { rest: &self.joined, left: self.count }
    }

    pub fn first(&self) -> Option<&str> {
        self.iter().next()
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The lines joined with "\n".
    pub fn joined(&self) -> &str {
        &self.joined
    }
}

impl<'a> FromIterator<&'a str> for ReplyLines {
    fn from_iter<I: IntoIterator<Item = &'a str>>(lines: I) -> Self {
        let mut out = ReplyLines::default();
        for l in lines {
            out.push(l);
        }
        out
    }
}

impl<'a> IntoIterator for &'a ReplyLines {
    type Item = &'a str;
    type IntoIter = Lines<'a>;
    fn into_iter(self) -> Lines<'a> {
        self.iter()
    }
}

/// The lines of a [`ReplyLines`]. Found with memchr: `str::split` on a char costs several times
/// more per short line.
pub struct Lines<'a> {
    rest: &'a str,
    left: u32,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.left = self.left.checked_sub(1)?;
        let line = match memchr::memchr(b'\n', self.rest.as_bytes()) {
            Some(end) => {
                let line = &self.rest[..end];
                self.rest = &self.rest[end + 1..];
                line
            }
            None => std::mem::take(&mut self.rest),
        };
        Some(line)
    }
}

/// Any line starting with three digits is a reply line, like the reference view: a missing
/// separator ("220text") ends the reply.
pub fn parse_line(line: &[u8]) -> Option<ReplyLine<'_>> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = line[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let (last, text) = match line.get(3) {
        Some(b'-') => (false, &line[4..]),
        Some(b' ') => (true, &line[4..]),
        _ => (true, &line[3..]),
    };
    Some(ReplyLine { code, last, text: super::text(text) })
}

/// Binary junk rather than text: the server side is not SMTP (or not in clear) from here on.
pub fn looks_binary(line: &[u8]) -> bool {
    let head = &line[..line.len().min(64)];
    head.iter().filter(|&&c| c < 9 || (13 < c && c < 32) || c > 126).count() > 8
}

#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub code: u16,
    pub lines: ReplyLines,
    /// All lines of the reply, kept or not (saturates: a reply of 4 G lines is not a concern).
    pub line_count: u32,
    pub first: PacketRef,
    pub last: PacketRef,
    /// A continuation line carried another code (RFC 5321 §4.2.1 says they must agree).
    pub code_changed: bool,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.joined().to_string()
    }
}

/// Groups reply lines into replies.
#[derive(Clone, Debug, Default)]
pub struct Assembler {
    cur: Option<Reply>,
}

impl Assembler {
    /// Adds a reply line; returns the reply it completes.
    pub fn push(&mut self, rl: ReplyLine<'_>, line: LineRef<'_>) -> Option<Reply> {
        if rl.last && self.cur.is_none() {
            return Some(Self::single_line(rl, line));
        }
        let r = self.cur.get_or_insert_with(|| Reply { code: rl.code, first: line.first, ..Default::default() });
        r.code_changed |= r.code != rl.code;
        r.line_count = r.line_count.saturating_add(1);
        // A multi-line reply gets room for an EHLO reply's text at its first line, not 8, 16, 32...
        if r.lines.is_empty() && !rl.last {
            r.lines.reserve(MULTI_LINE_ROOM);
        }
        if r.lines.len() < MAX_REPLY_LINES {
            r.lines.push(&rl.text);
        }
        r.last = line.last;
        if rl.last { self.cur.take() } else { None }
    }

    /// A reply of one line (most replies): made whole at once, without passing through `cur`.
    fn single_line(rl: ReplyLine<'_>, line: LineRef<'_>) -> Reply {
        let mut lines = ReplyLines::default();
        lines.push(&rl.text);
        Reply { code: rl.code, lines, line_count: 1, first: line.first, last: line.last, code_changed: false }
    }

    /// Forgets a reply in progress (gap, end of capture); returns it for the record.
    pub fn abandon(&mut self) -> Option<Reply> {
        self.cur.take()
    }
}

/// The queue id a server gives on accepting a message, e.g. Postfix "2.0.0 Ok: queued as
/// 4F3B21C", Exim "OK id=1abc-000123-AB", Cisco ESA "ok: Message 12345 accepted". Queue ids
/// are printable ASCII: a control byte (an ESC from a hostile server) ends the id.
pub fn queue_id(text: &str) -> Option<String> {
    // The token ends at the first byte that is no printable ASCII or is a closing mark: a
    // byte search gives the same end as a walk over the characters (the first byte of any
    // other character is not ASCII), and the id is copied once.
    let token = |from: usize| {
        let rest = text[from..].trim_start();
        let end = rest
            .bytes()
            .position(|b| !b.is_ascii_graphic() || matches!(b, b',' | b';' | b')' | b']'))
            .unwrap_or(rest.len());
        let t = rest[..end].trim_end_matches(['.', ':']);
        (!t.is_empty()).then(|| t.to_string())
    };
    if let Some(i) = find_ignoring_case(text, b"queued as") {
        return token(i + "queued as".len());
    }
    if let Some(i) = find_ignoring_case(text, b"id=") {
        return token(i + 3);
    }
    // Cisco ESA: "Message <id> accepted"
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(3)
        .find(|w| {
            w[0].eq_ignore_ascii_case("message")
                && w[2].eq_ignore_ascii_case("accepted")
                && w[1].chars().all(|c| c.is_ascii_graphic())
        })
        .map(|w| w[1].to_string())
}

/// Offset of `needle` (lower-case ASCII) in `text`, in any letter case: compared in place at
/// each occurrence of its first letter, not in a lower-cased copy of the text.
fn find_ignoring_case(text: &str, needle: &[u8]) -> Option<usize> {
    let (hay, first) = (text.as_bytes(), needle[0]);
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), hay)
        .find(|&i| hay.get(i..i + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::line::{Ending, Line};

    fn line(b: &[u8], n: u64) -> Line {
        let at = PacketRef { number: n, ..Default::default() };
        Line { bytes: b.to_vec(), len: b.len(), ending: Ending::CrLf, first: at, last: at, tainted: false }
    }

    #[test]
    fn reply_lines() {
        assert_eq!(
            parse_line(b"250-PIPELINING").unwrap(),
            ReplyLine { code: 250, last: false, text: "PIPELINING".into() }
        );
        assert_eq!(parse_line(b"221").unwrap(), ReplyLine { code: 221, last: true, text: "".into() });
        assert_eq!(parse_line(b"220text").unwrap().text, "text");
        assert!(parse_line(b"hello").is_none());
        assert!(parse_line(b"22").is_none());
        assert_eq!(parse_line(b"220 ****2**0***").unwrap().text, "****2**0***");
    }

    #[test]
    fn multi_line_reply_counted_once() {
        let mut a = Assembler::default();
        assert!(a.push(parse_line(b"220-first").unwrap(), line(b"220-first", 1).as_ref()).is_none());
        let r = a.push(parse_line(b"220 second").unwrap(), line(b"220 second", 2).as_ref()).unwrap();
        assert_eq!((r.code, r.text(), r.first.number, r.last.number), (220, "first\nsecond".into(), 1, 2));
    }

    #[test]
    fn reply_lines_keep_empty_lines_and_their_count() {
        let mut l = ReplyLines::default();
        assert_eq!((l.len(), l.first(), l.iter().count()), (0, None, 0));
        for text in ["", "", "SIZE 100", ""] {
            l.push(text);
        }
        assert_eq!(l.iter().collect::<Vec<_>>(), ["", "", "SIZE 100", ""]);
        assert_eq!((l.len(), l.longest(), l.joined()), (4, 8, "\n\nSIZE 100\n"));
        let mut reserved = ReplyLines::default();
        reserved.reserve(16);
        reserved.push("a");
        reserved.push("b");
        assert_eq!(reserved.iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn queue_ids() {
        assert_eq!(queue_id("2.0.0 Ok: queued as 4F3B21C").as_deref(), Some("4F3B21C"));
        assert_eq!(queue_id("OK id=1abc-000123-AB").as_deref(), Some("1abc-000123-AB"));
        assert_eq!(queue_id("ok:  Message 12345 accepted").as_deref(), Some("12345"));
        assert_eq!(queue_id("ok dirdel"), None);
        assert_eq!(queue_id("Ok: queued as \u{1b}]0;x\u{7}"), None);
        assert_eq!(queue_id("queued as AB12\u{1b}[2J").as_deref(), Some("AB12"));
        assert_eq!(queue_id("Message \u{1b}[2J accepted"), None);
        assert_eq!(queue_id("é ok QUEUED AS Ab1.").as_deref(), Some("Ab1"));
        assert_eq!(queue_id("iD=x; id=y").as_deref(), Some("x"));
        assert_eq!(queue_id("queued a"), None);
    }

    #[test]
    fn binary_detection() {
        assert!(looks_binary(&[0x16, 3, 1, 0, 0x80, 1, 0, 0, 0x7c, 3, 3, 0xff, 0xee]));
        assert!(!looks_binary(b"220 mail.example.org ESMTP"));
    }
}
