//! Builds the session selector of `read`, `ladder` and `live` from the command line: offsets in
//! `--since`/`--until` count from each capture's first packet, read here before the analysis.

use anyhow::{Result, bail};
use smtpdiag::capture::{self, CaptureWarning, Frame, FrameSink, Timestamp};
use smtpdiag::cli::Selection;
use smtpdiag::select::Selector;
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
