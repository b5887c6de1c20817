//! The terminal ladder: two lifelines, one arrow per row, labels cut (never wrapped) so a row
//! stays on one line and no text crosses into the other column.

use super::rows::{Ladder, Note, Row, Tone};
use super::{Clock, label, time};
use crate::render::text::{paint, utc};
use crate::render::{shorten, wrap};
use crate::tcp::Direction;
use owo_colors::OwoColorize;
use std::fmt::Write;

#[derive(Clone, Copy, Debug)]
pub struct TextOptions {
    pub width: usize,
    pub ascii: bool,
    pub color: bool,
    pub clock: Clock,
    pub seq: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions { width: 100, ascii: false, color: false, clock: Clock::Rel, seq: false }
    }
}

/// Narrowest ladder drawn; below it the lane could not hold an arrow and a word.
pub const MIN_WIDTH: usize = 40;
/// The lane keeps at least this many columns; notes give way first.
const MIN_LANE: usize = 24;
/// A note column narrower than this could not even say which verdict it is.
const MIN_NOTE: usize = 12;

struct Glyphs {
    line: &'static str,
    dash: &'static str,
    right: &'static str,
    left: &'static str,
    cut: &'static str,
    note: &'static str,
    dot: &'static str,
}

const UNICODE: Glyphs =
    Glyphs { line: "│", dash: "─", right: "▶", left: "◀", cut: "…", note: "◀", dot: "·" };
const ASCII: Glyphs = Glyphs { line: "|", dash: "-", right: ">", left: "<", cut: "...", note: "<", dot: "." };

/// Column widths, fixed for the whole ladder so the lifelines stay straight.
struct Layout {
    number: usize,
    time: usize,
    seq: usize,
    ack: usize,
    len: usize,
    /// Columns before the client lifeline.
    prefix: usize,
    lane: usize,
    /// Columns after the server lifeline (0 without notes).
    notes: usize,
}

/// The whole ladder of one session as lines of text.
pub fn render(l: &Ladder, o: TextOptions) -> String {
    let g = if o.ascii { &ASCII } else { &UNICODE };
    let lay = layout(l, o);
    let mut out = String::new();
    let _ = writeln!(out, "{}", shorten(&clean(&title(l, g), o.ascii), o.width.max(MIN_WIDTH), g.cut));
    out.push_str(&heading(l, &lay, o, g));
    for r in &l.rows {
        out.push_str(&row(r, &lay, o, g));
    }
    out.push_str(&footer(l, &lay, o, g));
    out
}

fn title(l: &Ladder, g: &Glyphs) -> String {
    let h = &l.header;
    format!("session {} {dot} {} {dot} {} UTC", h.id, h.capture, utc(h.start), dot = g.dot)
}

fn layout(l: &Ladder, o: TextOptions) -> Layout {
    let width = o.width.max(MIN_WIDTH);
    let widest = |f: &dyn Fn(&Row) -> usize, min: usize| l.rows.iter().map(f).max().unwrap_or(0).max(min);
    let number = widest(&|r| r.packet.to_string().len(), 1);
    let time = widest(&|r| time(r, o.clock).len(), 4);
    let (seq, ack, len) = if o.seq {
        (
            widest(&|r| r.seq.to_string().len(), 3),
            widest(&|r| r.ack.to_string().len(), 3),
            widest(&|r| r.len.to_string().len(), 3),
        )
    } else {
        (0, 0, 0)
    };
    let seq_cols = if o.seq { seq + ack + len + 3 } else { 0 };
    let prefix = number + 1 + time + 1 + seq_cols;
    let room = width.saturating_sub(prefix + 2);
    let want = l.rows.iter().flat_map(|r| &r.notes).map(|n| note_text(n, true, &ASCII).chars().count() + 1).max();
    let notes = match want {
        Some(w) => w.min(room.saturating_sub(MIN_LANE)).min(width / 3 + 2),
        None => 0,
    };
    Layout { number, time, seq, ack, len, prefix, lane: room.saturating_sub(notes).max(8), notes }
}

/// "client 203.0.113.5:49152" over the left lifeline, "server 198.51.100.25:25" over the right.
fn heading(l: &Ladder, lay: &Layout, o: TextOptions, g: &Glyphs) -> String {
    let mut cols = format!("{:>n$} {:>t$} ", "#", time_heading(o.clock), n = lay.number, t = lay.time);
    if o.seq {
        cols.push_str(&format!("{:>s$} {:>a$} {:>l$} ", "seq", "ack", "len", s = lay.seq, a = lay.ack, l = lay.len));
    }
    let span = lay.lane + 2;
    let (client, server) = (format!("client {}", l.header.client), format!("server {}", l.header.server));
    // Both names whole when they fit, else each cut to half the span.
    let fit = client.chars().count() + server.chars().count() < span;
    let (client, server) =
        if fit { (client, server) } else { (shorten(&client, span / 2 - 1, g.cut), shorten(&server, span / 2, g.cut)) };
    let gap = span - client.chars().count() - server.chars().count();
    let (client, server) = (
        paint_dir(&client, Direction::ClientToServer, o.color),
        paint_dir(&server, Direction::ServerToClient, o.color),
    );
    let mut out = format!("{cols}{client}{}{server}\n", " ".repeat(gap));
    out.push_str(&format!("{}{}{}{}\n", " ".repeat(lay.prefix), g.line, " ".repeat(lay.lane), g.line));
    out
}

fn time_heading(clock: Clock) -> &'static str {
    match clock {
        Clock::Rel => "time",
        Clock::Abs => "UTC",
        Clock::Delta => "delta",
    }
}

fn row(r: &Row, lay: &Layout, o: TextOptions, g: &Glyphs) -> String {
    let mut out = format!("{:>n$} {:>t$} ", r.packet, time(r, o.clock), n = lay.number, t = lay.time);
    if o.seq {
        out.push_str(&format!("{:>s$} {:>a$} {:>l$} ", r.seq, r.ack, r.len, s = lay.seq, a = lay.ack, l = lay.len));
    }
    let arrow = arrow(&label(r), r.dir, lay.lane, o.ascii, g);
    out.push_str(g.line);
    out.push_str(&paint_row(&arrow, r, o.color));
    out.push_str(g.line);
    let mut notes = r.notes.iter();
    if lay.notes < MIN_NOTE {
        // Too narrow for a note column: the notes go under the row, from the client lifeline.
        out.push('\n');
        let room = o.width.max(MIN_WIDTH).saturating_sub(lay.prefix);
        for n in notes {
            let _ = writeln!(out, "{}{}", " ".repeat(lay.prefix), note(n, room, o.color, g));
        }
        return out;
    }
    if let Some(n) = notes.next() {
        out.push(' ');
        out.push_str(&note(n, lay.notes.saturating_sub(1), o.color, g));
    }
    out.push('\n');
    // Further verdicts at the same packet get lines of their own beside an empty lane.
    for n in notes {
        let blank = format!("{}{}{}{}", " ".repeat(lay.prefix), g.line, " ".repeat(lay.lane), g.line);
        let _ = writeln!(out, "{blank} {}", note(n, lay.notes.saturating_sub(1), o.color, g));
    }
    out
}

/// "─ SYN ─────▶" or "◀─ 220 esa… ─────", exactly `lane` columns.
fn arrow(text: &str, dir: Direction, lane: usize, ascii: bool, g: &Glyphs) -> String {
    let text = clean(text, ascii);
    // Head, a dash and a space before the label; a space and at least one dash after it.
    let room = lane.saturating_sub(5);
    let text = shorten(&text, room, g.cut);
    let fill = lane.saturating_sub(text.chars().count() + 4);
    match dir {
        Direction::ClientToServer => format!("{d} {text} {}{}", g.dash.repeat(fill), g.right, d = g.dash),
        Direction::ServerToClient => format!("{}{d} {text} {}", g.left, g.dash.repeat(fill), d = g.dash),
    }
}

/// "◀ RST after handshake — TCPREFUSE", or without the code when that does not fit.
fn note_text(n: &Note, with_code: bool, g: &Glyphs) -> String {
    let dash = if g.dash == "-" { "-" } else { "—" };
    if with_code { format!("{} {} {dash} {}", g.note, n.text, n.code) } else { format!("{} {}", g.note, n.text) }
}

fn note(n: &Note, width: usize, color: bool, g: &Glyphs) -> String {
    let full = clean(&note_text(n, true, g), false);
    let text = if full.chars().count() <= width {
        full
    } else {
        shorten(&clean(&note_text(n, false, g), false), width, g.cut)
    };
    paint(&text, n.severity, color)
}

fn footer(l: &Ladder, lay: &Layout, o: TextOptions, g: &Glyphs) -> String {
    let width = o.width.max(MIN_WIDTH);
    let mut out = format!("{}{}{}{}\n", " ".repeat(lay.prefix), g.line, " ".repeat(lay.lane), g.line);
    if l.folded > 0 {
        let acks = if l.folded == 1 { "pure ACK" } else { "pure ACKs" };
        let line = format!("({} {acks} without news folded; --all-packets shows them)", l.folded);
        let _ = writeln!(out, "{}", shorten(&line, width, g.cut));
    }
    if l.events_dropped > 0 {
        let _ = writeln!(out, "({} later packets not kept; raise --max-events)", l.events_dropped);
    }
    for v in &l.verdict_notes {
        let code = paint(&format!("{:<22}", v.code), v.severity, o.color);
        let packets = if v.packets.is_empty() {
            String::new()
        } else {
            format!(" (packets {})", crate::render::text::packet_list(&v.packets))
        };
        let text = clean(&format!("{}{packets}", v.summary), o.ascii);
        for (i, line) in wrap(&text, width.saturating_sub(25).max(20)).iter().enumerate() {
            let lead = if i == 0 { code.clone() } else { " ".repeat(22) };
            let _ = writeln!(out, "  {lead} {line}");
        }
    }
    out
}

fn paint_dir(text: &str, dir: Direction, color: bool) -> String {
    match (color, dir) {
        (false, _) => text.to_string(),
        (true, Direction::ClientToServer) => text.cyan().to_string(),
        (true, Direction::ServerToClient) => text.blue().to_string(),
    }
}

/// One hue per direction; red for resets and 5xx, yellow for 4xx, magenta for masked bytes.
fn paint_row(text: &str, r: &Row, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    match r.tone {
        Tone::Reset | Tone::Permanent => text.red().bold().to_string(),
        Tone::Temporary => text.yellow().to_string(),
        Tone::Masked => text.magenta().to_string(),
        Tone::Normal => paint_dir(text, r.dir, true),
    }
}

/// Payload text comes off the wire: control characters would move the cursor, and a plain
/// terminal may not show non-ASCII.
fn clean(text: &str, ascii: bool) -> String {
    text.chars()
        .map(|c| match c {
            c if crate::render::sanitize::is_unsafe(c) => '.',
            c if ascii && !c.is_ascii() => '?',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_fill_the_lane_exactly() {
        let right = arrow("SYN", Direction::ClientToServer, 20, false, &UNICODE);
        assert_eq!(right, "─ SYN ─────────────▶");
        assert_eq!(right.chars().count(), 20);
        let left = arrow("a very long label that cannot fit", Direction::ServerToClient, 20, true, &ASCII);
        assert_eq!(left, "<- a very long... --");
    }

    #[test]
    fn cutting_keeps_the_width() {
        assert_eq!(shorten("abcdef", 4, UNICODE.cut), "abc…");
        assert_eq!(shorten("abc", 4, UNICODE.cut), "abc");
        assert_eq!(shorten("ab cdef", 5, ASCII.cut), "ab...");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\x1b[31mb", false), "a.[31mb");
        assert_eq!(clean("é", true), "?");
        assert_eq!(clean("a\u{202e}b", false), "a.b");
    }
}
