//! Where output goes: stdout that stops quietly when the reader goes away (`| head`), colors
//! only on a terminal without NO_COLOR, and an interrupt flag set by SIGINT/SIGTERM.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Colors on stdout: a terminal, NO_COLOR unset (https://no-color.org), TERM not "dumb".
pub fn stdout_color() -> bool {
    io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Set when SIGINT or SIGTERM arrives; the reading loop checks it between packets.
#[derive(Clone)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn install() -> Interrupt {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Registration fails only for forbidden signals; these two are allowed.
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        Interrupt(flag)
    }
    pub fn raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Buffered stdout that remembers a broken pipe instead of failing loudly.
pub struct Out {
    inner: io::BufWriter<io::Stdout>,
    pub closed: bool,
    /// Flush after every record (NDJSON streaming, live capture).
    pub line_flush: bool,
}

impl Out {
    pub fn new(line_flush: bool) -> Out {
        Out { inner: io::BufWriter::with_capacity(64 * 1024, io::stdout()), closed: false, line_flush }
    }

    /// Write a block of complete lines; returns false once the reader has gone away.
    pub fn lines(&mut self, text: &str) -> bool {
        if self.closed {
            return false;
        }
        let result = self
            .inner
            .write_all(text.as_bytes())
            .and_then(|_| if self.line_flush { self.inner.flush() } else { Ok(()) });
        if let Err(e) = result {
            self.fail(e);
        }
        !self.closed
    }

    pub fn flush(&mut self) {
        if let Some(e) = (!self.closed).then(|| self.inner.flush().err()).flatten() {
            self.fail(e);
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.closed = true;
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("smtpdiag: writing output: {e}");
        }
    }
}

/// Columns for terminal drawings: stdout's terminal size (ioctl TIOCGWINSZ), else COLUMNS when
/// stdout is a terminal that would not say, else 100 (a file or a pipe has no width).
pub fn terminal_width() -> usize {
    const NOT_A_TERMINAL: usize = 100;
    if !io::stdout().is_terminal() {
        return NOT_A_TERMINAL;
    }
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size_of(io::stdout()) {
        return usize::from(w);
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok()).unwrap_or(NOT_A_TERMINAL)
}
