//! Link layers down to the IP packet, for the general path: Ethernet (with VLAN tags), raw IP,
//! BSD loopback, Linux cooked v1/v2, PPP and PPPoE. etherparse knows most of them; PPPoE and PPP
//! are read here.

use super::packet::Skip;
use super::view::{be16, ethernet, null, pppoe, sll, sll2};
use crate::capture::LinkType;
use etherparse::{EtherType, LaxSlicedPacket};

/// The link layer of a frame taken off, down to what etherparse slices from the network layer on.
pub(super) fn slice_link(link: LinkType, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
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
            let header =
                data.get(..null::HEADER_LEN).ok_or_else(|| Skip::Malformed("loopback header cut short".into()))?;
            let ether_type = null_family(link, header[null::FAMILY].try_into().unwrap_or_default())?;
            Ok(LaxSlicedPacket::from_ether_type(ether_type, &data[null::HEADER_LEN..]))
        }
        LinkType::LINUX_SLL => {
            let header =
                data.get(..sll::HEADER_LEN).ok_or_else(|| Skip::Malformed("Linux cooked header cut short".into()))?;
            cooked(be16(header, sll::PROTOCOL), &data[sll::HEADER_LEN..])
        }
        LinkType::LINUX_SLL2 => {
            let header = data
                .get(..sll2::HEADER_LEN)
                .ok_or_else(|| Skip::Malformed("Linux cooked v2 header cut short".into()))?;
            cooked(be16(header, sll2::PROTOCOL), &data[sll2::HEADER_LEN..])
        }
        LinkType::PPP | LinkType::PPP_HDLC => ppp(data),
        LinkType::PPP_ETHER => pppoe_session(data),
        other => Err(Skip::UnknownLinkType(other)),
    }
}

/// The payload of a Linux cooked header, by its protocol field.
fn cooked(protocol: u16, payload: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match protocol {
        ethernet::TYPE_PPPOE_SESSION => pppoe_session(payload),
        sll::PROTOCOL_PPP_HDLC => ppp(payload),
        _ => Ok(LaxSlicedPacket::from_ether_type(EtherType(protocol), payload)),
    }
}

/// An Ethernet frame (perhaps VLAN-tagged) carrying a PPPoE session frame: the bytes after the
/// EtherType. etherparse does not know PPPoE.
fn pppoe_in_ethernet(data: &[u8]) -> Option<&[u8]> {
    // The EtherType field, moved on by each VLAN tag in front of it.
    let mut field = ethernet::ETHERTYPE;
    loop {
        let ether_type = u16::from_be_bytes(data.get(field.clone())?.try_into().ok()?);
        match ether_type {
            tpid if ethernet::VLAN_TPIDS.contains(&tpid) => {
                field = field.start + ethernet::VLAN_TAG_LEN..field.end + ethernet::VLAN_TAG_LEN;
            }
            ethernet::TYPE_PPPOE_SESSION => return data.get(field.end..),
            _ => return None,
        }
    }
}

/// A PPPoE session header (version/type 0x11, code 0, session id, length), then PPP.
fn pppoe_session(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let header = data.get(..pppoe::HEADER_LEN).ok_or_else(|| Skip::Malformed("PPPoE header cut short".into()))?;
    let (ver_type, code) = (header[pppoe::VER_TYPE], header[pppoe::CODE]);
    if ver_type != pppoe::VER_TYPE_1_1 || code != pppoe::CODE_SESSION {
        return Err(Skip::Malformed(format!(
            "PPPoE session header with version/type {ver_type:#04x}, code {code:#04x}"
        )));
    }
    // The length covers the PPP frame; padding after it (short Ethernet frames) is not PPP.
    let len = usize::from(be16(header, pppoe::LENGTH));
    let body = &data[pppoe::HEADER_LEN..];
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
