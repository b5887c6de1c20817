//! The `-w` file of a live capture, created safely while still root.
//!
//! `live` runs as root and writes where it is told, often in a world-writable directory: a local
//! user who plants `/tmp/x.pcap → /etc/shadow` must not get that file truncated and handed to
//! them. So the file is created new (`O_CREAT | O_EXCL | O_NOFOLLOW`: neither an existing file
//! nor a symlink, even a dangling one, is ever opened), given to the unprivileged account through
//! the descriptor (`fchown`, no second lookup of the name), and an existing file is replaced only
//! with `--force`, by unlinking the name (a symlink itself, never its target) and creating anew.
//! The packets are written by smtpdiag (`PcapWriter`), so every write error is seen.

use super::{LiveError, LivePacket};
use crate::capture::{LinkType, PcapWriter};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Captures hold mail: only the owner reads them.
const MODE: u32 = 0o600;

/// Who gets the file (the account `live` is about to become).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Creates `path` as a new regular file, never following a symlink; an existing entry is
/// replaced only when `force` (and never a directory). With `owner`, ownership is changed
/// through the descriptor before anything is written.
pub fn create_new(path: &Path, force: bool, owner: Option<Owner>) -> io::Result<File> {
    let file = match open_exclusive(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if !force {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the file exists (or is a symlink); use --force to replace it",
                ));
            }
            // Only a file or a symlink is replaced: unlinking /dev/full or a FIFO as root is
            // never what `-w NAME --force` meant (standard output is `-w -`).
            let kind = std::fs::symlink_metadata(path)?.file_type();
            if kind.is_dir() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a directory of that name exists"));
            }
            if !kind.is_file() && !kind.is_symlink() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "it is a device, FIFO or socket, not a file: --force replaces files only (-w - writes to standard output)",
                ));
            }
            // Removes the name only: a symlink goes, its target is left alone. Should someone
            // plant another entry between this and the open, O_EXCL refuses it.
            std::fs::remove_file(path)?;
            open_exclusive(path)?
        }
        other => other?,
    };
    #[cfg(unix)]
    if let Some(o) = owner {
        use std::os::fd::AsRawFd;
        // SAFETY: fchown on a descriptor this function owns; plain integers otherwise.
        if unsafe { libc::fchown(file.as_raw_fd(), o.uid, o.gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(unix))]
    let _ = owner;
    Ok(file)
}

fn open_exclusive(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(MODE).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    options.open(path)
}

/// A pcap file receiving the captured packets ("-" is standard output).
pub struct Dumper {
    out: PcapWriter<BufWriter<Box<dyn Write + Send>>>,
    path: String,
}

impl Dumper {
    /// Creates the file (see [`create_new`]) and writes the pcap header for `link_type`.
    pub fn create(
        path: &Path,
        link_type: LinkType,
        snaplen: u32,
        force: bool,
        owner: Option<Owner>,
    ) -> Result<Dumper, LiveError> {
        let shown = path.display().to_string();
        let fail = |e: io::Error| LiveError::Write { path: shown.clone(), detail: e.to_string() };
        let sink: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(create_new(path, force, owner).map_err(fail)?)
        };
        let out = PcapWriter::new(BufWriter::with_capacity(256 * 1024, sink), link_type, snaplen).map_err(fail)?;
        Ok(Dumper { out, path: shown })
    }

    pub fn dump(&mut self, packet: &LivePacket<'_>) -> Result<(), LiveError> {
        let f = &packet.frame;
        self.out.write_packet(f.ts, f.data, f.orig_len).map_err(|e| self.error(e))
    }

    /// Pushes buffered packets to the file.
    pub fn flush(&mut self) -> Result<(), LiveError> {
        self.out.flush().map_err(|e| self.error(e))
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn error(&self, e: io::Error) -> LiveError {
        LiveError::Write { path: self.path.clone(), detail: e.to_string() }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    #[test]
    fn a_new_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.pcap");
        let mut f = create_new(&path, false, None).unwrap();
        f.write_all(b"x").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, MODE);
    }

    #[test]
    fn an_existing_file_is_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.pcap");
        std::fs::write(&path, b"precious").unwrap();
        let err = create_new(&path, false, None).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
        create_new(&path, true, None).unwrap();
        assert!(std::fs::read(&path).unwrap().is_empty());
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("etc-somefile");
        std::fs::write(&target, b"system file").unwrap();
        let link = dir.path().join("x.pcap");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_new(&link, false, None).is_err());
        // Forced, the link itself is replaced; its target stays as it was.
        create_new(&link, true, None).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"system file");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_file());
        // A dangling symlink (to a file that does not exist yet) is refused too.
        let dangling = dir.path().join("d.pcap");
        std::os::unix::fs::symlink(dir.path().join("not-yet"), &dangling).unwrap();
        assert!(create_new(&dangling, false, None).is_err());
        assert!(!dir.path().join("not-yet").exists());
    }

    #[test]
    fn devices_and_fifos_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = create_new(&fifo, true, None).unwrap_err();
        assert!(err.to_string().contains("not a file"), "{err}");
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        if Path::new("/dev/null").exists() {
            assert!(create_new(Path::new("/dev/null"), true, None).is_err());
            assert!(Path::new("/dev/null").exists());
        }
    }

    #[test]
    fn a_directory_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let err = create_new(dir.path(), true, None).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn ownership_goes_through_the_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owned.pcap");
        // Giving a file to oneself needs no privilege; root can give it to anyone.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let want = if uid == 0 { Owner { uid: 65534, gid: 65534 } } else { Owner { uid, gid } };
        create_new(&path, false, Some(want)).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (want.uid, want.gid));
    }

    #[test]
    fn write_errors_are_reported_with_the_path() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        let file = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let sink: Box<dyn Write + Send> = Box::new(file);
        let out = PcapWriter::new(BufWriter::new(sink), LinkType::ETHERNET, 65535).unwrap();
        let mut d = Dumper { out, path: "/dev/full".into() };
        let err = d.flush().unwrap_err().to_string();
        assert!(err.starts_with("/dev/full: cannot write the capture"), "{err}");
    }
}
