//! `smtpdiag read FILE…`: every session of every capture, as text or NDJSON, then totals.

use super::config;
use super::output::{Interrupt, Out, stdout_color};
use super::printer::{Interruptible, Printer, report_warnings};
use anyhow::Result;
use smtpdiag::capture::{self, CaptureError};
use smtpdiag::cli::ReadArgs;
use smtpdiag::render::text::{self, TextStyle, Totals};
use smtpdiag::session::Analyzer;

pub fn run(args: ReadArgs) -> Result<i32> {
    let interrupt = Interrupt::install();
    let analyzer_config = config::analyzer(&args.analysis);
    let diagnose_config = config::diagnose(&args.analysis);
    let style = TextStyle { color: stdout_color(), explain: args.explain };
    let mut out = Out::new(args.json);
    let mut totals = Totals::default();
    let mut status = 0;
    for path in &args.files {
        let name = path.display().to_string();
        let mut printer = Printer {
            json: args.json,
            style,
            ladder: args.ladder.then_some(&args.ladder_style),
            diagnose: &diagnose_config,
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
        totals.add_capture(&decode_stats, &table_stats);
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
