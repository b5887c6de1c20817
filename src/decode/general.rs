//! The general path: every link type and header the decoder knows, through etherparse's slices.

use super::flags::TcpFlags;
use super::link::slice_link;
use super::packet::{Packet, Skip};
use crate::capture::Frame;
use etherparse::{IpNumber, LaxNetSlice, LaxSlicedPacket, TcpSlice};
use std::net::IpAddr;

/// Every link type and header the decoder knows, through etherparse. Kept out of line: the
/// frame loop inlines `decode`, and this is its rare branch.
#[inline(never)]
pub(super) fn decode_general<'a>(frame: &Frame<'a>) -> Result<Packet<'a>, Skip> {
    let sliced = slice_link(frame.link_type, frame.data)?;
    tcp_packet(frame, sliced)
}

/// The TCP packet of a reassembled datagram: `tcp` is its whole IP payload.
pub fn reassembled_tcp<'a>(
    frame: &Frame<'_>,
    (src, dst, ttl, ip_id): (IpAddr, IpAddr, u8, Option<u16>),
    tcp: &'a [u8],
) -> Result<Packet<'a>, Skip> {
    let slice = TcpSlice::from_slice(tcp).map_err(|e| Skip::Malformed(format!("TCP header: {e}")))?;
    Ok(packet(frame, (src, dst, ttl, ip_id), &slice, &tcp[slice.header_len()..], 0))
}

/// The packet of TCP header `tcp` between the IP header's addresses, with the payload bytes the
/// capture holds and how many more the wire carried.
fn packet<'a>(
    frame: &Frame<'_>,
    (src, dst, ttl, ip_id): (IpAddr, IpAddr, u8, Option<u16>),
    tcp: &TcpSlice<'_>,
    payload: &'a [u8],
    missing: u32,
) -> Packet<'a> {
    Packet {
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
        flags: TcpFlags(tcp_flags_byte(tcp)),
        window: tcp.window_size(),
        mss: mss_option(tcp),
        payload,
        missing,
    }
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
    Ok(packet(frame, (src, dst, ttl, ip_id), &tcp, payload_bytes, missing))
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
