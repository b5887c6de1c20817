//! The same packet on both sides: sequence and acknowledgment numbers brought into the outside
//! capture's space, then matched by direction, control flags, numbers and length (the k-th copy
//! on one side with the k-th on the other, so retransmissions pair up in order).

use super::packets::{Conn, Pkt};
use crate::decode::TcpFlags;
use crate::tcp::Direction;
use std::collections::{HashMap, VecDeque};

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
pub fn match_slices(o: &[Pkt], i: &[Pkt], delta: [u32; 2]) -> Matches {
    let mut waiting: HashMap<Key, VecDeque<usize>> = HashMap::new();
    for (k, p) in o.iter().enumerate() {
        waiting.entry(key(p, [0, 0])).or_default().push_back(k);
    }
    let mut m = Matches { outside: vec![None; o.len()], inside: vec![None; i.len()] };
    for (k, p) in i.iter().enumerate() {
        if let Some(ok) = waiting.get_mut(&key(p, delta)).and_then(VecDeque::pop_front) {
            m.outside[ok] = Some(k);
            m.inside[k] = Some(ok);
        }
    }
    m
}
