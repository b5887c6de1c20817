//! A minimal pcap writer, for tests and benchmark generators that build captures in memory.
//! It writes little-endian files, as tcpdump does on every common host.

use std::io::{self, Write};

use super::{LinkType, Timestamp};

/// Writes a classic pcap file, one record per [`PcapWriter::write_packet`].
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    snaplen: u32,
    nanos: bool,
}

impl<W: Write> PcapWriter<W> {
    /// A microsecond-resolution pcap (magic 0xa1b2c3d4), the format every tool reads.
    pub fn new(w: W, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        Self::with_resolution(w, link_type, snaplen, false)
    }

    /// A nanosecond-resolution pcap (magic 0xa1b23c4d).
    pub fn new_nanos(w: W, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        Self::with_resolution(w, link_type, snaplen, true)
    }

    fn with_resolution(mut w: W, link_type: LinkType, snaplen: u32, nanos: bool) -> io::Result<Self> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs (8..16) stay 0, as every modern writer leaves them.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&link_type.0.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter { w, snaplen, nanos })
    }

    /// Appends one packet. Like tcpdump, data longer than the snaplen (unless it is 0) is cut to
    /// it; `orig_len`, the length on the wire, is raised to the data's length if smaller, since a
    /// record never holds more than was sent. Timestamps must fit pcap's unsigned 32-bit
    /// seconds (1970 to 2106).
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let secs = u32::try_from(ts.0.div_euclid(1_000_000_000))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp outside pcap's 1970-2106 range"))?;
        let sub = ts.0.rem_euclid(1_000_000_000) as u32;
        let frac = if self.nanos { sub } else { sub / 1000 };
        let limit = if self.snaplen == 0 { usize::MAX } else { self.snaplen as usize };
        let data = &data[..data.len().min(limit)];
        let caplen = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet longer than 4 GiB"))?;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&caplen.to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(caplen).to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(data)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    /// The underlying writer (not flushed: call [`PcapWriter::flush`] first if it buffers).
    pub fn into_inner(self) -> W {
        self.w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 4).unwrap();
        w.write_packet(Timestamp(2_000_001_000), b"abcdef", 0).unwrap();
        let v = w.into_inner();
        assert_eq!(&v[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&v[16..24], &[4, 0, 0, 0, 1, 0, 0, 0]);
        // secs 2, 1 microsecond, caplen cut to 4, orig_len raised to the data's length.
        assert_eq!(&v[24..40], &[2, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0]);
        assert_eq!(&v[40..], b"abcd");
    }

    #[test]
    fn nanos_magic_and_fraction() {
        let mut w = PcapWriter::new_nanos(Vec::new(), LinkType::RAW, 0).unwrap();
        w.write_packet(Timestamp(7), b"", 0).unwrap();
        let v = w.into_inner();
        assert_eq!(&v[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(&v[28..32], &[7, 0, 0, 0]);
    }

    #[test]
    fn refuses_timestamps_pcap_cannot_hold() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::RAW, 0).unwrap();
        assert!(w.write_packet(Timestamp(-1), b"", 0).is_err());
        assert!(w.write_packet(Timestamp(i64::MAX), b"", 0).is_err());
    }
}
