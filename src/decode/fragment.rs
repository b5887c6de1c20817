//! IP fragments of TCP packets, handed to the defragmenter (`defrag`).

use super::link::slice_link;
use crate::capture::Frame;
use etherparse::{IpNumber, LaxNetSlice};
use std::net::IpAddr;

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

/// The fragment a frame carries, when `decode` said [`Skip::Fragment`](super::Skip::Fragment).
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
