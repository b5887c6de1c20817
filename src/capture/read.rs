//! The public entry points: pick the way in (memory map, stream, gzip), detect the format by
//! its magic, and hand the bytes to the pcap or pcapng reader.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::detect::{self, Detected, Format};
use super::emit::Emitter;
use super::source::{SliceSource, Source, StreamSource};
use super::{CaptureError, FrameSink, ReadStats, pcap, pcapng};

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
    if path.as_os_str() == "-" {
        return read_stream(STDIN_NAME, io::stdin().lock(), sink);
    }
    let name = path.display().to_string();
    let io_err = |source| CaptureError::Io {
        path: name.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    // A size of 0 is what /proc files and empty files report: stream them, the map would be empty.
    if meta.is_file() && meta.len() > 0 {
        // SAFETY: the map is only read. Another process appending to the file (a running
        // tcpdump) is harmless; one truncating it under us could fault the read, a risk every
        // mmap-based reader takes for the speed of not copying.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            return read_bytes(&name, &map, sink);
        }
    }
    read_stream(&name, file, sink)
}

/// Read a capture held in memory (used by fuzzing and tests); `name` is used in errors.
pub fn read_bytes(
    name: &str,
    bytes: &[u8],
    sink: &mut dyn FrameSink,
) -> Result<ReadStats, CaptureError> {
    let head = &bytes[..bytes.len().min(HEAD_LEN)];
    match detect::detect(head) {
        Detected::Known(Format::Gzip) => read_gzip(name, bytes, sink, 1),
        Detected::Known(format) => read_format(name, format, &mut SliceSource::new(bytes), sink),
        other => Err(undetected(name, other, head, 0)),
    }
}

/// Read a capture from any byte stream in bounded memory (stdin, gzip).
pub fn read_stream(
    name: &str,
    mut reader: impl Read,
    sink: &mut dyn FrameSink,
) -> Result<ReadStats, CaptureError> {
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
    let head = src
        .peek(HEAD_LEN)
        .map_err(|e| head_error(name, e, gzip_depth))?;
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
        let message =
            format!("gzip nested more than {MAX_GZIP_DEPTH} deep: not decompressing further");
        return Err(CaptureError::Corrupt {
            path: name.to_string(),
            offset: 0,
            message,
        });
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
        Detected::Empty if gzip_depth > 0 => CaptureError::Corrupt {
            path,
            offset: 0,
            message: "the compressed file holds no data".to_string(),
        },
        Detected::Empty => CaptureError::Empty { path },
        Detected::Short => CaptureError::Corrupt {
            path,
            offset: 0,
            message: format!(
                "the file ends inside the capture header ({} bytes)",
                head.len()
            ),
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
    let data_error = matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    );
    if gzip_depth > 0 && data_error {
        CaptureError::Corrupt {
            path,
            offset: 0,
            message: format!("the compressed data is damaged ({e})"),
        }
    } else {
        CaptureError::Io { path, source: e }
    }
}
