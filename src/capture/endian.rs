//! Integers in the byte order a capture was written in (the writer's host order, told by the
//! magic number). Callers have checked the lengths; out-of-range reads are their bug.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(crate) fn u16(self, b: &[u8], at: usize) -> u16 {
        let a = [b[at], b[at + 1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    /// The first four u32 of `b`: a record header's fields, with one look at the byte order.
    #[inline]
    pub(crate) fn u32x4(self, b: &[u8]) -> [u32; 4] {
        let b = &b[..16];
        let word = |i: usize| [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
        let words = [word(0), word(1), word(2), word(3)];
        match self {
            Endian::Little => words.map(u32::from_le_bytes),
            Endian::Big => words.map(u32::from_be_bytes),
        }
    }

    #[inline]
    pub(crate) fn u32(self, b: &[u8], at: usize) -> u32 {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    pub(crate) fn i64(self, b: &[u8], at: usize) -> i64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        match self {
            Endian::Little => i64::from_le_bytes(a),
            Endian::Big => i64::from_be_bytes(a),
        }
    }

    #[cfg(test)]
    pub(crate) fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }

    #[cfg(test)]
    pub(crate) fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_orders() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(Endian::Little.u16(&b, 1), 0x0302);
        assert_eq!(Endian::Big.u32(&b, 0), 0x0102_0304);
        assert_eq!(Endian::Little.u32(&b, 4), 0x0807_0605);
        assert_eq!(Endian::Big.i64(&b, 0), 0x0102_0304_0506_0708);
        assert_eq!(Endian::Big.put_u32(0x0102_0304), [1, 2, 3, 4]);
        assert_eq!(Endian::Little.put_u16(0x0102), [2, 1]);
    }
}
