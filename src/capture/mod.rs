//! Capture stage: turns pcap / pcapng files (plain, gzip, stdin) or a live interface into
//! [`Frame`]s. It knows nothing of IP, TCP or SMTP.

use std::fmt;

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

/// What a finished read saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub frames: u64,
    /// Bytes of capture data consumed (decompressed).
    pub bytes: u64,
    /// The capture ended in the middle of a record or block.
    pub truncated: bool,
    /// The sink asked to stop early.
    pub stopped: bool,
}

/// A capture that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a pcap or pcapng capture (first bytes {magic})")]
    NotACapture { path: String, magic: String },
    #[error("{path}: offset {offset}: {message}")]
    Corrupt { path: String, offset: u64, message: String },
}
