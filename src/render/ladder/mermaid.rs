//! The ladder as a Mermaid `sequenceDiagram`, which GitHub and GitLab render in a ```mermaid
//! block. One diagram per session; several sessions are separated by a blank line.

use super::rows::{Ladder, Row};
use super::{Clock, label, time};
use crate::render::shorten;
use crate::tcp::Direction;
use std::fmt::Write;

/// Longest message label: Mermaid stretches the diagram to fit, so long replies make it unreadable.
const MAX_LABEL: usize = 90;

pub fn render(l: &Ladder, clock: Clock) -> String {
    let h = &l.header;
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(out, "    %% smtpdiag ladder: session {} of {}", escape(&h.id), escape(&h.capture));
    let _ = writeln!(out, "    participant C as client {}", escape(&h.client));
    let _ = writeln!(out, "    participant S as server {}", escape(&h.server));
    for r in &l.rows {
        let text = format!("{} {} {}", r.packet, time(r, clock), label(r));
        let _ = writeln!(out, "    {}: {}", arrow(r), escape(&shorten(&text, MAX_LABEL, "…")));
        for n in &r.notes {
            let side = match r.dir {
                Direction::ClientToServer => "right of S",
                Direction::ServerToClient => "left of C",
            };
            let _ = writeln!(out, "    Note {side}: {}", escape(&format!("{} — {}", n.text, n.code)));
        }
    }
    if l.folded > 0 {
        let acks = if l.folded == 1 { "pure ACK" } else { "pure ACKs" };
        let _ = writeln!(out, "    Note over C,S: {} {acks} without news folded", l.folded);
    }
    for v in &l.verdict_notes {
        let text = shorten(&format!("{}: {}", v.code, v.summary), MAX_LABEL * 2, "…");
        let _ = writeln!(out, "    Note over C,S: {}", escape(&text));
    }
    out
}

/// Solid arrow for data and control, dotted for bare ACKs, a cross for resets.
fn arrow(r: &Row) -> &'static str {
    let reset = r.flags.contains("RST");
    let bare = r.items.is_empty() && r.flags == "ACK";
    match (r.dir, reset, bare) {
        (Direction::ClientToServer, true, _) => "C-xS",
        (Direction::ServerToClient, true, _) => "S-xC",
        (Direction::ClientToServer, false, true) => "C-->>S",
        (Direction::ServerToClient, false, true) => "S-->>C",
        (Direction::ClientToServer, false, false) => "C->>S",
        (Direction::ServerToClient, false, false) => "S->>C",
    }
}

/// Mermaid ends a statement at `;`, reads `#…;` as an entity and `<…>` as HTML; `%%` starts a
/// comment. Entity codes (`#59;`) show those characters literally; control and bidi characters go.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '%' => out.push_str("#37;"),
            '"' => out.push_str("#quot;"),
            c if crate::render::sanitize::is_unsafe(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_mermaid_chokes_on_are_escaped() {
        assert_eq!(escape("MAIL FROM:<a@b>; #1 100%"), "MAIL FROM:#lt;a@b#gt;#59; #35;1 100#37;");
        assert_eq!(escape("a\r\nb"), "a  b");
        assert_eq!(escape("a\u{202e}b\u{1b}"), "a b ");
    }

    #[test]
    fn long_labels_are_shortened() {
        assert_eq!(shorten("abcdef", 4, "…"), "abc…");
        assert_eq!(shorten("abc", 4, "…"), "abc");
    }
}
