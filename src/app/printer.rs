//! What `read` and `live` share after the capture stage: each finished session is diagnosed,
//! counted in the totals and printed (text or NDJSON), and SIGINT/SIGTERM stop the frames.

use super::output::{Interrupt, Out};
use smtpdiag::capture::{CaptureWarning, Frame, FrameSink};
use smtpdiag::cli::LadderStyle;
use smtpdiag::diagnose::{self, DiagnoseConfig};
use smtpdiag::render::json;
use smtpdiag::render::text::{self, TextStyle, Totals};
use smtpdiag::session::Session;
use std::ops::ControlFlow;

/// The `on_session` of an [`smtpdiag::session::Analyzer`].
pub struct Printer<'a> {
    pub json: bool,
    pub style: TextStyle,
    /// `--ladder`: draw each session's ladder under its line (text output only).
    pub ladder: Option<&'a LadderStyle>,
    pub diagnose: &'a DiagnoseConfig,
    pub out: &'a mut Out,
    pub totals: &'a mut Totals,
}

impl Printer<'_> {
    pub fn session(&mut self, s: Session) -> ControlFlow<()> {
        let verdicts = diagnose::diagnose(&s, self.diagnose);
        self.totals.add_session(&s, &verdicts);
        let text = if self.json {
            let mut line = json::session_line(&s, &verdicts);
            line.push('\n');
            line
        } else {
            #[allow(unused_mut)]
            let mut text = text::session(&s, &verdicts, self.style);
            if let Some(_ladder_style) = self.ladder {
                // LADDER CALL SITE: once `smtpdiag::render::ladder` exists, append the
                // session's ladder here, e.g.
                //     text.push_str(&ladder::text(&s, &verdicts, _ladder_style));
                // Until then `--ladder` prints nothing extra.
            }
            text
        };
        if self.out.lines(&text) { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    }
}

/// Stops the reading between two packets once SIGINT/SIGTERM arrived.
pub struct Interruptible<'a, S: FrameSink> {
    pub inner: &'a mut S,
    pub interrupt: &'a Interrupt,
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

pub fn report_warnings(name: &str, warnings: &[CaptureWarning]) {
    for w in warnings {
        eprintln!("smtpdiag: warning: {name}: {w}");
    }
}
