//! The three-column ladder of `smtpdiag diff`: client | device | server. A packet seen on both
//! sides crosses both lanes; a dropped one stops at the device (✕); one the device forged
//! starts at the device; rewritten bytes are highlighted. Text, Mermaid and SVG draw the same
//! [`ThreeLadder`].

use super::mermaid::escape;
use super::svg::{
    CHAR_W, CLIENT_COLOR, FONT, GREY, HEAD_H, MAGENTA, MARGIN, RED, ROW_H, SERVER_COLOR, VERDICT_H, esc, severity_color,
};
use crate::diff::ladder::{Crossing, Row, ThreeLadder};
use crate::render::shorten;
use crate::render::text::{paint, utc};
use crate::tcp::Direction;
use owo_colors::OwoColorize;
use std::fmt::Write;

#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub width: usize,
    pub ascii: bool,
    pub color: bool,
}

struct Glyphs {
    line: &'static str,
    dash: &'static str,
    right: &'static str,
    left: &'static str,
    cross: &'static str,
    cut: &'static str,
    changed: &'static str,
}

const UNICODE: Glyphs =
    Glyphs { line: "│", dash: "─", right: "▶", left: "◀", cross: "✕", cut: "…", changed: "≠" };
const ASCII: Glyphs = Glyphs { line: "|", dash: "-", right: ">", left: "<", cross: "x", cut: "...", changed: "#" };

/// Narrowest drawing: two lanes that still hold an arrow and a word each.
pub const MIN_WIDTH: usize = 60;
/// Widest note column beside the lanes.
const MAX_NOTES: usize = 34;

pub fn text(l: &ThreeLadder, s: Style) -> String {
    let g = if s.ascii { &ASCII } else { &UNICODE };
    let width = s.width.max(MIN_WIDTH);
    let num = l
        .rows
        .iter()
        .flat_map(|r| [r.client_packet, r.server_packet])
        .flatten()
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let time_w = l.rows.iter().map(|r| format!("{:.6}", r.rel).len()).max().unwrap_or(8).max(8);
    let prefix = num * 2 + time_w + 3;
    let longest_note = l.rows.iter().flat_map(|r| &r.notes).map(|n| n.text.chars().count() + 3).max();
    let notes = longest_note.map_or(0, |n| n.min(MAX_NOTES).min(width / 4));
    let lane = (width.saturating_sub(prefix + 3 + notes) / 2).max(12);
    let mut out = String::new();
    let title = format!(
        "pair {} · client side {} ({}) · server side {} · {} UTC",
        l.pair,
        l.client_capture,
        l.client_side.name(),
        l.server_capture,
        utc(l.start)
    );
    let _ = writeln!(out, "{}", clean(&shorten(&title, width, g.cut), s.ascii));
    let cname = format!("{:>num$}", l.client_side.name().get(..3).unwrap_or("out"));
    let sname = format!("{:>num$}", l.client_side.other().name().get(..3).unwrap_or("in"));
    let heads = [format!("client {}", l.client), "device".to_string(), format!("server {}", l.server)];
    let mut head = format!("{cname} {sname} {:>time_w$} ", "time");
    head.push_str(&shorten(&heads[0], lane, g.cut));
    let used = head.chars().count();
    let device_at = prefix + lane + 1;
    head.push_str(&" ".repeat(device_at.saturating_sub(used + 3)));
    head.push_str(&heads[1]);
    let used = head.chars().count();
    let server_at = prefix + 2 * lane + 2;
    let sh = shorten(&heads[2], lane + notes, g.cut);
    head.push_str(&" ".repeat((server_at.saturating_sub(sh.chars().count() / 2)).saturating_sub(used).max(1)));
    head.push_str(&sh);
    let _ = writeln!(out, "{}", head.trim_end());
    let blank = format!("{}{}{}{}{}{}", " ".repeat(prefix), g.line, " ".repeat(lane), g.line, " ".repeat(lane), g.line);
    let _ = writeln!(out, "{blank}");
    for r in &l.rows {
        let n = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
        let mut line =
            format!("{:>num$} {:>num$} {:>time_w$} ", n(r.client_packet), n(r.server_packet), format!("{:.6}", r.rel));
        let (left, right) = lanes(r, lane, g, s.ascii);
        line.push_str(g.line);
        line.push_str(&paint_lane(&left, r, s.color));
        // The device's lifeline marks the rows whose bytes it changed, in color or not.
        line.push_str(if r.crossing == Crossing::Rewritten { g.changed } else { g.line });
        line.push_str(&paint_lane(&right, r, s.color));
        line.push_str(g.line);
        if let Some(note) = r.notes.first() {
            line.push(' ');
            line.push_str(&paint(
                &clean(&shorten(&format!("{} {}", g.left, note.text), notes.max(12), g.cut), s.ascii),
                note.severity,
                s.color,
            ));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out, "{blank}");
    if l.folded > 0 {
        let _ = writeln!(out, "({} pure ACKs seen on both sides folded; --all-packets shows them)", l.folded);
    }
    for v in &l.verdicts {
        let code = paint(&format!("{:<18}", v.code), v.severity, s.color);
        for (k, text) in
            crate::render::wrap(&clean(&v.summary, s.ascii), width.saturating_sub(22).max(30)).iter().enumerate()
        {
            let lead = if k == 0 { code.clone() } else { " ".repeat(18) };
            let _ = writeln!(out, "  {lead} {text}");
        }
    }
    out
}

/// The two lanes of a row, each exactly `lane` columns.
fn lanes(r: &Row, lane: usize, g: &Glyphs, ascii: bool) -> (String, String) {
    let blank = " ".repeat(lane);
    let c2s = r.dir == Direction::ClientToServer;
    let arrow = |label: &Option<String>, stop: bool| arrow(label.as_deref().unwrap_or(""), c2s, stop, lane, g, ascii);
    match r.crossing {
        Crossing::Passed | Crossing::Rewritten => (arrow(&r.client_label, false), arrow(&r.server_label, false)),
        // Dropped at the device: the sender's lane ends in a cross.
        Crossing::Dropped if c2s => (arrow(&r.client_label, true), blank),
        Crossing::Dropped => (blank, arrow(&r.server_label, true)),
        // Forged by the device: only the lane from the device to the receiver.
        Crossing::Injected if c2s => (blank, arrow(&r.server_label, false)),
        Crossing::Injected => (arrow(&r.client_label, false), blank),
    }
}

fn arrow(text: &str, rightwards: bool, stop: bool, lane: usize, g: &Glyphs, ascii: bool) -> String {
    let text = shorten(&clean(text, ascii), lane.saturating_sub(5), g.cut);
    let fill = lane.saturating_sub(text.chars().count() + 4);
    match (rightwards, stop) {
        (true, false) => format!("{d} {text} {}{}", g.dash.repeat(fill), g.right, d = g.dash),
        (true, true) => format!("{d} {text} {}{}", g.dash.repeat(fill), g.cross, d = g.dash),
        (false, false) => format!("{}{d} {text} {}", g.left, g.dash.repeat(fill), d = g.dash),
        (false, true) => format!("{}{d} {text} {}", g.cross, g.dash.repeat(fill), d = g.dash),
    }
}

fn paint_lane(text: &str, r: &Row, color: bool) -> String {
    if !color || text.trim().is_empty() {
        return text.to_string();
    }
    match r.crossing {
        Crossing::Dropped | Crossing::Injected => text.red().bold().to_string(),
        Crossing::Rewritten => text.magenta().to_string(),
        Crossing::Passed if r.dir == Direction::ClientToServer => text.cyan().to_string(),
        Crossing::Passed => text.blue().to_string(),
    }
}

/// Payload text comes off the wire: no control characters on a terminal.
fn clean(text: &str, ascii: bool) -> String {
    text.chars()
        .map(|c| match c {
            c if crate::render::sanitize::is_unsafe(c) => '.',
            c if ascii && !c.is_ascii() => '?',
            c => c,
        })
        .collect()
}

/// Longest Mermaid message label.
const MERMAID_LABEL: usize = 80;

pub fn mermaid(l: &ThreeLadder) -> String {
    let mut out = String::from("sequenceDiagram\n");
    let _ = writeln!(out, "    %% smtpdiag diff: pair {}", l.pair);
    let _ = writeln!(out, "    participant C as client {}", escape(&l.client));
    let _ = writeln!(out, "    participant D as device {}", escape(&l.device));
    let _ = writeln!(out, "    participant S as server {}", escape(&l.server));
    for r in &l.rows {
        let n = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
        let msg = |label: &Option<String>, number: Option<u64>| {
            escape(&shorten(&format!("{} {}", n(number), label.as_deref().unwrap_or("")), MERMAID_LABEL, "…"))
        };
        let (cl, sl) = (msg(&r.client_label, r.client_packet), msg(&r.server_label, r.server_packet));
        let c2s = r.dir == Direction::ClientToServer;
        match (r.crossing, c2s) {
            (Crossing::Passed | Crossing::Rewritten, true) => {
                let _ = writeln!(out, "    C->>D: {cl}\n    D->>S: {sl}");
            }
            (Crossing::Passed | Crossing::Rewritten, false) => {
                let _ = writeln!(out, "    S->>D: {sl}\n    D->>C: {cl}");
            }
            (Crossing::Dropped, true) => {
                let _ = writeln!(out, "    C-xD: {cl} (dropped)");
            }
            (Crossing::Dropped, false) => {
                let _ = writeln!(out, "    S-xD: {sl} (dropped)");
            }
            (Crossing::Injected, true) => {
                let _ = writeln!(out, "    D-xS: {sl} (forged)");
            }
            (Crossing::Injected, false) => {
                let _ = writeln!(out, "    D-xC: {cl} (forged)");
            }
        }
        for note in &r.notes {
            let _ = writeln!(out, "    Note over D: {}", escape(&format!("{} — {}", note.text, note.code)));
        }
    }
    for v in &l.verdicts {
        let _ =
            writeln!(out, "    Note over C,S: {}", escape(&shorten(&format!("{}: {}", v.code, v.summary), 200, "…")));
    }
    out
}

// Sizes, font and colours as in the two-column SVG ladder; only the width and lanes differ.
const WIDTH: u32 = 1240;
const CLIENT_X: u32 = 230;
const DEVICE_X: u32 = 600;
const SERVER_X: u32 = 970;

pub fn svg(l: &ThreeLadder) -> String {
    let verdict_lines: Vec<(usize, String)> = l
        .verdicts
        .iter()
        .enumerate()
        .flat_map(|(k, v)| crate::render::wrap(&v.summary, 130).into_iter().map(move |t| (k, t)))
        .collect();
    let height = HEAD_H + l.rows.len() as u32 * ROW_H + 30 + verdict_lines.len() as u32 * VERDICT_H + MARGIN;
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = format!(
        "pair {} · client side {} ({}) · server side {} · {} UTC",
        l.pair,
        l.client_capture,
        l.client_side.name(),
        l.server_capture,
        utc(l.start)
    );
    // 14px bold is about 8.4px a character: the title is cut to the picture's width.
    let title = shorten(&title, ((WIDTH - 2 * MARGIN) as f64 / 8.4) as usize, "…");
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        MARGIN + 10,
        esc(&title)
    );
    for (x, text, color) in [
        (CLIENT_X, format!("client {}", l.client), CLIENT_COLOR),
        (DEVICE_X, format!("device {}", l.device), GREY),
        (SERVER_X, format!("server {}", l.server), SERVER_COLOR),
    ] {
        let w = (text.chars().count() as f64 * CHAR_W + 20.0).round() as u32;
        let _ = writeln!(
            out,
            r#"<rect x="{}" y="{}" width="{w}" height="26" rx="4" fill="white" stroke="{color}" stroke-width="1.5"/>"#,
            x.saturating_sub(w / 2),
            MARGIN + 26
        );
        let _ = writeln!(
            out,
            r#"<text x="{x}" y="{}" text-anchor="middle" fill="{color}" font-weight="bold">{}</text>"#,
            MARGIN + 43,
            esc(&text)
        );
    }
    let top = HEAD_H - 20;
    let bottom = HEAD_H + l.rows.len() as u32 * ROW_H;
    for x in [CLIENT_X, DEVICE_X, SERVER_X] {
        let _ =
            writeln!(out, r#"<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="{GREY}" stroke-width="1.5"/>"#);
    }
    let _ = writeln!(
        out,
        r##"<text x="{MARGIN}" y="{}" fill="{GREY}" xml:space="preserve">{:>5} {:>5} time (s)</text>"##,
        top + 4,
        &l.client_side.name()[..3],
        &l.client_side.other().name()[..3]
    );
    for (k, r) in l.rows.iter().enumerate() {
        svg_row(&mut out, r, HEAD_H + k as u32 * ROW_H);
    }
    let mut y = bottom + 30;
    let mut last = usize::MAX;
    for (k, text) in verdict_lines {
        let v = &l.verdicts[k];
        let color = severity_color(v.severity);
        let code = if k != last { v.code } else { "" };
        last = k;
        let _ = writeln!(out, r#"<text x="{MARGIN}" y="{y}" fill="{color}" font-weight="bold">{code}</text>"#);
        let _ = writeln!(out, r#"<text x="{}" y="{y}">{}</text>"#, MARGIN + 160, esc(&text));
        y += VERDICT_H;
    }
    out.push_str("</svg>\n");
    out
}

fn svg_row(out: &mut String, r: &Row, y: u32) {
    let line_y = y + 8;
    let n = |x: Option<u64>| x.map_or("-".to_string(), |v| v.to_string());
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="{}" fill="{GREY}" xml:space="preserve">{:>5} {:>5} {:.6}</text>"#,
        line_y + 4,
        n(r.client_packet),
        n(r.server_packet),
        r.rel
    );
    let c2s = r.dir == Direction::ClientToServer;
    let color = match r.crossing {
        Crossing::Dropped | Crossing::Injected => RED,
        Crossing::Rewritten => MAGENTA,
        Crossing::Passed if c2s => CLIENT_COLOR,
        Crossing::Passed => SERVER_COLOR,
    };
    let left = (CLIENT_X, DEVICE_X, r.client_label.as_deref());
    let right = (DEVICE_X, SERVER_X, r.server_label.as_deref());
    let (draw_left, draw_right) = match r.crossing {
        Crossing::Passed | Crossing::Rewritten => (true, true),
        Crossing::Dropped | Crossing::Injected => (r.client_label.is_some(), r.server_label.is_some()),
    };
    for (draw, (a, b, label)) in [(draw_left, left), (draw_right, right)] {
        if !draw {
            continue;
        }
        let (from, to) = if c2s { (a, b) } else { (b, a) };
        let tip = if from < to { to - 2 } else { to + 2 };
        let _ = writeln!(
            out,
            r#"<line x1="{from}" y1="{line_y}" x2="{tip}" y2="{line_y}" stroke="{color}" stroke-width="1.6"/>"#
        );
        let dropped = r.crossing == Crossing::Dropped;
        if dropped {
            let _ = writeln!(
                out,
                r#"<path d="M{} {} l10 10 M{} {} l-10 10" stroke="{RED}" stroke-width="2"/>"#,
                tip - 5,
                line_y - 5,
                tip + 5,
                line_y - 5
            );
        } else {
            let back = if from < to { tip as i64 - 9 } else { tip as i64 + 9 };
            let _ = writeln!(
                out,
                r#"<polygon points="{tip},{line_y} {back},{} {back},{}" fill="{color}"/>"#,
                line_y - 4,
                line_y + 4
            );
        }
        let chars = ((b - a - 24) as f64 / CHAR_W) as usize;
        let text = shorten(label.unwrap_or(""), chars, "…");
        let _ = writeln!(out, r#"<text x="{}" y="{}" fill="{color}">{}</text>"#, a + 12, line_y - 4, esc(&text));
    }
    for (k, note) in r.notes.iter().enumerate() {
        let chars = ((WIDTH - SERVER_X - MARGIN - 12) as f64 / CHAR_W) as usize;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" fill="{}" font-weight="bold">{}</text>"#,
            SERVER_X + 10,
            line_y + 4 + k as u32 * 14,
            severity_color(note.severity),
            esc(&shorten(&format!("◀ {}", note.text), chars, "…"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_fill_their_lane() {
        let a = arrow("SYN", true, false, 20, &UNICODE, false);
        assert_eq!(a, "─ SYN ─────────────▶");
        let d = arrow("RCPT TO:<x>", true, true, 20, &ASCII, true);
        assert_eq!(d.chars().count(), 20);
        assert!(d.ends_with('x'));
        let l = arrow("RST/ACK", false, false, 20, &UNICODE, false);
        assert!(l.starts_with('◀') && l.chars().count() == 20);
    }
}
