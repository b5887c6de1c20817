//! `smtpdiag read FILE…`: every session of every capture, as text or NDJSON, then totals; with
//! `--ladder`, each session's ladder under its line.

use super::output::{Interrupt, stdout_color};
use super::pipeline;
use super::printer::{Printer, text_width};
use anyhow::Result;
use smtpdiag::cli::ReadArgs;
use smtpdiag::render::text::TextStyle;

pub fn run(args: ReadArgs) -> Result<i32> {
    let interrupt = Interrupt::install();
    let style = TextStyle { color: stdout_color(), explain: args.explain };
    let ladder = args.ladder.then_some(&args.ladder_style);
    // NDJSON from a stream (stdin, a FIFO) goes out line by line: a consumer waits on each
    // session as it ends. From files, 64 kB at a time: a write per session was 1–2 % of a
    // two-thread read, all of it on the thread that merges.
    let streams = args.files.iter().any(|f| f.as_os_str() == "-" || !std::fs::metadata(f).is_ok_and(|m| m.is_file()));
    let mut printer = Printer::new(args.json, style, ladder, args.json && streams)
        .events(args.events)
        .wrap(text_width(&args.ladder_style))
        .select(super::select::selector(&args.select, &args.files)?)
        .tally_for(args.summary.totals);
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
