//! Text from the wire shown on a terminal: every character that could drive the terminal or
//! reorder what is shown is written visibly instead (`\x1b`, `\u202e`).
//!
//! A banner such as `554 \e]0;OWNED\a\e]52;c;…\a` would otherwise set the window title and write
//! the clipboard (OSC 52) of an administrator reading the output, often in a root shell; a
//! U+202E makes a reply read backwards. Stored data keeps the bytes as they were (JSON escapes
//! them its own way): this is applied where text is written for a person.

use std::borrow::Cow;

/// Bidirectional formatting characters (Unicode's Bidi_Control): they reorder the text around
/// them ("Trojan Source", CVE-2021-42574).
const BIDI_CONTROLS: [char; 12] = [
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}',
];

/// C0 controls (tab and newline included), DEL, C1 controls and bidi controls.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || BIDI_CONTROLS.contains(&c)
}

/// `text` with every unsafe character written as an escape: `\x1b` below U+0080, `\u009b` or
/// `\u202e` above. Borrowed when there is nothing to escape (nearly always).
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`sanitize`], but keeps newlines: for blocks of lines we wrote ourselves around wire
/// text (error chains, multi-line messages).
pub fn sanitize_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c == '\n' { out.push(c) } else { push_visible(&mut out, c) }
    }
    Cow::Owned(out)
}

/// Whether a string holds nothing a terminal would act on (what the tests assert of output).
pub fn is_clean(text: &str) -> bool {
    !text.chars().any(|c| c != '\n' && is_unsafe(c))
}

fn push_visible(out: &mut String, c: char) {
    use std::fmt::Write;
    if !is_unsafe(c) {
        out.push(c);
    } else if (c as u32) < 0x80 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{:04x}", c as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_not_sent() {
        let banner = "554 \u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}]52;c;aGk=\u{7}";
        assert_eq!(sanitize(banner), r"554 \x1b]0;OWNED\x07\x1b[2J\x1b]52;c;aGk=\x07");
        assert_eq!(sanitize("a\0b\x08c\rd\x7f"), r"a\x00b\x08c\x0dd\x7f");
        assert_eq!(sanitize("csi \u{9b}31m"), r"csi \u009b31m");
    }

    #[test]
    fn bidi_controls_are_shown() {
        assert_eq!(sanitize("250 ok \u{202e}gnp.exe"), r"250 ok \u202egnp.exe");
        for c in BIDI_CONTROLS {
            assert!(is_clean(&sanitize(&c.to_string())), "{:04x}", c as u32);
        }
    }

    #[test]
    fn ordinary_text_is_borrowed_untouched() {
        let text = "250 2.0.0 Ok: queued as 4XyZ — ünïcode, «quotes»";
        assert!(matches!(sanitize(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn lines_keep_their_newlines_only() {
        assert_eq!(sanitize_lines("a\nb\x1bc\r\n"), "a\nb\\x1bc\\x0d\n");
        assert!(is_clean("two\nlines"));
        assert!(!is_clean("a\u{2066}b"));
    }
}
