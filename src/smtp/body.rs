//! Message content statistics (DATA body or BDAT chunks): sizes, longest header and body lines,
//! MIME attachment names. Fed line by line; holds a bounded amount of state.

use super::folds::FoldRun;
use super::line::{Ending, LINE_LIMIT, LineBuf, LineEnds, LineRef};
use super::mime;
use super::record::{Attachment, BodyStats, Extreme};
use crate::tcp::PacketRef;

/// An unfolded header field kept for parameter parsing; longer ones are cut.
const FIELD_MAX: usize = 16 * 1024;
const MAX_BOUNDARIES: usize = 32;
const MAX_ATTACHMENTS: usize = 1000;
/// Continuation lines of a field not kept that are counted one by one before `FoldRun::count_rest`.
const SHORT_FOLD_RUN: u64 = 8;

#[derive(Clone, Debug)]
pub struct Message {
    pub stats: BodyStats,
    in_headers: bool,
    field: Vec<u8>,
    /// The field in progress is one `parse_field` reads (or its name is not known yet); the
    /// others (most of a header: DKIM signatures, X- fields, a folded Subject) are not kept.
    field_wanted: bool,
    field_packet: PacketRef,
    /// Best file name candidate of the header block being read (disposition beats type).
    candidate: Option<(u8, Vec<u8>, PacketRef)>,
    boundaries: Vec<Vec<u8>>,
    open_part: Option<(usize, u64)>,
    /// Offset of the boundary line that opened the current MIME part.
    part_start: u64,
    /// Line splitter for BDAT content, which arrives as raw bytes.
    raw_lines: LineBuf,
    /// Still in the message's own header block (not a MIME part's): its identity is read there.
    top_headers: bool,
    personal_headers: bool,
    /// Bytes kept of a line, as the dialogue's line splitter keeps them.
    max_line_len: usize,
}

impl Message {
    /// `personal_headers`: keep Subject, From and To in the message's identity.
    pub fn new(max_line_len: usize, personal_headers: bool) -> Self {
        Message {
            stats: BodyStats::default(),
            in_headers: true,
            field: Vec::new(),
            field_wanted: true,
            field_packet: PacketRef::default(),
            candidate: None,
            boundaries: Vec::new(),
            open_part: None,
            part_start: 0,
            raw_lines: LineBuf::new(max_line_len),
            top_headers: true,
            personal_headers,
            max_line_len,
        }
    }

    /// One content line (after dot-unstuffing). `wire` is its size on the wire with ending.
    pub fn on_line(&mut self, line: LineRef<'_>, content: &[u8], wire: u64) {
        let bare_lf = line.ending == Ending::BareLf;
        self.count_line(line.len, bare_lf, line.first, line.last, content, wire);
    }

    /// `on_line` with the line's facts as scalars: inlined into the fast path's loop, where a
    /// `LineRef` built and read back per line cost more than the counting itself.
    #[inline(always)]
    fn count_line(&mut self, len: usize, bare_lf: bool, first: PacketRef, last: PacketRef, content: &[u8], wire: u64) {
        let s = &mut self.stats;
        s.first_packet.get_or_insert(first);
        s.last_packet = Some(last);
        s.lines += 1;
        s.bare_lf_lines += u64::from(bare_lf);
        s.lines_over_998 += u64::from(len > LINE_LIMIT);
        let before = s.bytes;
        s.bytes += wire;
        if self.in_headers {
            Extreme::raise(&mut s.longest_header_line, len as u64, first);
            self.header_line(content, first);
        } else {
            Extreme::raise(&mut s.longest_body_line, len as u64, first);
            self.body_line(content, before);
        }
    }

    /// The fast path for a message: takes the complete CRLF-terminated lines at the start of
    /// `data` (all of them in this packet, `at`) without the dialogue's line splitter, header
    /// lines included, and returns the bytes they take. It stops before what only the
    /// dialogue may judge: a line starting with "." (end of data, dot-stuffing), a bare LF
    /// (an anomaly), or the unfinished line at the end. Each line is counted as `on_line`
    /// counts it when the splitter hands it over, kept bytes cut to the same limit.
    pub fn plain_lines(&mut self, data: &[u8], at: PacketRef) -> usize {
        let mut ends = LineEnds::new(data);
        let mut pos = 0;
        loop {
            pos = self.plain_body_lines(data, pos, &mut ends, at);
            pos += self.continuation_lines(&data[pos..], at);
            let Some(nl) = ends.find(pos) else {
                return pos;
            };
            let Some(content) = data[pos..nl].strip_suffix(b"\r") else {
                return pos;
            };
            if content.first() == Some(&b'.') {
                return pos;
            }
            let kept = &content[..content.len().min(self.max_line_len)];
            self.count_line(content.len(), false, at, at, kept, content.len() as u64 + 2);
            pos = nl + 1;
        }
    }

    /// The fast path for the bulk of a message: counts the ordinary CRLF-terminated body lines
    /// of `data` from `from` (all of them in this packet, `at`) at once, and returns the offset
    /// where they end. It stops before anything the line-by-line path must see: a line starting
    /// with "." (end of data, dot-stuffing) or "-" (a MIME boundary), a bare LF, the header
    /// block, or the unfinished line at the end. Counting is the same as `on_line` per line.
    fn plain_body_lines(&mut self, data: &[u8], from: usize, ends: &mut LineEnds<'_>, at: PacketRef) -> usize {
        if self.in_headers {
            return from;
        }
        let (mut start, mut lines, mut longest, mut over) = (from, 0u64, 0usize, 0u64);
        while let Some(nl) = ends.find(start) {
            let line = &data[start..nl];
            match line {
                [b'.' | b'-', ..] => break,
                [.., b'\r'] => {}
                _ => break,
            }
            let len = line.len() - 1;
            longest = longest.max(len);
            over += u64::from(len > LINE_LIMIT);
            lines += 1;
            start = nl + 1;
        }
        if lines > 0 {
            let s = &mut self.stats;
            s.first_packet.get_or_insert(at);
            s.last_packet = Some(at);
            s.lines += lines;
            s.lines_over_998 += over;
            s.bytes += (start - from) as u64;
            Extreme::raise(&mut s.longest_body_line, longest as u64, at);
        }
        start
    }

    /// The fast path for folded header fields (RFC 5322 §2.2.3): counts the CRLF-terminated
    /// continuation lines (starting with SP or HTAB) at the start of `data` (all of them in this
    /// packet, `at`) at once, appends them to the field in progress up to its limit, and returns
    /// the bytes they take. A field folded over many lines would otherwise pay the per-line
    /// path for every fold, long after the kept field is full. Counting is `on_line`'s.
    fn continuation_lines(&mut self, data: &[u8], at: PacketRef) -> usize {
        // With nothing kept of a line (a zero limit) the per-line path sees it as empty.
        if !self.in_headers || self.max_line_len == 0 || !matches!(data.first(), Some(b' ' | b'\t')) {
            return 0;
        }
        let known = self.stats.longest_header_line.as_ref().map_or(0, |e| e.value as usize);
        let mut run = FoldRun::after(known);
        let mut open = true;
        // Lines are taken one by one while the field keeps them, and for the first few of a
        // field that does not (most folded fields are short: counting word by word pays off
        // only for a long run).
        while open {
            let keep = self.field_wanted && self.field.len() < FIELD_MAX;
            if !keep && run.lines >= SHORT_FOLD_RUN {
                break;
            }
            match run.next_line(data) {
                Some(content) if keep => {
                    let kept = content.len().min(self.max_line_len).min(FIELD_MAX - self.field.len());
                    self.field.extend_from_slice(&content[..kept]);
                }
                Some(_) => {}
                None => open = false,
            }
        }
        if open {
            run.count_rest(data);
        }
        if run.lines > 0 {
            let s = &mut self.stats;
            s.first_packet.get_or_insert(at);
            s.last_packet = Some(at);
            s.lines += run.lines;
            s.lines_over_998 += run.over_998;
            s.bytes += run.end as u64;
            Extreme::raise(&mut s.longest_header_line, run.longest as u64, at);
        }
        run.end
    }

    /// Raw content bytes (BDAT): split into lines here, CRLF inside chunks being ordinary data.
    pub fn feed_bytes(&mut self, mut data: &[u8], at: PacketRef) {
        // The splitter is moved out while its line is lent to `on_line` (moving a Vec is free).
        let mut lines = std::mem::replace(&mut self.raw_lines, LineBuf::new(0));
        while !data.is_empty() {
            let (n, line) = lines.feed_ref(data, at);
            if let Some(l) = line {
                let wire = l.len as u64 + if l.ending == Ending::CrLf { 2 } else { 1 };
                self.on_line(l, l.bytes, wire);
            }
            data = &data[n..];
        }
        self.raw_lines = lines;
    }

    /// Content bytes are missing: the line in progress is unreliable.
    pub fn gap(&mut self) {
        self.raw_lines.gap();
    }

    pub fn finish(mut self, terminated: bool, at: PacketRef) -> BodyStats {
        if let Some(l) = self.raw_lines.take_partial(at) {
            self.on_line(l.as_ref(), &l.bytes, l.len as u64);
        }
        self.end_field();
        self.end_header_block();
        self.stats.terminated = terminated;
        self.stats
    }

    #[inline]
    fn header_line(&mut self, content: &[u8], at: PacketRef) {
        if content.is_empty() {
            self.end_field();
            self.end_header_block();
            self.in_headers = false;
            self.top_headers = false;
            return;
        }
        if !matches!(content[0], b' ' | b'\t') {
            self.end_field();
            self.field_packet = at;
            self.field_wanted = may_be_kept(content[0]) && self.wants_field(&content[..content.len().min(FIELD_MAX)]);
        }
        if self.field_wanted {
            let room = FIELD_MAX.saturating_sub(self.field.len());
            self.field.extend_from_slice(&content[..content.len().min(room)]);
        }
    }

    fn body_line(&mut self, content: &[u8], offset: u64) {
        let Some(rest) = content.strip_prefix(b"--") else {
            return;
        };
        let rest = trim_end(rest);
        let closing = rest.strip_suffix(b"--");
        if !self.boundaries.iter().any(|b| b.as_slice() == rest || Some(b.as_slice()) == closing) {
            return;
        }
        if let Some((i, start)) = self.open_part.take() {
            self.stats.attachments[i].part_bytes = Some(offset - start);
        }
        self.in_headers = true;
        self.part_start = offset;
    }

    /// Inlined into the per-line path: a field not kept (most of them) has nothing to parse,
    /// and only the test is paid for it.
    #[inline(always)]
    fn end_field(&mut self) {
        if !self.field.is_empty() {
            self.end_kept_field();
        }
        self.field_wanted = true;
    }

    fn end_kept_field(&mut self) {
        // Only a few header fields matter: the others are skipped without a copy, and the
        // buffer is kept for the next field (a header-like body would otherwise allocate per line).
        let field = std::mem::take(&mut self.field);
        self.parse_field(&field);
        self.field = field;
        self.field.clear();
    }

    /// Whether the field whose first line (as kept in the field) is `first` can matter to
    /// `parse_field`. Without a colon its name is not known yet, so it is kept.
    fn wants_field(&self, first: &[u8]) -> bool {
        // Names are short: an inline search, not a `memchr` call per header line.
        let Some(colon) = super::line::find(b':', first) else {
            return true;
        };
        let name = first[..colon].trim_ascii();
        named(name, "content-type")
            || named(name, "content-disposition")
            || (self.top_headers && self.stats.identity.wants(name, self.personal_headers))
    }

    fn parse_field(&mut self, field: &[u8]) {
        if self.top_headers {
            self.stats.identity.field(field, self.personal_headers);
        }
        let Some(colon) = super::line::find(b':', field) else {
            return;
        };
        let name = field[..colon].trim_ascii();
        let (rank, key) = if named(name, "content-disposition") {
            (2, "filename")
        } else if named(name, "content-type") {
            (1, "name")
        } else {
            return;
        };
        let text = super::text(field);
        let Some((_, value)) = text.split_once(':') else {
            return;
        };
        let ps = mime::params(value);
        if rank == 1
            && let Some(b) = mime::param(&ps, "boundary")
            && self.boundaries.len() < MAX_BOUNDARIES
        {
            self.boundaries.push(b);
        }
        if let Some(name) = mime::param(&ps, key)
            && self.candidate.as_ref().is_none_or(|c| c.0 < rank)
        {
            self.candidate = Some((rank, name, self.field_packet));
        }
    }

    fn end_header_block(&mut self) {
        let Some((_, name, at)) = self.candidate.take() else {
            return;
        };
        if self.stats.attachments.len() >= MAX_ATTACHMENTS {
            self.stats.attachments_dropped += 1;
            return;
        }
        self.stats.attachments.push(Attachment {
            filename: String::from_utf8_lossy(&name).into_owned(),
            filename_len: name.len(),
            part_bytes: None,
            packet: at,
        });
        self.open_part = Some((self.stats.attachments.len() - 1, self.part_start));
    }
}

/// Whether a field whose first line starts with `first` can be one `parse_field` reads: those
/// names start with one of these letters (any case; the name is the text before the colon, with
/// white space trimmed). Tested on every new header line, so the others (Date, DKIM-Signature,
/// X-…) skip the colon search and name comparisons of `wants_field`.
#[inline(always)]
fn may_be_kept(first: u8) -> bool {
    // Setting bit 5 lowers an ASCII letter; no other byte becomes one of these letters.
    matches!(first | 0x20, b'c' | b'm' | b'r' | b's' | b'f' | b't') || first.is_ascii_whitespace()
}

/// `name` is `lower` in any letter case; the length is compared inline first, as most names
/// differ in it.
#[inline(always)]
fn named(name: &[u8], lower: &str) -> bool {
    name.len() == lower.len() && super::headers::is_named(name, lower.as_bytes())
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &b[..n]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::headers::Identity;

    /// Every name `parse_field` reads passes `may_be_kept`, as written and in any case; a byte
    /// that lowers to none of its letters fails it.
    #[test]
    fn may_be_kept_passes_every_read_name() {
        let names = ["content-type", "content-disposition", "message-id", "received", "subject", "from", "to"];
        for name in names {
            assert!(named(name.as_bytes(), name) || Identity::reads(name.as_bytes(), true));
            for spelled in [name.to_string(), name.to_ascii_uppercase()] {
                assert!(may_be_kept(spelled.as_bytes()[0]), "{spelled}");
                assert!(may_be_kept(format!(" {spelled}").as_bytes()[0]));
            }
        }
        for name in ["Date", "DKIM-Signature", "X-Mailer", "Authentication-Results", "List-Id"] {
            assert!(!Identity::reads(name.as_bytes(), true) && !may_be_kept(name.as_bytes()[0]), "{name}");
        }
        for byte in 0..=255u8 {
            let letter = byte.to_ascii_lowercase();
            let want = b"cmrsft".contains(&letter) || byte.is_ascii_whitespace();
            assert_eq!(may_be_kept(byte), want, "{byte}");
        }
    }
}
