//! TCP flag bits and their Wireshark names.

/// TCP flag bits, as in the header's flags byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    #[inline]
    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    #[inline]
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    #[inline]
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    #[inline]
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    #[inline]
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }

    /// Wireshark-style label: "SYN", "SYN/ACK", "FIN/ACK", "PSH/ACK", "RST/ACK", … A copy of the
    /// flags that writes itself when shown: a connection records one per FIN or RST without
    /// allocating a string for it.
    pub fn label(self) -> FlagsLabel {
        FlagsLabel(self)
    }
}

/// The flags as Wireshark names them, shown with `Display` (see [`TcpFlags::label`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagsLabel(TcpFlags);

impl std::fmt::Display for FlagsLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [(u8, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::ACK, "ACK"),
        ];
        let mut names = NAMES.iter().filter(|(b, _)| self.0.has(*b)).map(|(_, n)| *n);
        let Some(first) = names.next() else { return f.write_str("none") };
        f.write_str(first)?;
        names.try_for_each(|n| write!(f, "/{n}"))
    }
}

#[cfg(test)]
mod label_tests {
    use super::TcpFlags;

    #[test]
    fn labels_name_the_flags_in_wiresharks_order() {
        let label = |bits: u8| TcpFlags(bits).label().to_string();
        assert_eq!(label(TcpFlags::SYN | TcpFlags::ACK), "SYN/ACK");
        assert_eq!(label(TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK), "FIN/PSH/ACK");
        assert_eq!(label(TcpFlags::RST), "RST");
        assert_eq!(label(0xff), "SYN/FIN/RST/PSH/URG/ECE/CWR/ACK");
        assert_eq!(label(0), "none");
    }
}
