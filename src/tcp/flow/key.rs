//! The key of a connection, the same for both directions, and the bucket it falls in.

use super::super::conn::Endpoint;
use crate::decode::Packet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Buckets the caps are shared out over (see the module comment). `read --threads` uses at
/// most this many shards.
pub const BUCKETS: usize = 32;

/// Both directions of a connection map to the same key. Each address is kept as its 16 bytes
/// (IPv4 in the low four, with a family flag) read as two big-endian words, so that building,
/// comparing and hashing a key, once per packet, is a few word operations: the words compare
/// in the order the bytes do, and are eight-byte aligned where a `u128` would pad every flow
/// past its 256-byte budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct FlowKey {
    /// Sides `a` and `b`: the lower (address, port) first.
    addrs: [Addr; 2],
    ports: [u16; 2],
    v6: bool,
}

/// An address as two big-endian words.
type Addr = [u64; 2];

#[inline]
fn addr(ip: IpAddr) -> Addr {
    match ip {
        IpAddr::V4(v4) => [0, u64::from(u32::from(v4))],
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            [(n >> 64) as u64, n as u64]
        }
    }
}

/// The address's 16 bytes (an IPv4 address in the last four).
fn addr_bytes(a: Addr) -> [u8; 16] {
    (u128::from(a[0]) << 64 | u128::from(a[1])).to_be_bytes()
}

/// The table's hash. Its per-process random seed is the defence against crafted collisions,
/// so what it is fed must tell every two keys apart (no words folded together that an attacker
/// could trade bits between): an IPv4 key's two addresses fit one word, an IPv6 key's take four.
impl Hash for FlowKey {
    // Once per packet: kept in the lookup (the two-way branch made it a call otherwise).
    #[inline(always)]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [a, b] = self.addrs;
        if self.v6 {
            state.write_u64(a[0]);
            state.write_u64(b[0]);
            state.write_u64(a[1]);
            state.write_u64(b[1]);
        } else {
            // IPv4 addresses are the low 32 bits of the second word.
            state.write_u64(a[1] << 32 | b[1]);
        }
        state.write_u64(self.ports_and_family());
    }
}

impl FlowKey {
    #[inline]
    fn new(x: (IpAddr, u16), y: (IpAddr, u16)) -> FlowKey {
        let (s, d) = ((addr(x.0), x.1), (addr(y.0), y.1));
        // Same order as comparing (IpAddr, port): both ends are of one family.
        let ((a, pa), (b, pb)) = if s <= d { (s, d) } else { (d, s) };
        FlowKey { addrs: [a, b], ports: [pa, pb], v6: x.0.is_ipv6() }
    }

    #[inline]
    pub(super) fn of(p: &Packet<'_>) -> FlowKey {
        FlowKey::new((p.src, p.src_port), (p.dst, p.dst_port))
    }

    #[cfg(test)]
    pub(super) fn of_endpoints(x: &Endpoint, y: &Endpoint) -> FlowKey {
        FlowKey::new((x.ip, x.port), (y.ip, y.port))
    }

    #[inline]
    fn ports_and_family(&self) -> u64 {
        u64::from(self.ports[0]) << 32 | u64::from(self.ports[1]) << 16 | u64::from(self.v6)
    }

    /// The bucket: a fixed seed, so that it is the same in every run and every shard (the
    /// table's own hash is seeded at random against crafted collisions). Asked once per
    /// connection (the flow keeps it); it hashes the address bytes as it always has, so a
    /// connection falls in the same bucket with every version of the key.
    pub(super) fn bucket(&self) -> usize {
        let mut h = foldhash::fast::FixedState::with_seed(0x5347_5044_4941_4721).build_hasher();
        h.write_u128(u128::from_ne_bytes(addr_bytes(self.addrs[0])));
        h.write_u128(u128::from_ne_bytes(addr_bytes(self.addrs[1])));
        h.write_u64(self.ports_and_family());
        // Scaled by a multiply and shift (Lemire): every shard buckets every packet.
        ((u128::from(h.finish()) * BUCKETS as u128) >> 64) as usize
    }

    pub(super) fn endpoint(&self, side_a: bool) -> Endpoint {
        let side = usize::from(!side_a);
        let bytes = addr_bytes(self.addrs[side]);
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::from(bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]))
        };
        Endpoint { ip, port: self.ports[side] }
    }

    /// Is `p`'s sender side `a` of the key?
    pub(super) fn sent_by_a(&self, p: &Packet<'_>) -> bool {
        p.src_port == self.ports[0] && addr(p.src) == self.addrs[0]
    }
}

/// The bucket of a packet's connection (for sharding `read --threads`: shard = bucket mod N).
pub fn bucket_of(p: &Packet<'_>) -> usize {
    FlowKey::of(p).bucket()
}

/// The bucket of an IPv4 connection from its (address, port) ends, the same as `bucket_of` gives
/// its packets (`read --threads` reads other shards' frames this far and no further).
pub fn bucket_of_v4(src: ([u8; 4], u16), dst: ([u8; 4], u16)) -> usize {
    FlowKey::new((IpAddr::from(src.0), src.1), (IpAddr::from(dst.0), dst.1)).bucket()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two IPv6 connections whose first address words differ by bits that cancel when the two
    /// words are folded into one (bit 0 of `a`, bit 32 of `b`): the table's hash must still
    /// tell them apart, or a crafted flood could share one slot whatever the seed.
    #[test]
    fn keys_differing_in_bits_a_fold_would_cancel_hash_apart() {
        let end = |ip: &str, port| Endpoint { ip: ip.parse().unwrap(), port };
        let one = FlowKey::of_endpoints(&end("2001:db8::1", 40000), &end("2001:dba::2", 25));
        let other = FlowKey::of_endpoints(&end("2001:db8:0:1::1", 40000), &end("2001:dbb::2", 25));
        let [a, b] = one.addrs;
        let [c, d] = other.addrs;
        assert_eq!(a[0] ^ b[0].rotate_left(32), c[0] ^ d[0].rotate_left(32), "the pair a fold cannot tell apart");
        let hasher = foldhash::fast::RandomState::default();
        assert_ne!(hasher.hash_one(one), hasher.hash_one(other));
    }
}
