//! What turns a diagnosed session into output text outside any one command: the [`Renderer`]
//! that `read --threads` runs in its shard threads, and the terminal ladder `read --ladder` and
//! `ladder` share. Commands use these; these use no command.

use super::output::terminal_width;
use smtpdiag::cli::{LadderStyle, TimeMode};
use smtpdiag::diagnose::Verdict;
use smtpdiag::maillog::LogNote;
use smtpdiag::render::ladder::text::TextOptions;
use smtpdiag::render::ladder::{self, Clock, Options};
use smtpdiag::render::summary::Entry;
use smtpdiag::render::text::{self, TextStyle};
use smtpdiag::render::{self, json};
use smtpdiag::session::Session;
use std::fmt::Write as _;

/// Renders sessions the way a `Printer` without ladders does, in a worker thread
/// (`read --threads`), before their number is known: it is written as 0 and patched in by the
/// printer. Ladders stay with the printer.
#[derive(Clone, Copy)]
pub struct Renderer {
    pub(super) json: bool,
    pub(super) style: TextStyle,
    /// NDJSON records carry the dialogue's transcript and packet evidence (`--events`).
    pub(super) events: bool,
    /// Columns verdict lines wrap to (None: no wrapping).
    pub(super) width: Option<usize>,
}

/// A session's text with the place of its number.
pub struct Rendered {
    text: String,
    /// The number's placeholder (`0`, padded to `id_width` in text) starts here.
    id_at: usize,
    id_width: usize,
    /// What the totals count of the session.
    pub(super) entry: Box<Entry>,
}

/// How an NDJSON record begins, up to its id (`render::json` writes the fields in this order).
const JSON_ID_PREFIX: &str = json::ID_PREFIX;
/// A text block begins with "#" and the number padded to four columns.
const TEXT_ID_WIDTH: usize = 4;

impl Renderer {
    /// The session's NDJSON line or text block, written into `buf` (a reused buffer).
    pub(super) fn text(&self, buf: String, s: &Session, verdicts: &[Verdict], log: Option<&LogNote>) -> String {
        if !self.json {
            let mut text = text::session_wrapped(s, verdicts, self.style, self.width);
            if let Some(n) = log {
                text.push_str(&render::maillog::note(n, self.style));
            }
            return text;
        }
        let mut line = buf.into_bytes();
        line.clear();
        let detail = json::JsonDetail { events: self.events, explain: self.style.explain };
        json::write_session_line(&mut line, s, verdicts, log, detail);
        line.push(b'\n');
        // serde_json writes UTF-8 only; the check costs a pass over a few kilobytes.
        String::from_utf8(line).unwrap_or_default()
    }

    /// `s` has number 0 (not known yet). None when the number's place is not where it is
    /// expected: then the session goes to the printer whole.
    pub fn render(&self, s: &Session, verdicts: &[Verdict]) -> Option<Rendered> {
        if s.index != 0 {
            return None;
        }
        let text = self.text(String::new(), s, verdicts, None);
        let (prefix, id_width) = if self.json { (JSON_ID_PREFIX, 0) } else { ("#", TEXT_ID_WIDTH) };
        let id_at = prefix.len();
        let placeholder = format!("{:<id_width$}", 0);
        let in_place = text.starts_with(prefix) && text[id_at..].starts_with(&placeholder);
        in_place.then_some(Rendered { text, id_at, id_width, entry: Box::new(Entry::of(s, verdicts)) })
    }
}

impl Rendered {
    /// The text with its number written in, into `out` (a reused buffer).
    pub(super) fn into_text(self, index: u64, mut out: String) -> String {
        let width = self.id_width;
        let after = self.id_at + width.max(1);
        out.clear();
        out.push_str(&self.text[..self.id_at]);
        let _ = write!(out, "{index:<width$}");
        out.push_str(&self.text[after..]);
        out
    }
}

/// The terminal ladder with the user's style, shared with `read --ladder`.
pub struct TextLadder {
    pub opts: Options,
    pub text: TextOptions,
}

impl TextLadder {
    pub fn new(style: &LadderStyle, color: bool) -> TextLadder {
        TextLadder {
            opts: Options { all_packets: style.all_packets },
            text: TextOptions {
                width: style.width.unwrap_or_else(terminal_width).max(ladder::text::MIN_WIDTH),
                ascii: style.ascii,
                color,
                clock: clock(style.time),
                seq: style.seq,
            },
        }
    }

    pub fn render(&self, s: &Session, verdicts: &[Verdict]) -> String {
        ladder::text::render(&ladder::build(s, verdicts, self.opts), self.text)
    }
}

fn clock(t: TimeMode) -> Clock {
    match t {
        TimeMode::Rel => Clock::Rel,
        TimeMode::Abs => Clock::Abs,
        TimeMode::Delta => Clock::Delta,
    }
}
