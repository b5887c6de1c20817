//! `smtpdiag report FILE… -o report.html`: every selected session counted into the report's
//! tables and charts, the flagged ones drawn (up to `--max-ladders`), then one HTML page.

use super::output::{AtomicFile, Interrupt, write_stdout};
use super::pipeline::{self, SessionSink};
use super::renderer::Rendered;
use super::select::Selected;
use anyhow::{Context, Result};
use smtpdiag::cli::ReportArgs;
use smtpdiag::diagnose::Verdict;
use smtpdiag::maillog::LogIndex;
use smtpdiag::render::report::{CaptureInfo, Collector, page};
use smtpdiag::select::Selector;
use smtpdiag::session::{DecodeStats, Session};
use smtpdiag::tcp::flow::TableStats;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

pub fn run(args: ReportArgs) -> Result<i32> {
    let interrupt = Interrupt::install();
    let mut sink = ReportSink {
        select: super::select::selector(&args.select, &args.files)?,
        several_captures: args.files.len() > 1,
        named: !args.select.sessions.is_empty(),
        maillog: super::maillog::load(&args.maillog)?,
        collector: Collector::new(args.max_ladders),
        capture: args.files.first().map(|f| f.display().to_string()).unwrap_or_default(),
        selected: 0,
    };
    let status = pipeline::analyze(&args.files, &args.analysis, 1, &interrupt, &mut sink);
    if interrupt.raised() {
        // No half page: an interrupted report would look complete.
        return Ok(130);
    }
    if sink.selected == 0 {
        eprintln!("smtpdiag: no session matched the selection");
    }
    if let Some(index) = &mut sink.maillog {
        let summary = index.summary();
        for w in &summary.warnings {
            eprintln!("smtpdiag: warning: {w}");
        }
        sink.collector.set_log_summary(&summary);
    }
    let html = page::render(&sink.collector.finish())?;
    match &args.output {
        Some(path) => write_page(path, &html)?,
        None => write_stdout(html.as_bytes())?,
    }
    Ok(status)
}

/// Writes the page whole or not at all (`-o DIR` means DIR/report.html); a device or FIFO
/// (`/dev/stdout`, a pipe) is written directly, as it cannot be replaced by a rename.
fn write_page(path: &Path, html: &str) -> Result<()> {
    let path = if path.is_dir() { path.join("report.html") } else { path.to_path_buf() };
    let written = AtomicFile::create(&path).and_then(|mut f| {
        f.write_all(html.as_bytes())?;
        f.commit()
    });
    written.with_context(|| format!("writing {}", path.display()))
}

struct ReportSink {
    select: Selector,
    several_captures: bool,
    /// Sessions were named with --session: they are drawn even when nothing is wrong with them.
    named: bool,
    /// The server's log (`--maillog`): paired with each session before it is counted.
    maillog: Option<LogIndex>,
    collector: Collector,
    /// The capture being read, as given on the command line.
    capture: String,
    selected: usize,
}

/// A selected session waiting while a failover note may still come, with the log's note.
impl SessionSink for ReportSink {
    type Final = Selected;

    fn finalize(&mut self, s: Session, verdicts: Vec<Verdict>) -> Self::Final {
        Selected::pick(&self.select, self.maillog.as_mut(), s, verdicts)
    }

    /// Sessions come whole (no renderer), so nothing rendered comes here.
    fn rendered(&mut self, _r: Rendered, _index: u64) -> Self::Final {
        Selected::none()
    }

    fn write(&mut self, f: Self::Final) -> ControlFlow<()> {
        let Selected { session: Some((s, verdicts)), log } = f else { return ControlFlow::Continue(()) };
        let id = if self.several_captures { format!("{}:{}", s.capture, s.id()) } else { s.id() };
        self.collector.add(&s, &verdicts, log.as_ref(), id, self.named);
        self.selected += 1;
        if self.select.limit().is_some_and(|n| self.selected >= n) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn capture_start(&mut self, name: &str) {
        self.capture = name.to_string();
    }

    fn capture_done(&mut self, decode: &DecodeStats, table: &TableStats) {
        self.collector.add_capture(CaptureInfo {
            name: self.capture.clone(),
            frames: decode.frames,
            tcp_packets: table.tcp_packets,
        });
    }
}
