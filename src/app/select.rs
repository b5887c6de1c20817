//! Builds the session selector of `read`, `ladder` and `live` from the command line: offsets in
//! `--since`/`--until` count from each capture's first packet, read here before the analysis;
//! and what `ladder` and `report` keep of a session the selection takes.

use anyhow::{Result, bail};
use smtpdiag::capture::{self, CaptureWarning, Frame, FrameSink, Timestamp};
use smtpdiag::cli::Selection;
use smtpdiag::diagnose::Verdict;
use smtpdiag::diagnose::failover::HeldSize;
use smtpdiag::maillog::{LogIndex, LogNote};
use smtpdiag::select::Selector;
use smtpdiag::session::Session;
use std::ops::ControlFlow;
use std::path::PathBuf;

pub fn selector(sel: &Selection, files: &[PathBuf]) -> Result<Selector> {
    let mut selector = Selector::new(sel);
    if !selector.needs_origin() {
        return Ok(selector);
    }
    for path in files {
        if path.as_os_str() == "-" {
            bail!("an offset in --since/--until needs a capture file, not stdin: give a UTC time instead");
        }
        // A file that cannot be read fails again, with its error, in the analysis.
        let mut first = FirstFrame(None);
        let _ = capture::read_path(path, &mut first);
        if let Some(ts) = first.0 {
            selector.set_origin(&path.display().to_string(), ts);
        }
    }
    Ok(selector)
}

/// Stops at the first frame, keeping its time.
struct FirstFrame(Option<Timestamp>);

impl FrameSink for FirstFrame {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        self.0 = Some(frame.ts);
        ControlFlow::Break(())
    }
    fn warning(&mut self, _warning: CaptureWarning) {}
}

/// A selected session waiting for its turn, with what the log says about it.
pub struct Selected {
    pub session: Option<(Session, Vec<Verdict>)>,
    pub log: Option<LogNote>,
}

impl Selected {
    /// The session with the log's note on it (and its verdicts), kept only if the selection
    /// takes it: `ladder` and `report` draw whole sessions.
    pub fn pick(select: &Selector, maillog: Option<&mut LogIndex>, s: Session, mut verdicts: Vec<Verdict>) -> Selected {
        let log = super::maillog::annotate(maillog, &s, &mut verdicts);
        Selected { session: select.matches(&s, &verdicts).then_some((s, verdicts)), log }
    }

    /// Sessions rendered by a shard never come to a sink without a renderer.
    pub fn none() -> Selected {
        Selected { session: None, log: None }
    }
}

impl HeldSize for Selected {
    fn held_size(&self) -> usize {
        self.session.held_size() + self.log.as_ref().map_or(0, |n| n.lines.len() * 32)
    }
}
