//! Checked views over header bytes, after smoltcp's `wire` (`Packet<T>` with its `field` ranges):
//! each field's place is named once below, and a view is made only over bytes long enough for
//! every fixed field it reads, so its accessors index without checking again.

use std::net::Ipv4Addr;
use std::ops::Range;

/// Where a field sits in its header, in bytes.
pub type Field = Range<usize>;

/// Ethernet II: destination, source, EtherType (IEEE 802.3 §3.1.1).
pub mod ethernet {
    use super::Field;
    pub const ETHERTYPE: Field = 12..14;
    pub const HEADER_LEN: usize = 14;
    /// An 802.1Q/802.1ad tag before the EtherType: TPID and TCI.
    pub const VLAN_TAG_LEN: usize = 4;
    pub const TYPE_IPV4: u16 = 0x0800;
    /// Tag protocol identifiers: 802.1Q, 802.1ad, and the pre-standard QinQ value.
    pub const VLAN_TPIDS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
    /// PPPoE session stage (RFC 2516 §4).
    pub const TYPE_PPPOE_SESSION: u16 = 0x8864;
}

/// IPv4 (RFC 791 §3.1).
pub mod ipv4 {
    use super::Field;
    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    /// Flags (3 bits) and fragment offset (13 bits).
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    pub const MIN_HEADER_LEN: usize = 20;
    /// More-fragments bit and offset: either set means a fragment.
    pub const MF_AND_OFFSET: u16 = 0x3fff;
    pub const PROTOCOL_TCP: u8 = 6;
}

/// TCP (RFC 9293 §3.1).
pub mod tcp {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset in 32-bit words (high nibble).
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const MIN_HEADER_LEN: usize = 20;
}

/// TCP options (RFC 9293 §3.2): kind, then length and data for all but END and NOP.
pub mod tcp_option {
    use super::Field;
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const MSS_LEN: usize = 4;
    pub const TIMESTAMPS: u8 = 8;
    pub const TIMESTAMPS_LEN: u8 = 10;
    pub const LENGTH: usize = 1;
    pub const MSS_VALUE: Field = 2..4;
}

/// Linux cooked capture v1 (LINKTYPE_LINUX_SLL): the protocol, an EtherType, comes last.
pub mod sll {
    use super::Field;
    pub const PROTOCOL: Field = 14..16;
    pub const HEADER_LEN: usize = 16;
    /// libpcap's LINUX_SLL_P_PPPHDLC: a PPP frame with HDLC framing.
    pub const PROTOCOL_PPP_HDLC: u16 = 0x0007;
}

/// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2): the protocol comes first.
pub mod sll2 {
    use super::Field;
    pub const PROTOCOL: Field = 0..2;
    pub const HEADER_LEN: usize = 20;
}

/// PPPoE session header (RFC 2516 §4): version/type, code, session id, length.
pub mod pppoe {
    use super::Field;
    pub const VER_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const LENGTH: Field = 4..6;
    pub const HEADER_LEN: usize = 6;
    /// Version 1, type 1.
    pub const VER_TYPE_1_1: u8 = 0x11;
    /// Code 0: session data.
    pub const CODE_SESSION: u8 = 0;
}

/// BSD loopback (DLT_NULL, DLT_LOOP): a 4-byte address family.
pub mod null {
    use super::Field;
    pub const FAMILY: Field = 0..4;
    pub const HEADER_LEN: usize = 4;
}

/// The big-endian u16 at `field` (two bytes long); the caller has checked the length.
#[inline]
pub fn be16(bytes: &[u8], field: Field) -> u16 {
    u16::from_be_bytes([bytes[field.start], bytes[field.start + 1]])
}

/// The big-endian u16 at a fixed place of a fixed-size header: no check left at run time.
#[inline(always)]
fn fixed16<const N: usize>(bytes: &[u8; N], field: Field) -> u16 {
    u16::from_be_bytes([bytes[field.start], bytes[field.start + 1]])
}

/// The big-endian u32 at a fixed place of a fixed-size header.
#[inline(always)]
fn fixed32<const N: usize>(bytes: &[u8; N], field: Field) -> u32 {
    let at = field.start;
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The first `N` bytes as an array, when there are that many.
#[inline(always)]
fn head<const N: usize>(bytes: &[u8]) -> Option<&[u8; N]> {
    bytes.first_chunk::<N>()
}

/// An Ethernet II frame at least a header long.
#[derive(Clone, Copy, Debug)]
pub struct EthernetFrame<'a>(&'a [u8]);

impl<'a> EthernetFrame<'a> {
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() >= ethernet::HEADER_LEN).then_some(Self(bytes))
    }
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.0, ethernet::ETHERTYPE)
    }
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.0[ethernet::HEADER_LEN..]
    }
}

/// An IPv4 header's fixed part (options, if any, follow; `header_len` says how many). The fixed
/// part is held as an array, so reading a field is a load at a constant place.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Header<'a> {
    fixed: &'a [u8; ipv4::MIN_HEADER_LEN],
    bytes: &'a [u8],
}

impl<'a> Ipv4Header<'a> {
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Option<Self> {
        Some(Self { fixed: head(bytes)?, bytes })
    }
    /// The bytes from the header on, as given (perhaps more than `total_len`).
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.fixed[ipv4::VER_IHL] >> 4
    }
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.fixed[ipv4::VER_IHL] & 0x0f) * 4
    }
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(fixed16(self.fixed, ipv4::TOTAL_LEN))
    }
    #[inline]
    pub fn ident(&self) -> u16 {
        fixed16(self.fixed, ipv4::IDENT)
    }
    #[inline]
    pub fn is_fragment(&self) -> bool {
        fixed16(self.fixed, ipv4::FLAGS_FRAG) & ipv4::MF_AND_OFFSET != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.fixed[ipv4::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.fixed[ipv4::PROTOCOL]
    }
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(fixed32(self.fixed, ipv4::SRC_ADDR))
    }
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(fixed32(self.fixed, ipv4::DST_ADDR))
    }
}

/// A TCP segment whose header (with its options) lies wholly within the bytes. The fixed part
/// is held as an array and the header length is read once.
#[derive(Clone, Copy, Debug)]
pub struct TcpHeader<'a> {
    fixed: &'a [u8; tcp::MIN_HEADER_LEN],
    bytes: &'a [u8],
    header_len: usize,
}

impl<'a> TcpHeader<'a> {
    /// None when the bytes are shorter than the fixed header, or than the header length its
    /// data offset gives, or that offset is below the fixed header.
    #[inline]
    pub fn new_checked(bytes: &'a [u8]) -> Option<Self> {
        let fixed = head::<{ tcp::MIN_HEADER_LEN }>(bytes)?;
        let header_len = usize::from(fixed[tcp::DATA_OFFSET] >> 4) * 4;
        (header_len >= tcp::MIN_HEADER_LEN && bytes.len() >= header_len).then_some(Self { fixed, bytes, header_len })
    }
    #[inline]
    pub fn header_len(&self) -> usize {
        self.header_len
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        fixed16(self.fixed, tcp::SRC_PORT)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        fixed16(self.fixed, tcp::DST_PORT)
    }
    #[inline]
    pub fn seq_number(&self) -> u32 {
        fixed32(self.fixed, tcp::SEQ_NUM)
    }
    #[inline]
    pub fn ack_number(&self) -> u32 {
        fixed32(self.fixed, tcp::ACK_NUM)
    }
    #[inline]
    pub fn flags(&self) -> u8 {
        self.fixed[tcp::FLAGS]
    }
    #[inline]
    pub fn window(&self) -> u16 {
        fixed16(self.fixed, tcp::WINDOW)
    }
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        &self.bytes[tcp::MIN_HEADER_LEN..self.header_len()]
    }
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 791's example layout with values that tell each field apart: version 4, IHL 5,
    /// total length 0x0034, id 0xbeef, DF, TTL 63, TCP, 203.0.113.5 → 198.51.100.25.
    const IPV4: [u8; 20] =
        [0x45, 0x00, 0x00, 0x34, 0xbe, 0xef, 0x40, 0x00, 63, 6, 0x12, 0x34, 203, 0, 113, 5, 198, 51, 100, 25];

    /// Ports 49152 → 25, seq 0x01020304, ack 0x0a0b0c0d, data offset 6 (one MSS option),
    /// flags SYN/ACK, window 64240, then "hi".
    const TCP: [u8; 26] = [
        0xc0, 0x00, 0x00, 0x19, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0x60, 0x12, 0xfa, 0xf0, 0, 0, 0, 0, 2, 4, 0x05,
        0xb4, b'h', b'i',
    ];

    #[test]
    fn ipv4_fields_read_from_their_named_places() {
        let ip = Ipv4Header::new_checked(&IPV4).unwrap();
        assert_eq!((ip.version(), ip.header_len(), ip.total_len()), (4, 20, 0x34));
        assert_eq!((ip.ident(), ip.ttl(), ip.protocol()), (0xbeef, 63, ipv4::PROTOCOL_TCP));
        assert_eq!((ip.src_addr(), ip.dst_addr()), (Ipv4Addr::new(203, 0, 113, 5), Ipv4Addr::new(198, 51, 100, 25)));
        assert!(!ip.is_fragment(), "DF alone is no fragment");
        let mut more = IPV4;
        more[6] = 0x20;
        assert!(Ipv4Header::new_checked(&more).unwrap().is_fragment(), "MF");
        let mut later = IPV4;
        later[7] = 0x01;
        assert!(Ipv4Header::new_checked(&later).unwrap().is_fragment(), "offset 8");
        assert!(Ipv4Header::new_checked(&IPV4[..19]).is_none());
    }

    #[test]
    fn tcp_fields_options_and_payload() {
        let tcp = TcpHeader::new_checked(&TCP).unwrap();
        assert_eq!((tcp.src_port(), tcp.dst_port()), (49152, 25));
        assert_eq!((tcp.seq_number(), tcp.ack_number()), (0x0102_0304, 0x0a0b_0c0d));
        assert_eq!((tcp.header_len(), tcp.flags(), tcp.window()), (24, 0x12, 64240));
        assert_eq!(tcp.options(), [2, 4, 0x05, 0xb4]);
        assert_eq!(tcp.payload(), b"hi");
    }

    #[test]
    fn a_tcp_view_needs_its_whole_header() {
        assert!(TcpHeader::new_checked(&TCP[..23]).is_none(), "options cut");
        assert!(TcpHeader::new_checked(&TCP[..12]).is_none(), "no data offset");
        let mut small = TCP;
        small[tcp::DATA_OFFSET] = 0x40;
        assert!(TcpHeader::new_checked(&small).is_none(), "data offset below 5 words");
        assert_eq!(TcpHeader::new_checked(&TCP[..24]).unwrap().payload(), b"");
    }

    #[test]
    fn ethernet_type_and_payload() {
        let mut frame = vec![0u8; 12];
        frame.extend([0x08, 0x00]);
        frame.extend(IPV4);
        let eth = EthernetFrame::new_checked(&frame).unwrap();
        assert_eq!(eth.ethertype(), ethernet::TYPE_IPV4);
        assert_eq!(eth.payload(), IPV4);
        assert!(EthernetFrame::new_checked(&frame[..13]).is_none());
    }
}
