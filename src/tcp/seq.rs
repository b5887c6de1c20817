//! Sequence numbers compare modulo 2^32 (RFC 793 §3.3), so every comparison goes through this
//! type and wraparound is handled in one place.

use std::cmp::Ordering;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance `self - earlier`, valid while the two are less than 2^31 apart.
    #[inline]
    pub fn since(self, earlier: SeqNumber) -> i64 {
        self.0.wrapping_sub(earlier.0) as i32 as i64
    }
    #[inline]
    pub fn plus(self, n: u64) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n as u32))
    }
}

impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeqNumber {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.since(*other).cmp(&0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_wraps_around_zero() {
        let before = SeqNumber(u32::MAX - 10);
        let after = before.plus(20);
        assert_eq!(after.0, 9);
        assert!(after > before);
        assert_eq!(after.since(before), 20);
        assert_eq!(before.since(after), -20);
    }

    #[test]
    fn equal_numbers_are_zero_apart() {
        assert_eq!(SeqNumber(5).since(SeqNumber(5)), 0);
        assert_eq!(SeqNumber(5).cmp(&SeqNumber(5)), Ordering::Equal);
    }
}
