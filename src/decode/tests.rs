//! The decoder on literal frames of every link type: each test asserts the decoded fields.

use super::fast::ethernet_ipv4_tcp;
use super::general::decode_general;
use super::*;
use crate::capture::{Frame, LinkType, Timestamp};
use etherparse::PacketBuilder;

/// The fast path and the general one agree on every frame the fast one accepts.
fn same_as_general(f: &Frame<'_>) -> bool {
    let Some(fast) = ethernet_ipv4_tcp(f) else { return false };
    let general = decode_general(f).expect("the general path rejects a frame the fast one accepts");
    assert_eq!(format!("{fast:?}"), format!("{general:?}"), "{:02x?}", f.data);
    true
}

#[test]
fn fast_path_agrees_with_the_general_one_on_mutated_frames() {
    let mut base = ethernet_tcp(b"MAIL FROM:<a@b>\r\n");
    // An MSS option and a NOP, as real SYNs carry.
    base[14 + 20 + 12] = 0x70;
    base.splice(14 + 40..14 + 40, [2, 4, 0x05, 0xb4, 1, 1, 1, 0]);
    let total = (base.len() - 14) as u16;
    base[16..18].copy_from_slice(&total.to_be_bytes());
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut accepted = 0;
    for _ in 0..200_000 {
        let mut bytes = base.clone();
        for _ in 0..1 + rand() % 3 {
            let at = (rand() % bytes.len() as u64) as usize;
            bytes[at] = rand() as u8;
        }
        if rand() % 4 == 0 {
            bytes.truncate((rand() % bytes.len() as u64) as usize);
        }
        if rand() % 8 == 0 {
            bytes.extend_from_slice(&[0; 6]);
        }
        accepted += usize::from(same_as_general(&frame(LinkType::ETHERNET, &bytes)));
    }
    assert!(accepted > 50_000, "{accepted}");
    assert!(same_as_general(&frame(LinkType::ETHERNET, &base)));
}

fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
    Frame { number: 7, ts: Timestamp(1_000), link_type: link, data, orig_len: data.len() as u32, offset: 0 }
}

fn ethernet_tcp(payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
        .ipv4([203, 0, 113, 5], [198, 51, 100, 25], 64)
        .tcp(49152, 25, 1000, 64240)
        .syn()
        .ack(77);
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

#[test]
fn ethernet_ipv4_tcp_decodes_addresses_ports_and_payload() {
    let bytes = ethernet_tcp(b"EHLO x\r\n");
    let p = decode(&frame(LinkType::ETHERNET, &bytes)).unwrap();
    assert_eq!(p.src.to_string(), "203.0.113.5");
    assert_eq!(p.dst.to_string(), "198.51.100.25");
    assert_eq!((p.src_port, p.dst_port, p.seq, p.ack), (49152, 25, 1000, 77));
    assert_eq!(p.flags.label().to_string(), "SYN/ACK");
    assert_eq!(p.payload, b"EHLO x\r\n");
    assert_eq!((p.missing, p.ttl, p.number), (0, 64, 7));
}

#[test]
fn snaplen_truncated_payload_counts_missing_bytes() {
    let bytes = ethernet_tcp(b"0123456789");
    let cut = &bytes[..bytes.len() - 4];
    let p = decode(&frame(LinkType::ETHERNET, cut)).unwrap();
    assert_eq!(p.payload, b"012345");
    assert_eq!(p.missing, 4);
    assert_eq!(p.wire_len(), 10);
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut bytes = ethernet_tcp(b"");
    bytes.extend_from_slice(&[0; 6]);
    let p = decode(&frame(LinkType::ETHERNET, &bytes)).unwrap();
    assert!(p.payload.is_empty());
    assert_eq!(p.missing, 0);
}

#[test]
fn vlan_and_qinq_tags_are_skipped() {
    let plain = ethernet_tcp(b"QUIT\r\n");
    let want = fields(&decode(&frame(LinkType::ETHERNET, &plain)).unwrap());
    for tags in [1usize, 2] {
        let mut bytes = plain[..12].to_vec();
        for i in 0..tags {
            let tpid: u16 = if i + 1 < tags { 0x88a8 } else { 0x8100 };
            bytes.extend_from_slice(&tpid.to_be_bytes());
            bytes.extend_from_slice(&[0x00, 0x64]);
        }
        bytes.extend_from_slice(&plain[12..]);
        let p = decode(&frame(LinkType::ETHERNET, &bytes)).unwrap();
        assert_eq!(fields(&p), want, "{tags} tag(s)");
    }
}

/// Every field of a decoded packet, to compare the same packet under different link layers.
fn fields(p: &Packet<'_>) -> String {
    format!("{p:?}")
}

#[test]
fn null_loopback_in_either_byte_order_raw_ip_and_cooked_give_the_ethernet_packet() {
    let eth = ethernet_tcp(b"x");
    let want = fields(&decode(&frame(LinkType::ETHERNET, &eth)).unwrap());
    assert!(want.contains("203.0.113.5") && want.contains("payload: [120]"), "{want}");
    let ip = &eth[14..];
    let mut framings = Vec::new();
    for header in [[2u8, 0, 0, 0], [0, 0, 0, 2]] {
        framings.push((LinkType::NULL, [&header[..], ip].concat()));
    }
    framings.push((LinkType::LOOP, [&[0, 0, 0, 2][..], ip].concat()));
    framings.push((LinkType::RAW, ip.to_vec()));
    let mut sll = vec![0u8; 16];
    sll[14..].copy_from_slice(&[0x08, 0x00]);
    sll.extend_from_slice(ip);
    framings.push((LinkType::LINUX_SLL, sll));
    let mut sll2 = vec![0u8; 20];
    sll2[..2].copy_from_slice(&[0x08, 0x00]);
    sll2.extend_from_slice(ip);
    framings.push((LinkType::LINUX_SLL2, sll2));
    for (link, data) in framings {
        let p = decode(&frame(link, &data)).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
        assert_eq!(fields(&p), want, "{link:?}");
    }
    // A family that is neither IPv4 nor IPv6 (AF_APPLETALK) carries no TCP.
    assert_eq!(decode(&frame(LinkType::NULL, &[&[16, 0, 0, 0][..], ip].concat())).unwrap_err(), Skip::NotTcp);
}

#[test]
fn window_flags_and_mss_option_decode_on_both_paths() {
    let builder = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
        .ipv4([203, 0, 113, 5], [198, 51, 100, 25], 64)
        .tcp(49152, 25, 1000, 29200)
        .syn()
        .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460), etherparse::TcpOptionElement::Noop])
        .unwrap();
    let mut bytes = Vec::new();
    builder.write(&mut bytes, b"").unwrap();
    let f = frame(LinkType::ETHERNET, &bytes);
    let fast = ethernet_ipv4_tcp(&f).expect("a plain SYN takes the fast path");
    let general = decode_general(&f).unwrap();
    for p in [fast, general] {
        assert_eq!((p.flags, p.window, p.mss, p.ip_id), (TcpFlags(TcpFlags::SYN), 29200, Some(1460), Some(0)));
        assert!(p.payload.is_empty());
    }
}

#[test]
fn an_ipv4_fragment_is_skipped_and_handed_to_the_defragmenter_with_its_fields() {
    let mut bytes = ethernet_tcp(b"0123456789abcdef");
    // More fragments, offset 0, id 0x4242.
    bytes[14 + 4..14 + 6].copy_from_slice(&[0x42, 0x42]);
    bytes[14 + 6] = 0x20;
    let f = frame(LinkType::ETHERNET, &bytes);
    assert_eq!(decode(&f).unwrap_err(), Skip::Fragment);
    let piece = fragment(&f).expect("a fragment");
    assert_eq!((piece.src.to_string(), piece.dst.to_string()), ("203.0.113.5".into(), "198.51.100.25".into()));
    assert_eq!((piece.id, piece.ttl, piece.offset.value(), piece.more), (0x4242, 64, 0, true));
    assert_eq!(piece.data, &bytes[14 + 20..], "the TCP header and payload");
    assert!(fragment(&frame(LinkType::ETHERNET, &ethernet_tcp(b"x"))).is_none(), "a whole packet");
}

#[test]
fn raw_ip_under_dlt_numbers_12_and_14() {
    let eth = ethernet_tcp(b"x");
    let want = fields(&decode(&frame(LinkType::ETHERNET, &eth)).unwrap());
    for link in [LinkType::RAW_12, LinkType::RAW_14, LinkType::IPV4] {
        assert_eq!(fields(&decode(&frame(link, &eth[14..])).unwrap()), want, "{link:?}");
    }
}

/// A PPPoE session frame carrying `ppp` (protocol field and packet).
fn pppoe(ppp: &[u8]) -> Vec<u8> {
    let mut v = vec![0x11, 0x00, 0x12, 0x34];
    v.extend((ppp.len() as u16).to_be_bytes());
    v.extend(ppp);
    v
}

#[test]
fn ppp_with_and_without_hdlc_bytes_and_compressed_protocol() {
    let eth = ethernet_tcp(b"EHLO x\r\n");
    let want = fields(&decode(&frame(LinkType::ETHERNET, &eth)).unwrap());
    let ip = &eth[14..];
    for prefix in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21], &[0xff, 0x03, 0x21]] {
        let data = [prefix, ip].concat();
        for link in [LinkType::PPP, LinkType::PPP_HDLC] {
            assert_eq!(fields(&decode(&frame(link, &data)).unwrap()), want, "{prefix:02x?}");
        }
    }
    // LCP is PPP's own business, not TCP; a frame too short for a protocol is damage.
    assert_eq!(decode(&frame(LinkType::PPP, &[0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4])).unwrap_err(), Skip::NotTcp);
    assert!(matches!(decode(&frame(LinkType::PPP, &[0xff, 0x03])), Err(Skip::Malformed(_))));
}

#[test]
fn pppoe_session_frames_in_ethernet_vlan_cooked_and_bare() {
    let eth = ethernet_tcp(b"QUIT\r\n");
    let want = fields(&decode(&frame(LinkType::ETHERNET, &eth)).unwrap());
    let mut ppp = vec![0x00, 0x21];
    ppp.extend(&eth[14..]);
    let session = pppoe(&ppp);
    let mut plain = eth[..12].to_vec();
    plain.extend([0x88, 0x64]);
    plain.extend(&session);
    plain.extend([0; 8]); // Ethernet padding after the PPPoE length
    let mut tagged = eth[..12].to_vec();
    tagged.extend([0x81, 0x00, 0x00, 0x07, 0x88, 0x64]);
    tagged.extend(&session);
    let mut sll = vec![0u8; 14];
    sll.extend([0x88, 0x64]);
    sll.extend(&session);
    let mut sll2 = vec![0x88, 0x64];
    sll2.extend([0u8; 18]);
    sll2.extend(&session);
    let mut sll_ppp = vec![0u8; 14];
    sll_ppp.extend([0x00, 0x07, 0xff, 0x03]);
    sll_ppp.extend(&ppp);
    for (link, data) in [
        (LinkType::ETHERNET, &plain),
        (LinkType::ETHERNET, &tagged),
        (LinkType::LINUX_SLL, &sll),
        (LinkType::LINUX_SLL2, &sll2),
        (LinkType::LINUX_SLL, &sll_ppp),
        (LinkType::PPP_ETHER, &session),
    ] {
        let p = decode(&frame(link, data)).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
        assert_eq!(fields(&p), want, "{link:?}");
    }
    let mut bad = session.clone();
    bad[0] = 0x22;
    assert!(matches!(decode(&frame(LinkType::PPP_ETHER, &bad)), Err(Skip::Malformed(_))));
}

#[test]
fn ipv6_tcp_decodes() {
    let builder = PacketBuilder::ipv6(
        [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        55,
    )
    .tcp(40000, 587, 5, 100);
    let mut out = Vec::new();
    builder.write(&mut out, b"220 hi\r\n").unwrap();
    let p = decode(&frame(LinkType::IPV6, &out)).unwrap();
    assert_eq!(p.src.to_string(), "2001:db8::1");
    assert_eq!((p.ttl, p.ip_id, p.dst_port), (55, None, 587));
    assert_eq!(p.payload, b"220 hi\r\n");
}

#[test]
fn unknown_link_type_and_junk_never_panic() {
    assert_eq!(decode(&frame(LinkType(147), b"abc")).unwrap_err(), Skip::UnknownLinkType(LinkType(147)));
    for len in 0..64 {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        for link in [
            LinkType::ETHERNET,
            LinkType::RAW,
            LinkType::NULL,
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::PPP,
            LinkType::PPP_ETHER,
        ] {
            let _ = decode(&frame(link, &junk));
        }
    }
}
