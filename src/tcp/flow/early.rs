//! A connection before its first payload byte: the headers of its first packets, replayed into
//! the full state when it needs one (see the module comment of `flow`).

use super::super::conn::RoleBasis;
use super::config::Waits;
use super::key::FlowKey;
use crate::capture::Timestamp;
use crate::decode::{Packet, TcpFlags};

/// The header of a packet that carried no payload and no FIN, kept by an [`Early`] connection.
#[derive(Clone, Copy, Default)]
pub(super) struct Header {
    pub(super) number: u64,
    pub(super) ts: i64,
    pub(super) seq: u32,
    pub(super) ack: u32,
    pub(super) window: u16,
    pub(super) ip_id: u16,
    pub(super) mss: u16,
    pub(super) flags: u8,
    pub(super) ttl: u8,
    /// `FROM_A`, `HAS_IP_ID`, `HAS_MSS`.
    pub(super) bits: u8,
}

pub(super) const FROM_A: u8 = 1;
pub(super) const HAS_IP_ID: u8 = 2;
pub(super) const HAS_MSS: u8 = 4;

/// Headers an early connection keeps: SYN and SYN-ACK, or SYN and the refusing reset. The next
/// packet creates the full state.
pub(super) const EARLY_HEADERS: usize = 2;

/// A connection that has carried no payload yet: its first packets' headers, replayed into the
/// full state when it needs one.
pub(super) struct Early {
    pub(super) headers: [Header; EARLY_HEADERS],
    pub(super) len: u8,
    /// The client is side `a` of the key.
    pub(super) client_is_a: bool,
    pub(super) basis: RoleBasis,
}

impl Early {
    pub(super) fn headers(&self) -> &[Header] {
        &self.headers[..usize::from(self.len)]
    }

    pub(super) fn sent_by_client(&self, h: &Header) -> bool {
        (h.bits & FROM_A != 0) == self.client_is_a
    }

    pub(super) fn reset_seen(&self) -> bool {
        self.headers().iter().any(|h| h.flags & TcpFlags::RST != 0)
    }

    /// The connection tracker's `half_open` on the same packets: only SYNs (from the client) and
    /// SYN-ACKs (from the server) so far.
    pub(super) fn half_open(&self) -> bool {
        !self.headers().is_empty()
            && self.headers().iter().all(|h| {
                let (s, a) = (h.flags & TcpFlags::SYN != 0, h.flags & TcpFlags::ACK != 0);
                s && (a != self.sent_by_client(h))
            })
    }

    /// The tracker's `client_isn`: the client's first sequence number when it sent a SYN.
    pub(super) fn client_isn(&self) -> Option<u32> {
        let client = || self.headers().iter().filter(|h| self.sent_by_client(h));
        let syn = client().any(|h| h.flags & TcpFlags::SYN != 0 && h.flags & TcpFlags::ACK == 0);
        if syn { client().next().map(|h| h.seq) } else { None }
    }
}

/// Can an early connection keep this packet's header? Only a packet with neither payload nor
/// FIN, while there is room.
pub(super) fn fits_early(e: &Early, p: &Packet<'_>) -> bool {
    usize::from(e.len) < EARLY_HEADERS && p.wire_len() == 0 && !p.flags.fin()
}

pub(super) fn header(key: &FlowKey, p: &Packet<'_>) -> Header {
    let bits = if key.sent_by_a(p) { FROM_A } else { 0 }
        | if p.ip_id.is_some() { HAS_IP_ID } else { 0 }
        | if p.mss.is_some() { HAS_MSS } else { 0 };
    Header {
        number: p.number,
        ts: p.ts.0,
        seq: p.seq,
        ack: p.ack,
        window: p.window,
        ip_id: p.ip_id.unwrap_or(0),
        mss: p.mss.unwrap_or(0),
        flags: p.flags.0,
        ttl: p.ttl,
        bits,
    }
}

/// The packet a kept header came from (without payload: it had none).
pub(super) fn replayed(key: &FlowKey, h: &Header) -> Packet<'static> {
    let from_a = h.bits & FROM_A != 0;
    let (src, dst) = (key.endpoint(from_a), key.endpoint(!from_a));
    Packet {
        number: h.number,
        ts: Timestamp(h.ts),
        src: src.ip,
        dst: dst.ip,
        ttl: h.ttl,
        ip_id: (h.bits & HAS_IP_ID != 0).then_some(h.ip_id),
        src_port: src.port,
        dst_port: dst.port,
        seq: h.seq,
        ack: h.ack,
        flags: TcpFlags(h.flags),
        window: h.window,
        mss: (h.bits & HAS_MSS != 0).then_some(h.mss),
        payload: &[],
        missing: 0,
    }
}

/// How long an early connection waits after its last packet: what `process::wait` says for the
/// full state of the same packets (none carried payload or a FIN, so a reset is the only close).
pub(super) fn early_wait(waits: &Waits, e: &Early) -> i64 {
    if e.reset_seen() {
        waits.linger
    } else if e.half_open() {
        waits.half_open
    } else {
        waits.idle
    }
}
