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
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        is("message-id") || is("received") || (personal && (is("subject") || is("from") || is("to")))
    }

    /// One unfolded header field ("Name: value"); `personal`: keep Subject, From and To too.
    pub fn field(&mut self, field: &[u8], personal: bool) {
        let Some(colon) = memchr::memchr(b':', field) else { return };
        let name = field[..colon].trim_ascii();
        let value = || one_line(field[colon + 1..].trim_ascii());
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("message-id") {
            self.message_id.get_or_insert_with(value);
        } else if is("received") {
            if self.received_path.len() < MAX_PATH
                && let Some(hop) = received_from(&value())
            {
                self.received_path.push(hop);
            }
        } else if personal && is("subject") {
            self.subject.get_or_insert_with(value);
        } else if personal && is("from") {
            self.from.get_or_insert_with(value);
        } else if personal && is("to") {
            self.to.get_or_insert_with(value);
        }
    }
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
    let mut out = String::with_capacity(value.len().min(MAX_VALUE));
    let words = value.split(|b| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')).filter(|w| !w.is_empty());
    for word in words {
        if out.len() >= MAX_VALUE {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(std::str::from_utf8(word).expect("ASCII is UTF-8"));
    }
    out.truncate(MAX_VALUE);
    out
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
    // The from clause ends where "by" begins (RFC 5321 §4.4).
    let end = clause.as_bytes().windows(4).position(|w| w.eq_ignore_ascii_case(b" by ")).unwrap_or(clause.len());
    let clause = &clause[..end];
    let address = clause.split(['[', ']']).skip(1).step_by(2).find_map(|inside| {
        let inside = inside.trim();
        let inside = inside.strip_prefix("IPv6:").or_else(|| inside.strip_prefix("ipv6:")).unwrap_or(inside);
        inside.parse::<std::net::IpAddr>().ok()
    });
    match address {
        Some(ip) => Some(ip.to_string()),
        None => clause.split_whitespace().next().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `reads` names exactly the fields `field` takes something from (callers skip the others).
    #[test]
    fn reads_names_what_field_keeps() {
        let names = ["Message-ID", "received", "Subject", "FROM", "To", "Cc", "X-Mailer", "Reply-To", "Content-Type"];
        for personal in [true, false] {
            for name in names {
                let mut id = Identity::default();
                id.field(format!("{name}: from a.example [192.0.2.1] by b <x@y>").as_bytes(), personal);
                let kept = id != Identity::default();
                assert_eq!(Identity::reads(name.as_bytes(), personal), kept, "{name}, personal {personal}");
            }
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
