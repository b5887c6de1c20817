//! What the decoder hands on: one packet's IP and TCP facts, or why a frame has none.

use super::flags::TcpFlags;
use crate::capture::{LinkType, Timestamp};
use std::net::IpAddr;

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
    #[inline]
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
