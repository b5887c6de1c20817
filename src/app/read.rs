//! `smtpdiag read FILE…`: every session of every capture, as text or NDJSON, then totals; with
//! `--ladder`, each session's ladder under its line.

use super::ladder::TextLadder;
use super::output::{Interrupt, Out, stdout_color};
use super::pipeline::{self, SessionSink};
use anyhow::Result;
use smtpdiag::cli::{LadderStyle, ReadArgs};
use smtpdiag::diagnose::Verdict;
use smtpdiag::maillog::{LogIndex, LogNote};
use smtpdiag::render::summary::Entry;
use smtpdiag::render::text::{self, TextStyle, Totals};
use smtpdiag::render::{self, json};
use smtpdiag::select::Selector;
use smtpdiag::session::{DecodeStats, Session};
use smtpdiag::tcp::flow::TableStats;
use std::fmt::Write as _;
use std::ops::ControlFlow;

pub fn run(args: ReadArgs) -> Result<i32> {
    let interrupt = Interrupt::install();
    let style = TextStyle { color: stdout_color(), explain: args.explain };
    let ladder = args.ladder.then_some(&args.ladder_style);
    // NDJSON from a stream (stdin, a FIFO) goes out line by line: a consumer waits on each
    // session as it ends. From files, 64 kB at a time: a write per session was 1–2 % of a
    // two-thread read, all of it on the thread that merges.
    let streams = args.files.iter().any(|f| f.as_os_str() == "-" || !std::fs::metadata(f).is_ok_and(|m| m.is_file()));
    let mut printer = Printer::new(args.json, style, ladder, args.json && streams)
        .wrap(text_width(&args.ladder_style))
        .select(super::select::selector(&args.select, &args.files)?);
    printer.maillog = super::maillog::load(&args.maillog)?;
    printer.totals.summary.by = args.summary.by;
    let status = pipeline::analyze(&args.files, &args.analysis, args.threads.into(), &interrupt, &mut printer);
    printer.print_totals(args.summary.totals);
    if let Some(index) = &mut printer.maillog {
        super::maillog::finish(index, args.json, &mut printer.out);
    }
    printer.out.flush();
    if printer.out.failed {
        return Ok(2);
    }
    Ok(if interrupt.raised() { 130 } else { status })
}

/// Verdict lines wrap to `--width`, else to the terminal's width; into a pipe or a file they
/// stay whole (one line per verdict, for grep).
pub fn text_width(style: &LadderStyle) -> Option<usize> {
    use std::io::IsTerminal;
    style.width.or_else(|| std::io::stdout().is_terminal().then(super::output::terminal_width))
}

/// Prints each session (text with an optional ladder, or one NDJSON line) and keeps the totals;
/// `live` uses it too.
pub struct Printer {
    /// Output format (JSON or text, and its style).
    render: Renderer,
    ladder: Option<TextLadder>,
    pub out: Out,
    pub totals: Totals,
    /// Texts already written, kept for the next sessions: a session's text is kilobytes, and
    /// allocating that much per session takes the allocator's slow path on a fragmented heap.
    spare: Vec<String>,
    /// Which sessions to print (None: all).
    select: Option<Selector>,
    /// Sessions printed, for `--limit`.
    shown: usize,
    /// With a selection, a capture's heading waits for its first selected session.
    heading: Option<String>,
    /// The server's log (`--maillog`): each session is paired with it before it is shown.
    pub maillog: Option<LogIndex>,
}

/// Spare output buffers kept: one is enough unless sessions wait behind a held one.
const SPARE_BUFFERS: usize = 4;

impl Printer {
    /// `line_flush`: write each record out at once (NDJSON streams, live capture).
    pub fn new(json: bool, style: TextStyle, ladder: Option<&LadderStyle>, line_flush: bool) -> Self {
        Printer {
            render: Renderer { json, style, width: None },
            ladder: ladder.filter(|_| !json).map(|l| TextLadder::new(l, style.color)),
            out: Out::new(line_flush),
            totals: Totals::default(),
            spare: Vec::new(),
            select: None,
            shown: 0,
            heading: None,
            maillog: None,
        }
    }

    /// The totals where `read` and `live` both put them: after the sessions on stdout, or, when
    /// stdout is NDJSON, on stderr if that is a terminal (`record`: a totals record on stdout). Totals of
    /// nothing ("0 sessions in 0 captures") would only hide the error above them.
    pub fn print_totals(&mut self, record: bool) {
        // The reader went away (`| head`): the run was cut short and ends quietly.
        if self.totals.captures == 0 || self.out.closed {
            return;
        }
        if self.render.json {
            // For the person watching; a script reading NDJSON keeps a quiet stderr.
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprint!("{}", text::totals(&self.totals, TextStyle { color: false, ..self.render.style }));
            }
            if record {
                self.out.lines(&text::totals_json(&self.totals));
            }
        } else {
            self.out.lines(&text::totals(&self.totals, self.render.style));
        }
    }

    /// Wraps verdict lines to `width` columns (see `text_width`).
    pub fn wrap(mut self, width: Option<usize>) -> Self {
        self.render.width = width;
        self
    }

    /// Prints only the sessions `selector` matches (when it has a condition or a limit).
    pub fn select(mut self, selector: Selector) -> Self {
        self.select = (selector.is_active() || selector.limit().is_some()).then_some(selector);
        self
    }
}

/// Renders sessions the way a `Printer` without ladders does, in a worker thread
/// (`read --threads`), before their number is known: it is written as 0 and patched in by the
/// printer. Ladders stay with the printer.
#[derive(Clone, Copy)]
pub struct Renderer {
    json: bool,
    style: TextStyle,
    /// Columns verdict lines wrap to (None: no wrapping).
    width: Option<usize>,
}

/// A session's text with the place of its number.
pub struct Rendered {
    text: String,
    /// The number's placeholder (`0`, padded to `id_width` in text) starts here.
    id_at: usize,
    id_width: usize,
    /// What the totals count of the session.
    entry: Box<Entry>,
}

/// How an NDJSON record begins, up to its id (`render::json` writes the fields in this order).
const JSON_ID_PREFIX: &str = r#"{"schema":"smtpdiag.session.v1","id":""#;
/// A text block begins with "#" and the number padded to four columns.
const TEXT_ID_WIDTH: usize = 4;

impl Renderer {
    /// The session's NDJSON line or text block, written into `buf` (a reused buffer).
    fn text(&self, buf: String, s: &Session, verdicts: &[Verdict], log: Option<&LogNote>) -> String {
        if !self.json {
            let mut text = text::session_wrapped(s, verdicts, self.style, self.width);
            if let Some(n) = log {
                text.push_str(&render::maillog::note(n, self.style));
            }
            return text;
        }
        let mut line = buf.into_bytes();
        line.clear();
        json::write_session_line_with_log(&mut line, s, verdicts, log);
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
    fn into_text(self, index: u64, mut out: String) -> String {
        let width = self.id_width;
        let after = self.id_at + width.max(1);
        out.clear();
        out.push_str(&self.text[..self.id_at]);
        let _ = write!(out, "{index:<width$}");
        out.push_str(&self.text[after..]);
        out
    }
}

impl SessionSink for Printer {
    type Final = String;

    /// The session's output (an NDJSON line or its text block, with its ladder), counted in the
    /// totals.
    fn finalize(&mut self, s: Session, mut verdicts: Vec<Verdict>) -> String {
        // Paired before the selection, so that --verdict LOG_CONTRADICTS selects.
        let log = super::maillog::annotate(self.maillog.as_mut(), &s, &mut verdicts);
        if self.select.as_ref().is_some_and(|sel| !sel.matches(&s, &verdicts)) {
            return String::new();
        }
        self.totals.add_session(&s, &verdicts);
        let mut text = self.render.text(self.spare.pop().unwrap_or_default(), &s, &verdicts, log.as_ref());
        if let Some(ladder) = &self.ladder {
            text.push_str(&ladder.render(&s, &verdicts));
            text.push('\n');
        }
        text
    }

    fn draws_packets(&self) -> bool {
        self.ladder.is_some()
    }

    /// None with a selection (a session must be seen whole to be selected) or a log (sessions
    /// are paired with it here, where it is).
    fn renderer(&self) -> Option<Renderer> {
        (self.ladder.is_none() && self.select.is_none() && self.maillog.is_none()).then_some(self.render)
    }

    fn rendered(&mut self, r: Rendered, index: u64) -> String {
        self.totals.add_entry(&r.entry);
        r.into_text(index, self.spare.pop().unwrap_or_default())
    }

    fn write(&mut self, text: String) -> ControlFlow<()> {
        if text.is_empty() {
            // Not selected.
            return ControlFlow::Continue(());
        }
        if let Some(heading) = self.heading.take() {
            self.out.lines(&heading);
        }
        let written = self.out.lines(&text);
        if self.spare.len() < SPARE_BUFFERS {
            self.spare.push(text);
        }
        self.shown += 1;
        let enough = self.select.as_ref().and_then(Selector::limit).is_some_and(|n| self.shown >= n);
        if written && !enough { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    }

    fn capture_start(&mut self, name: &str) {
        if !self.render.json {
            let heading = text::capture_header(name, self.render.style);
            if self.select.is_some() {
                self.heading = Some(heading);
            } else {
                self.out.lines(&heading);
            }
        }
    }

    fn capture_done(&mut self, decode: &DecodeStats, table: &TableStats) {
        self.totals.add_capture(decode, table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpdiag::diagnose::{self, DiagnoseConfig};
    use smtpdiag::synth::SessionBuilder;

    /// A session rendered before its number is known, then numbered, reads exactly as the
    /// printer renders it with the number: in JSON, and in text where the number is padded.
    #[test]
    fn a_rendered_session_numbered_later_matches_the_printer() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 mx\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
        let session = b.analyze().remove(0);
        let verdicts = diagnose::diagnose(&session, &DiagnoseConfig::default());
        let style = TextStyle { color: false, explain: true };
        for json in [true, false] {
            for index in [1, 7, 1234, 98765] {
                let mut printer = Printer::new(json, style, None, false);
                let mut s = session.clone();
                s.index = index;
                let expected = printer.finalize(s, verdicts.clone());
                let mut unnumbered = session.clone();
                unnumbered.index = 0;
                let renderer = printer.renderer().expect("no ladder: a renderer");
                let rendered = renderer.render(&unnumbered, &verdicts).expect("placeholder in place");
                assert_eq!(printer.rendered(rendered, index), expected, "json {json}, number {index}");
            }
        }
    }

    #[test]
    fn a_numbered_session_is_not_rendered_early() {
        let mut b = SessionBuilder::lab();
        b.handshake().server("220 mx\r\n").close();
        let session = b.analyze().remove(0);
        let renderer = Renderer { json: true, style: TextStyle { color: false, explain: false }, width: None };
        assert!(renderer.render(&session, &[]).is_none(), "index {} is not the placeholder", session.index);
    }
}
