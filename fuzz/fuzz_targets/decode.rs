//! The packet decoder on arbitrary frames of every link type it knows (and some it does not).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpdiag::capture::{Frame, LinkType, Timestamp};
use smtpdiag::decode;

const LINKS: [LinkType; 9] = [
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType(147),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else { return };
    let link_type = LINKS[pick as usize % LINKS.len()];
    let frame = Frame { number: 1, ts: Timestamp(0), link_type, data, orig_len: data.len() as u32, offset: 0 };
    if let Ok(p) = decode::decode(&frame) {
        assert!(p.payload.len() <= data.len());
        let _ = p.flags.label();
        let _ = p.wire_len();
    }
});
