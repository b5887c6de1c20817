//! Tells a capture's format from its first bytes. File names lie (a `.pcap` that is really
//! pcapng is what `tcpdump -w x.pcap` on a modern dumpcap gives), magic numbers do not.

/// Formats we can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Gzip,
    Pcap,
    Pcapng,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detected {
    Empty,
    /// Fewer than 4 bytes that could be the start of a capture.
    Short,
    Known(Format),
    Unknown,
}

/// Bytes needed to decide.
const MAGIC_LEN: usize = 4;

const GZIP: [u8; 2] = [0x1f, 0x8b];
const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// pcap magics as written big-endian; each also appears byte-swapped.
const PCAP_MAGICS: [u32; 3] = [0xa1b2_c3d4, 0xa1b2_3c4d, 0xa1b2_cd34];

pub(crate) fn detect(head: &[u8]) -> Detected {
    if head.is_empty() {
        return Detected::Empty;
    }
    if head.starts_with(&GZIP) {
        return Detected::Known(Format::Gzip);
    }
    let candidates = PCAP_MAGICS.iter().flat_map(|m| [m.to_be_bytes(), m.to_le_bytes()]).chain([PCAPNG_SHB]);
    if head.len() < MAGIC_LEN {
        let mut c = candidates.chain([[GZIP[0], GZIP[1], 0, 0]]);
        return if c.any(|m| m.starts_with(head)) { Detected::Short } else { Detected::Unknown };
    }
    if head[..4] == PCAPNG_SHB {
        return Detected::Known(Format::Pcapng);
    }
    let word = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if PCAP_MAGICS.contains(&word) || PCAP_MAGICS.contains(&word.swap_bytes()) {
        return Detected::Known(Format::Pcap);
    }
    Detected::Unknown
}

/// The first bytes in hex for a "not a capture" error, with a hint when they are a format an
/// admin may have handed us by mistake.
pub(crate) fn describe_magic(head: &[u8]) -> String {
    let shown = &head[..head.len().min(8)];
    let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
    let hint = if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ": zstd-compressed, decompress it first"
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        ": xz-compressed, decompress it first"
    } else if head.starts_with(b"BZh") {
        ": bzip2-compressed, decompress it first"
    } else if head.starts_with(b"PK\x03\x04") {
        ": a zip archive, extract the capture first"
    } else if head.starts_with(b"snoop\0") {
        ": a Solaris snoop capture, convert it with editcap first"
    } else if !shown.is_empty() && shown.iter().all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) {
        ": looks like text"
    } else {
        ""
    };
    format!("{}{hint}", hex.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_magics_in_both_byte_orders() {
        for m in
            [[0xd4, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4], [0x4d, 0x3c, 0xb2, 0xa1], [0xa1, 0xb2, 0xcd, 0x34]]
        {
            assert_eq!(detect(&m), Detected::Known(Format::Pcap), "{m:x?}");
        }
        assert_eq!(detect(&[0x0a, 0x0d, 0x0d, 0x0a, 0]), Detected::Known(Format::Pcapng));
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Detected::Known(Format::Gzip));
    }

    #[test]
    fn short_and_unknown() {
        assert_eq!(detect(&[]), Detected::Empty);
        assert_eq!(detect(&[0xd4, 0xc3]), Detected::Short);
        assert_eq!(detect(&[0x1f]), Detected::Short);
        assert_eq!(detect(b"GET"), Detected::Unknown);
        assert_eq!(detect(b"<!DOCTYPE html>"), Detected::Unknown);
    }

    #[test]
    fn magic_description_shows_hex_and_hint() {
        assert_eq!(describe_magic(b"<!DOCTYPE html>"), "3c 21 44 4f 43 54 59 50: looks like text");
        assert_eq!(
            describe_magic(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            "28 b5 2f fd 00: zstd-compressed, decompress it first"
        );
        assert_eq!(describe_magic(&[0, 1, 2]), "00 01 02");
    }
}
