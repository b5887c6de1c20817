//! The mail ports as a bit set: every packet asks whether either port is one of them.

/// One bit per port (8 kB): a lookup is a load and a test, where a list is a loop per packet.
pub(super) struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    pub(super) fn new(ports: &[u16]) -> Self {
        let mut bits = Box::new([0u64; 1024]);
        for &p in ports {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        PortSet(bits)
    }

    #[inline]
    pub(super) fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::PortSet;

    #[test]
    fn holds_exactly_the_ports_given() {
        let set = PortSet::new(&[25, 465, 587, 2525, 0, 65535]);
        let held: Vec<u16> = (0..=u16::MAX).filter(|&p| set.contains(p)).collect();
        assert_eq!(held, [0, 25, 465, 587, 2525, 65535]);
    }
}
