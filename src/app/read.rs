//! `smtpdiag read FILE…`: every session of every capture, as text or NDJSON, then totals; with
//! `--ladder`, each session's ladder under its line.

use super::ladder::TextLadder;
use super::output::{Interrupt, Out, stdout_color};
use super::pipeline::{self, SessionSink};
use anyhow::Result;
use smtpdiag::cli::ReadArgs;
use smtpdiag::diagnose::Verdict;
use smtpdiag::render::json;
use smtpdiag::render::text::{self, TextStyle, Totals};
use smtpdiag::session::{DecodeStats, Session};
use smtpdiag::tcp::flow::TableStats;
use std::ops::ControlFlow;

pub fn run(args: ReadArgs) -> Result<i32> {
    let interrupt = Interrupt::install();
    let style = TextStyle { color: stdout_color(), explain: args.explain };
    let mut printer = Printer {
        json: args.json,
        style,
        ladder: (args.ladder && !args.json).then(|| TextLadder::new(&args.ladder_style, style.color)),
        out: Out::new(args.json),
        totals: Totals::default(),
    };
    let status = pipeline::analyze(&args.files, &args.analysis, &interrupt, &mut printer);
    if !args.json {
        printer.out.lines(&text::totals(&printer.totals, style));
    }
    printer.out.flush();
    Ok(if interrupt.raised() { 130 } else { status })
}

struct Printer {
    json: bool,
    style: TextStyle,
    ladder: Option<TextLadder>,
    out: Out,
    totals: Totals,
}

impl SessionSink for Printer {
    fn session(&mut self, s: Session, verdicts: Vec<Verdict>) -> ControlFlow<()> {
        self.totals.add_session(&s, &verdicts);
        let mut text = if self.json {
            let mut line = json::session_line(&s, &verdicts);
            line.push('\n');
            line
        } else {
            text::session(&s, &verdicts, self.style)
        };
        if let Some(ladder) = &self.ladder {
            text.push_str(&ladder.render(&s, &verdicts));
            text.push('\n');
        }
        if self.out.lines(&text) { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    }

    fn capture_start(&mut self, name: &str) {
        if !self.json {
            self.out.lines(&text::capture_header(name, self.style));
        }
    }

    fn capture_done(&mut self, decode: &DecodeStats, table: &TableStats) {
        self.totals.add_capture(decode, table);
    }
}
