//! Classic libpcap files: a 24-byte file header, then records of a 16-byte header and the
//! captured bytes. Records carry no marker, so after a damaged record length there is no
//! reliable way to find the next record: the reader stops there, keeping what it delivered.

use super::emit::Emitter;
use super::endian::Endian;
use super::source::Source;
use super::{CaptureError, LinkType, MAX_CAPLEN, Timestamp};

pub(crate) const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
/// Alexey Kuznetzov's patched libpcap appends ifindex, protocol, pkt_type and padding.
const KUZNETZOV_EXTRA: usize = 8;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const MAGIC_KUZNETZOV: u32 = 0xa1b2_cd34;

/// What the file header says about every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileHeader {
    pub endian: Endian,
    pub nanos: bool,
    pub record_header_len: usize,
    pub snaplen: u32,
    pub link_type: LinkType,
}

pub(crate) fn parse_file_header(h: &[u8]) -> Option<FileHeader> {
    if h.len() < FILE_HEADER_LEN {
        return None;
    }
    let le = Endian::Little.u32(h, 0);
    let (endian, magic) = if [MAGIC_MICROS, MAGIC_NANOS, MAGIC_KUZNETZOV].contains(&le) {
        (Endian::Little, le)
    } else {
        (Endian::Big, le.swap_bytes())
    };
    let (nanos, extra) = match magic {
        MAGIC_MICROS => (false, 0),
        MAGIC_NANOS => (true, 0),
        MAGIC_KUZNETZOV => (false, KUZNETZOV_EXTRA),
        _ => return None,
    };
    Some(FileHeader {
        endian,
        nanos,
        record_header_len: RECORD_HEADER_LEN + extra,
        snaplen: endian.u32(h, 16),
        // The upper 16 bits hold FCS-length flags, not the link type.
        link_type: LinkType(endian.u32(h, 20) & 0xffff),
    })
}

/// Reads a pcap file from its first byte, delivering every record to `out`.
pub(crate) fn read<S: Source>(src: &mut S, out: &mut Emitter<'_>) -> Result<(), CaptureError> {
    let head = src.peek(FILE_HEADER_LEN).map_err(|e| CaptureError::Io { path: out.name.to_string(), source: e })?;
    if head.len() < FILE_HEADER_LEN {
        return Err(out.fatal(
            0,
            format!("the file ends inside the pcap file header ({} of {FILE_HEADER_LEN} bytes)", head.len()),
        ));
    }
    let Some(hdr) = parse_file_header(head) else {
        return Err(out.fatal(0, "unknown pcap magic number".to_string()));
    };
    src.consume(FILE_HEADER_LEN);
    read_records(src, out, &hdr)
}

fn read_records<S: Source>(src: &mut S, out: &mut Emitter<'_>, hdr: &FileHeader) -> Result<(), CaptureError> {
    let rh = hdr.record_header_len;
    loop {
        let at = src.offset();
        let number = out.next_number();
        let buf = match src.peek(rh) {
            Ok(b) => b,
            Err(e) => return out.read_failed(at, e),
        };
        if buf.is_empty() {
            return Ok(());
        }
        if buf.len() < rh {
            let msg = format!(
                "capture ends in the middle of the header of packet {number} ({} of {rh} bytes): the rest of the file is ignored",
                buf.len()
            );
            out.truncated(at, msg);
            return Ok(());
        }
        let [secs, frac, caplen, orig_len] = hdr.endian.u32x4(buf);
        if let Some(msg) = check_caplen(number, caplen, hdr.snaplen) {
            out.corrupt(at, msg);
            return Ok(());
        }
        // check_caplen bounded caplen, so this peek buffers at most MAX_CAPLEN + rh bytes.
        let total = rh + caplen as usize;
        let buf = match src.peek(total) {
            Ok(b) => b,
            Err(e) => return out.read_failed(at, e),
        };
        if buf.len() < total {
            let msg = format!(
                "capture ends in the middle of packet {number} (record header says {caplen} bytes, {} left): the rest of the file is ignored",
                buf.len() - rh
            );
            out.truncated(at, msg);
            return Ok(());
        }
        let (secs, frac) = (i64::from(secs), i64::from(frac));
        let frac_nanos = if hdr.nanos { frac } else { frac * 1000 };
        let ts = Timestamp(secs * 1_000_000_000 + frac_nanos);
        super::prefetch_ahead(buf, total);
        let flow = out.deliver(ts, hdr.link_type, &buf[rh..total], orig_len, at);
        src.consume(total);
        if flow.is_break() {
            return Ok(());
        }
    }
}

/// Why a record's captured length cannot be right, if it cannot.
pub(crate) fn check_caplen(number: u64, caplen: u32, snaplen: u32) -> Option<String> {
    if caplen > MAX_CAPLEN {
        return Some(format!(
            "packet {number} claims {caplen} captured bytes, more than any capture holds ({MAX_CAPLEN}): the file is damaged here and the rest of it is ignored"
        ));
    }
    // A snaplen of 0 is "unknown" in files from some converters, not "nothing captured".
    if snaplen != 0 && caplen > snaplen {
        return Some(format!(
            "packet {number} claims {caplen} captured bytes, more than the file's snapshot length of {snaplen}: the file is damaged here and the rest of it is ignored"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::source::SliceSource;
    use crate::capture::testutil::Collect;
    use crate::capture::{PcapWriter, ReadStats};

    /// A pcap with any byte order, precision and records, for cases the writer does not make.
    fn pcap(endian: Endian, magic: u32, snaplen: u32, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(endian.put_u32(magic));
        v.extend(endian.put_u16(2));
        v.extend(endian.put_u16(4));
        v.extend([0; 8]);
        v.extend(endian.put_u32(snaplen));
        v.extend(endian.put_u32(1));
        for &(secs, frac, data, orig) in records {
            v.extend(endian.put_u32(secs));
            v.extend(endian.put_u32(frac));
            v.extend(endian.put_u32(data.len() as u32));
            v.extend(endian.put_u32(orig));
            if magic == MAGIC_KUZNETZOV {
                v.extend([0; KUZNETZOV_EXTRA]);
            }
            v.extend(data);
        }
        v
    }

    fn run(bytes: &[u8]) -> (Result<ReadStats, CaptureError>, Collect) {
        let mut sink = Collect::default();
        let mut out = Emitter::new("t.pcap", &mut sink);
        let mut src = SliceSource::new(bytes);
        let r = read(&mut src, &mut out).map(|()| out.finish(src.offset()));
        (r, sink)
    }

    #[test]
    fn both_byte_orders_and_precisions() {
        let recs: &[(u32, u32, &[u8], u32)] = &[(10, 5, b"abc", 60), (11, 999_999, b"", 0)];
        for endian in [Endian::Little, Endian::Big] {
            for (magic, unit) in [(MAGIC_MICROS, 1000), (MAGIC_NANOS, 1), (MAGIC_KUZNETZOV, 1000)] {
                let bytes = pcap(endian, magic, 65535, recs);
                let (r, sink) = run(&bytes);
                let stats = r.unwrap();
                assert_eq!(stats.frames, 2, "{endian:?} {magic:x}");
                assert_eq!(stats.bytes, bytes.len() as u64);
                assert!(!stats.truncated && sink.warnings.is_empty());
                let f = &sink.frames;
                assert_eq!((f[0].number, f[0].data.as_slice(), f[0].orig_len), (1, &b"abc"[..], 60));
                assert_eq!(f[0].ts, Timestamp(10_000_000_000 + 5 * unit));
                assert_eq!(f[1].ts, Timestamp(11_000_000_000 + 999_999 * unit));
                assert_eq!((f[1].number, f[1].data.len()), (2, 0));
                assert_eq!(f[0].link_type, LinkType::ETHERNET);
            }
        }
    }

    #[test]
    fn truncated_last_record_keeps_earlier_frames() {
        let mut bytes = pcap(Endian::Little, MAGIC_MICROS, 65535, &[(1, 0, b"first", 5), (2, 0, b"second!", 7)]);
        let second_at = (FILE_HEADER_LEN + RECORD_HEADER_LEN + 5) as u64;
        bytes.truncate(bytes.len() - 3);
        let (r, sink) = run(&bytes);
        let stats = r.unwrap();
        assert_eq!((stats.frames, stats.truncated, stats.corrupt), (1, true, false));
        assert_eq!(sink.warnings.len(), 1);
        assert_eq!(sink.warnings[0].offset, second_at);
        assert_eq!(
            sink.warnings[0].message,
            "capture ends in the middle of packet 2 (record header says 7 bytes, 4 left): the rest of the file is ignored"
        );
    }

    #[test]
    fn truncated_record_header() {
        let mut bytes = pcap(Endian::Big, MAGIC_NANOS, 65535, &[(1, 0, b"x", 1), (2, 0, b"y", 1)]);
        bytes.truncate(bytes.len() - 10);
        let (r, sink) = run(&bytes);
        assert_eq!(r.unwrap().frames, 1);
        assert!(
            sink.warnings[0]
                .message
                .starts_with("capture ends in the middle of the header of packet 2 (7 of 16 bytes)")
        );
    }

    #[test]
    fn caplen_beyond_snaplen_stops_with_warning() {
        let bytes = pcap(Endian::Little, MAGIC_MICROS, 4, &[(1, 0, b"ok", 2), (2, 0, b"too long", 8), (3, 0, b"", 0)]);
        let (r, sink) = run(&bytes);
        let stats = r.unwrap();
        assert_eq!((stats.frames, stats.truncated, stats.corrupt), (1, true, true));
        assert_eq!(sink.warnings[0].offset, (FILE_HEADER_LEN + RECORD_HEADER_LEN + 2) as u64);
        assert!(sink.warnings[0].message.contains("snapshot length of 4"), "{}", sink.warnings[0].message);
    }

    #[test]
    fn absurd_caplen_stops_even_with_huge_snaplen() {
        let mut bytes = pcap(Endian::Little, MAGIC_MICROS, 0, &[(1, 0, b"ok", 2)]);
        bytes.extend([0, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0x2f, 0x00, 0xea, 0, 0, 0, 0]);
        bytes.extend([0; 2000]);
        let (r, sink) = run(&bytes);
        assert_eq!(r.unwrap().frames, 1);
        assert_eq!(
            sink.warnings[0].message,
            "packet 2 claims 3925880589 captured bytes, more than any capture holds (262144): the file is damaged here and the rest of it is ignored"
        );
    }

    #[test]
    fn header_only_and_short_header() {
        let bytes = pcap(Endian::Little, MAGIC_MICROS, 65535, &[]);
        let (r, _) = run(&bytes);
        assert_eq!(r.unwrap(), ReadStats { bytes: 24, ..ReadStats::default() });
        let (r, _) = run(&bytes[..10]);
        let err = r.unwrap_err().to_string();
        assert_eq!(err, "t.pcap: offset 0: the file ends inside the pcap file header (10 of 24 bytes)");
    }

    #[test]
    fn writer_output_reads_back() {
        let mut w = PcapWriter::new_nanos(Vec::new(), LinkType::RAW, 100).unwrap();
        w.write_packet(Timestamp(1_500_000_000_123_456_789), &[0x45; 150], 1500).unwrap();
        let (r, sink) = run(&w.into_inner());
        assert_eq!(r.unwrap().frames, 1);
        let f = &sink.frames[0];
        assert_eq!((f.data.len(), f.orig_len, f.link_type), (100, 1500, LinkType::RAW));
        assert_eq!(f.ts, Timestamp(1_500_000_000_123_456_789));
    }
}
