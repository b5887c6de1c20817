//! The fast path: the common frame read through the header views, without etherparse.

use super::flags::TcpFlags;
use super::packet::Packet;
use super::view::{EthernetFrame, Ipv4Header, TcpHeader, be16, ethernet, ipv4, tcp_option};
use crate::capture::{Frame, LinkType};
use std::net::IpAddr;

/// The common case: an untagged Ethernet frame with a whole, unfragmented IPv4 packet carrying
/// TCP, with well-formed options. Anything else (VLAN tags, IPv6, fragments, cut or padded-short
/// headers, odd options) returns `None` and takes the general path, which gives the same result
/// for the frames this one accepts (tested). It exists for speed: the general path builds and
/// copies etherparse's slice structures for every packet. Always inlined into `decode`: the
/// release build kept it a call, its packet then copied out once more.
#[inline(always)]
pub(super) fn ethernet_ipv4_tcp<'a>(frame: &Frame<'a>) -> Option<Packet<'a>> {
    let (ip, tcp) = plain_headers(frame)?;
    let mss = mss(tcp.options())?;
    Some(Packet {
        number: frame.number,
        ts: frame.ts,
        src: IpAddr::V4(ip.src_addr()),
        dst: IpAddr::V4(ip.dst_addr()),
        ttl: ip.ttl(),
        ip_id: Some(ip.ident()),
        src_port: tcp.src_port(),
        dst_port: tcp.dst_port(),
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        flags: TcpFlags(tcp.flags()),
        window: tcp.window(),
        mss,
        payload: tcp.payload(),
        missing: 0,
    })
}

/// The connection ends of a frame with the headers the fast path takes, without building its
/// packet: source and destination IPv4 address and both ports (source port high).
/// `read --threads` reads another shard's frames only this far. The options are not walked:
/// where the fast path turns a frame down for its options alone, the general path decodes it
/// to a packet with these same ends (etherparse reads the MSS lazily; odd options give none).
pub fn plain_ipv4_tcp_ends(frame: &Frame<'_>) -> Option<(u32, u32, u32)> {
    let (ip, tcp) = plain_headers(frame)?;
    let ports = u32::from(tcp.src_port()) << 16 | u32::from(tcp.dst_port());
    Some((u32::from(ip.src_addr()), u32::from(ip.dst_addr()), ports))
}

/// The IPv4 and TCP headers of the frames the fast path takes (see `ethernet_ipv4_tcp`).
#[inline(always)]
fn plain_headers<'a>(frame: &Frame<'a>) -> Option<(Ipv4Header<'a>, TcpHeader<'a>)> {
    if frame.link_type != LinkType::ETHERNET {
        return None;
    }
    let eth = EthernetFrame::new_checked(frame.data)?;
    if eth.ethertype() != ethernet::TYPE_IPV4 {
        return None;
    }
    let ip = Ipv4Header::new_checked(eth.payload())?;
    let (header_len, total) = (ip.header_len(), ip.total_len());
    if ip.version() != 4
        || header_len < ipv4::MIN_HEADER_LEN
        || total > ip.bytes().len()
        || ip.is_fragment()
        || ip.protocol() != ipv4::PROTOCOL_TCP
    {
        return None;
    }
    let tcp = TcpHeader::new_checked(ip.bytes().get(header_len..total)?)?;
    Some((ip, tcp))
}

/// The MSS option, `Some(None)` when absent; `None` when the options are not plainly well
/// formed (the general path then decides).
#[inline]
fn mss(mut options: &[u8]) -> Option<Option<u16>> {
    // What nearly every segment after the handshake carries, taken without the walk below:
    // no options, or two NOPs and the timestamps (Linux, the BSDs).
    const NOP_NOP_TIMESTAMPS: [u8; 4] =
        [tcp_option::NOP, tcp_option::NOP, tcp_option::TIMESTAMPS, tcp_option::TIMESTAMPS_LEN];
    if options.is_empty() || options.len() == 12 && options[..4] == NOP_NOP_TIMESTAMPS {
        return Some(None);
    }
    let mut mss = None;
    while let Some(&kind) = options.first() {
        match kind {
            tcp_option::END => break,
            tcp_option::NOP => options = &options[1..],
            _ => {
                let len = usize::from(*options.get(tcp_option::LENGTH)?);
                if len < 2 || len > options.len() {
                    return None;
                }
                if kind == tcp_option::MSS {
                    if len != tcp_option::MSS_LEN {
                        return None;
                    }
                    mss = mss.or(Some(be16(options, tcp_option::MSS_VALUE)));
                }
                options = &options[len..];
            }
        }
    }
    Some(mss)
}
