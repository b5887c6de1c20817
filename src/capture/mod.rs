//! Capture stage: turns pcap / pcapng files (plain, gzip, stdin) or a live interface into
//! [`Frame`]s. It knows nothing of IP, TCP or SMTP.
//!
//! Layout: `detect` tells the format from the magic bytes, `source` gives the readers one way
//! to look at bytes whether they come from a memory map or a stream, `pcap` and `pcapng` parse
//! the two formats, `emit` numbers frames and keeps the statistics, `read` holds the public
//! entry points, and `writer` writes pcap files for tests and benchmark generators. `live`
//! captures from an interface through libpcap, loaded at run time.

use std::fmt;

mod detect;
mod emit;
mod endian;
pub mod live;
mod pcap;
mod pcapng;
mod read;
mod shrink;
mod source;
#[cfg(test)]
mod testutil;
mod writer;

pub use read::{
    PageRelease, map_regular, populate_ahead, read_bytes, read_map, read_path, read_path_until, read_stream,
};
pub use shrink::{MapWatch, watch_map};
pub use writer::PcapWriter;

/// Largest captured length accepted for one packet. It is libpcap's and Wireshark's limit
/// (262144); a record claiming more is damage, not data, and pcap cannot resynchronise after it.
pub const MAX_CAPLEN: u32 = 262_144;

/// Time of a frame, nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos as i64))
    }
    /// Seconds since the epoch as a float (the JSON representation).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Signed difference `self - earlier` in seconds.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e9
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0.div_euclid(1_000_000_000), self.0.rem_euclid(1_000_000_000) / 1000)
    }
}

/// Link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP under the DLT numbers some systems wrote into files (12 on most, 14 on OpenBSD).
    pub const RAW_12: LinkType = LinkType(12);
    pub const RAW_14: LinkType = LinkType(14);
    pub const PPP_HDLC: LinkType = LinkType(50);
    /// PPPoE session frames without the Ethernet header.
    pub const PPP_ETHER: LinkType = LinkType(51);

    /// The registry's name, for the link types a capture is likely to carry ("" if unknown).
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NULL",
            1 => "ETHERNET",
            6 => "IEEE802_5",
            9 => "PPP",
            10 => "FDDI",
            12 | 14 | 101 => "RAW",
            50 => "PPP_HDLC",
            51 => "PPP_ETHER",
            104 => "C_HDLC",
            105 => "IEEE802_11",
            107 => "FRELAY",
            108 => "LOOP",
            113 => "LINUX_SLL",
            119 => "PRISM_HEADER",
            127 => "IEEE802_11_RADIOTAP",
            147..=162 => "USER",
            192 => "PPI",
            195 => "IEEE802_15_4_WITHFCS",
            220 => "USB_LINUX_MMAPPED",
            228 => "IPV4",
            229 => "IPV6",
            253 => "NETLINK",
            276 => "LINUX_SLL2",
            _ => "",
        }
    }
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based position in the capture file, as Wireshark numbers packets.
    pub number: u64,
    pub ts: Timestamp,
    pub link_type: LinkType,
    /// The captured bytes (possibly cut short by the snaplen).
    pub data: &'a [u8],
    /// Length of the packet on the wire; larger than `data.len()` when snaplen-truncated.
    pub orig_len: u32,
    /// Byte offset of the packet's record in the (decompressed) capture, for warnings; 0 in a
    /// live capture.
    pub offset: u64,
}

/// Something wrong inside a capture that does not stop the reading (or stops it after
/// everything before it was delivered): a truncated last record, a corrupt block, an unknown
/// link type. `offset` is the byte offset in the (decompressed) capture where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureWarning {
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for CaptureWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {}: {}", self.offset, self.message)
    }
}

/// Receives frames in file order. Returning `ControlFlow::Break` stops the reading
/// (interrupted run, closed output pipe).
pub trait FrameSink {
    fn frame(&mut self, frame: &Frame<'_>) -> std::ops::ControlFlow<()>;
    fn warning(&mut self, warning: CaptureWarning);
}

/// A borrowed sink is a sink: lets a reader generic over its sink take a `&mut dyn FrameSink`.
impl<T: FrameSink + ?Sized> FrameSink for &mut T {
    #[inline]
    fn frame(&mut self, frame: &Frame<'_>) -> std::ops::ControlFlow<()> {
        (**self).frame(frame)
    }
    fn warning(&mut self, warning: CaptureWarning) {
        (**self).warning(warning);
    }
}

/// What a finished read saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub frames: u64,
    /// Bytes of capture data consumed (decompressed). When a bad record stopped the reading,
    /// its offset: the bytes read whole.
    pub bytes: u64,
    /// Reading ended before the end of the capture's data: it ends in the middle of a record
    /// or block, or a damaged record stopped the reading (then `corrupt` is set too). Sessions
    /// still open at that point were cut by the capture, not by the network.
    pub truncated: bool,
    /// A record or block made no sense (impossible length, caplen beyond the snaplen) and the
    /// rest of the capture was ignored.
    pub corrupt: bool,
    /// The sink asked to stop early.
    pub stopped: bool,
}

/// A capture that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: the file is empty (no capture header)")]
    Empty { path: String },
    #[error("{path}: not a pcap or pcapng capture (first bytes {magic})")]
    NotACapture { path: String, magic: String },
    #[error("{path}: offset {offset}: {message}")]
    Corrupt { path: String, offset: u64, message: String },
}

/// How far ahead of the record being read the next bytes are requested from memory.
const PREFETCH_DISTANCE: usize = 8192;

/// Asks the CPU to start loading the bytes `PREFETCH_DISTANCE` ahead of the record that
/// starts `rest`, as many as the record is long, so that every byte of the file is requested
/// once, a few records before it is read. Records lie hundreds of bytes apart, a stride the
/// hardware prefetcher does not follow: without this the sharded reader, which touches little
/// of each frame, spent a third of its time waiting for record headers.
#[inline]
fn prefetch_ahead(rest: &[u8], record_len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let ahead = rest.get(PREFETCH_DISTANCE..).unwrap_or(&[]);
        let ahead = &ahead[..record_len.min(ahead.len())];
        // A plain stride loop: the iterator adapters (take, step_by) cost more than the hints.
        let mut at = 0;
        while at < ahead.len() {
            // SAFETY: a prefetch is only a hint: it reads nothing into the program and
            // cannot fault; the address is inside a live slice anyway (at < len).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.as_ptr().add(at).cast::<i8>()) };
            at += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (rest, record_len);
}
