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

/// Renders sessions the way a `Printer` without ladders does, also in a worker thread
/// (`read --threads`) before their number is known: there it renders what follows the number,
/// and the printer writes the number in front. Ladders stay with the printer.
#[derive(Clone, Copy)]
pub struct Renderer {
    pub(super) json: bool,
    pub(super) style: TextStyle,
    /// NDJSON records carry the dialogue's transcript and packet evidence (`--events`).
    pub(super) events: bool,
    /// Columns verdict lines wrap to (None: no wrapping).
    pub(super) width: Option<usize>,
    /// The totals will be shown: each session is counted in them.
    pub(super) tally: bool,
}

/// A session rendered without its number: everything after it.
pub struct Rendered {
    body: String,
    /// The body continues an NDJSON record (else a text block).
    json: bool,
    /// What the totals count of the session (None when no totals are shown).
    pub(super) entry: Option<Box<Entry>>,
}

impl Renderer {
    /// The session's NDJSON line or text block, written into `buf` (a reused buffer).
    pub(super) fn text(&self, buf: String, s: &Session, verdicts: &[Verdict], log: Option<&LogNote>) -> String {
        let mut out = buf;
        out.clear();
        if self.json {
            // The whole record's room before its head: a session finalized while an earlier one
            // waits for its failover window gets a fresh buffer, which would otherwise be
            // allocated for the head and moved for the body.
            out.reserve(json::HEAD_ROOM + json::RECORD_ROOM);
        }
        write_id(&mut out, self.json, s.index);
        self.body(out, s, verdicts, log)
    }

    /// Appends what follows the session's number to `out`.
    fn body(&self, mut out: String, s: &Session, verdicts: &[Verdict], log: Option<&LogNote>) -> String {
        if !self.json {
            text::write_session_rest(&mut out, s, verdicts, self.style, self.width);
            if let Some(n) = log {
                out.push_str(&render::maillog::note(n, self.style));
            }
            return out;
        }
        let detail = json::JsonDetail { events: self.events, explain: self.style.explain };
        json::write_session_body(&mut out, s, verdicts, log, detail);
        out.push('\n');
        out
    }

    /// The session without its number (`s.index` is not used), for the printer to number;
    /// `capacity`: what its text is expected to take (grown from nothing, a record of a few
    /// kilobytes was reallocated ten times).
    pub fn render(&self, s: &Session, verdicts: &[Verdict], capacity: usize) -> Rendered {
        let body = self.body(String::with_capacity(capacity), s, verdicts, None);
        let entry = self.tally.then(|| Box::new(Entry::of(s, verdicts)));
        Rendered { body, json: self.json, entry }
    }
}

/// How a session's output begins: its NDJSON record's head, or "#" and the number in text.
fn write_id(out: &mut String, json: bool, index: u64) {
    if json {
        json::Head(index).write(out);
    } else {
        // Writing into a String cannot fail.
        let _ = write!(out, "{}", text::Id(index));
    }
}

impl Rendered {
    /// Bytes of its text (without the number).
    pub(super) fn len(&self) -> usize {
        self.body.len()
    }

    /// The session numbered `index`.
    pub(super) fn numbered(self, index: u64) -> Numbered {
        Numbered { index, json: self.json, body: self.body }
    }
}

/// A session rendered in a shard thread, with its number: written as its head, then the body
/// the shard rendered, not first copied behind the head into one buffer (a record is kilobytes).
pub struct Numbered {
    index: u64,
    json: bool,
    body: String,
}

impl Numbered {
    /// Writes how the session's output begins into `head` (a reused buffer); `body` follows.
    pub(super) fn head(&self, head: &mut String) {
        head.clear();
        write_id(head, self.json, self.index);
    }

    pub(super) fn body(&self) -> &str {
        &self.body
    }

    /// Heap bytes it holds.
    pub(super) fn capacity(&self) -> usize {
        self.body.capacity()
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
