//! The ladder as a standalone SVG picture (no scripts, no external fonts or styles), to attach
//! to a ticket. Several ladders stack vertically in one document.

use super::rows::{Ladder, Row, Tone};
use super::{Clock, label, time};
use crate::diagnose::Severity;
use crate::render::shorten;
use crate::render::text::utc;
use crate::tcp::Direction;
use std::fmt::Write;

const WIDTH: u32 = 1060;
pub(super) const MARGIN: u32 = 16;
/// x of the lifelines; the packet number and time columns sit left of the client's.
const CLIENT_X: u32 = 200;
const SERVER_X: u32 = 760;
pub(super) const ROW_H: u32 = 26;
pub(super) const HEAD_H: u32 = 96;
pub(super) const VERDICT_H: u32 = 18;
/// Monospace 12px is about 7.2px per character: labels are cut to fit, never overflow.
pub(super) const CHAR_W: f64 = 7.2;
pub(super) const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

pub(super) const CLIENT_COLOR: &str = "#0969da";
pub(super) const SERVER_COLOR: &str = "#1a7f37";
pub(super) const RED: &str = "#cf222e";
pub(super) const YELLOW: &str = "#9a6700";
pub(super) const MAGENTA: &str = "#a626a4";
pub(super) const GREY: &str = "#57606a";

/// A whole SVG document holding the given ladders, one under the other.
pub fn document(ladders: &[&Ladder], clock: Clock) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", element(ladders, clock))
}

/// The `<svg>` element of [`document`] without the XML declaration, to inline in HTML.
pub fn element(ladders: &[&Ladder], clock: Clock) -> String {
    let heights: Vec<u32> = ladders.iter().map(|l| height(l)).collect();
    let total: u32 = heights.iter().sum::<u32>() + MARGIN;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{total}" viewBox="0 0 {WIDTH} {total}" font-family="{FONT}" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let mut y = 0;
    for (l, h) in ladders.iter().zip(heights) {
        let _ = writeln!(out, r#"<g transform="translate(0,{y})">"#);
        out.push_str(&ladder(l, clock));
        out.push_str("</g>\n");
        y += h;
    }
    out.push_str("</svg>\n");
    out
}

fn height(l: &Ladder) -> u32 {
    let verdict_lines: usize = l.verdict_notes.iter().map(|v| verdict_lines(&v.summary).len()).sum();
    HEAD_H + l.rows.len() as u32 * ROW_H + 24 + verdict_lines as u32 * VERDICT_H + MARGIN
}

fn ladder(l: &Ladder, clock: Clock) -> String {
    let h = &l.header;
    let mut out = String::new();
    let title = format!("session {} · {} · {} UTC", h.id, h.capture, utc(h.start));
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        MARGIN + 10,
        esc(&title)
    );
    out.push_str(&participant(CLIENT_X, "client", &h.client, CLIENT_COLOR));
    out.push_str(&participant(SERVER_X, "server", &h.server, SERVER_COLOR));
    let top = HEAD_H - 20;
    let bottom = HEAD_H + l.rows.len() as u32 * ROW_H;
    for x in [CLIENT_X, SERVER_X] {
        let _ =
            writeln!(out, r#"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{GREY}" stroke-width="1.5"/>"#);
    }
    let _ = writeln!(out, r##"<text x="{MARGIN}" y="{}" fill="{GREY}">#</text>"##, top + 4);
    let _ = writeln!(out, r#"<text x="{}" y="{}" fill="{GREY}">{}</text>"#, MARGIN + 50, top + 4, clock_name(clock));
    for (i, r) in l.rows.iter().enumerate() {
        out.push_str(&row(r, HEAD_H + i as u32 * ROW_H, clock));
    }
    out.push_str(&verdicts(l, bottom + 24));
    out
}

fn clock_name(clock: Clock) -> &'static str {
    match clock {
        Clock::Rel => "time (s)",
        Clock::Abs => "time (UTC)",
        Clock::Delta => "delta (s)",
    }
}

fn participant(x: u32, role: &str, addr: &str, color: &str) -> String {
    let text = format!("{role} {addr}");
    let w = (text.chars().count() as f64 * CHAR_W + 20.0).round() as u32;
    format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"26\" rx=\"4\" fill=\"white\" stroke=\"{color}\" stroke-width=\"1.5\"/>\n\
         <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"{color}\" font-weight=\"bold\">{}</text>\n",
        x.saturating_sub(w / 2),
        MARGIN + 26,
        MARGIN + 43,
        esc(&text)
    )
}

fn row(r: &Row, y: u32, clock: Clock) -> String {
    let color = row_color(r);
    let line_y = y + 8;
    let (from, to) = match r.dir {
        Direction::ClientToServer => (CLIENT_X, SERVER_X),
        Direction::ServerToClient => (SERVER_X, CLIENT_X),
    };
    let mut out = String::new();
    let _ = writeln!(out, r#"<text x="{MARGIN}" y="{}" fill="{GREY}">{}</text>"#, line_y + 4, r.packet);
    let _ =
        writeln!(out, r#"<text x="{}" y="{}" fill="{GREY}">{}</text>"#, MARGIN + 50, line_y + 4, esc(&time(r, clock)));
    let dash = if r.items.is_empty() && r.flags == "ACK" { r#" stroke-dasharray="4 3""# } else { "" };
    let tip = if from < to { to - 2 } else { to + 2 };
    let _ = writeln!(
        out,
        r#"<line x1="{from}" y1="{line_y}" x2="{tip}" y2="{line_y}" stroke="{color}" stroke-width="1.6"{dash}/>"#
    );
    out.push_str(&head(tip, line_y, from < to, color));
    let lane_chars = ((SERVER_X - CLIENT_X - 28) as f64 / CHAR_W) as usize;
    let text = shorten(&label(r), lane_chars, "…");
    let _ = writeln!(out, r#"<text x="{}" y="{}" fill="{color}">{}</text>"#, CLIENT_X + 16, line_y - 4, esc(&text));
    for (i, n) in r.notes.iter().enumerate() {
        let note_chars = ((WIDTH - SERVER_X - MARGIN - 12) as f64 / CHAR_W) as usize;
        let full = format!("◀ {} — {}", n.text, n.code);
        // The code is in the verdict lines below anyway: drop it before cutting the phrase.
        let text = if full.chars().count() <= note_chars {
            full
        } else {
            shorten(&format!("◀ {}", n.text), note_chars, "…")
        };
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" fill="{}" font-weight="bold">{}</text>"#,
            SERVER_X + 10,
            line_y + 4 + i as u32 * 14,
            severity_color(n.severity),
            esc(&text)
        );
    }
    out
}

fn head(x: u32, y: u32, rightwards: bool, color: &str) -> String {
    let back = if rightwards { x as i64 - 9 } else { x as i64 + 9 };
    format!("<polygon points=\"{x},{y} {back},{} {back},{}\" fill=\"{color}\"/>\n", y - 4, y + 4)
}

fn verdicts(l: &Ladder, mut y: u32) -> String {
    let mut out = String::new();
    for v in &l.verdict_notes {
        let color = severity_color(v.severity);
        for (i, line) in verdict_lines(&v.summary).iter().enumerate() {
            let code = if i == 0 { v.code } else { "" };
            let _ = writeln!(out, r#"<text x="{MARGIN}" y="{y}" fill="{color}" font-weight="bold">{code}</text>"#);
            let _ = writeln!(out, r#"<text x="{}" y="{y}" fill="black">{}</text>"#, MARGIN + 190, esc(line));
            y += VERDICT_H;
        }
    }
    out
}

/// Verdict summaries wrap (they sit under the ladder, not in a column).
fn verdict_lines(summary: &str) -> Vec<String> {
    let width = ((WIDTH - 2 * MARGIN - 190) as f64 / CHAR_W) as usize;
    let mut lines = vec![String::new()];
    for word in summary.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(shorten(word, width, "…"));
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn row_color(r: &Row) -> &'static str {
    match r.tone {
        Tone::Reset | Tone::Permanent => RED,
        Tone::Temporary => YELLOW,
        Tone::Masked => MAGENTA,
        Tone::Normal if r.dir == Direction::ClientToServer => CLIENT_COLOR,
        Tone::Normal => SERVER_COLOR,
    }
}

pub(super) fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Error => RED,
        Severity::Warning => YELLOW,
        Severity::Info => SERVER_COLOR,
    }
}

/// XML text: markup characters escaped, and the control characters XML 1.0 forbids dropped (bidi
/// controls too: they would reorder what the drawing shows).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
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
    fn text_is_valid_xml() {
        assert_eq!(esc("<a&b> \"x\" \u{1}"), "&lt;a&amp;b&gt; &quot;x&quot;  ");
        assert_eq!(esc("x\u{202e}y"), "x y");
    }

    #[test]
    fn summaries_wrap_at_words() {
        let lines = verdict_lines(&"word ".repeat(60));
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= 115));
    }
}
