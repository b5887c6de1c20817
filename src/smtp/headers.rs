//! The message's identity, from its top-level header block: Message-ID, the Received: path, and
//! (only when asked, as they are personal data) Subject, From and To.

/// Received: fields recorded; a mail loop can add hundreds.
const MAX_PATH: usize = 32;
/// Longest header value kept (a Subject can be folded over many lines).
const MAX_VALUE: usize = 998;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub message_id: Option<String>,
    /// One hop per Received: field, newest first as in the header: the address the relay saw the
    /// message come from ("[192.0.2.1]" in its from clause), else the name it gave; like Zeek's
    /// smtp.log `path`.
    pub received_path: Vec<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Identity {
    /// Whether `field` does anything with a field of this name: callers skip the others
    /// without keeping them.
    pub fn reads(name: &[u8], personal: bool) -> bool {
        IdField::of(name).is_some_and(|f| personal || !f.personal())
    }

    /// `reads`, and `field` would still take something from it: a value already found, or a
    /// full Received path (a mail loop adds hundreds), need not be kept to be ignored.
    pub fn wants(&self, name: &[u8], personal: bool) -> bool {
        match IdField::of(name) {
            Some(IdField::MessageId) => self.message_id.is_none(),
            Some(IdField::Received) => self.received_path.len() < MAX_PATH,
            Some(IdField::Subject) => personal && self.subject.is_none(),
            Some(IdField::From) => personal && self.from.is_none(),
            Some(IdField::To) => personal && self.to.is_none(),
            None => false,
        }
    }

    /// One unfolded header field ("Name: value"); `personal`: keep Subject, From and To too.
    pub fn field(&mut self, field: &[u8], personal: bool) {
        let Some(colon) = super::line::find(b':', field) else { return };
        let Some(which) = IdField::of(field[..colon].trim_ascii()) else { return };
        let value = || one_line(field[colon + 1..].trim_ascii());
        match which {
            IdField::MessageId => {
                self.message_id.get_or_insert_with(value);
            }
            IdField::Received => {
                if self.received_path.len() < MAX_PATH
                    && let Some(hop) = received_hop(field[colon + 1..].trim_ascii())
                {
                    self.received_path.push(hop);
                }
            }
            _ if !personal => {}
            IdField::Subject => {
                self.subject.get_or_insert_with(value);
            }
            IdField::From => {
                self.from.get_or_insert_with(value);
            }
            IdField::To => {
                self.to.get_or_insert_with(value);
            }
        }
    }
}

/// The header fields the identity is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdField {
    MessageId,
    Received,
    Subject,
    From,
    To,
}

impl IdField {
    /// The field named `name` (any letter case). Told apart by length first: one comparison
    /// per field name instead of one per candidate.
    #[inline]
    fn of(name: &[u8]) -> Option<IdField> {
        let (field, spelled) = match name.len() {
            10 => (IdField::MessageId, "message-id"),
            8 => (IdField::Received, "received"),
            7 => (IdField::Subject, "subject"),
            4 => (IdField::From, "from"),
            2 => (IdField::To, "to"),
            _ => return None,
        };
        is_named(name, spelled.as_bytes()).then_some(field)
    }

    fn personal(self) -> bool {
        matches!(self, IdField::Subject | IdField::From | IdField::To)
    }
}

/// `name` is `lower` (lower-case ASCII) in any letter case, as `eq_ignore_ascii_case` has it.
/// Header names are compared on every header line: eight bytes at a time, each word's
/// upper-case letters lowered at once (a name of 8 or more bytes ends with an overlapping
/// word), where `eq_ignore_ascii_case` lowers and compares byte by byte.
#[inline]
pub(super) fn is_named(name: &[u8], lower: &[u8]) -> bool {
    if name.len() != lower.len() {
        return false;
    }
    if name.len() < 8 {
        return name.iter().zip(lower).all(|(&a, &b)| a.to_ascii_lowercase() == b);
    }
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let same = |at: usize| lowered(word(name, at)) == word(lower, at);
    (0..name.len() / 8).all(|w| same(8 * w)) && same(name.len() - 8)
}

/// The word with its ASCII upper-case letters lowered (bytes from 0x80 left alone). Each
/// byte's low seven bits plus a bias set its high bit at or past 'A' and past 'Z'; the sums
/// stay within the byte, so no carry crosses to the next.
fn lowered(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = word & (0x7f * ONES);
    let from_a = low7 + (0x80 - u64::from(b'A')) * ONES;
    let past_z = low7 + (0x80 - u64::from(b'Z') - 1) * ONES;
    let upper = from_a & !past_z & !word & (0x80 * ONES);
    word | upper >> 2
}

/// A header value as one line: folding left CR/LF inside, so runs of white space become one
/// space; at most `MAX_VALUE` characters.
fn one_line(value: &[u8]) -> String {
    if !value.is_ascii() {
        let v = String::from_utf8_lossy(value);
        let v: String = v.split_whitespace().collect::<Vec<_>>().join(" ");
        return v.chars().take(MAX_VALUE).collect();
    }
    // ASCII (nearly every value): the same, without the intermediate strings. The white space
    // is `char::is_whitespace`'s in ASCII, which unlike `u8::is_ascii_whitespace` has VT.
    // Words are found byte by byte (in ASCII every offset is a character boundary).
    let text = std::str::from_utf8(value).expect("ASCII is UTF-8");
    let mut out = String::with_capacity(value.len().min(MAX_VALUE));
    let mut i = 0;
    while i < value.len() && out.len() < MAX_VALUE {
        if space(value[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < value.len() && !space(value[i]) {
            i += 1;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&text[start..i]);
    }
    out.truncate(MAX_VALUE);
    out
}

/// White space as `char::is_whitespace` has it in ASCII (VT included, unlike
/// `u8::is_ascii_whitespace`).
fn space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// `received_from(&one_line(value))` for a raw (folded) Received: value, without making the
/// whole value one line: the from clause is the raw text from its first word to its last, whose
/// hop is that of the clause's words joined by single spaces (white space only separates words,
/// and bracketed text with white space inside is no address either way). A value that is ASCII
/// and no longer than `MAX_VALUE` (nearly all) is not cut by `one_line`, so its words are the same.
fn received_hop(value: &[u8]) -> Option<String> {
    if value.len() > MAX_VALUE || !value.is_ascii() {
        return received_from(&one_line(value));
    }
    let text = std::str::from_utf8(value).expect("ASCII is UTF-8");
    let mut words = Words { bytes: value, at: 0 };
    let first = words.next()?;
    if !value[first].eq_ignore_ascii_case(b"from") {
        return None;
    }
    // "from" alone is no from clause.
    let clause = words.next()?;
    let mut end = clause.end;
    // The clause ends at a word "by" with another after it (" by " in the one-line form).
    while let Some(word) = words.next() {
        if value[word.clone()].eq_ignore_ascii_case(b"by") && words.clone().next().is_some() {
            break;
        }
        end = word.end;
    }
    clause_hop(&text[clause.start..end])
}

/// The byte ranges of the words of ASCII text: runs of bytes that are not `space`.
#[derive(Clone)]
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for Words<'_> {
    type Item = std::ops::Range<usize>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.bytes;
        while self.at < bytes.len() && space(bytes[self.at]) {
            self.at += 1;
        }
        let start = self.at;
        while self.at < bytes.len() && !space(bytes[self.at]) {
            self.at += 1;
        }
        (start < self.at).then_some(start..self.at)
    }
}

/// The hop of one Received: value: "from mx.example.org (mx.example.org [192.0.2.1]) by …" →
/// "192.0.2.1"; without an address, "mx.example.org".
fn received_from(value: &str) -> Option<String> {
    // RFC 5321 §4.4: the from clause comes first; a relay that gives none is not a hop.
    // (Compared in place, ignoring ASCII case: no lower-cased copies of the value.)
    if !value.as_bytes().get(..5).is_some_and(|p| p.eq_ignore_ascii_case(b"from ")) {
        return None;
    }
    let clause = &value[5..];
    // The from clause ends where "by" begins (RFC 5321 §4.4): looked for at each space only.
    let bytes = clause.as_bytes();
    let end = memchr::memchr_iter(b' ', bytes)
        .find(|&i| bytes.get(i + 1..i + 4).is_some_and(|w| w.eq_ignore_ascii_case(b"by ")))
        .unwrap_or(clause.len());
    clause_hop(&clause[..end])
}

/// The hop named by a from clause (the words between "from" and "by").
fn clause_hop(clause: &str) -> Option<String> {
    let address = bracketed(clause).find_map(|inside| {
        let inside = inside.trim();
        let inside = inside.strip_prefix("IPv6:").or_else(|| inside.strip_prefix("ipv6:")).unwrap_or(inside);
        inside.parse::<std::net::IpAddr>().ok().map(|ip| (ip, inside))
    });
    match address {
        // An IPv4 address parses only in its one written form (no leading zeros), so the text is
        // what `to_string` would print; IPv6 is normalised (case, zero runs).
        Some((std::net::IpAddr::V4(_), text)) => Some(text.to_string()),
        Some((ip, _)) => Some(ip.to_string()),
        None => clause.split_whitespace().next().map(str::to_string),
    }
}

/// The texts between a '[' or ']' and the next: the odd pieces of splitting `text` at both,
/// found with `memchr2` (both are ASCII, so every piece is cut at character boundaries).
fn bracketed(text: &str) -> impl Iterator<Item = &str> {
    let mut brackets = memchr::memchr2_iter(b'[', b']', text.as_bytes());
    std::iter::from_fn(move || {
        let open = brackets.next()?;
        Some(&text[open + 1..brackets.next().unwrap_or(text.len())])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word at a time or byte by byte, names compare alike: every byte against every letter
    /// case and position, and names of every length around the word size.
    #[test]
    fn is_named_is_eq_ignore_ascii_case() {
        let lower = b"content-disposition";
        for len in 1..=lower.len() {
            let lower = &lower[..len];
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut name = lower.to_vec();
                    name[at] = byte;
                    assert_eq!(is_named(&name, lower), name.eq_ignore_ascii_case(lower), "{name:?}");
                    name.make_ascii_uppercase();
                    assert_eq!(is_named(&name, lower), name.eq_ignore_ascii_case(lower), "{name:?}");
                }
            }
            assert!(!is_named(&lower[1..], lower));
        }
        for byte in 0..=255u8 {
            assert_eq!(lowered(u64::from(byte)), u64::from(byte.to_ascii_lowercase()), "{byte}");
        }
    }

    /// `reads` names exactly the fields `field` takes something from (callers skip the others).
    #[test]
    fn reads_names_what_field_keeps() {
        let names = ["Message-ID", "received", "Subject", "FROM", "To", "Cc", "X-Mailer", "Reply-To", "Content-Type"];
        for personal in [true, false] {
            for name in names {
                let mut id = Identity::default();
                id.field(format!("{name}: from a.example [192.0.2.1] by b <x@y>").as_bytes(), personal);
                assert!(
                    Identity::default().wants(name.as_bytes(), personal) || !Identity::reads(name.as_bytes(), personal)
                );
                let kept = id != Identity::default();
                assert_eq!(Identity::reads(name.as_bytes(), personal), kept, "{name}, personal {personal}");
                // Once it took something, a field of the same name has nothing more to give.
                if name != "received" {
                    assert!(!id.wants(name.as_bytes(), personal), "{name}");
                }
            }
        }
    }

    /// The address text kept for IPv4 is what printing the parsed address gives.
    #[test]
    fn ipv4_text_is_its_printed_form() {
        for text in
            ["192.0.2.1", "0.0.0.0", "255.255.255.255", "10.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1"]
        {
            if let Ok(ip) = text.parse::<std::net::Ipv4Addr>() {
                assert_eq!(ip.to_string(), text);
            }
        }
        assert_eq!(received_from("from a ([IPv6:2001:DB8:0:0::5]) by b").as_deref(), Some("2001:db8::5"));
        assert_eq!(received_from("from a ([ 192.0.2.7 ]) BY b [192.0.2.8]").as_deref(), Some("192.0.2.7"));
        assert_eq!(received_from("from a.example\tby b [192.0.2.8]").as_deref(), Some("192.0.2.8"));
    }

    #[test]
    fn bracketed_are_the_odd_pieces_of_a_split() {
        for text in ["", "a", "[", "]", "[]", "a[b]c", "a]b[c]d", "[x][y", "[[a]]", "é[ü]ö[", "a [1] b [2] c"] {
            let want: Vec<&str> = text.split(['[', ']']).skip(1).step_by(2).collect();
            assert_eq!(bracketed(text).collect::<Vec<_>>(), want, "{text:?}");
        }
    }

    /// The hop read from the raw value is the one read from its one-line form.
    #[test]
    fn received_hop_is_received_from_one_line() {
        let long = format!("from {} [192.0.2.1] by b", "x ".repeat(600));
        let values = [
            "from mx.example.org (mx.example.org [192.0.2.1])\r\n\tby esa.example.com with ESMTP id 1",
            "from client ([IPv6:2001:db8::5]) by mx.example.org",
            "FROM upper.example [x] BY other.example [192.0.2.9]",
            "from by x [192.0.2.3]",
            "from a by",
            "from a\x0bby b [192.0.2.4]",
            "from  a \r\n by\r\n b",
            "from",
            "from ",
            "fromage a by b",
            "by host.example without from clause",
            "from é [192.0.2.5] by b",
            "from a [192.0.2.6 ] [ 192.0.2.7] by b",
            "from a [\r\n 192.0.2.8\r\n\t] by b",
            "from a [192.0.\r\n 2.9] ]192.0.2.10[ [192.0.2.11] by b",
            "from a ]192.0.2.12] [192.0.2.13 by b",
            "from a [192.0.2.14",
            "from [x] [] [192.0.2.15]",
            "from x by by",
            "from x by y by z [192.0.2.16]",
            "from\tx\x0c[192.0.2.17]\x0bby\r\n y",
            "",
            long.as_str(),
        ];
        for v in values {
            assert_eq!(received_hop(v.as_bytes()), received_from(&one_line(v.as_bytes())), "{v:?}");
        }
    }

    #[test]
    fn one_line_is_split_whitespace_joined_and_cut() {
        let long = "a b\t".repeat(400);
        for v in ["", " x ", "a\r\n\tb  c", "a\x0bb\x0cc", "é\r\n  ü", long.as_str(), &"y".repeat(2000)] {
            let want: String = v.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(MAX_VALUE).collect();
            assert_eq!(one_line(v.as_bytes()), want, "{v:?}");
        }
    }

    fn fields(lines: &[&str], personal: bool) -> Identity {
        let mut id = Identity::default();
        for l in lines {
            id.field(l.as_bytes(), personal);
        }
        id
    }

    #[test]
    fn a_full_received_path_wants_no_more() {
        let mut id = Identity::default();
        for i in 0..MAX_PATH + 3 {
            assert_eq!(id.wants(b"Received", false), i < MAX_PATH);
            id.field(format!("Received: from h{i} by x").as_bytes(), false);
        }
        assert_eq!(id.received_path.len(), MAX_PATH);
    }

    #[test]
    fn message_id_and_received_path() {
        let id = fields(
            &[
                "Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n\tby esa.example.com with ESMTP id 1",
                "Received: from client ([IPv6:2001:db8::5]) by mx.example.org",
                "Received: from localhost by client.example.org",
                "Received: FROM upper.example [x] BY other.example [192.0.2.9]",
                "Received: by host.example without from clause",
                "Message-ID: <abc.123@example.org>",
                "Message-ID: <second@example.org>",
                "Subject: hello",
            ],
            false,
        );
        assert_eq!(id.message_id.as_deref(), Some("<abc.123@example.org>"));
        assert_eq!(id.received_path, ["192.0.2.1", "2001:db8::5", "localhost", "upper.example"]);
        assert_eq!(id.subject, None, "personal headers only when asked");
    }

    #[test]
    fn personal_headers_when_asked() {
        let id = fields(&["subject: Quarterly\r\n report", "From: A <a@example.org>", "To: b@example.com"], true);
        assert_eq!(id.subject.as_deref(), Some("Quarterly report"));
        assert_eq!(id.from.as_deref(), Some("A <a@example.org>"));
        assert_eq!(id.to.as_deref(), Some("b@example.com"));
    }
}
