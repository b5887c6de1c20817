//! The key of a connection, the same for both directions, and the bucket it falls in.

use super::super::conn::Endpoint;
use crate::decode::Packet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Buckets the caps are shared out over (see the module comment). `read --threads` uses at
/// most this many shards.
pub const BUCKETS: usize = 32;

/// Both directions of a connection map to the same key. Addresses are kept as 16 bytes
/// (IPv4 in the low four, with a family flag), so that hashing and comparing a key, several
/// times per packet, is a few word operations instead of a walk through `IpAddr`'s enum. Bytes,
/// not `u128`: a 16-byte alignment would pad every flow past its 256-byte budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FlowKey {
    pub(super) v6: bool,
    pub(super) a: ([u8; 16], u16),
    pub(super) b: ([u8; 16], u16),
}

pub(super) fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0; 16];
            b[12..].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Three wide words instead of the derived field-by-field walk (length prefixes, byte slices):
/// a key is hashed twice per packet (its bucket and its slot).
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.a.0));
        state.write_u128(u128::from_ne_bytes(self.b.0));
        state.write_u64(u64::from(self.a.1) << 32 | u64::from(self.b.1) << 16 | u64::from(self.v6));
    }
}

impl FlowKey {
    pub(super) fn of(p: &Packet<'_>) -> FlowKey {
        // Same order as comparing (IpAddr, port): both ends are of one family.
        let (s, d) = ((addr_bytes(p.src), p.src_port), (addr_bytes(p.dst), p.dst_port));
        let v6 = p.src.is_ipv6();
        if s <= d { FlowKey { v6, a: s, b: d } } else { FlowKey { v6, a: d, b: s } }
    }

    #[cfg(test)]
    pub(super) fn of_endpoints(x: &Endpoint, y: &Endpoint) -> FlowKey {
        let (s, d) = ((addr_bytes(x.ip), x.port), (addr_bytes(y.ip), y.port));
        let v6 = x.ip.is_ipv6();
        if s <= d { FlowKey { v6, a: s, b: d } } else { FlowKey { v6, a: d, b: s } }
    }

    /// The bucket: a fixed seed, so that it is the same in every run and every shard (the
    /// table's own hash is seeded at random against crafted collisions).
    pub(super) fn bucket(&self) -> usize {
        let h = foldhash::fast::FixedState::with_seed(0x5347_5044_4941_4721).hash_one(self);
        // Scaled by a multiply and shift (Lemire): every shard buckets every packet.
        ((u128::from(h) * BUCKETS as u128) >> 64) as usize
    }

    pub(super) fn endpoint(&self, side_a: bool) -> Endpoint {
        let (bytes, port) = if side_a { self.a } else { self.b };
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]))
        };
        Endpoint { ip, port }
    }

    /// Is `p`'s sender side `a` of the key?
    pub(super) fn sent_by_a(&self, p: &Packet<'_>) -> bool {
        p.src_port == self.a.1 && addr_bytes(p.src) == self.a.0
    }
}

/// The bucket of a packet's connection (for sharding `read --threads`: shard = bucket mod N).
pub fn bucket_of(p: &Packet<'_>) -> usize {
    FlowKey::of(p).bucket()
}

/// The bucket of an IPv4 connection from its (address, port) ends, the same as `bucket_of` gives
/// its packets (`read --threads` reads other shards' frames this far and no further).
pub fn bucket_of_v4(src: ([u8; 4], u16), dst: ([u8; 4], u16)) -> usize {
    let wide = |(addr, port): ([u8; 4], u16)| (addr_bytes(IpAddr::from(addr)), port);
    let (s, d) = (wide(src), wide(dst));
    let key = if s <= d { FlowKey { v6: false, a: s, b: d } } else { FlowKey { v6: false, a: d, b: s } };
    key.bucket()
}
