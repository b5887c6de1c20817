//! Link layers beyond Ethernet, end to end through the binary: the same SMTP session recorded
//! as raw IP (link types 12, 14, 101, 228), PPP (9, 50), bare PPPoE (51), PPPoE in Ethernet and
//! in Linux cooked captures gets the same verdict; a link type smtpdiag cannot decode is one
//! warning naming it, and packet-level warnings carry the byte offset of their record and stop
//! after five with a count of the rest.

mod common;

use common::synth::SessionBuilder;
use common::*;
use smtpdiag::capture::{LinkType, PcapWriter};

fn delivery() -> SessionBuilder {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx ESMTP\r\n").client("EHLO a.example\r\n").server("250 mx\r\n");
    b.client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client("RCPT TO:<c@d>\r\n").server("250 ok\r\n");
    b.client("DATA\r\n").server("354 go\r\n").client("Subject: x\r\n\r\nhi\r\n.\r\n");
    b.server("250 2.0.0 Ok: queued as 4F2A1\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    b
}

/// The session's frames rewrapped: the Ethernet header replaced by `wrap(ip_packet)`.
fn rewrapped(b: &SessionBuilder, link: LinkType, wrap: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), link, 65535).unwrap();
    for (ts, eth) in &b.frames {
        let data = wrap(&eth[14..]);
        w.write_packet(*ts, &data, data.len() as u32).unwrap();
    }
    w.into_inner()
}

fn pppoe(ip: &[u8]) -> Vec<u8> {
    let mut v = vec![0x11, 0x00, 0x00, 0x2a];
    v.extend(((ip.len() + 2) as u16).to_be_bytes());
    v.extend([0x00, 0x21]);
    v.extend(ip);
    v
}

fn read_text(dir: &tempfile::TempDir, name: &str, pcap: &[u8]) -> (String, String) {
    let path = dir.path().join(name);
    std::fs::write(&path, pcap).unwrap();
    let out = run(&["read", path.to_str().unwrap()]);
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn one_session_on_every_link_layer_gets_the_same_verdict() {
    let b = delivery();
    let dir = tempfile::tempdir().unwrap();
    let mac = [2u8, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    let captures: Vec<(&str, Vec<u8>)> = vec![
        ("raw12", rewrapped(&b, LinkType(12), |ip| ip.to_vec())),
        ("raw14", rewrapped(&b, LinkType(14), |ip| ip.to_vec())),
        ("raw101", rewrapped(&b, LinkType(101), |ip| ip.to_vec())),
        ("ipv4", rewrapped(&b, LinkType(228), |ip| ip.to_vec())),
        ("ppp", rewrapped(&b, LinkType(9), |ip| [&[0xff, 0x03, 0x00, 0x21][..], ip].concat())),
        ("ppp-hdlc", rewrapped(&b, LinkType(50), |ip| [&[0xff, 0x03, 0x21][..], ip].concat())),
        ("ppp-ether", rewrapped(&b, LinkType(51), pppoe)),
        ("pppoe", rewrapped(&b, LinkType::ETHERNET, |ip| [&mac[..], &[0x88, 0x64], &pppoe(ip)].concat())),
        ("sll-pppoe", rewrapped(&b, LinkType::LINUX_SLL, |ip| [&[0u8; 14][..], &[0x88, 0x64], &pppoe(ip)].concat())),
        (
            "sll-ppp",
            rewrapped(&b, LinkType::LINUX_SLL, |ip| {
                [&[0u8; 14][..], &[0x00, 0x07, 0xff, 0x03, 0x00, 0x21], ip].concat()
            }),
        ),
    ];
    for (name, pcap) in captures {
        let (stdout, stderr) = read_text(&dir, name, &pcap);
        assert!(stdout.contains("DELIVERED") && stdout.contains("1 session in 1 capture"), "{name}:\n{stdout}");
        assert!(stderr.is_empty(), "{name}: {stderr}");
    }
}

#[test]
fn an_unknown_link_type_is_one_warning_naming_it_with_its_offset_then_a_count() {
    let b = delivery();
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = read_text(&dir, "user0", &rewrapped(&b, LinkType(147), |ip| ip.to_vec()));
    assert!(stdout.contains("0 sessions"), "{stdout}");
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[1].ends_with(&format!("{} packets in all were skipped for their link type (147)", b.frames.len())),
        "{stderr}"
    );
    assert!(
        warnings[0].ends_with("offset 24: packet 1: link type 147 (USER) is not supported; its packets are skipped"),
        "{stderr}"
    );
}

#[test]
fn packet_warnings_carry_their_offset_and_stop_after_five() {
    let b = delivery();
    // Eight frames whose IPv4 header claims a length below its own header: malformed.
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).unwrap();
    let mut offsets = Vec::new();
    let mut at = 24u64;
    for (i, (ts, eth)) in b.frames.iter().enumerate() {
        let mut data = eth.clone();
        if i < 8 {
            data[14] = 0x43; // IHL 3: shorter than any IPv4 header
            offsets.push(at);
        }
        w.write_packet(*ts, &data, data.len() as u32).unwrap();
        at += 16 + data.len() as u64;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = read_text(&dir, "bad", &w.into_inner());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 6, "{stderr}");
    for (line, offset) in lines[..5].iter().zip(&offsets) {
        assert!(line.contains(&format!(": offset {offset}: packet ")) && line.contains("malformed"), "{line}");
    }
    assert!(lines[5].ends_with("3 more packets with malformed headers were skipped (not shown)"), "{stderr}");
}

/// Ethernet frames whose IPv4 packet is longer than `mtu` bytes, cut into fragments of at most
/// `mtu` bytes (pieces of a multiple of 8), the pieces in reverse order when `reverse`.
fn fragmented(eth: &[u8], mtu: usize, reverse: bool) -> Vec<Vec<u8>> {
    let (mac, ip) = eth.split_at(14);
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip.len() <= mtu {
        return vec![eth.to_vec()];
    }
    let piece = (mtu - ihl) / 8 * 8;
    let body = &ip[ihl..];
    let mut out: Vec<Vec<u8>> = body
        .chunks(piece)
        .enumerate()
        .map(|(i, chunk)| {
            let mut header = ip[..ihl].to_vec();
            header[2..4].copy_from_slice(&((ihl + chunk.len()) as u16).to_be_bytes());
            let more = if (i + 1) * piece < body.len() { 0x2000 } else { 0 };
            header[6..8].copy_from_slice(&(more | (i * piece / 8) as u16).to_be_bytes());
            [mac, &header, chunk].concat()
        })
        .collect();
    if reverse {
        out.reverse();
    }
    out
}

fn fragmented_pcap(b: &SessionBuilder, mtu: usize, drop_one: bool) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).unwrap();
    let mut dropped = !drop_one;
    for (i, (ts, eth)) in b.frames.iter().enumerate() {
        for (k, f) in fragmented(eth, mtu, i % 2 == 0).iter().enumerate() {
            if !dropped && k == 1 {
                dropped = true;
                continue;
            }
            w.write_packet(*ts, f, f.len() as u32).unwrap();
        }
    }
    w.into_inner()
}

#[test]
fn ip_fragments_are_reassembled_with_one_thread_or_two() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx ESMTP\r\n").client("EHLO a.example\r\n").server("250 mx\r\n");
    b.client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client("RCPT TO:<c@d>\r\n").server("250 ok\r\n");
    b.client("DATA\r\n").server("354 go\r\n");
    b.client(&format!("Subject: x\r\n\r\n{}\r\n.\r\n", "fragmented body line\r\n".repeat(60)));
    b.server("250 2.0.0 Ok: queued as 4F2A1\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frag.pcap");
    std::fs::write(&path, fragmented_pcap(&b, 576, false)).unwrap();
    let file = path.to_str().unwrap();
    let one = run(&["read", "--json", file]);
    let two = run(&["read", "--json", "--threads", "2", file]);
    assert!(one.status.success() && one.stderr.is_empty(), "{}", String::from_utf8_lossy(&one.stderr));
    assert_eq!(one.stdout, two.stdout, "the same with two threads");
    let stdout = String::from_utf8_lossy(&one.stdout);
    assert!(stdout.contains("\"DELIVERED\"") && !stdout.contains("INCOMPLETE"), "{stdout}");
    assert!(stdout.contains("4F2A1"));

    // One piece missing: the message is incomplete, and the warning says why.
    std::fs::write(&path, fragmented_pcap(&b, 576, true)).unwrap();
    let out = run(&["read", file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "1 fragmented IP datagram carrying TCP could not be reassembled (1 incomplete when the capture ended"
        ),
        "{stderr}"
    );
}
