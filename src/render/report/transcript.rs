//! The SMTP dialogue of a session as lines to read, with the bytes a middlebox masked or
//! rewrote marked: whole lines from packets the ladder calls masked, and within them the runs of
//! `*` or `X` an ESMTP inspection writes over what it hides.

use crate::render::ladder::Ladder;
use crate::render::ladder::rows::Tone;
use crate::session::Session;
use crate::smtp::event::Event;
use crate::tcp::Direction;
use std::collections::BTreeSet;

/// Lines shown per session; a long dialogue (a hundred RCPTs) is cut, saying how much.
pub const MAX_LINES: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    Client,
    Server,
    /// What smtpdiag noticed (gaps, anomalies, TLS, the message body), not bytes on the wire.
    Note,
}

/// One transcript line: text pieces, each marked or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub packet: u64,
    pub speaker: Speaker,
    /// The line came in a packet whose bytes a middlebox masked or rewrote.
    pub masked: bool,
    pub pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    pub marked: bool,
}

/// Packets the ladder shows as masked or rewritten.
pub fn masked_packets(l: &Ladder) -> BTreeSet<u64> {
    l.rows
        .iter()
        .filter(|r| r.marks.iter().any(|m| m == "masked") || r.items.iter().any(|i| i.tone == Tone::Masked))
        .map(|r| r.packet)
        .collect()
}

/// The dialogue's lines (at most [`MAX_LINES`]) and how many more there were.
pub fn lines(s: &Session, masked: &BTreeSet<u64>) -> (Vec<Line>, usize) {
    let mut out = Vec::new();
    let mut total = 0usize;
    for e in &s.smtp.events {
        for (packet, speaker, last_packet, text) in event_lines(e) {
            total += 1;
            if out.len() < MAX_LINES {
                let is_masked = speaker != Speaker::Note && masked.range(packet..=last_packet).next().is_some();
                let pieces = if is_masked { mark_masks(&text) } else { vec![Piece { text, marked: false }] };
                out.push(Line { packet, speaker, masked: is_masked, pieces });
            }
        }
    }
    if s.smtp.events_dropped > 0 {
        out.push(note(
            s.conn.last.number,
            format!("… {} more SMTP events not kept (--max-events)", s.smtp.events_dropped),
        ));
    }
    let cut = total.saturating_sub(MAX_LINES);
    (out, cut)
}

fn note(packet: u64, text: String) -> Line {
    Line { packet, speaker: Speaker::Note, masked: false, pieces: vec![Piece { text, marked: false }] }
}

fn speaker(d: Direction) -> Speaker {
    match d {
        Direction::ClientToServer => Speaker::Client,
        Direction::ServerToClient => Speaker::Server,
    }
}

/// (first packet, speaker, last packet, text) of each line an event stands for.
fn event_lines(e: &Event) -> Vec<(u64, Speaker, u64, String)> {
    match e {
        Event::Command { verb, arg, first_packet, last_packet, .. } => {
            let text = match arg {
                Some(a) => format!("{verb} {a}"),
                None => verb.to_string(),
            };
            vec![(first_packet.number, Speaker::Client, last_packet.number, text)]
        }
        Event::AuthData { len, first_packet, last_packet, .. } => vec![(
            first_packet.number,
            Speaker::Client,
            last_packet.number,
            format!("(SASL response, {len} bytes, not kept)"),
        )],
        Event::Reply { code, lines, line_count, first_packet, last_packet, .. } => {
            let (n, line_count) = (lines.len(), *line_count as usize);
            let mut out: Vec<_> = lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let sep = if i + 1 < n || line_count > n { '-' } else { ' ' };
                    (first_packet.number, Speaker::Server, last_packet.number, format!("{code}{sep}{l}"))
                })
                .collect();
            if line_count > n {
                let more = format!("(… {} more lines of this reply not kept)", line_count - n);
                out.push((last_packet.number, Speaker::Note, last_packet.number, more));
            }
            out
        }
        Event::Body { bytes, lines, terminated, first_packet, last_packet, .. } => {
            let first = first_packet.map_or(0, |p| p.number);
            let last = last_packet.map_or(first, |p| p.number);
            let end = if *terminated { "ended by \".\"" } else { "not ended" };
            vec![(first, Speaker::Note, last, format!("(message: {bytes} bytes, {lines} lines, {end})"))]
        }
        Event::BdatChunk { size, last, seen, first_packet, .. } => {
            let last_word = if *last { " LAST" } else { "" };
            let n = first_packet.number;
            vec![(n, Speaker::Note, n, format!("(BDAT {size}{last_word}: {seen} bytes seen)"))]
        }
        Event::Tls { from, record, detail, packet, .. } => {
            let who = if speaker(*from) == Speaker::Client { "client" } else { "server" };
            let n = packet.number;
            let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
            vec![(n, Speaker::Note, n, format!("(TLS {record} from the {who}{detail})"))]
        }
        Event::Gap { bytes, packet, .. } => {
            let n = packet.number;
            vec![(n, Speaker::Note, n, format!("({bytes} bytes missing from the capture)"))]
        }
        Event::Anomaly { detail, packet, .. } => {
            let n = packet.number;
            vec![(n, Speaker::Note, n, format!("(! {detail})"))]
        }
    }
}

/// Runs of `*`, and of three or more `X`, are what an inspection wrote over the original.
fn mark_masks(text: &str) -> Vec<Piece> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<Piece> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let marked = c == '*' || (c == 'X' && run >= 3);
        let text: String = chars[i..i + run].iter().collect();
        match out.last_mut() {
            Some(p) if p.marked == marked => p.text.push_str(&text),
            _ => out.push(Piece { text, marked }),
        }
        i += run;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{self, DiagnoseConfig};
    use crate::render::ladder::{self, Options};
    use crate::synth::SessionBuilder;

    #[test]
    fn masks_are_marked_inside_the_line() {
        let pieces = mark_masks("220 ***2**0 XXXXXXXA AXE");
        let marked: Vec<&str> = pieces.iter().filter(|p| p.marked).map(|p| p.text.as_str()).collect();
        assert_eq!(marked, ["***", "**", "XXXXXXX"]);
        let all: String = pieces.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(all, "220 ***2**0 XXXXXXXA AXE");
    }

    #[test]
    fn a_masked_banner_is_highlighted_and_the_rest_is_not() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 ****2**0***\r\n").client("EHLO a\r\n").server("250 ok\r\n");
        b.client("QUIT\r\n").server("221 bye\r\n").close();
        let s = b.analyze().remove(0);
        let verdicts = diagnose::diagnose(&s, &DiagnoseConfig::default());
        assert!(verdicts.iter().any(|v| v.code == diagnose::VerdictCode::MaskedBanner), "{verdicts:?}");
        let l = ladder::build(&s, &verdicts, Options::default());
        let (lines, cut) = lines(&s, &masked_packets(&l));
        assert_eq!(cut, 0);
        let texts: Vec<String> = lines.iter().map(|l| l.pieces.iter().map(|p| p.text.as_str()).collect()).collect();
        assert_eq!(texts, ["220 ****2**0***", "EHLO a", "250 ok", "QUIT", "221 bye"]);
        assert!(lines[0].masked && lines[0].pieces.iter().any(|p| p.marked));
        assert!(lines[1..].iter().all(|l| !l.masked));
        assert_eq!(lines[0].speaker, Speaker::Server);
        assert_eq!(lines[1].speaker, Speaker::Client);
    }
}
