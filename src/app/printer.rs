//! The printer of `read` and `live`: each session as text (with an optional ladder) or one
//! NDJSON line, in output order, with the totals.

use super::output::{Out, terminal_width};
use super::pipeline::SessionSink;
use super::renderer::{Numbered, Rendered, Renderer, TextLadder};
use smtpdiag::cli::LadderStyle;
use smtpdiag::diagnose::Verdict;
use smtpdiag::diagnose::failover::HeldSize;
use smtpdiag::maillog::LogIndex;
use smtpdiag::render::text::{self, TextStyle, Totals};
use smtpdiag::select::Selector;
use smtpdiag::session::{DecodeStats, Session};
use smtpdiag::tcp::flow::TableStats;
use std::ops::ControlFlow;

/// Verdict lines wrap to `--width`, else to the terminal's width; into a pipe or a file they
/// stay whole (one line per verdict, for grep).
pub fn text_width(style: &LadderStyle) -> Option<usize> {
    use std::io::IsTerminal;
    style.width.or_else(|| std::io::stdout().is_terminal().then(terminal_width))
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
    /// A numbered session's head, written in front of its body (a reused buffer).
    head: String,
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
            render: Renderer { json, style, events: false, width: None, tally: true },
            ladder: ladder.filter(|_| !json).map(|l| TextLadder::new(l, style.color)),
            out: Out::new(line_flush),
            totals: Totals::default(),
            spare: Vec::new(),
            head: String::new(),
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
            if stderr_watched() {
                eprint!("{}", text::totals(&self.totals, TextStyle { color: false, ..self.render.style }));
            }
            if record {
                self.out.lines(&text::totals_json(&self.totals));
            }
        } else {
            self.out.lines(&text::totals(&self.totals, self.render.style));
        }
    }

    /// Counts sessions in the totals only when `print_totals(record)` will show them: NDJSON
    /// into a pipe shows none, and counting took a few percent of the run (a map insert per
    /// session).
    pub fn tally_for(mut self, record: bool) -> Self {
        self.render.tally = !self.render.json || record || stderr_watched();
        self
    }

    /// NDJSON records carry the dialogue's transcript and packet evidence (`--events`).
    pub fn events(mut self, on: bool) -> Self {
        self.render.events = on;
        self
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

/// NDJSON's totals go to stderr for a person watching it.
fn stderr_watched() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// A session's output as the printer writes it: whole, or rendered by a shard and numbered
/// here. Empty (`Whole` of nothing): the session was not selected.
pub enum Text {
    Whole(String),
    Numbered(Numbered),
}

impl HeldSize for Text {
    fn held_size(&self) -> usize {
        match self {
            Text::Whole(text) => text.held_size(),
            Text::Numbered(n) => n.capacity() + std::mem::size_of::<Text>(),
        }
    }
}

impl SessionSink for Printer {
    type Final = Text;

    /// The session's output (an NDJSON line or its text block, with its ladder), counted in the
    /// totals.
    fn finalize(&mut self, s: Session, mut verdicts: Vec<Verdict>) -> Text {
        // Paired before the selection, so that --verdict LOG_CONTRADICTS selects.
        let log = super::maillog::annotate(self.maillog.as_mut(), &s, &mut verdicts);
        if self.select.as_ref().is_some_and(|sel| !sel.matches(&s, &verdicts)) {
            return Text::Whole(String::new());
        }
        if self.render.tally {
            self.totals.add_session(&s, &verdicts);
        }
        let mut text = self.render.text(self.spare.pop().unwrap_or_default(), &s, &verdicts, log.as_ref());
        if let Some(ladder) = &self.ladder {
            text.push_str(&ladder.render(&s, &verdicts));
            text.push('\n');
        }
        Text::Whole(text)
    }

    fn draws_packets(&self) -> bool {
        self.ladder.is_some()
    }

    /// None with a selection (a session must be seen whole to be selected) or a log (sessions
    /// are paired with it here, where it is).
    fn renderer(&self) -> Option<Renderer> {
        (self.ladder.is_none() && self.select.is_none() && self.maillog.is_none()).then_some(self.render)
    }

    fn rendered(&mut self, r: Rendered, index: u64) -> Text {
        if let Some(entry) = &r.entry {
            self.totals.add_entry(entry);
        }
        Text::Numbered(r.numbered(index))
    }

    fn write(&mut self, text: Text) -> ControlFlow<()> {
        if matches!(&text, Text::Whole(t) if t.is_empty()) {
            // Not selected.
            return ControlFlow::Continue(());
        }
        if let Some(heading) = self.heading.take() {
            self.out.lines(&heading);
        }
        let written = match text {
            Text::Whole(text) => {
                let written = self.out.lines(&text);
                if self.spare.len() < SPARE_BUFFERS {
                    self.spare.push(text);
                }
                written
            }
            Text::Numbered(n) => {
                n.head(&mut self.head);
                self.out.parts(&[&self.head, n.body()])
            }
        };
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
    use crate::synth::SessionBuilder;
    use smtpdiag::diagnose::{self, DiagnoseConfig};

    /// The bytes `write` puts out for `text`.
    fn written(text: Text) -> String {
        match text {
            Text::Whole(text) => text,
            Text::Numbered(n) => {
                let mut head = String::new();
                n.head(&mut head);
                head + n.body()
            }
        }
    }

    /// A session rendered before its number is known, then numbered, reads exactly as the
    /// printer renders it with the number: in JSON, and in text where the number is padded.
    /// The number the session carries while rendered does not matter.
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
                let expected = written(printer.finalize(s, verdicts.clone()));
                let renderer = printer.renderer().expect("no ladder: a renderer");
                for carried in [0, 5, index] {
                    let mut unnumbered = session.clone();
                    unnumbered.index = carried;
                    let rendered = renderer.render(&unnumbered, &verdicts, 0);
                    assert_eq!(written(printer.rendered(rendered, index)), expected, "json {json}, number {index}");
                }
            }
        }
    }
}
