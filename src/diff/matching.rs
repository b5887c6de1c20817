//! The same packet on both sides: sequence and acknowledgment numbers brought into the outside
//! capture's space, then matched by direction, control flags, numbers and length (the k-th copy
//! on one side with the k-th on the other, so retransmissions pair up in order).

use super::packets::{Conn, Pkt};
use crate::decode::TcpFlags;
use crate::tcp::Direction;
use std::collections::HashMap;

/// Flags that make two packets different packets (PSH and ECN bits may change in transit).
const KEY_FLAGS: u8 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    dir: Direction,
    flags: u8,
    seq: u32,
    ack: u32,
    len: usize,
}

/// Per packet of each side, the index of its copy on the other side.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    pub outside: Vec<Option<usize>>,
    pub inside: Vec<Option<usize>>,
}

impl Matches {
    /// Matched packet pairs (outside index, inside index).
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.outside.iter().enumerate().filter_map(|(o, i)| i.map(|i| (o, i)))
    }
}

fn key(p: &Pkt, delta: [u32; 2]) -> Key {
    let own = delta[p.dir.index()];
    let peer = delta[p.dir.reverse().index()];
    let flags = p.flags.0 & KEY_FLAGS;
    Key {
        dir: p.dir,
        flags,
        seq: p.seq.wrapping_sub(own),
        ack: if p.flags.ack() { p.ack.wrapping_sub(peer) } else { 0 },
        len: p.len(),
    }
}

/// `delta`: inside minus outside sequence numbers per direction.
pub fn match_packets(o: &Conn, i: &Conn, delta: [u32; 2]) -> Matches {
    match_slices(&o.pkts, &i.pkts, delta)
}

/// The same for the first packets of each side only (scoring a candidate pair).
///
/// A packet sent once is matched at once. Copies (retransmissions) are matched in a second pass:
/// each inside copy with the outside copy whose time difference is closest to the one the single
/// packets show, so when the device dropped the first of two SYNs, the first is the one reported
/// lost.
pub fn match_slices(o: &[Pkt], i: &[Pkt], delta: [u32; 2]) -> Matches {
    let mut by_key: HashMap<Key, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (k, p) in o.iter().enumerate() {
        by_key.entry(key(p, [0, 0])).or_default().0.push(k);
    }
    for (k, p) in i.iter().enumerate() {
        if let Some(e) = by_key.get_mut(&key(p, delta)) {
            e.1.push(k);
        }
    }
    let mut m = Matches { outside: vec![None; o.len()], inside: vec![None; i.len()] };
    let mut offsets = Vec::new();
    for (os, is) in by_key.values() {
        if let ([ok], [ik]) = (os.as_slice(), is.as_slice()) {
            m.outside[*ok] = Some(*ik);
            m.inside[*ik] = Some(*ok);
            offsets.push(i[*ik].ts.0 - o[*ok].ts.0);
        }
    }
    offsets.sort_unstable();
    let typical = offsets.get(offsets.len() / 2).copied();
    let mut copies: Vec<&(Vec<usize>, Vec<usize>)> =
        by_key.values().filter(|(os, is)| !is.is_empty() && (os.len() > 1 || is.len() > 1)).collect();
    copies.sort_by_key(|(os, _)| os[0]);
    for (os, is) in copies {
        let mut free: Vec<usize> = os.clone();
        for &ik in is {
            let Some(pos) = (match typical {
                // Closest to the usual difference; without any single packet, in order.
                Some(t) => (0..free.len()).min_by_key(|&n| ((i[ik].ts.0 - o[free[n]].ts.0) - t).unsigned_abs()),
                None => (!free.is_empty()).then_some(0),
            }) else {
                break;
            };
            let ok = free.remove(pos);
            m.outside[ok] = Some(ik);
            m.inside[ik] = Some(ok);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    fn syn(number: u64, ms: i64) -> Pkt {
        Pkt {
            number,
            ts: Timestamp(ms * 1_000_000),
            dir: Direction::ClientToServer,
            seq: 1000,
            ack: 0,
            flags: TcpFlags(TcpFlags::SYN),
            ttl: 64,
            ip_id: None,
            payload: 0..0,
        }
    }

    #[test]
    fn the_copy_that_crossed_is_the_one_at_the_usual_delay() {
        // Outside: SYN at 0 ms (dropped by the device), again at 1000 ms; inside: one SYN at 1001 ms.
        // An ACK seen on both sides 1 ms apart gives the usual delay.
        let mut ack = syn(3, 2000);
        ack.flags = TcpFlags(TcpFlags::ACK);
        ack.seq = 1001;
        let mut ack_in = ack.clone();
        ack_in.ts = Timestamp(2001 * 1_000_000);
        let o = [syn(1, 0), syn(2, 1000), ack];
        let i = [syn(1, 1001), ack_in];
        let m = match_slices(&o, &i, [0, 0]);
        assert_eq!(m.outside, [None, Some(0), Some(1)]);
    }
}
