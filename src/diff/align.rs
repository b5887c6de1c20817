//! Byte streams of one direction of a connection, laid out by sequence number, each byte
//! remembering the packet that brought it first; and the sequence offset that lines two
//! captures' streams up when a device in between shifted them (Cisco ASA sequence number
//! randomization adds a constant per direction and connection).

use super::packets::{CaptureView, Conn};
use crate::tcp::Direction;
use std::collections::HashMap;

/// Bytes of one direction compared at most (a longer stream is compared up to here).
pub const MAX_STREAM: usize = 64 << 20;

/// Leading bytes of a payload that identify it when voting for an offset.
const KEY_BYTES: usize = 48;

/// One direction's bytes by offset from the stream's start.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub data: Vec<u8>,
    /// Index (in the connection's packets) of the packet that brought each byte, plus one;
    /// 0 where no packet did.
    pub owner: Vec<u32>,
}

impl Stream {
    /// The stream of `dir` with offset 0 at sequence number `base`, up to offset `limit`; first
    /// copy wins.
    pub fn build(view: &CaptureView, conn: &Conn, dir: Direction, base: u32, limit: usize) -> Stream {
        let limit = limit.min(MAX_STREAM);
        let mut s = Stream::default();
        for (i, p) in conn.pkts.iter().enumerate() {
            if p.dir != dir || p.is_empty() {
                continue;
            }
            let Some(at) = offset(p.seq, base) else { continue };
            let data = view.payload(p);
            let end = (at + data.len()).min(limit);
            if end <= at {
                continue;
            }
            if s.data.len() < end {
                s.data.resize(end, 0);
                s.owner.resize(end, 0);
            }
            for (k, &b) in data[..end - at].iter().enumerate() {
                if s.owner[at + k] == 0 {
                    s.data[at + k] = b;
                    s.owner[at + k] = i as u32 + 1;
                }
            }
        }
        s
    }

    pub fn has(&self, at: usize) -> bool {
        self.owner.get(at).is_some_and(|&o| o != 0)
    }

    /// The packet index that brought byte `at`.
    pub fn packet(&self, at: usize) -> Option<usize> {
        self.owner.get(at).and_then(|&o| o.checked_sub(1)).map(|o| o as usize)
    }
}

/// Offset of `seq` from `base`, when it lies at or after it (within 2^31, as TCP compares).
pub fn offset(seq: u32, base: u32) -> Option<usize> {
    let d = seq.wrapping_sub(base);
    (d < 1 << 31).then_some(d as usize)
}

/// How far the far side's sequence numbers of `dir` are from the near side's: the difference of
/// the SYNs when both captures saw them, else the offset most payloads agree on.
pub fn seq_delta(a: (&CaptureView, &Conn), b: (&CaptureView, &Conn), dir: Direction) -> Option<u32> {
    if let (Some(x), Some(y)) = (a.1.isn[dir.index()], b.1.isn[dir.index()]) {
        return Some(y.wrapping_sub(x));
    }
    let key = |view: &CaptureView, p: &super::packets::Pkt| {
        let d = view.payload(p);
        (d.len(), d[..d.len().min(KEY_BYTES)].to_vec())
    };
    let mut seqs: HashMap<(usize, Vec<u8>), Vec<u32>> = HashMap::new();
    for p in a.1.pkts.iter().filter(|p| p.dir == dir && p.len() >= 4) {
        seqs.entry(key(a.0, p)).or_default().push(p.seq);
    }
    let mut votes: HashMap<u32, usize> = HashMap::new();
    for p in b.1.pkts.iter().filter(|p| p.dir == dir && p.len() >= 4) {
        for s in seqs.get(&key(b.0, p)).into_iter().flatten() {
            *votes.entry(p.seq.wrapping_sub(*s)).or_default() += 1;
        }
    }
    votes.into_iter().max_by_key(|&(delta, n)| (n, std::cmp::Reverse(delta))).map(|(d, _)| d)
}

/// Bytes both streams hold at the same offsets, and how many of them are equal, over the first
/// `limit` offsets.
pub fn agreement(a: &Stream, b: &Stream, limit: usize) -> (usize, usize) {
    let n = a.data.len().min(b.data.len()).min(limit);
    let (mut both, mut equal) = (0, 0);
    for i in 0..n {
        if a.owner[i] != 0 && b.owner[i] != 0 {
            both += 1;
            equal += usize::from(a.data[i] == b.data[i]);
        }
    }
    (both, equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_wrap_modulo_2_32() {
        assert_eq!(offset(5, u32::MAX - 1), Some(7));
        assert_eq!(offset(10, 10), Some(0));
        assert_eq!(offset(9, 10), None);
    }

    #[test]
    fn agreement_counts_only_bytes_both_sides_hold() {
        let a = Stream { data: b"220 abc".to_vec(), owner: vec![1; 7] };
        let mut b = Stream { data: b"220 ***".to_vec(), owner: vec![1; 7] };
        b.owner[6] = 0;
        assert_eq!(agreement(&a, &b, 100), (6, 4));
        assert_eq!(agreement(&a, &b, 3), (3, 3));
    }
}
