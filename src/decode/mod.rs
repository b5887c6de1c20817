//! Decode stage: link layer → IPv4/IPv6 → TCP header.
//!
//! Only what later stages need is kept; the payload is borrowed from the frame. Packets cut short
//! by the capture's snaplen still decode: `missing` says how many payload bytes the wire carried
//! that the capture did not. Two paths give the same packets: `fast` reads the common frame
//! (Ethernet, IPv4, TCP) through the header views of `view`; `general` reads every link type
//! (`link`) with etherparse.

mod fast;
mod flags;
mod fragment;
mod general;
mod link;
mod packet;
mod view;

#[cfg(test)]
mod tests;

pub use fast::plain_ipv4_tcp_ends;
pub use flags::{FlagsLabel, TcpFlags};
pub use fragment::{Fragment, fragment};
pub use general::reassembled_tcp;
pub use packet::{Packet, Skip};

/// Decode one frame. `Ok` only for TCP packets.
///
/// Inlined into the frame loop: the fast path's packet is then built where the caller uses it,
/// instead of being copied out of a returned `Result` (a packet is a hundred bytes, every frame).
#[inline]
pub fn decode<'a>(frame: &crate::capture::Frame<'a>) -> Result<Packet<'a>, Skip> {
    if let Some(p) = fast::ethernet_ipv4_tcp(frame) {
        return Ok(p);
    }
    general::decode_general(frame)
}
