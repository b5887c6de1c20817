//! A memory-mapped capture that shrinks while it is read (log rotation, a tcpdump restarted on
//! the same file): touching a mapped page past the new end of the file raises SIGBUS, which
//! would kill smtpdiag with no message, no totals and a fifth of the sessions lost.
//!
//! Two defences, so that such a file ends like a truncated capture (a warning with the offset,
//! every session read so far kept, totals printed):
//! - [`MapSource`] hands the readers the mapped bytes one window at a time and, before each new
//!   window, asks the file system how long the file is now: a file that shrank ends there.
//! - A SIGBUS that still happens (the file shrank between that look and the read) is caught by
//!   a handler that maps a page of zeros over the page that faulted, so the read returns, and
//!   records where: the reader stops at that offset and never delivers a frame that touched it.

use std::fs::File;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::source::Source;

/// Bytes handed out between two looks at the file's length.
const WINDOW: usize = 1 << 20;

/// Mapped ranges being read, for the SIGBUS handler (which may only read atomics).
const SLOTS: usize = 32;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    /// Offset (from `start`) of the first page that faulted; `usize::MAX` while none did.
    fault: AtomicUsize,
    /// Readers of this range (the threads of `read --threads` share one map).
    readers: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    fault: AtomicUsize::new(usize::MAX),
    readers: AtomicUsize::new(0),
};
static WATCHED: [Slot; SLOTS] = [FREE; SLOTS];
/// Registration and release happen under this lock; the handler never takes it.
static REGISTRY: Mutex<()> = Mutex::new(());
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// A mapped range watched for SIGBUS while it is read; released on drop.
pub(crate) struct Watch {
    slot: Option<usize>,
}

impl Watch {
    /// Watches `bytes` (a file mapping) until the guard is dropped. With every slot taken the
    /// range is read unwatched, as before.
    pub(crate) fn new(bytes: &[u8]) -> Watch {
        install_handler();
        let (start, len) = (bytes.as_ptr() as usize, bytes.len());
        let _lock = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let same = WATCHED.iter().position(|s| {
            s.readers.load(Ordering::Relaxed) > 0
                && s.start.load(Ordering::Relaxed) == start
                && s.len.load(Ordering::Relaxed) == len
        });
        if let Some(i) = same {
            WATCHED[i].readers.fetch_add(1, Ordering::Relaxed);
            return Watch { slot: Some(i) };
        }
        let free = WATCHED.iter().position(|s| s.readers.load(Ordering::Relaxed) == 0);
        if let Some(i) = free {
            let s = &WATCHED[i];
            s.fault.store(usize::MAX, Ordering::SeqCst);
            s.start.store(start, Ordering::SeqCst);
            s.len.store(len, Ordering::SeqCst);
            s.readers.store(1, Ordering::SeqCst);
        }
        Watch { slot: free }
    }

    /// Offset of the first page that faulted, if one did.
    pub(crate) fn fault(&self) -> Option<usize> {
        let at = WATCHED[self.slot?].fault.load(Ordering::Acquire);
        (at != usize::MAX).then_some(at)
    }
}

/// Keeps a file mapping watched for SIGBUS while held, as reading it does: for threads that
/// read frames of a mapped capture after the read that delivered them returned (the followers
/// of `read --threads`).
pub struct MapWatch(#[allow(dead_code)] Watch);

pub fn watch_map(bytes: &[u8]) -> MapWatch {
    MapWatch(Watch::new(bytes))
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(i) = self.slot else { return };
        let _lock = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        let s = &WATCHED[i];
        if s.readers.fetch_sub(1, Ordering::SeqCst) == 1 {
            s.len.store(0, Ordering::SeqCst);
            s.start.store(0, Ordering::SeqCst);
        }
    }
}

#[cfg(target_os = "linux")]
fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sysconf has no preconditions; the handler is async-signal-safe (atomics and
        // mmap/sigaction system calls only) and installed with a fully initialised sigaction.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn install_handler() {}

/// A fault inside a watched range: a page of zeros takes the faulting page's place (the read
/// that faulted then completes) and the offset is recorded for the reader. Any other SIGBUS
/// gets the default action back and, raised again by the same instruction, ends the process
/// as it always did.
#[cfg(target_os = "linux")]
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for s in &WATCHED {
        let (start, len) = (s.start.load(Ordering::SeqCst), s.len.load(Ordering::SeqCst));
        if len == 0 || addr < start || addr >= start + len {
            continue;
        }
        let at = addr & !(page - 1);
        // SAFETY: the page lies inside a mapping this process owns and only reads; replacing
        // it with an anonymous read-only page changes no memory that Rust code writes.
        let zeros = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if zeros != libc::MAP_FAILED {
            s.fault.fetch_min(at.saturating_sub(start), Ordering::AcqRel);
            return;
        }
    }
    // SAFETY: restoring the default action is async-signal-safe.
    unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
}

/// A mapped capture handed out one window at a time, ending where the file ends now.
pub(crate) struct MapSource<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bytes up to here were checked to be in the file.
    limit: usize,
    /// The file, to look at its length again; None for a map whose file is closed.
    file: Option<&'a File>,
    watch: &'a Watch,
    /// The file was found shorter than the map: its length then.
    pub(crate) shrunk_to: Option<u64>,
}

impl<'a> MapSource<'a> {
    pub(crate) fn new(data: &'a [u8], file: Option<&'a File>, watch: &'a Watch) -> Self {
        let mut s = MapSource { data, pos: 0, limit: 0, file, watch, shrunk_to: None };
        s.extend(0);
        s
    }

    /// Moves `limit` to cover `want` (and a window beyond it), as far as the file still goes.
    fn extend(&mut self, want: usize) {
        if let Some(len) = self.file.and_then(|f| f.metadata().ok()).map(|m| m.len())
            && len < self.data.len() as u64
        {
            self.shrunk_to = Some(self.shrunk_to.map_or(len, |s| s.min(len)));
        }
        if let Some(fault) = self.watch.fault() {
            self.shrunk_to = Some(self.shrunk_to.map_or(fault as u64, |s| s.min(fault as u64)));
        }
        let cap = self.shrunk_to.map_or(self.data.len(), |s| (s as usize).min(self.data.len()));
        self.limit = want.max(self.pos + WINDOW).min(cap).max(self.pos);
    }
}

impl Source for MapSource<'_> {
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.pos + n > self.limit && self.limit < self.data.len() {
            self.extend(self.pos + n);
        }
        Ok(&self.data[self.pos..self.limit])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.limit);
    }
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let want = usize::try_from(n).unwrap_or(usize::MAX);
        if self.pos.saturating_add(want) > self.limit {
            self.extend(self.pos.saturating_add(want));
        }
        let step = want.min(self.limit - self.pos);
        self.pos += step;
        Ok(step as u64)
    }
    fn offset(&self) -> u64 {
        self.pos as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_file_and_stop_where_it_shrank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * WINDOW).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = File::open(&path).unwrap();
        let watch = Watch::new(&data);
        let mut s = MapSource::new(&data, Some(&file), &watch);
        assert_eq!(s.peek(10).unwrap().len(), WINDOW);
        s.consume(WINDOW - 5);
        assert!(s.peek(10).unwrap().len() >= 10);
        // The file is cut to 1.5 windows: the next window ends there.
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.set_len((WINDOW + WINDOW / 2) as u64).unwrap();
        s.consume(WINDOW / 4);
        let rest = s.peek(WINDOW).unwrap().len();
        assert_eq!(s.pos + rest, WINDOW + WINDOW / 2);
        assert_eq!(s.shrunk_to, Some((WINDOW + WINDOW / 2) as u64));
        assert_eq!(s.skip(u64::MAX).unwrap() as usize, rest);
    }

    /// The SIGBUS itself: a mapped page past the new end of the file reads as zeros, and the
    /// watch says where the fault was.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_fault_in_a_watched_map_is_caught_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 64 * 1024]).unwrap();
        let file = File::open(&path).unwrap();
        // SAFETY: a private test file, truncated on purpose below.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let watch = Watch::new(&map);
        assert_eq!(std::hint::black_box(map[40_000]), 7);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(8192).unwrap();
        // SAFETY: a read inside the mapping; it faults, and the handler maps zeros there.
        let byte = unsafe { std::ptr::read_volatile(map.as_ptr().add(50_000)) };
        assert_eq!(byte, 0);
        let page = PAGE.load(Ordering::Relaxed);
        assert_eq!(watch.fault(), Some(50_000 & !(page - 1)));
        assert_eq!(map[100], 7, "pages still in the file read as before");
    }

    #[test]
    fn watched_slots_are_shared_and_released() {
        let data = vec![0u8; 100];
        let a = Watch::new(&data);
        let b = Watch::new(&data);
        assert_eq!(a.slot, b.slot);
        assert_eq!(a.fault(), None);
        drop(a);
        drop(b);
        let c = Watch::new(&data[..50]);
        assert_eq!(WATCHED[c.slot.unwrap()].len.load(Ordering::SeqCst), 50);
    }
}
