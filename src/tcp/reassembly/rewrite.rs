//! Overlaps whose bytes differ from the first copy, kept as [`Rewrite`] evidence: the last
//! delivered segments (to compare full retransmissions with), buffered segments (to compare
//! overlapping ones with). A delivered segment keeps its first bytes, compared as they are, and
//! a cheap fingerprint of the bytes after them: most mail segments are short and need none.

use super::super::PacketRef;
use super::{Reassembler, Rewrite};

pub(super) const MAX_REWRITES_KEPT: usize = 16;
pub(super) const RECENT_SEGMENTS: usize = 3;

/// Bytes of a delivered segment kept for showing a rewrite.
pub(super) const RECENT_HEAD: usize = 192;

#[derive(Clone, Copy)]
pub(super) struct Recent {
    pub(super) offset: u64,
    pub(super) len: u32,
    /// Fingerprint of the bytes after `head` (0 when the segment fits in it).
    pub(super) hash: u64,
    pub(super) packet: u64,
    pub(super) head: [u8; RECENT_HEAD],
}

impl Default for Recent {
    fn default() -> Self {
        Recent { offset: 0, len: 0, hash: 0, packet: 0, head: [0; RECENT_HEAD] }
    }
}

impl Reassembler {
    pub(super) fn compare_buffered(&mut self, seg_start: u64, offset: u64, payload: &[u8], at: PacketRef) {
        let Some(seg) = self.pending.get(&seg_start) else { return };
        let lo = seg_start.max(offset);
        let hi = (seg_start + seg.data.len() as u64).min(offset + payload.len() as u64);
        if lo >= hi {
            return;
        }
        let old = &seg.data[(lo - seg_start) as usize..(hi - seg_start) as usize];
        let new = &payload[(lo - offset) as usize..(hi - offset) as usize];
        if old != new {
            let (original, changed) = excerpts(old, new);
            let rewrite = Rewrite {
                original_packet: seg.at.number,
                packet: at.number,
                offset: lo,
                len: (hi - lo) as u32,
                original,
                changed,
            };
            self.push_rewrite(rewrite);
        }
    }

    pub(super) fn remember(&mut self, offset: u64, data: &[u8], at: PacketRef) {
        let slots = self.recent.get_or_insert_with(|| Box::new([Recent::default(); RECENT_SEGMENTS]));
        let r = &mut slots[self.recent_pos];
        let n = data.len().min(RECENT_HEAD);
        r.head[..n].copy_from_slice(&data[..n]);
        (r.offset, r.len, r.hash, r.packet) = (offset, data.len() as u32, tail_hash(data), at.number);
        self.recent_pos = (self.recent_pos + 1) % RECENT_SEGMENTS;
    }

    /// The connection has closed: retransmitted data is no longer compared with what was
    /// delivered, and the segment history is given back.
    pub fn release_history(&mut self) {
        self.recent = None;
    }

    /// A full retransmission of one of the last delivered segments must carry the same bytes.
    pub(super) fn check_rewrite(&mut self, offset: u64, payload: &[u8], at: PacketRef) {
        if payload.is_empty() {
            return;
        }
        let len = payload.len() as u32;
        let Some(slots) = &self.recent else { return };
        let found = slots.iter().find(|r| r.len == len && r.offset == offset && r.packet != 0);
        let differs = |r: &&Recent| {
            let kept = &r.head[..(r.len as usize).min(RECENT_HEAD)];
            kept != &payload[..kept.len()] || r.hash != tail_hash(payload)
        };
        if let Some(r) = found.filter(differs).copied() {
            let kept = &r.head[..(r.len as usize).min(RECENT_HEAD)];
            let (original, changed) = excerpts(kept, payload);
            self.push_rewrite(Rewrite { original_packet: r.packet, packet: at.number, offset, len, original, changed });
        }
    }

    pub(super) fn push_rewrite(&mut self, rewrite: Rewrite) {
        if self.stats.rewrites.len() < MAX_REWRITES_KEPT {
            // What `held_bytes` charges for it: the strings and a share of the list.
            self.rewrite_bytes += 64 + rewrite.original.len() + rewrite.changed.len();
            self.stats.rewrites.push(rewrite);
        }
    }
}

/// The fingerprint of what a segment's kept head does not hold (0 when it holds everything).
fn tail_hash(data: &[u8]) -> u64 {
    data.get(RECENT_HEAD..).map_or(0, hash_bytes)
}

/// Enough to tell two copies of a segment apart. Every delivered segment goes through this, so
/// it must cost far less than reading the bytes for SMTP: Fletcher-style sums over eight-byte
/// words in four lanes (`s1` = sum of the words, `s2` = sum of the running `s1`), which the
/// compiler turns into a few adds per 32 bytes. Any single changed byte changes `s1`; a change
/// undone elsewhere in the same lane still changes `s2` (the position weighs in), so moved or
/// swapped blocks are caught too. It tells edits apart, as a middlebox makes them; it is not
/// meant to resist a sender who crafts a collision to hide its own retransmission.
pub(super) fn hash_bytes(data: &[u8]) -> u64 {
    pub(super) fn add_block(block: &[u8; 32], s1: &mut [u64; 4], s2: &mut [u64; 4]) {
        for lane in 0..4 {
            let word = u64::from_le_bytes(block[lane * 8..lane * 8 + 8].try_into().unwrap_or_default());
            s1[lane] = s1[lane].wrapping_add(word);
            s2[lane] = s2[lane].wrapping_add(s1[lane]);
        }
    }
    let (mut s1, mut s2) = ([0u64; 4], [0u64; 4]);
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        add_block(block.try_into().unwrap_or(&[0; 32]), &mut s1, &mut s2);
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 32];
        last[..rest.len()].copy_from_slice(rest);
        add_block(&last, &mut s1, &mut s2);
    }
    // Fold the eight sums and the length into one word (a multiply-xorshift mix per step).
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = data.len() as u64;
    for sum in s1.into_iter().chain(s2) {
        h = (h ^ sum).wrapping_mul(K);
        h ^= h >> 29;
    }
    h
}

/// Up to 40 bytes of each copy, starting a little before the first byte that differs.
pub(super) fn excerpts(old: &[u8], new: &[u8]) -> (String, String) {
    let first = old.iter().zip(new).position(|(a, b)| a != b).unwrap_or(old.len().min(new.len()));
    let start = first.saturating_sub(8);
    let cut = |b: &[u8]| {
        let end = b.len().min(start + 40);
        String::from_utf8_lossy(b.get(start..end).unwrap_or(&[])).escape_debug().to_string()
    };
    (cut(old), cut(new))
}

#[cfg(test)]
mod tests {
    use super::hash_bytes;

    #[test]
    fn fingerprint_sees_single_bytes_moved_blocks_and_length() {
        let base: Vec<u8> = (0..1448u32).map(|i| (i * 7 % 251) as u8).collect();
        let h = hash_bytes(&base);
        assert_eq!(h, hash_bytes(&base.clone()));
        for at in [0, 1, 31, 32, 700, 1447] {
            let mut changed = base.clone();
            changed[at] ^= 0x20;
            assert_ne!(h, hash_bytes(&changed), "byte {at}");
        }
        // Two 32-byte blocks swapped: the plain sums stay, the weighted ones do not.
        let mut swapped = base.clone();
        let (a, b) = swapped.split_at_mut(64);
        a[..32].swap_with_slice(&mut b[..32]);
        assert_ne!(h, hash_bytes(&swapped));
        // A change undone in the next block of the same lane.
        let mut undone = base.clone();
        undone[8] = undone[8].wrapping_add(1);
        undone[40] = undone[40].wrapping_sub(1);
        assert_ne!(h, hash_bytes(&undone));
        assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abc\0"));
    }
}
