//! pcapng files: a sequence of blocks (type, length, body, length again). A section header
//! sets the byte order and forgets the interfaces of the section before; interface blocks give
//! each packet its link type and timestamp unit. Unknown blocks are legal and skipped.

use std::fmt;
use std::io;
use std::ops::ControlFlow;

use super::emit::Emitter;
use super::endian::Endian;
use super::pcap::check_caplen;
use super::source::Source;
use super::{CaptureError, LinkType, MAX_CAPLEN, Timestamp};

pub(super) const SHB: u32 = 0x0a0d_0d0a;
pub(super) const IDB: u32 = 1;
pub(super) const PB: u32 = 2;
pub(super) const SPB: u32 = 3;
pub(super) const NRB: u32 = 4;
pub(super) const ISB: u32 = 5;
pub(super) const EPB: u32 = 6;
const DSB: u32 = 0x0a;
const CB_COPY: u32 = 0x0bad;
const CB_NOCOPY: u32 = 0x4000_0bad;
pub(super) const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

/// Type, length, and trailing length: the smallest possible block.
pub(super) const BLOCK_OVERHEAD: usize = 12;
const SHB_MIN: usize = 28;
const IDB_MIN: usize = 20;
const EPB_MIN: usize = 32;
const SPB_MIN: usize = 16;
/// Offset of the packet data in EPB and PB blocks.
const PACKET_DATA_AT: usize = 28;

/// Largest packet block buffered: the largest packet, its fixed fields, and room for options
/// (comments, hashes). Anything longer is damage; this also bounds a stream's buffer.
const MAX_PACKET_BLOCK: u64 = MAX_CAPLEN as u64 + 64 * 1024;
/// Largest section header or interface block: they hold only names, comments, and settings.
const MAX_META_BLOCK: u64 = 1024 * 1024;
/// Interfaces remembered per section: keeps a hostile file from growing memory without end.
const MAX_INTERFACES: usize = 65_536;

pub(super) const IF_TSRESOL: u16 = 9;
pub(super) const IF_TSOFFSET: u16 = 14;

/// How an interface counts time: 10^-n or 2^-n seconds per unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolution {
    Pow10(u8),
    Pow2(u8),
}

impl Resolution {
    /// The `if_tsresol` option: high bit set means a power of two.
    fn from_option(b: u8) -> Self {
        if b & 0x80 != 0 { Resolution::Pow2(b & 0x7f) } else { Resolution::Pow10(b) }
    }

    fn to_nanos(self, units: u64) -> i128 {
        let units = units as i128;
        match self {
            Resolution::Pow10(n) if n <= 9 => units * 10i128.pow(9 - n as u32),
            // A unit finer than i128 can express rounds every timestamp to 0.
            Resolution::Pow10(n) => 10i128.checked_pow(n as u32 - 9).map_or(0, |d| units / d),
            // units < 2^64 and 10^9 < 2^30, so the product fits; n <= 127 keeps the shift valid.
            Resolution::Pow2(n) => (units * 1_000_000_000) >> n,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    resolution: Resolution,
    /// `if_tsoffset`: seconds to add to every timestamp of this interface.
    offset_secs: i64,
}

impl Interface {
    fn timestamp(&self, units: u64) -> Timestamp {
        let nanos = self.resolution.to_nanos(units) + self.offset_secs as i128 * 1_000_000_000;
        Timestamp(nanos.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }
}

/// Why reading stopped, with the message before its ending (a warning and a fatal error end
/// differently).
enum Problem {
    Truncated(u64, String),
    Corrupt(u64, String),
    Io(u64, io::Error),
}

struct Reader {
    endian: Endian,
    /// Interfaces of the current section, by id.
    interfaces: Vec<Interface>,
    /// Until the first section header is accepted, every problem means "not readable at all".
    in_section: bool,
    warned_orphan: bool,
    warned_too_many: bool,
    /// Simple Packet Blocks carry no timestamp: they get the last one seen, so time never runs
    /// backwards for the stages after us.
    last_ts: Timestamp,
}

/// Reads a pcapng file from its first byte, delivering every packet to `out`.
pub(crate) fn read<S: Source>(src: &mut S, out: &mut Emitter<'_>) -> Result<(), CaptureError> {
    let mut r = Reader {
        endian: Endian::Little,
        interfaces: Vec::new(),
        in_section: false,
        warned_orphan: false,
        warned_too_many: false,
        last_ts: Timestamp(0),
    };
    loop {
        match r.block(src, out) {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => return Ok(()),
            Err(p) if !r.in_section => return Err(fatal(out, p)),
            Err(Problem::Io(at, e)) => return out.read_failed(at, e),
            Err(Problem::Truncated(at, msg)) => {
                out.truncated(at, format!("{msg}: the rest of the file is ignored"));
                return Ok(());
            }
            Err(Problem::Corrupt(at, msg)) => {
                out.corrupt(at, format!("{msg}: the file is damaged here and the rest of it is ignored"));
                return Ok(());
            }
        }
    }
}

fn fatal(out: &Emitter<'_>, p: Problem) -> CaptureError {
    match p {
        Problem::Io(_, source) => CaptureError::Io { path: out.name.to_string(), source },
        Problem::Truncated(at, msg) | Problem::Corrupt(at, msg) => out.fatal(at, msg),
    }
}

/// How messages name a block: packets by number, the rest by kind. Formatted only when a
/// message is written, so the packet path allocates nothing.
#[derive(Clone, Copy)]
struct What {
    block_type: u32,
    number: u64,
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.block_type {
            SHB => f.write_str("a section header block"),
            IDB => f.write_str("an interface description block"),
            EPB | PB | SPB => write!(f, "packet {}", self.number),
            NRB => f.write_str("a name resolution block"),
            ISB => f.write_str("an interface statistics block"),
            DSB => f.write_str("a decryption secrets block"),
            CB_COPY | CB_NOCOPY => f.write_str("a custom block"),
            t => write!(f, "a block of unknown type 0x{t:08x}"),
        }
    }
}

impl Reader {
    /// Reads one block. `Break` means the capture ended cleanly or the sink asked to stop.
    fn block<S: Source>(&mut self, src: &mut S, out: &mut Emitter<'_>) -> Result<ControlFlow<()>, Problem> {
        let at = src.offset();
        let head = src.peek(BLOCK_OVERHEAD).map_err(|e| Problem::Io(at, e))?;
        if head.is_empty() {
            return Ok(ControlFlow::Break(()));
        }
        if head.len() < BLOCK_OVERHEAD {
            let msg =
                format!("capture ends in the middle of a block header ({} of {BLOCK_OVERHEAD} bytes)", head.len());
            return Err(Problem::Truncated(at, msg));
        }
        let (what, endian, len) = self.block_header(head, at, out.next_number())?;
        let block_type = what.block_type;
        let (min, max) = match block_type {
            SHB => (SHB_MIN, MAX_META_BLOCK),
            IDB => (IDB_MIN, MAX_META_BLOCK),
            EPB | PB => (EPB_MIN, MAX_PACKET_BLOCK),
            SPB => (SPB_MIN, MAX_PACKET_BLOCK),
            _ => return skip_block(src, at, len, endian, what),
        };
        if len < min as u64 {
            let msg = format!("{what} has a block of {len} bytes, too short for its fixed fields ({min} bytes)");
            return Err(Problem::Corrupt(at, msg));
        }
        if len > max {
            let msg = format!("{what} claims a block of {len} bytes, far more than it can need");
            return Err(Problem::Corrupt(at, msg));
        }
        let len = len as usize;
        if !matches!(block_type, SHB | IDB)
            && let Ok(rest) = src.peek(len)
        {
            super::prefetch_ahead(rest, len);
        }
        let b = whole_block(src, at, len, endian, what)?;
        match block_type {
            SHB => {
                self.endian = endian;
                self.interfaces.clear();
                self.in_section = true;
            }
            IDB => {
                if self.interfaces.len() < MAX_INTERFACES {
                    self.interfaces.push(parse_idb(b, endian));
                } else if !self.warned_too_many {
                    self.warned_too_many = true;
                    let msg = format!(
                        "the capture describes more than {MAX_INTERFACES} interfaces in one section: packets on the others are skipped"
                    );
                    out.warn(at, msg);
                }
            }
            _ => {
                let flow = self.packet(b, block_type, at, out)?;
                src.consume(len);
                return Ok(flow);
            }
        }
        src.consume(len);
        Ok(ControlFlow::Continue(()))
    }

    /// Type, byte order and length of the block starting with `head` (at least 12 bytes).
    fn block_header(&self, head: &[u8], at: u64, number: u64) -> Result<(What, Endian, u64), Problem> {
        let block_type = self.endian.u32(head, 0);
        let what = What { block_type, number };
        // The section header's type reads the same in both byte orders; its byte-order magic
        // decides how to read everything after it, its own length included.
        let endian = if block_type == SHB {
            match self.endian.u32(head, 8) {
                BYTE_ORDER_MAGIC => self.endian,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => match self.endian {
                    Endian::Little => Endian::Big,
                    Endian::Big => Endian::Little,
                },
                _ => {
                    let msg = format!("{what} has byte-order magic {:02x?}, not 1a 2b 3c 4d", &head[8..12]);
                    return Err(Problem::Corrupt(at, msg));
                }
            }
        } else {
            self.endian
        };
        let len = endian.u32(head, 4) as u64;
        if !len.is_multiple_of(4) || len < BLOCK_OVERHEAD as u64 {
            let msg = format!(
                "{what} has an impossible block length of {len} bytes (block lengths are multiples of 4, at least 12)"
            );
            return Err(Problem::Corrupt(at, msg));
        }
        Ok((what, endian, len))
    }

    /// Delivers the packet of an EPB, PB or SPB whose whole block is `b`.
    fn packet(
        &mut self,
        b: &[u8],
        block_type: u32,
        at: u64,
        out: &mut Emitter<'_>,
    ) -> Result<ControlFlow<()>, Problem> {
        let e = self.endian;
        let number = out.next_number();
        let (iface_id, units, caplen, orig_len, data_at) = match block_type {
            SPB => (0, None, None, e.u32(b, 8), 12),
            // The obsolete Packet Block has a 16-bit interface id followed by a drops count.
            PB => (e.u16(b, 8) as u32, Some(ts_units(e, b)), Some(e.u32(b, 20)), e.u32(b, 24), PACKET_DATA_AT),
            _ => (e.u32(b, 8), Some(ts_units(e, b)), Some(e.u32(b, 20)), e.u32(b, 24), PACKET_DATA_AT),
        };
        let Some(iface) = self.interfaces.get(iface_id as usize).copied() else {
            out.take_number();
            if !self.warned_orphan {
                self.warned_orphan = true;
                let msg = format!(
                    "packet {number} refers to interface {iface_id}, which the capture never described: it and any later packets like it are skipped"
                );
                out.warn(at, msg);
            }
            return Ok(ControlFlow::Continue(()));
        };
        let room = b.len() - data_at - 4;
        let caplen = match caplen {
            Some(c) => c,
            // A Simple Packet Block holds min(original length, snaplen) bytes, padded.
            None => {
                let snap = if iface.snaplen == 0 { u32::MAX } else { iface.snaplen };
                orig_len.min(snap).min(room as u32)
            }
        };
        if let Some(msg) = check_caplen(number, caplen, 0) {
            return Err(Problem::Corrupt(at, msg));
        }
        if caplen as usize > room {
            let msg = format!("packet {number} says it holds {caplen} bytes, but its block has room for only {room}");
            return Err(Problem::Corrupt(at, msg));
        }
        let ts = units.map_or(self.last_ts, |u| iface.timestamp(u));
        self.last_ts = ts;
        let data = &b[data_at..data_at + caplen as usize];
        Ok(out.deliver(ts, iface.link_type, data, orig_len, at))
    }
}

/// Steps over a block we do not read without buffering it, checking its trailing length.
fn skip_block<S: Source>(
    src: &mut S,
    at: u64,
    len: u64,
    endian: Endian,
    what: What,
) -> Result<ControlFlow<()>, Problem> {
    src.consume(8);
    let body = len - BLOCK_OVERHEAD as u64;
    let got = src.skip(body).map_err(|e| Problem::Io(at, e))?;
    let trailer = if got == body { src.peek(4).map_err(|e| Problem::Io(at, e))? } else { &[] };
    if trailer.len() < 4 {
        let left = 8 + got + trailer.len() as u64;
        let msg = format!("capture ends in the middle of {what} (block says {len} bytes, {left} left)");
        return Err(Problem::Truncated(at, msg));
    }
    let t = endian.u32(trailer, 0) as u64;
    if t != len {
        return Err(Problem::Corrupt(at, format!("{what} ends with block length {t} but starts with {len}")));
    }
    src.consume(4);
    Ok(ControlFlow::Continue(()))
}

/// The whole block at the current position, its trailing length checked.
fn whole_block<S: Source>(src: &mut S, at: u64, len: usize, endian: Endian, what: What) -> Result<&[u8], Problem> {
    let b = src.peek(len).map_err(|e| Problem::Io(at, e))?;
    if b.len() < len {
        let msg = format!("capture ends in the middle of {what} (block says {len} bytes, {} left)", b.len());
        return Err(Problem::Truncated(at, msg));
    }
    let t = endian.u32(b, len - 4) as usize;
    if t != len {
        return Err(Problem::Corrupt(at, format!("{what} ends with block length {t} but starts with {len}")));
    }
    Ok(&b[..len])
}

fn ts_units(e: Endian, b: &[u8]) -> u64 {
    (e.u32(b, 12) as u64) << 32 | e.u32(b, 16) as u64
}

fn parse_idb(b: &[u8], e: Endian) -> Interface {
    let mut iface = Interface {
        link_type: LinkType(e.u16(b, 8) as u32),
        snaplen: e.u32(b, 12),
        resolution: Resolution::Pow10(6),
        offset_secs: 0,
    };
    // Options: code, length, value padded to 4 bytes. A malformed list ends the parsing but
    // not the block: the fixed fields are what matter.
    let mut opts = &b[16..b.len() - 4];
    while opts.len() >= 4 {
        let code = e.u16(opts, 0);
        let olen = e.u16(opts, 2) as usize;
        if code == 0 || 4 + olen > opts.len() {
            break;
        }
        let value = &opts[4..4 + olen];
        match code {
            IF_TSRESOL if olen >= 1 => iface.resolution = Resolution::from_option(value[0]),
            IF_TSOFFSET if olen >= 8 => iface.offset_secs = e.i64(value, 0),
            _ => {}
        }
        opts = &opts[(4 + olen.next_multiple_of(4)).min(opts.len())..];
    }
    iface
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::source::SliceSource;
    use crate::capture::testutil::{Collect, Ng};
    use crate::capture::{CaptureWarning, ReadStats};

    fn run(bytes: &[u8]) -> (Result<ReadStats, CaptureError>, Collect) {
        let mut sink = Collect::default();
        let mut out = Emitter::new("t.pcapng", &mut sink);
        let mut src = SliceSource::new(bytes);
        let r = read(&mut src, &mut out).map(|()| out.finish(src.offset()));
        (r, sink)
    }

    fn warning(sink: &Collect) -> &CaptureWarning {
        assert_eq!(sink.warnings.len(), 1, "{:?}", sink.warnings);
        &sink.warnings[0]
    }

    #[test]
    fn two_interfaces_two_link_types_and_resolutions() {
        for e in [Endian::Little, Endian::Big] {
            let mut ng = Ng::new(e);
            ng.shb(e)
                .idb(1, 65535, None, None)
                // 2^-10 s units, and an offset of 100 s.
                .idb(101, 65535, Some(0x80 | 10), Some(100))
                .epb(0, 1_500_000, b"eth", 60)
                .epb(1, 3 * 1024 + 512, b"raw!", 4)
                .pb(0, 7, b"old", 3);
            let (r, sink) = run(&ng.bytes());
            let stats = r.unwrap();
            assert_eq!((stats.frames, stats.truncated), (3, false));
            assert_eq!(stats.bytes, ng.v.len() as u64);
            let f = &sink.frames;
            assert_eq!((f[0].link_type, f[0].ts, f[0].orig_len), (LinkType::ETHERNET, Timestamp(1_500_000_000), 60));
            assert_eq!((f[1].link_type, f[1].data.as_slice()), (LinkType::RAW, &b"raw!"[..]));
            assert_eq!(f[1].ts, Timestamp(103_500_000_000));
            assert_eq!((f[2].number, f[2].ts, f[2].data.as_slice()), (3, Timestamp(7_000), &b"old"[..]));
            assert!(sink.warnings.is_empty());
        }
    }

    #[test]
    fn nanosecond_and_fine_resolutions() {
        assert_eq!(Resolution::from_option(9).to_nanos(5), 5);
        assert_eq!(Resolution::from_option(12).to_nanos(5_000), 5);
        assert_eq!(Resolution::from_option(0).to_nanos(2), 2_000_000_000);
        assert_eq!(Resolution::from_option(127).to_nanos(u64::MAX), 0);
        assert_eq!(Resolution::from_option(0xff).to_nanos(u64::MAX), 0);
        assert_eq!(Resolution::from_option(0x80).to_nanos(3), 3_000_000_000);
    }

    #[test]
    fn second_section_resets_interfaces_and_byte_order() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None).epb(0, 1, b"a", 1);
        ng.shb(Endian::Big).idb(113, 0, Some(9), None).epb(0, 2, b"b", 1).spb(b"simple", 6);
        let (r, sink) = run(&ng.bytes());
        assert_eq!(r.unwrap().frames, 3);
        let f = &sink.frames;
        assert_eq!((f[1].link_type, f[1].ts), (LinkType::LINUX_SLL, Timestamp(2)));
        // The Simple Packet Block has no timestamp: it keeps the previous one.
        assert_eq!((f[2].number, f[2].ts, f[2].data.as_slice()), (3, Timestamp(2), &b"simple"[..]));
    }

    #[test]
    fn simple_packet_block_cut_to_snaplen() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 4, None, None).spb(b"abcd", 1500);
        let (r, sink) = run(&ng.bytes());
        assert_eq!(r.unwrap().frames, 1);
        assert_eq!((sink.frames[0].data.as_slice(), sink.frames[0].orig_len), (&b"abcd"[..], 1500));
    }

    #[test]
    fn unknown_blocks_are_skipped_silently() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little)
            .block(0x0000_0bad, b"custom")
            .idb(1, 0, None, None)
            .block(NRB, &[0; 8])
            .block(0x1234_5678, &[1; 100])
            .epb(0, 1, b"x", 1)
            .block(ISB, &[0; 12]);
        let (r, sink) = run(&ng.bytes());
        assert_eq!(r.unwrap().frames, 1);
        assert!(sink.warnings.is_empty());
    }

    #[test]
    fn zero_and_one_byte_packets_are_frames() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None).epb(0, 1, b"", 0).epb(0, 2, b"z", 1);
        let (r, sink) = run(&ng.bytes());
        assert_eq!(r.unwrap().frames, 2);
        assert_eq!(sink.frames[0].data.len(), 0);
        assert_eq!(sink.frames[1].data, b"z");
    }

    #[test]
    fn corrupt_block_length_stops_with_offset() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None).epb(0, 1, b"good", 4);
        let bad_at = ng.v.len();
        ng.epb(0, 2, b"bad!", 4).epb(0, 3, b"lost", 4);
        ng.v[bad_at + 4] = 47; // not a multiple of 4
        let (r, sink) = run(&ng.bytes());
        let stats = r.unwrap();
        assert_eq!((stats.frames, stats.corrupt), (1, true));
        let w = warning(&sink);
        assert_eq!(w.offset, bad_at as u64);
        assert_eq!(
            w.message,
            "packet 2 has an impossible block length of 47 bytes (block lengths are multiples of 4, at least 12): the file is damaged here and the rest of it is ignored"
        );
    }

    #[test]
    fn trailing_length_mismatch_and_tiny_length() {
        for (patch_at_end, value) in [(true, 99u32), (false, 8)] {
            let mut ng = Ng::new(Endian::Little);
            ng.shb(Endian::Little).idb(1, 0, None, None);
            let bad_at = ng.v.len();
            ng.block(0x77, &[0; 8]).epb(0, 1, b"lost", 4);
            let pos = if patch_at_end { bad_at + 16 } else { bad_at + 4 };
            ng.v[pos..pos + 4].copy_from_slice(&value.to_le_bytes());
            let (r, sink) = run(&ng.bytes());
            assert_eq!(r.unwrap().frames, 0);
            let w = warning(&sink);
            assert_eq!(w.offset, bad_at as u64);
            assert!(w.message.starts_with("a block of unknown type 0x00000077"), "{}", w.message);
        }
    }

    #[test]
    fn truncated_last_block() {
        let mut ng = Ng::new(Endian::Big);
        ng.shb(Endian::Big).idb(1, 0, None, None).epb(0, 1, b"one", 3);
        let last_at = ng.v.len();
        ng.epb(0, 2, b"two-two", 7);
        ng.v.truncate(ng.v.len() - 5);
        let (r, sink) = run(&ng.bytes());
        let stats = r.unwrap();
        assert_eq!((stats.frames, stats.truncated, stats.corrupt), (1, true, false));
        let w = warning(&sink);
        assert_eq!(w.offset, last_at as u64);
        assert_eq!(
            w.message,
            "capture ends in the middle of packet 2 (block says 40 bytes, 35 left): the rest of the file is ignored"
        );
    }

    #[test]
    fn truncated_skipped_block() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).block(NRB, &[0; 40]);
        ng.v.truncate(ng.v.len() - 20);
        let (r, sink) = run(&ng.bytes());
        assert!(r.unwrap().truncated);
        assert_eq!(
            warning(&sink).message,
            "capture ends in the middle of a name resolution block (block says 52 bytes, 32 left): the rest of the file is ignored"
        );
    }

    #[test]
    fn caplen_beyond_block_stops() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None);
        let at = ng.v.len();
        ng.epb(0, 1, b"abcd", 4);
        ng.v[at + 20] = 200; // caplen
        let (r, sink) = run(&ng.bytes());
        assert!(r.unwrap().corrupt);
        assert_eq!(
            warning(&sink).message,
            "packet 1 says it holds 200 bytes, but its block has room for only 4: the file is damaged here and the rest of it is ignored"
        );
    }

    #[test]
    fn undescribed_interface_warns_once_and_skips() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None).epb(3, 1, b"a", 1).epb(0, 2, b"b", 1).epb(3, 3, b"c", 1);
        let (r, sink) = run(&ng.bytes());
        assert_eq!(r.unwrap().frames, 1);
        // The skipped records keep their numbers, so frame numbers match record positions.
        assert_eq!(sink.numbers(), vec![2]);
        assert_eq!(
            warning(&sink).message,
            "packet 1 refers to interface 3, which the capture never described: it and any later packets like it are skipped"
        );
    }

    #[test]
    fn bad_first_section_header_is_an_error() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little);
        ng.v[8] = 0;
        let err = run(&ng.bytes()).0.unwrap_err().to_string();
        assert_eq!(
            err,
            "t.pcapng: offset 0: a section header block has byte-order magic [00, 3c, 2b, 1a], not 1a 2b 3c 4d"
        );
        let err = run(&ng.v[..10]).0.unwrap_err().to_string();
        assert_eq!(err, "t.pcapng: offset 0: capture ends in the middle of a block header (10 of 12 bytes)");
    }

    #[test]
    fn early_stop_consumes_no_more() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb(Endian::Little).idb(1, 0, None, None).epb(0, 1, b"a", 1).epb(0, 2, b"b", 1);
        let mut sink = Collect { stop_after: Some(1), ..Collect::default() };
        let mut out = Emitter::new("t", &mut sink);
        let mut src = SliceSource::new(&ng.v);
        read(&mut src, &mut out).unwrap();
        let stats = out.finish(src.offset());
        assert_eq!((stats.frames, stats.stopped), (1, true));
        assert_eq!(stats.bytes, (ng.v.len() - 36) as u64);
    }
}
