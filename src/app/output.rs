//! Where output goes: stdout that stops quietly when the reader goes away (`| head`), colors
//! only on a terminal without NO_COLOR, and an interrupt flag set by SIGINT/SIGTERM.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Colors on stdout: `--color`, else a terminal without NO_COLOR (see `color`).
pub fn stdout_color() -> bool {
    super::color::stdout()
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
    /// A write failed for another reason than a reader gone away (a full disk, /dev/full): the
    /// output is incomplete, and the exit status says so (2).
    pub failed: bool,
    /// Flush after every record (NDJSON streaming, live capture).
    pub line_flush: bool,
}

impl Out {
    pub fn new(line_flush: bool) -> Out {
        Out { inner: io::BufWriter::with_capacity(64 * 1024, io::stdout()), closed: false, failed: false, line_flush }
    }

    /// Write a block of complete lines; returns false once the reader has gone away.
    pub fn lines(&mut self, text: &str) -> bool {
        self.parts(&[text])
    }

    /// `lines` for a block given in parts (flushed once, after the last).
    pub fn parts(&mut self, parts: &[&str]) -> bool {
        if self.closed {
            return false;
        }
        let result = parts
            .iter()
            .try_for_each(|p| self.inner.write_all(p.as_bytes()))
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
            self.failed = true;
            eprintln!("smtpdiag: standard output: {e}");
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

/// A file written whole or not at all (`ladder -o`): the bytes go to a new temporary file beside
/// it, which `commit` renames over the name; dropped without a commit (an error, an interrupt),
/// the temporary is removed and an older file of that name is left as it was. A name that is not
/// a regular file (`/dev/null`, `/dev/stdout`, a FIFO) is written directly: renaming over it would
/// replace the device, as root even `/dev/null`.
pub struct AtomicFile {
    file: io::BufWriter<std::fs::File>,
    /// `None` when writing directly to a device or FIFO.
    tmp: Option<PathBuf>,
    path: PathBuf,
    committed: bool,
}

impl AtomicFile {
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = io::BufWriter::with_capacity(64 * 1024, std::fs::OpenOptions::new().write(true).open(path)?);
            return Ok(AtomicFile { file, tmp: None, path: path.to_path_buf(), committed: false });
        }
        use std::sync::atomic::AtomicU32;
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => {
                    let file = io::BufWriter::with_capacity(64 * 1024, f);
                    return Ok(AtomicFile { file, tmp: Some(tmp), path: path.to_path_buf(), committed: false });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Everything written reaches the disk, then the file takes its name.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.flush()?;
        if let Some(tmp) = &self.tmp {
            self.file.get_ref().sync_all()?;
            std::fs::rename(tmp, &self.path)?;
        }
        self.committed = true;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (false, Some(tmp)) = (self.committed, &self.tmp) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary is gone");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_device_is_written_directly_not_replaced() {
        let before = std::fs::metadata("/dev/null").unwrap();
        let mut f = AtomicFile::create(Path::new("/dev/null")).unwrap();
        f.write_all(b"bytes").unwrap();
        f.commit().unwrap();
        let after = std::fs::metadata("/dev/null").unwrap();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        assert!(after.file_type().is_char_device(), "still a device");
        assert_eq!(before.ino(), after.ino());
    }
}
