//! The public entry points: pick the way in (memory map, stream, gzip), detect the format by
//! its magic, and hand the bytes to the pcap or pcapng reader.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::detect::{self, Detected, Format};
use super::emit::Emitter;
use super::shrink::{MapSource, Watch};
use super::source::{SliceSource, Source, StreamSource};
use super::{CaptureError, CaptureWarning, FrameSink, ReadStats, pcap, pcapng};

/// gzip inside gzip is unwrapped this many times at most: a gzip quine would never end.
const MAX_GZIP_DEPTH: u32 = 3;

/// First bytes looked at: enough to detect the format (4) and to show in an error.
const HEAD_LEN: usize = 8;

/// What errors call standard input.
const STDIN_NAME: &str = "standard input";

/// Read a capture file ("-" = stdin) and push every frame to `sink` in file order.
///
/// Regular files are memory-mapped and frames borrow from the map; pipes, terminals, `/proc`
/// files and anything that cannot be mapped are streamed through a bounded buffer.
pub fn read_path(path: &Path, sink: &mut dyn FrameSink) -> Result<ReadStats, CaptureError> {
    read_path_until(path, sink, &|| false)
}

/// [`read_path`], giving up while waiting for a FIFO's writer once `stop` says so (SIGINT).
pub fn read_path_until(
    path: &Path,
    sink: &mut dyn FrameSink,
    stop: &dyn Fn() -> bool,
) -> Result<ReadStats, CaptureError> {
    if path.as_os_str() == "-" {
        return read_stream(STDIN_NAME, io::stdin().lock(), sink);
    }
    let name = path.display().to_string();
    let io_err = |source| CaptureError::Io { path: name.clone(), source };
    let file = open_input(path, stop).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if let Some(map) = map_regular(&file, &meta) {
        let mut sink =
            ReleaseBehind { inner: sink, map: &map, release: PageRelease::default(), populated: 0, page: usize::MAX };
        return read_mapped(&name, &map, Some(&file), &mut sink);
    }
    read_stream(&name, file, sink)
}

/// How often a wait for a FIFO's writer looks at `stop`.
const WRITER_POLL_MS: i32 = 100;

/// Opens a capture for reading without blocking: `open(2)` of a FIFO waits for a writer and,
/// restarted after every signal, would ignore SIGINT and SIGTERM. The FIFO is opened
/// non-blocking and waited on with `poll` until it has data (or its writer came and went), the
/// wait ending early when `stop` says so; then it is read like any stream.
fn open_input(path: &Path, stop: &dyn Fn() -> bool) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
        if file.metadata()?.file_type().is_fifo() {
            let fd = file.as_raw_fd();
            loop {
                if stop() {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted while waiting for a writer"));
                }
                let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                // SAFETY: one live pollfd, count 1. EINTR (a signal) just goes round the loop.
                if unsafe { libc::poll(&mut pfd, 1, WRITER_POLL_MS) } > 0 {
                    break;
                }
            }
        }
        // SAFETY: F_GETFL/F_SETFL on a descriptor `file` owns.
        let cleared = unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            flags >= 0 && libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
        };
        if !cleared {
            return Err(io::Error::last_os_error());
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let _ = stop;
        File::open(path)
    }
}

/// The file memory-mapped for sequential reading, when it is a regular, non-empty file that
/// can be mapped; `None` means it is to be streamed.
pub fn map_regular(file: &File, meta: &std::fs::Metadata) -> Option<memmap2::Mmap> {
    // A size of 0 is what /proc files and empty files report: stream them, the map would be empty.
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    // SAFETY: the map is only read. Another process appending to the file (a running tcpdump)
    // is harmless; one truncating it under us would fault the read: `read_map` reads it through
    // `shrink`, which stops at the new end and catches the SIGBUS that may still come.
    let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(map)
}

/// Mapped bytes mapped ahead at a time.
const POPULATE_STEP: usize = 1 << 20;
/// Mapped bytes given back to the page cache at a time. Unmapping pages that two running
/// threads share (`read --threads`) interrupts the other core to flush its TLB: 4 MB steps
/// instead of 1 MB made two threads about 4 % faster (1 GB file); one thread holds 3 MB more.
const RELEASE_STEP: usize = 4 << 20;

/// Gives the pages of a read-only file map back to the page cache behind the reading, in
/// `RELEASE_STEP` steps, so that reading a file of any size keeps a small resident set (mapped
/// pages touched count in it). The one way both readers (one thread, and the shards' merger)
/// do it.
#[derive(Default)]
pub struct PageRelease {
    /// Bytes before this offset were given back.
    released: usize,
}

impl PageRelease {
    /// Gives back the pages before `upto` (rounded down to a page) once a step of them is read.
    /// The caller promises no frame before `upto` is read again (reassembly copies what it
    /// keeps); a page touched again is read back from the page cache.
    pub fn release_to(&mut self, map: &memmap2::Mmap, upto: usize) {
        let upto = upto.min(map.len()) & !4095;
        if upto >= self.released + RELEASE_STEP {
            // SAFETY: the map is read-only and, as the caller promises, nothing reads before `upto`.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, self.released, upto - self.released)
            };
            self.released = upto;
        }
    }
}

/// Gives the mapped pages behind the frame being read back (see [`PageRelease`]), and maps the
/// pages ahead of it in one call per step (a page fault per 4 kB page costs a tenth of the
/// time it takes to analyse it).
struct ReleaseBehind<'a> {
    inner: &'a mut dyn FrameSink,
    map: &'a memmap2::Mmap,
    release: PageRelease,
    populated: usize,
    /// The page of the last frame: a frame in the same page has nothing to map or give back
    /// (both steps look at pages only), and a dozen frames share one.
    page: usize,
}

/// Maps `map[*populated..]` up to a step beyond `at`, when `at` comes within half a step of it.
pub fn populate_ahead(map: &memmap2::Mmap, at: usize, populated: &mut usize) {
    if at + POPULATE_STEP / 2 < *populated || *populated >= map.len() {
        return;
    }
    let start = (*populated).max(at & !4095);
    let end = (at + POPULATE_STEP).min(map.len());
    #[cfg(target_os = "linux")]
    let _ = map.advise_range(memmap2::Advice::PopulateRead, start, end - start);
    *populated = end;
}

impl FrameSink for ReleaseBehind<'_> {
    fn frame(&mut self, frame: &super::Frame<'_>) -> std::ops::ControlFlow<()> {
        let at = (frame.data.as_ptr() as usize).wrapping_sub(self.map.as_ptr() as usize) & !4095;
        if at == self.page {
            return self.inner.frame(frame);
        }
        self.page = at;
        if at <= self.map.len() {
            populate_ahead(self.map, at, &mut self.populated);
        }
        let flow = self.inner.frame(frame);
        if at <= self.map.len() {
            // The sink has returned, and no stage keeps references into frames.
            self.release.release_to(self.map, at);
        }
        flow
    }
    fn warning(&mut self, warning: CaptureWarning) {
        self.inner.warning(warning);
    }
}

/// Read a memory-mapped capture file (from [`map_regular`]), stopping cleanly where the file
/// ends should it shrink while being read (see `shrink`).
pub fn read_map(name: &str, map: &[u8], mut sink: &mut dyn FrameSink) -> Result<ReadStats, CaptureError> {
    read_mapped(name, map, None, &mut sink)
}

/// Generic over the sink so that the one-thread reader's `ReleaseBehind` sits inside
/// `Unfaulted` without a call through a vtable per frame (the sink past it is still one).
fn read_mapped<S: FrameSink>(
    name: &str,
    map: &[u8],
    file: Option<&File>,
    sink: &mut S,
) -> Result<ReadStats, CaptureError> {
    let watch = Watch::new(map);
    let head = &map[..map.len().min(HEAD_LEN)];
    let format = match detect::detect(head) {
        // A shrinking gzip file reads as damaged compressed data: a warning, sessions kept.
        Detected::Known(Format::Gzip) => return read_gzip(name, map, sink, 1),
        Detected::Known(format) => format,
        other => return Err(undetected(name, other, head, 0)),
    };
    let mut src = MapSource::new(map, file, &watch);
    let mut guarded = Unfaulted { inner: sink, watch: &watch, base: map.as_ptr() as usize, cut: false };
    let mut stats = read_format(name, format, &mut src, &mut guarded)?;
    let shrunk = match (src.shrunk_to, watch.fault()) {
        (Some(len), fault) => Some(fault.map_or(len, |f| len.min(f as u64))),
        (None, fault) => fault.map(|f| f as u64),
    };
    if let Some(len) = shrunk {
        // The frames before the cut were delivered; the reading ends there like a truncated file.
        stats.stopped &= !guarded.cut;
        stats.truncated = true;
        stats.bytes = stats.bytes.min(len);
        let message = format!(
            "the file shrank to {len} bytes while it was read (rotated or truncated by another program): \
             reading stopped at offset {}, the rest is ignored",
            stats.bytes
        );
        sink.warning(CaptureWarning { offset: stats.bytes, message });
    }
    Ok(stats)
}

/// Stops before a frame that touched a page which faulted (its bytes are zeros, not data).
struct Unfaulted<'a, 's, S> {
    inner: &'s mut S,
    watch: &'a Watch,
    base: usize,
    cut: bool,
}

impl<S: FrameSink> FrameSink for Unfaulted<'_, '_, S> {
    fn frame(&mut self, frame: &super::Frame<'_>) -> std::ops::ControlFlow<()> {
        if let Some(fault) = self.watch.fault() {
            let end = (frame.data.as_ptr() as usize).wrapping_sub(self.base) + frame.data.len();
            if end > fault {
                self.cut = true;
                return std::ops::ControlFlow::Break(());
            }
        }
        self.inner.frame(frame)
    }
    fn warning(&mut self, warning: CaptureWarning) {
        self.inner.warning(warning);
    }
}

/// Read a capture held in memory (used by fuzzing and tests); `name` is used in errors.
pub fn read_bytes(name: &str, bytes: &[u8], sink: &mut dyn FrameSink) -> Result<ReadStats, CaptureError> {
    let head = &bytes[..bytes.len().min(HEAD_LEN)];
    match detect::detect(head) {
        Detected::Known(Format::Gzip) => read_gzip(name, bytes, sink, 1),
        Detected::Known(format) => read_format(name, format, &mut SliceSource::new(bytes), sink),
        other => Err(undetected(name, other, head, 0)),
    }
}

/// Read a capture from any byte stream in bounded memory (stdin, gzip).
pub fn read_stream(name: &str, mut reader: impl Read, sink: &mut dyn FrameSink) -> Result<ReadStats, CaptureError> {
    read_dyn_stream(name, &mut reader, sink, 0)
}

/// `&mut dyn Read` keeps the gzip recursion to one type instead of one per nesting level.
fn read_dyn_stream(
    name: &str,
    reader: &mut dyn Read,
    sink: &mut dyn FrameSink,
    gzip_depth: u32,
) -> Result<ReadStats, CaptureError> {
    let mut src = StreamSource::new(reader);
    let head = src.peek(HEAD_LEN).map_err(|e| head_error(name, e, gzip_depth))?;
    let head = &head[..head.len().min(HEAD_LEN)];
    match detect::detect(head) {
        Detected::Known(Format::Gzip) => read_gzip(name, src.into_reader(), sink, gzip_depth + 1),
        Detected::Known(format) => read_format(name, format, &mut src, sink),
        other => Err(undetected(name, other, head, gzip_depth)),
    }
}

fn read_gzip(
    name: &str,
    compressed: impl Read,
    sink: &mut dyn FrameSink,
    depth: u32,
) -> Result<ReadStats, CaptureError> {
    if depth > MAX_GZIP_DEPTH {
        let message = format!("gzip nested more than {MAX_GZIP_DEPTH} deep: not decompressing further");
        return Err(CaptureError::Corrupt { path: name.to_string(), offset: 0, message });
    }
    // MultiGzDecoder, not GzDecoder: `cat a.pcap.gz b.pcap.gz` is a valid gzip file too.
    read_dyn_stream(name, &mut MultiGzDecoder::new(compressed), sink, depth)
}

fn read_format<S: Source>(
    name: &str,
    format: Format,
    src: &mut S,
    sink: &mut dyn FrameSink,
) -> Result<ReadStats, CaptureError> {
    let mut out = Emitter::new(name, sink);
    match format {
        Format::Pcap => pcap::read(src, &mut out)?,
        Format::Pcapng => pcapng::read(src, &mut out)?,
        Format::Gzip => unreachable!("gzip is unwrapped before the format readers"),
    }
    Ok(out.finish(src.offset()))
}

/// The error for first bytes that are no capture we know.
fn undetected(name: &str, detected: Detected, head: &[u8], gzip_depth: u32) -> CaptureError {
    let path = name.to_string();
    match detected {
        Detected::Empty if gzip_depth > 0 => {
            CaptureError::Corrupt { path, offset: 0, message: "the compressed file holds no data".to_string() }
        }
        Detected::Empty => CaptureError::Empty { path },
        Detected::Short => CaptureError::Corrupt {
            path,
            offset: 0,
            message: format!("the file ends inside the capture header ({} bytes)", head.len()),
        },
        _ => {
            let mut magic = detect::describe_magic(head);
            if gzip_depth > 0 {
                magic.push_str(", after gzip decompression");
            }
            CaptureError::NotACapture { path, magic }
        }
    }
}

/// A failure to read the first bytes: for a gzip stream a data error means a damaged file.
fn head_error(name: &str, e: io::Error, gzip_depth: u32) -> CaptureError {
    let path = name.to_string();
    let data_error =
        matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof);
    if gzip_depth > 0 && data_error {
        CaptureError::Corrupt { path, offset: 0, message: format!("the compressed data is damaged ({e})") }
    } else {
        CaptureError::Io { path, source: e }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::testutil::Collect;
    use crate::capture::{LinkType, PcapWriter, Timestamp};
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn sample_pcap(n: usize) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).unwrap();
        for i in 0..n {
            let data = vec![i as u8; i % 100];
            w.write_packet(Timestamp(1_000_000_000 * i as i64 + 1000), &data, 60.max(data.len() as u32)).unwrap();
        }
        w.into_inner()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Hands out a few bytes per read, as a pipe does.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let k = self.0.len().min(out.len()).min(self.1);
            out[..k].copy_from_slice(&self.0[..k]);
            self.0 = &self.0[k..];
            Ok(k)
        }
    }

    fn by_bytes(bytes: &[u8]) -> (Result<ReadStats, CaptureError>, Collect) {
        let mut sink = Collect::default();
        (read_bytes("t", bytes, &mut sink), sink)
    }

    fn by_stream(bytes: &[u8], chunk: usize) -> (Result<ReadStats, CaptureError>, Collect) {
        let mut sink = Collect::default();
        (read_stream("t", Trickle(bytes, chunk), &mut sink), sink)
    }

    #[test]
    fn gzip_round_trip_in_memory_and_streamed() {
        let plain = sample_pcap(300);
        let gz = gzip(&plain);
        let (r0, plain_sink) = by_bytes(&plain);
        let stats = r0.unwrap();
        assert_eq!(stats.frames, 300);
        for (r, sink) in [by_bytes(&gz), by_stream(&gz, 7), by_stream(&plain, 5)] {
            assert_eq!(r.unwrap(), stats);
            assert_eq!(sink.frames, plain_sink.frames);
        }
        // Two gzip members back to back are one stream, and gzip inside gzip unwraps.
        let mut two = gz.clone();
        two.extend(gzip(&[]));
        assert_eq!(by_bytes(&two).0.unwrap().frames, 300);
        assert_eq!(by_stream(&gzip(&gz), 1000).0.unwrap().frames, 300);
    }

    #[test]
    fn cut_short_gzip_keeps_what_was_decompressed() {
        let gz = gzip(&sample_pcap(3000));
        let (r, sink) = by_stream(&gz[..gz.len() / 2], 4096);
        let stats = r.unwrap();
        assert!(stats.truncated);
        assert!(stats.frames > 100 && stats.frames < 3000, "{}", stats.frames);
        assert_eq!(sink.frames.len() as u64, stats.frames);
        assert_eq!(sink.warnings.len(), 1, "{:?}", sink.warnings);
        assert!(sink.warnings[0].offset >= stats.bytes);
    }

    #[test]
    fn early_stop_is_reported() {
        let mut sink = Collect { stop_after: Some(2), ..Collect::default() };
        let stats = read_bytes("t", &sample_pcap(10), &mut sink).unwrap();
        assert_eq!((stats.frames, stats.stopped), (2, true));
        assert_eq!(sink.frames.len(), 2);
    }

    #[test]
    fn not_a_capture_empty_and_short() {
        let err = by_bytes(b"<html><body>").0.unwrap_err();
        assert!(matches!(err, CaptureError::NotACapture { .. }));
        assert_eq!(
            err.to_string(),
            "t: not a pcap or pcapng capture (first bytes 3c 68 74 6d 6c 3e 3c 62: looks like text)"
        );
        assert!(matches!(by_bytes(b"").0, Err(CaptureError::Empty { .. })));
        assert!(matches!(by_stream(b"", 1).0, Err(CaptureError::Empty { .. })));
        assert!(matches!(by_stream(b"\xd4\xc3", 1).0, Err(CaptureError::Corrupt { offset: 0, .. })));
        let err = by_stream(&gzip(b"hello world"), 3).0.unwrap_err().to_string();
        assert!(err.ends_with("after gzip decompression)"), "{err}");
        let err = by_bytes(&[0x1f, 0x8b, 0, 0, 0, 0]).0.unwrap_err();
        assert!(matches!(err, CaptureError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn read_path_maps_files_and_streams_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.cap");
        std::fs::write(&file, sample_pcap(5)).unwrap();
        let mut sink = Collect::default();
        assert_eq!(read_path(&file, &mut sink).unwrap().frames, 5);
        let gz = dir.path().join("x.pcap");
        std::fs::write(&gz, gzip(&sample_pcap(5))).unwrap();
        assert_eq!(read_path(&gz, &mut Collect::default()).unwrap().frames, 5);
        let empty = dir.path().join("empty.pcap");
        std::fs::write(&empty, b"").unwrap();
        let err = read_path(&empty, &mut sink).unwrap_err().to_string();
        assert!(err.contains("empty.pcap: the file is empty"), "{err}");
        let missing = read_path(&dir.path().join("nope.pcap"), &mut sink).unwrap_err();
        assert!(matches!(missing, CaptureError::Io { .. }));
        // /proc files report size 0: they must be read, not mapped.
        let proc_file = Path::new("/proc/self/status");
        if proc_file.exists() {
            let err = read_path(proc_file, &mut sink).unwrap_err();
            assert!(matches!(err, CaptureError::NotACapture { .. }), "{err}");
        }
    }

    #[test]
    fn huge_skipped_block_streams_in_bounded_memory() {
        use crate::capture::endian::Endian;
        use crate::capture::testutil::Ng;
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None).block(0x99, &vec![0; 8 << 20]).epb(0, 1, b"after", 5);
        let (r, sink) = by_stream(&ng.v, 1 << 16);
        assert_eq!(r.unwrap().frames, 1);
        assert_eq!(sink.frames[0].data, b"after");
    }

    /// Public captures from Zeek's and Suricata's test suites, when the shared corpus is here
    /// (it is not part of the repository; CI does without).
    fn corpus() -> Option<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        dir.join("captures.tsv").exists().then_some(dir)
    }

    #[test]
    fn corpus_frame_counts_match_the_index() {
        let Some(dir) = corpus() else { return };
        let index = std::fs::read_to_string(dir.join("captures.tsv")).unwrap();
        let header: Vec<&str> = index.lines().next().unwrap().split('\t').collect();
        let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
        let (packets_col, file_col) = (col("packets"), col("capture"));
        let mut checked = 0;
        for line in index.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let Ok(expected) = cols[packets_col].parse::<u64>() else {
                continue;
            };
            let mut sink = Collect::default();
            let stats = read_path(&dir.join(cols[file_col]), &mut sink).unwrap();
            assert_eq!(stats.frames, expected, "{}", cols[file_col]);
            assert!(sink.warnings.is_empty(), "{}: {:?}", cols[file_col], sink.warnings);
            checked += 1;
        }
        assert!(checked > 10);
    }

    #[test]
    fn corpus_gzip_twin_and_pcapng() {
        let Some(dir) = corpus() else { return };
        let plain = dir.join("zeek/smtp__smtp-many-addresses.pcap");
        let gz = dir.join("zeek/smtp__smtp-many-addresses.pcap.gz");
        let (mut a, mut b) = (Collect::default(), Collect::default());
        assert_eq!(read_path(&plain, &mut a).unwrap().frames, 2508);
        assert_eq!(read_path(&gz, &mut b).unwrap().frames, 2508);
        assert_eq!(a.frames, b.frames);
        let gz_bytes = std::fs::read(&gz).unwrap();
        let mut c = Collect::default();
        read_stream("gz", &gz_bytes[..], &mut c).unwrap();
        assert_eq!(a.frames, c.frames);

        let ng = dir.join("zeek/smtp__smtp-bdat-cmd-invalid.pcapng");
        let mut sink = Collect::default();
        let stats = read_path(&ng, &mut sink).unwrap();
        assert_eq!((stats.frames, stats.truncated), (66, false));
        assert!(sink.frames.iter().all(|f| f.link_type == LinkType::ETHERNET));
        assert!(sink.frames.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn corpus_damaged_pcap_delivers_18_frames_then_warns() {
        let Some(dir) = corpus() else { return };
        let path = dir.join("suricata/smtp-to-comma__10.7.29.101_49898-178.63.41.150_25.pcap");
        let mut sink = Collect::default();
        let stats = read_path(&path, &mut sink).unwrap();
        assert_eq!((stats.frames, stats.truncated, stats.corrupt), (18, true, true));
        assert_eq!(sink.warnings.len(), 1);
        assert_eq!(sink.warnings[0].offset, 3695);
        assert_eq!(
            sink.warnings[0].message,
            "packet 19 claims 3925868813 captured bytes, more than any capture holds (262144): the file is damaged here and the rest of it is ignored"
        );
    }

    /// A small pcapng with two interfaces, for the property tests.
    fn sample_pcapng() -> Vec<u8> {
        use crate::capture::endian::Endian;
        use crate::capture::testutil::Ng;
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None).idb(101, 0, Some(9), None);
        for i in 0..20u32 {
            ng.epb(i % 2, i as u64 * 1000, &vec![i as u8; i as usize], i + 40);
        }
        ng.block(0x99, &[1; 9]).spb(b"tail", 4);
        ng.v
    }

    /// Everything a read reports, for comparing two ways of reading the same bytes.
    fn outcome(r: (Result<ReadStats, CaptureError>, Collect)) -> String {
        let (r, sink) = r;
        format!("{:?} {:?} {:?}", r.map_err(|e| e.to_string()), sink.frames, sink.warnings)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        #[test]
        fn any_bytes_never_panic_and_both_paths_agree(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            chunk in 1usize..64,
        ) {
            // Random bytes rarely pass the magic check: give half of them a real header.
            for prefix in [&[][..], &sample_pcap(0)[..], &sample_pcapng()[..48]] {
                let mut input = prefix.to_vec();
                input.extend(&bytes);
                proptest::prop_assert_eq!(outcome(by_bytes(&input)), outcome(by_stream(&input, chunk)));
            }
        }

        #[test]
        fn mutated_captures_never_panic_and_both_paths_agree(
            pcapng in proptest::prelude::any::<bool>(),
            flips in proptest::collection::vec((0usize..4000, proptest::prelude::any::<u8>()), 1..6),
        ) {
            let mut input = if pcapng { sample_pcapng() } else { sample_pcap(30) };
            for (at, v) in flips {
                let n = input.len();
                input[at % n] = v;
            }
            proptest::prop_assert_eq!(outcome(by_bytes(&input)), outcome(by_stream(&input, 13)));
        }

        #[test]
        fn cut_anywhere_keeps_every_whole_record(pcapng in proptest::prelude::any::<bool>(), cut in 0usize..5000) {
            let full = if pcapng { sample_pcapng() } else { sample_pcap(40) };
            let (r, all) = by_bytes(&full);
            let total = r.unwrap().frames;
            let cut = cut % (full.len() + 1);
            let (r, sink) = by_bytes(&full[..cut]);
            let header = if pcapng { 28 } else { 24 };
            if cut < header {
                proptest::prop_assert!(r.is_err());
                return Ok(());
            }
            let stats = r.unwrap();
            proptest::prop_assert_eq!(&all.frames[..sink.frames.len()], &sink.frames[..]);
            proptest::prop_assert_eq!(stats.bytes as usize == cut, !stats.truncated);
            proptest::prop_assert_eq!(sink.warnings.len(), stats.truncated as usize);
            proptest::prop_assert!(!stats.corrupt);
            if cut == full.len() {
                proptest::prop_assert_eq!(stats.frames, total);
            }
        }
    }
}
