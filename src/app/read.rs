//! `smtpdiag read FILE…`: every session of every capture, as text or NDJSON, then totals.

use super::config;
use super::output::{Interrupt, Out, stdout_color};
use anyhow::Result;
use smtpdiag::capture::{self, CaptureError, CaptureWarning, Frame, FrameSink};
use smtpdiag::cli::ReadArgs;
use smtpdiag::diagnose::{self, DiagnoseConfig, FailoverTracker, Verdict};
use smtpdiag::render::json;
use smtpdiag::render::text::{self, TextStyle, Totals};
use smtpdiag::session::{Analyzer, Session};
use std::ops::ControlFlow;

pub fn run(args: ReadArgs) -> Result<i32> {
    let interrupt = Interrupt::install();
    let analyzer_config = config::analyzer(&args.analysis);
    let diagnose_config = config::diagnose(&args.analysis);
    let style = TextStyle { color: stdout_color(), explain: args.explain };
    let mut out = Out::new(args.json);
    let mut totals = Totals::default();
    let mut status = 0;
    let several = args.files.len() > 1;
    for path in &args.files {
        let name = path.display().to_string();
        if several && !args.json {
            out.lines(&text::capture_header(&name, style));
        }
        let failover = FailoverTracker::new(diagnose_config.failover_window_s);
        let mut printer = Printer {
            json: args.json,
            style,
            diagnose: &diagnose_config,
            failover,
            out: &mut out,
            totals: &mut totals,
        };
        let mut analyzer = Analyzer::new(&name, analyzer_config.clone(), |s| printer.session(s));
        let mut sink = Interruptible { inner: &mut analyzer, interrupt: &interrupt };
        let result = capture::read_path(path, &mut sink);
        // Whatever went wrong, the sessions read so far are still reported.
        analyzer.finish();
        report_warnings(&name, &analyzer.warnings);
        let (decode_stats, table_stats) = (analyzer.decode_stats.clone(), analyzer.table_stats().clone());
        drop(analyzer);
        printer.finish();
        if result.is_ok() || decode_stats.frames > 0 {
            totals.add_capture(&decode_stats, &table_stats);
        }
        if let Err(e) = result {
            eprintln!("smtpdiag: {}", describe(&e));
            status = 2;
        }
        if out.closed || interrupt.raised() {
            break;
        }
    }
    if !args.json {
        out.lines(&text::totals(&totals, style));
    }
    out.flush();
    Ok(if interrupt.raised() { 130 } else { status })
}

fn describe(e: &CaptureError) -> String {
    e.to_string()
}

fn report_warnings(name: &str, warnings: &[CaptureWarning]) {
    for w in warnings {
        eprintln!("smtpdiag: warning: {name}: {w}");
    }
}

struct Printer<'a> {
    json: bool,
    style: TextStyle,
    diagnose: &'a DiagnoseConfig,
    failover: FailoverTracker,
    out: &'a mut Out,
    totals: &'a mut Totals,
}

impl Printer<'_> {
    fn session(&mut self, s: Session) -> ControlFlow<()> {
        let verdicts = diagnose::diagnose(&s, self.diagnose);
        let ready = self.failover.push(s, verdicts);
        self.show(ready)
    }

    fn finish(&mut self) {
        let ready = self.failover.finish();
        let _ = self.show(ready);
    }

    fn show(&mut self, ready: Vec<(Session, Vec<Verdict>)>) -> ControlFlow<()> {
        for (s, verdicts) in ready {
            self.one(&s, &verdicts)?;
        }
        ControlFlow::Continue(())
    }

    fn one(&mut self, s: &Session, verdicts: &[Verdict]) -> ControlFlow<()> {
        self.totals.add_session(s, verdicts);
        let text = if self.json {
            let mut line = json::session_line(s, verdicts);
            line.push('\n');
            line
        } else {
            text::session(s, verdicts, self.style)
        };
        if self.out.lines(&text) { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    }
}

/// Stops the reading between two packets once SIGINT/SIGTERM arrived.
struct Interruptible<'a, S: FrameSink> {
    inner: &'a mut S,
    interrupt: &'a Interrupt,
}

impl<S: FrameSink> FrameSink for Interruptible<'_, S> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        if self.interrupt.raised() {
            return ControlFlow::Break(());
        }
        self.inner.frame(frame)
    }
    fn warning(&mut self, warning: CaptureWarning) {
        self.inner.warning(warning);
    }
}
