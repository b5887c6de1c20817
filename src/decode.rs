//! Decode stage: link layer → IPv4/IPv6 → TCP header, with etherparse.
//!
//! Only what later stages need is kept; the payload is borrowed from the frame. Packets cut short
//! by the capture's snaplen still decode: `missing` says how many payload bytes the wire carried
//! that the capture did not.

use crate::capture::{Frame, LinkType, Timestamp};
use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TcpSlice};
use std::net::IpAddr;

/// TCP flag bits, as in the header's flags byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }

    /// Wireshark-style label: "SYN", "SYN/ACK", "FIN/ACK", "PSH/ACK", "RST/ACK", … A copy of the
    /// flags that writes itself when shown: a connection records one per FIN or RST without
    /// allocating a string for it.
    pub fn label(self) -> FlagsLabel {
        FlagsLabel(self)
    }
}

/// The flags as Wireshark names them, shown with `Display` (see [`TcpFlags::label`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagsLabel(TcpFlags);

impl std::fmt::Display for FlagsLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [(u8, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::ACK, "ACK"),
        ];
        let mut names = NAMES.iter().filter(|(b, _)| self.0.has(*b)).map(|(_, n)| *n);
        let Some(first) = names.next() else { return f.write_str("none") };
        f.write_str(first)?;
        names.try_for_each(|n| write!(f, "/{n}"))
    }
}

#[cfg(test)]
mod label_tests {
    use super::TcpFlags;

    #[test]
    fn labels_name_the_flags_in_wiresharks_order() {
        let label = |bits: u8| TcpFlags(bits).label().to_string();
        assert_eq!(label(TcpFlags::SYN | TcpFlags::ACK), "SYN/ACK");
        assert_eq!(label(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK), "FIN/PSH/ACK");
        assert_eq!(label(TcpFlags::RST), "RST");
        assert_eq!(label(0xff), "SYN/FIN/RST/PSH/URG/ECE/CWR/ACK");
        assert_eq!(label(0), "none");
    }
}

/// The IP and TCP facts of one packet.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub number: u64,
    pub ts: Timestamp,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification; IPv6 has none.
    pub ip_id: Option<u16>,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub mss: Option<u16>,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload bytes on the wire that the capture cut off (snaplen).
    pub missing: u32,
}

impl Packet<'_> {
    /// Payload length on the wire.
    pub fn wire_len(&self) -> u32 {
        self.payload.len() as u32 + self.missing
    }
}

/// Why a frame yielded no TCP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not IP, or IP but not TCP (ARP, ICMP, UDP …): nothing to report.
    NotTcp,
    /// IP fragment: smtpdiag does not reassemble IP fragments.
    Fragment,
    /// A link type this decoder does not read.
    UnknownLinkType(LinkType),
    /// Headers that do not parse.
    Malformed(String),
}

/// Decode one frame. `Ok` only for TCP packets.
pub fn decode<'a>(frame: &Frame<'a>) -> Result<Packet<'a>, Skip> {
    if let Some(p) = fast_ethernet_ipv4_tcp(frame) {
        return Ok(p);
    }
    decode_general(frame)
}

/// Every link type and header the decoder knows, through etherparse.
fn decode_general<'a>(frame: &Frame<'a>) -> Result<Packet<'a>, Skip> {
    let sliced = slice_link(frame.link_type, frame.data)?;
    tcp_packet(frame, sliced)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The common case read by hand: an untagged Ethernet frame with a whole, unfragmented IPv4
/// packet carrying TCP, with well-formed options. Anything else (VLAN tags, IPv6, fragments,
/// cut or padded-short headers, odd options) returns `None` and takes the general path, which
/// gives the same result for the frames this one accepts (tested). It exists for speed: the
/// general path builds and copies etherparse's slice structures for every packet.
fn fast_ethernet_ipv4_tcp<'a>(frame: &Frame<'a>) -> Option<Packet<'a>> {
    let data = frame.data;
    if frame.link_type != LinkType::ETHERNET || data.len() < 14 + 20 + 20 || be16(data, 12) != 0x0800 {
        return None;
    }
    let ip = &data[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(be16(ip, 2));
    let fragment = be16(ip, 6) & 0x3fff != 0;
    if ip[0] >> 4 != 4 || ihl < 20 || total > ip.len() || fragment || ip[9] != 6 {
        return None;
    }
    let tcp = ip.get(ihl..total)?;
    let header_len = usize::from(tcp.get(12)? >> 4) * 4;
    if header_len < 20 || tcp.len() < header_len {
        return None;
    }
    let mss = fast_mss(&tcp[20..header_len])?;
    Some(Packet {
        number: frame.number,
        ts: frame.ts,
        src: IpAddr::V4(std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])),
        dst: IpAddr::V4(std::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])),
        ttl: ip[8],
        ip_id: Some(be16(ip, 4)),
        src_port: be16(tcp, 0),
        dst_port: be16(tcp, 2),
        seq: be32(tcp, 4),
        ack: be32(tcp, 8),
        flags: TcpFlags(tcp[13]),
        window: be16(tcp, 14),
        mss,
        payload: &tcp[header_len..],
        missing: 0,
    })
}

/// The MSS option, `Some(None)` when absent; `None` when the options are not plainly well
/// formed (the general path then decides).
fn fast_mss(mut options: &[u8]) -> Option<Option<u16>> {
    let mut mss = None;
    while let Some(&kind) = options.first() {
        match kind {
            0 => break,
            1 => options = &options[1..],
            _ => {
                let len = usize::from(*options.get(1)?);
                if len < 2 || len > options.len() {
                    return None;
                }
                if kind == 2 {
                    if len != 4 {
                        return None;
                    }
                    mss = mss.or(Some(be16(options, 2)));
                }
                options = &options[len..];
            }
        }
    }
    Some(mss)
}

fn slice_link(link: LinkType, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let malformed = |e: &dyn std::fmt::Display| Skip::Malformed(e.to_string());
    match link {
        LinkType::ETHERNET => match pppoe_in_ethernet(data) {
            Some(session) => pppoe_session(session),
            None => LaxSlicedPacket::from_ethernet(data).map_err(|e| malformed(&e)),
        },
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 | LinkType::RAW_12 | LinkType::RAW_14 => {
            LaxSlicedPacket::from_ip(data).map_err(|e| malformed(&e))
        }
        LinkType::NULL | LinkType::LOOP => {
            let header = data.get(..4).ok_or_else(|| Skip::Malformed("loopback header cut short".into()))?;
            let ether_type = null_family(link, header.try_into().unwrap_or_default())?;
            Ok(LaxSlicedPacket::from_ether_type(ether_type, &data[4..]))
        }
        LinkType::LINUX_SLL => {
            // 16-byte cooked header; protocol (an EtherType) in the last two bytes.
            let header = data.get(..16).ok_or_else(|| Skip::Malformed("Linux cooked header cut short".into()))?;
            cooked(u16::from_be_bytes([header[14], header[15]]), &data[16..])
        }
        LinkType::LINUX_SLL2 => {
            // 20-byte cooked v2 header; protocol (an EtherType) in the first two bytes.
            let header = data.get(..20).ok_or_else(|| Skip::Malformed("Linux cooked v2 header cut short".into()))?;
            cooked(u16::from_be_bytes([header[0], header[1]]), &data[20..])
        }
        LinkType::PPP | LinkType::PPP_HDLC => ppp(data),
        LinkType::PPP_ETHER => pppoe_session(data),
        other => Err(Skip::UnknownLinkType(other)),
    }
}

/// PPPoE session stage (RFC 2516 §4), as an EtherType.
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Linux cooked capture's protocol for a PPP frame with HDLC framing (libpcap's
/// LINUX_SLL_P_PPPHDLC).
const SLL_PPP_HDLC: u16 = 0x0007;

/// The payload of a Linux cooked header, by its protocol field.
fn cooked(protocol: u16, payload: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match protocol {
        ETHERTYPE_PPPOE_SESSION => pppoe_session(payload),
        SLL_PPP_HDLC => ppp(payload),
        _ => Ok(LaxSlicedPacket::from_ether_type(EtherType(protocol), payload)),
    }
}

/// An Ethernet frame (perhaps VLAN-tagged) carrying a PPPoE session frame: the bytes after the
/// EtherType. etherparse does not know PPPoE.
fn pppoe_in_ethernet(data: &[u8]) -> Option<&[u8]> {
    let mut at = 12;
    loop {
        let ether_type = be16(data.get(at..at + 2)?, 0);
        match ether_type {
            0x8100 | 0x88a8 | 0x9100 => at += 4,
            ETHERTYPE_PPPOE_SESSION => return data.get(at + 2..),
            _ => return None,
        }
    }
}

/// A PPPoE session header (version/type 0x11, code 0, session id, length), then PPP.
fn pppoe_session(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let header = data.get(..6).ok_or_else(|| Skip::Malformed("PPPoE header cut short".into()))?;
    if header[0] != 0x11 || header[1] != 0 {
        return Err(Skip::Malformed(format!(
            "PPPoE session header with version/type {:#04x}, code {:#04x}",
            header[0], header[1]
        )));
    }
    // The length covers the PPP frame; padding after it (short Ethernet frames) is not PPP.
    let len = usize::from(be16(header, 4));
    let body = &data[6..];
    ppp_protocol(&body[..len.min(body.len())])
}

/// A PPP frame (RFC 1661), with or without the HDLC address and control bytes (0xff 0x03).
fn ppp(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let frame = data.strip_prefix(&[0xff, 0x03]).unwrap_or(data);
    ppp_protocol(frame)
}

/// The PPP protocol field (one byte when compressed, RFC 1661 §6.5: an odd first byte) and the
/// IP packet it announces; anything else (LCP, IPCP, CHAP …) is not TCP.
fn ppp_protocol(frame: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let (protocol, payload) = match frame {
        [p, rest @ ..] if p & 1 == 1 => (u16::from(*p), rest),
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return Err(Skip::Malformed("PPP header cut short".into())),
    };
    match protocol {
        0x0021 | 0x0057 => LaxSlicedPacket::from_ip(payload).map_err(|e| Skip::Malformed(e.to_string())),
        _ => Err(Skip::NotTcp),
    }
}

/// BSD loopback: a 4-byte address family, in the capturing host's byte order for NULL and in
/// network order for LOOP. IPv6's AF value differs between BSDs (24, 28, 30) and Linux (10).
fn null_family(link: LinkType, header: [u8; 4]) -> Result<EtherType, Skip> {
    let candidates = if link == LinkType::LOOP {
        [u32::from_be_bytes(header), u32::from_be_bytes(header)]
    } else {
        [u32::from_le_bytes(header), u32::from_be_bytes(header)]
    };
    for family in candidates {
        match family {
            2 => return Ok(EtherType::IPV4),
            10 | 24 | 28 | 30 => return Ok(EtherType::IPV6),
            _ => {}
        }
    }
    Err(Skip::NotTcp)
}

/// One IP fragment of a TCP packet (IPv4, or IPv6 with a Fragment header), for the
/// defragmenter (`defrag`).
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
    pub ttl: u8,
    /// Byte offset of this piece in the datagram's payload.
    pub offset: etherparse::IpFragOffset,
    pub more: bool,
    /// The piece: captured bytes (cut by the snaplen, the datagram will not complete).
    pub data: &'a [u8],
}

/// The fragment a frame carries, when `decode` said [`Skip::Fragment`].
pub fn fragment<'a>(frame: &Frame<'a>) -> Option<Fragment<'a>> {
    let sliced = slice_link(frame.link_type, frame.data).ok()?;
    match sliced.net? {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let p = v4.payload();
            (p.fragmented && p.ip_number == IpNumber::TCP).then_some(Fragment {
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                id: u32::from(h.identification()),
                ttl: h.ttl(),
                offset: h.fragments_offset(),
                more: h.more_fragments(),
                data: p.payload,
            })
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            let frag = v6.extensions().clone().into_iter().find_map(|ext| match ext {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            })?;
            (p.fragmented && p.ip_number == IpNumber::TCP).then_some(Fragment {
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                id: frag.identification(),
                ttl: h.hop_limit(),
                offset: frag.fragment_offset(),
                more: frag.more_fragments(),
                data: p.payload,
            })
        }
        LaxNetSlice::Arp(_) => None,
    }
}

/// The TCP packet of a reassembled datagram: `tcp` is its whole IP payload.
pub fn reassembled_tcp<'a>(
    frame: &Frame<'_>,
    (src, dst, ttl, ip_id): (IpAddr, IpAddr, u8, Option<u16>),
    tcp: &'a [u8],
) -> Result<Packet<'a>, Skip> {
    let slice = TcpSlice::from_slice(tcp).map_err(|e| Skip::Malformed(format!("TCP header: {e}")))?;
    Ok(Packet {
        number: frame.number,
        ts: frame.ts,
        src,
        dst,
        ttl,
        ip_id,
        src_port: slice.source_port(),
        dst_port: slice.destination_port(),
        seq: slice.sequence_number(),
        ack: slice.acknowledgment_number(),
        flags: TcpFlags(tcp_flags_byte(&slice)),
        window: slice.window_size(),
        mss: mss_option(&slice),
        payload: &tcp[slice.header_len()..],
        missing: 0,
    })
}

fn tcp_packet<'a>(frame: &Frame<'a>, sliced: LaxSlicedPacket<'a>) -> Result<Packet<'a>, Skip> {
    let (src, dst, ttl, ip_id, payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.ttl(),
                Some(h.identification()),
                v4.payload(),
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), h.hop_limit(), None, v6.payload())
        }
        Some(LaxNetSlice::Arp(_)) | None => {
            return Err(match sliced.stop_err {
                Some((e, _)) if sliced.link.is_some() || sliced.net.is_none() && !sliced.link_exts.is_empty() => {
                    Skip::Malformed(e.to_string())
                }
                _ => Skip::NotTcp,
            });
        }
    };
    if payload.ip_number != IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    if payload.fragmented {
        return Err(Skip::Fragment);
    }
    let tcp = TcpSlice::from_slice(payload.payload).map_err(|e| Skip::Malformed(format!("TCP header: {e}")))?;
    let header_len = tcp.header_len();
    let captured = &payload.payload[header_len.min(payload.payload.len())..];
    // The IP length says how much payload the wire carried; the capture may hold less.
    let wire_payload = wire_tcp_payload_len(&sliced, header_len).unwrap_or(captured.len());
    let missing = wire_payload.saturating_sub(captured.len()) as u32;
    let payload_bytes = &captured[..captured.len().min(wire_payload)];
    Ok(Packet {
        number: frame.number,
        ts: frame.ts,
        src,
        dst,
        ttl,
        ip_id,
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(tcp_flags_byte(&tcp)),
        window: tcp.window_size(),
        mss: mss_option(&tcp),
        payload: payload_bytes,
        missing,
    })
}

/// TCP payload length according to the IP header (total length minus headers).
fn wire_tcp_payload_len(sliced: &LaxSlicedPacket<'_>, tcp_header_len: usize) -> Option<usize> {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let ip_payload = (h.total_len() as usize).checked_sub(h.ihl() as usize * 4)?;
            ip_payload.checked_sub(tcp_header_len)
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            // payload_length covers extension headers too; subtract what etherparse consumed.
            let declared = v6.header().payload_length() as usize;
            let ext_len = v6.extensions().slice().len();
            declared.checked_sub(ext_len)?.checked_sub(tcp_header_len)
        }
        _ => None,
    }
}

fn tcp_flags_byte(tcp: &TcpSlice<'_>) -> u8 {
    let bits = [
        (tcp.fin(), TcpFlags::FIN),
        (tcp.syn(), TcpFlags::SYN),
        (tcp.rst(), TcpFlags::RST),
        (tcp.psh(), TcpFlags::PSH),
        (tcp.ack(), TcpFlags::ACK),
        (tcp.urg(), TcpFlags::URG),
        (tcp.ece(), TcpFlags::ECE),
        (tcp.cwr(), TcpFlags::CWR),
    ];
    bits.iter().filter(|(on, _)| *on).fold(0, |acc, (_, b)| acc | b)
}

fn mss_option(tcp: &TcpSlice<'_>) -> Option<u16> {
    tcp.options_iterator().find_map(|opt| match opt {
        Ok(etherparse::TcpOptionElement::MaximumSegmentSize(mss)) => Some(mss),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// The fast path and the general one agree on every frame the fast one accepts.
    fn same_as_general(f: &Frame<'_>) -> bool {
        let Some(fast) = fast_ethernet_ipv4_tcp(f) else { return false };
        let general = decode_general(f).expect("the general path rejects a frame the fast one accepts");
        assert_eq!(format!("{fast:?}"), format!("{general:?}"), "{:02x?}", f.data);
        true
    }

    #[test]
    fn fast_path_agrees_with_the_general_one_on_mutated_frames() {
        let mut base = ethernet_tcp(b"MAIL FROM:<a@b>\r\n");
        // An MSS option and a NOP, as real SYNs carry.
        base[14 + 20 + 12] = 0x70;
        base.splice(14 + 40..14 + 40, [2, 4, 0x05, 0xb4, 1, 1, 1, 0]);
        let total = (base.len() - 14) as u16;
        base[16..18].copy_from_slice(&total.to_be_bytes());
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut bytes = base.clone();
            for _ in 0..1 + rand() % 3 {
                let at = (rand() % bytes.len() as u64) as usize;
                bytes[at] = rand() as u8;
            }
            if rand() % 4 == 0 {
                bytes.truncate((rand() % bytes.len() as u64) as usize);
            }
            if rand() % 8 == 0 {
                bytes.extend_from_slice(&[0; 6]);
            }
            accepted += usize::from(same_as_general(&frame(LinkType::ETHERNET, &bytes)));
        }
        assert!(accepted > 50_000, "{accepted}");
        assert!(same_as_general(&frame(LinkType::ETHERNET, &base)));
    }

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        Frame { number: 7, ts: Timestamp(1_000), link_type: link, data, orig_len: data.len() as u32, offset: 0 }
    }

    fn ethernet_tcp(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
            .ipv4([203, 0, 113, 5], [198, 51, 100, 25], 64)
            .tcp(49152, 25, 1000, 64240)
            .syn()
            .ack(77);
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn ethernet_ipv4_tcp_decodes_addresses_ports_and_payload() {
        let bytes = ethernet_tcp(b"EHLO x\r\n");
        let p = decode(&frame(LinkType::ETHERNET, &bytes)).unwrap();
        assert_eq!(p.src.to_string(), "203.0.113.5");
        assert_eq!(p.dst.to_string(), "198.51.100.25");
        assert_eq!((p.src_port, p.dst_port, p.seq, p.ack), (49152, 25, 1000, 77));
        assert_eq!(p.flags.label().to_string(), "SYN/ACK");
        assert_eq!(p.payload, b"EHLO x\r\n");
        assert_eq!((p.missing, p.ttl, p.number), (0, 64, 7));
    }

    #[test]
    fn snaplen_truncated_payload_counts_missing_bytes() {
        let bytes = ethernet_tcp(b"0123456789");
        let cut = &bytes[..bytes.len() - 4];
        let p = decode(&frame(LinkType::ETHERNET, cut)).unwrap();
        assert_eq!(p.payload, b"012345");
        assert_eq!(p.missing, 4);
        assert_eq!(p.wire_len(), 10);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut bytes = ethernet_tcp(b"");
        bytes.extend_from_slice(&[0; 6]);
        let p = decode(&frame(LinkType::ETHERNET, &bytes)).unwrap();
        assert!(p.payload.is_empty());
        assert_eq!(p.missing, 0);
    }

    #[test]
    fn vlan_and_qinq_tags_are_skipped() {
        let plain = ethernet_tcp(b"QUIT\r\n");
        for tags in [1usize, 2] {
            let mut bytes = plain[..12].to_vec();
            for i in 0..tags {
                let tpid: u16 = if i + 1 < tags { 0x88a8 } else { 0x8100 };
                bytes.extend_from_slice(&tpid.to_be_bytes());
                bytes.extend_from_slice(&[0x00, 0x64]);
            }
            bytes.extend_from_slice(&plain[12..]);
            let p = decode(&frame(LinkType::ETHERNET, &bytes)).unwrap();
            assert_eq!(p.payload, b"QUIT\r\n", "{tags} tag(s)");
        }
    }

    #[test]
    fn null_loopback_in_either_byte_order_and_raw_ip() {
        let eth = ethernet_tcp(b"x");
        let ip = &eth[14..];
        for header in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
            let data = [&header[..], ip].concat();
            assert!(decode(&frame(LinkType::NULL, &data)).is_ok());
        }
        assert!(decode(&frame(LinkType::RAW, ip)).is_ok());
        let mut sll = vec![0u8; 16];
        sll[14..].copy_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(ip);
        assert!(decode(&frame(LinkType::LINUX_SLL, &sll)).is_ok());
        let mut sll2 = vec![0u8; 20];
        sll2[..2].copy_from_slice(&[0x08, 0x00]);
        sll2.extend_from_slice(ip);
        assert!(decode(&frame(LinkType::LINUX_SLL2, &sll2)).is_ok());
    }

    #[test]
    fn raw_ip_under_dlt_numbers_12_and_14() {
        let eth = ethernet_tcp(b"x");
        for link in [LinkType::RAW_12, LinkType::RAW_14, LinkType::IPV4] {
            assert_eq!(decode(&frame(link, &eth[14..])).unwrap().payload, b"x", "{link:?}");
        }
    }

    /// A PPPoE session frame carrying `ppp` (protocol field and packet).
    fn pppoe(ppp: &[u8]) -> Vec<u8> {
        let mut v = vec![0x11, 0x00, 0x12, 0x34];
        v.extend((ppp.len() as u16).to_be_bytes());
        v.extend(ppp);
        v
    }

    #[test]
    fn ppp_with_and_without_hdlc_bytes_and_compressed_protocol() {
        let eth = ethernet_tcp(b"EHLO x\r\n");
        let ip = &eth[14..];
        for prefix in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21], &[0xff, 0x03, 0x21]] {
            let data = [prefix, ip].concat();
            for link in [LinkType::PPP, LinkType::PPP_HDLC] {
                assert_eq!(decode(&frame(link, &data)).unwrap().payload, b"EHLO x\r\n", "{prefix:02x?}");
            }
        }
        // LCP is PPP's own business, not TCP; a frame too short for a protocol is damage.
        assert_eq!(decode(&frame(LinkType::PPP, &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4])).unwrap_err(), Skip::NotTcp);
        assert!(matches!(decode(&frame(LinkType::PPP, &[0xff, 0x03])), Err(Skip::Malformed(_))));
    }

    #[test]
    fn pppoe_session_frames_in_ethernet_vlan_cooked_and_bare() {
        let eth = ethernet_tcp(b"QUIT\r\n");
        let mut ppp = vec![0x00, 0x21];
        ppp.extend(&eth[14..]);
        let session = pppoe(&ppp);
        let mut plain = eth[..12].to_vec();
        plain.extend([0x88, 0x64]);
        plain.extend(&session);
        plain.extend([0; 8]); // Ethernet padding after the PPPoE length
        let mut tagged = eth[..12].to_vec();
        tagged.extend([0x81, 0x00, 0x00, 0x07, 0x88, 0x64]);
        tagged.extend(&session);
        let mut sll = vec![0u8; 14];
        sll.extend([0x88, 0x64]);
        sll.extend(&session);
        let mut sll2 = vec![0x88, 0x64];
        sll2.extend([0u8; 18]);
        sll2.extend(&session);
        let mut sll_ppp = vec![0u8; 14];
        sll_ppp.extend([0x00, 0x07, 0xff, 0x03]);
        sll_ppp.extend(&ppp);
        for (link, data) in [
            (LinkType::ETHERNET, &plain),
            (LinkType::ETHERNET, &tagged),
            (LinkType::LINUX_SLL, &sll),
            (LinkType::LINUX_SLL2, &sll2),
            (LinkType::LINUX_SLL, &sll_ppp),
            (LinkType::PPP_ETHER, &session),
        ] {
            let p = decode(&frame(link, data)).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
            assert_eq!((p.payload, p.dst_port), (&b"QUIT\r\n"[..], 25), "{link:?}");
        }
        let mut bad = session.clone();
        bad[0] = 0x22;
        assert!(matches!(decode(&frame(LinkType::PPP_ETHER, &bad)), Err(Skip::Malformed(_))));
    }

    #[test]
    fn ipv6_tcp_decodes() {
        let builder = PacketBuilder::ipv6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            55,
        )
        .tcp(40000, 587, 5, 100);
        let mut out = Vec::new();
        builder.write(&mut out, b"220 hi\r\n").unwrap();
        let p = decode(&frame(LinkType::IPV6, &out)).unwrap();
        assert_eq!(p.src.to_string(), "2001:db8::1");
        assert_eq!((p.ttl, p.ip_id, p.dst_port), (55, None, 587));
        assert_eq!(p.payload, b"220 hi\r\n");
    }

    #[test]
    fn unknown_link_type_and_junk_never_panic() {
        assert_eq!(decode(&frame(LinkType(147), b"abc")).unwrap_err(), Skip::UnknownLinkType(LinkType(147)));
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for link in [
                LinkType::ETHERNET,
                LinkType::RAW,
                LinkType::NULL,
                LinkType::LINUX_SLL,
                LinkType::LINUX_SLL2,
                LinkType::PPP,
                LinkType::PPP_ETHER,
            ] {
                let _ = decode(&frame(link, &junk));
            }
        }
    }
}
