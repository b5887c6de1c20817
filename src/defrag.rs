//! IP fragment reassembly, for TCP carried in IPv4 or IPv6 fragments (a path with a small MTU, a
//! VPN, a firewall that fragments): tshark reassembles them, and without this the session shows
//! holes "not captured".
//!
//! Bounded like Linux's own reassembly: a datagram waits at most 30 s for its pieces
//! (`net.ipv4.ipfrag_time`), all waiting datagrams together hold at most 4 MiB
//! (`ipfrag_high_thresh`; the oldest go first), and overlapping pieces drop the datagram
//! (RFC 5722, and Linux since the FragmentSmack fix for IPv4): an attacker who sends two
//! versions of the same bytes does not choose which one smtpdiag sees. Every fragment that ends
//! in no packet is counted, with why.

use crate::capture::{Frame, Timestamp};
use crate::decode::{self, Fragment, Packet, Skip};
use etherparse::IpNumber;
use etherparse::defrag::IpDefragBuf;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// How long a datagram waits for its missing pieces (Linux `ipfrag_time`).
pub const TIMEOUT_NS: i64 = 30 * 1_000_000_000;
/// Bytes held by all incomplete datagrams (Linux `ipfrag_high_thresh`).
pub const MAX_HELD_BYTES: usize = 4 << 20;
/// What one waiting datagram costs besides its bytes (map entries, range list).
const DATAGRAM_OVERHEAD: usize = 256;

/// What became of the fragments of one capture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FragmentStats {
    /// Frames that carried a fragment of a TCP packet.
    pub fragments: u64,
    /// Datagrams put back together (and analysed as one packet each).
    pub reassembled: u64,
    /// Datagrams still missing pieces 30 s after their first one.
    pub timed_out: u64,
    /// Datagrams given up to stay within the 4 MiB held by reassembly.
    pub over_cap: u64,
    /// Datagrams dropped for overlapping or inconsistent pieces.
    pub inconsistent: u64,
    /// Datagrams still incomplete when the capture ended.
    pub incomplete_at_end: u64,
}

impl FragmentStats {
    /// Datagrams that never became a packet.
    pub fn lost(&self) -> u64 {
        self.timed_out + self.over_cap + self.inconsistent + self.incomplete_at_end
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
}

struct Pending {
    buf: IpDefragBuf,
    /// Where the datagram sits in `age`.
    since: (Timestamp, u64),
    ttl: u8,
    held: usize,
}

/// Datagrams waiting for their pieces.
#[derive(Default)]
pub struct Defragmenter {
    pending: HashMap<Key, Pending>,
    /// Waiting datagrams by the time of their first piece (and arrival order): the oldest first.
    age: BTreeMap<(Timestamp, u64), Key>,
    arrivals: u64,
    held: usize,
    pub stats: FragmentStats,
}

/// A datagram put back together: the TCP packet it carries, borrowed from `tcp`.
pub struct Reassembled {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub tcp: Vec<u8>,
}

impl Reassembled {
    /// The packet, numbered and timed as the frame that completed it.
    pub fn packet(&self, frame: &Frame<'_>) -> Result<Packet<'_>, Skip> {
        decode::reassembled_tcp(frame, (self.src, self.dst, self.ttl, self.ip_id), &self.tcp)
    }
}

impl Defragmenter {
    /// Takes a frame that decode called [`Skip::Fragment`]; returns the datagram once complete.
    pub fn push(&mut self, frame: &Frame<'_>) -> Option<Reassembled> {
        let fragment = decode::fragment(frame)?;
        self.stats.fragments += 1;
        self.expire(frame.ts);
        self.add(frame.ts, &fragment)
    }

    /// Datagrams still waiting at the end of the capture are counted as such.
    pub fn finish(&mut self) {
        self.stats.incomplete_at_end += self.pending.len() as u64;
        self.pending.clear();
        self.age.clear();
        self.held = 0;
    }

    /// Bytes held by incomplete datagrams.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    fn add(&mut self, ts: Timestamp, f: &Fragment<'_>) -> Option<Reassembled> {
        let key = Key { src: f.src, dst: f.dst, id: f.id };
        if !self.pending.contains_key(&key) {
            self.arrivals += 1;
            let since = (ts, self.arrivals);
            self.age.insert(since, key);
            let buf = IpDefragBuf::new(IpNumber::TCP, Vec::new(), Vec::new());
            self.pending.insert(key, Pending { buf, since, ttl: f.ttl, held: DATAGRAM_OVERHEAD });
            self.held += DATAGRAM_OVERHEAD;
        }
        let p = self.pending.get_mut(&key).expect("inserted above");
        let start = f.offset.byte_offset();
        let end = usize::from(start) + f.data.len();
        let overlaps = p.buf.sections().iter().any(|r| usize::from(r.start) < end && start < r.end);
        if overlaps || p.buf.add(f.offset, f.more, f.data).is_err() {
            self.stats.inconsistent += 1;
            self.remove(&key);
            return None;
        }
        // The piece at offset 0 carries the TCP header: its TTL is the one shown.
        if start == 0 {
            p.ttl = f.ttl;
        }
        let grown = p.buf.data().capacity() + p.buf.sections().capacity() * 4 + DATAGRAM_OVERHEAD;
        self.held = self.held + grown - p.held;
        p.held = grown;
        if p.buf.is_complete() {
            let (ttl, ip_id) = (p.ttl, u16::try_from(f.id).ok().filter(|_| f.src.is_ipv4()));
            let p = self.remove(&key)?;
            self.stats.reassembled += 1;
            let (tcp, _) = p.buf.take_bufs();
            return Some(Reassembled { src: f.src, dst: f.dst, ttl, ip_id, tcp });
        }
        while self.held > MAX_HELD_BYTES {
            let Some((_, oldest)) = self.age.first_key_value().map(|(k, v)| (*k, *v)) else { break };
            self.stats.over_cap += 1;
            self.remove(&oldest);
        }
        None
    }

    /// Drops datagrams whose first piece came more than 30 s before `now`.
    fn expire(&mut self, now: Timestamp) {
        while let Some((&(since, _), &key)) = self.age.first_key_value() {
            if now.0.saturating_sub(since.0) <= TIMEOUT_NS {
                break;
            }
            self.stats.timed_out += 1;
            self.remove(&key);
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.age.remove(&p.since);
        self.held -= p.held;
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use etherparse::PacketBuilder;

    /// A TCP packet from 203.0.113.5:40000 to 198.51.100.25:25 as raw IPv4, cut into pieces of
    /// `piece` payload bytes (a multiple of 8), in the order `order` gives.
    fn ipv4_pieces(payload: &[u8], piece: usize, id: u16) -> Vec<Vec<u8>> {
        let mut whole = Vec::new();
        PacketBuilder::ipv4([203, 0, 113, 5], [198, 51, 100, 25], 64)
            .tcp(40000, 25, 7, 1000)
            .ack(1)
            .write(&mut whole, payload)
            .unwrap();
        let body = &whole[20..];
        body.chunks(piece)
            .enumerate()
            .map(|(i, chunk)| {
                let mut h = etherparse::Ipv4Header::new(
                    chunk.len() as u16,
                    64,
                    IpNumber::TCP,
                    [203, 0, 113, 5],
                    [198, 51, 100, 25],
                )
                .unwrap();
                h.identification = id;
                h.more_fragments = (i + 1) * piece < body.len();
                h.fragment_offset = etherparse::IpFragOffset::try_new((i * piece / 8) as u16).unwrap();
                h.header_checksum = h.calc_header_checksum();
                let mut v = h.to_bytes().to_vec();
                v.extend_from_slice(chunk);
                v
            })
            .collect()
    }

    fn frame(data: &[u8], secs: i64) -> Frame<'_> {
        Frame {
            number: 1,
            ts: Timestamp(secs * 1_000_000_000),
            link_type: LinkType::RAW,
            data,
            orig_len: data.len() as u32,
            offset: 0,
        }
    }

    #[test]
    fn pieces_in_any_order_become_the_packet() {
        let text = b"MAIL FROM:<someone@example.net> SIZE=12345\r\n".repeat(4);
        let mut pieces = ipv4_pieces(&text, 48, 77);
        assert!(pieces.len() >= 4);
        pieces.swap(0, 2);
        pieces.reverse();
        let mut d = Defragmenter::default();
        let mut done = None;
        for p in &pieces {
            assert!(matches!(decode::decode(&frame(p, 0)), Err(Skip::Fragment)));
            if let Some(r) = d.push(&frame(p, 0)) {
                done = Some(r);
            }
        }
        let r = done.expect("reassembled");
        let packet = r.packet(&frame(&pieces[0], 0)).unwrap();
        assert_eq!((packet.src_port, packet.dst_port, packet.seq), (40000, 25, 7));
        assert_eq!(packet.payload, &text[..]);
        assert_eq!(packet.ip_id, Some(77));
        assert_eq!((d.stats.fragments, d.stats.reassembled, d.held_bytes()), (pieces.len() as u64, 1, 0));
    }

    #[test]
    fn overlapping_pieces_drop_the_datagram() {
        let pieces = ipv4_pieces(&[b'x'; 64], 16, 5);
        let mut d = Defragmenter::default();
        assert!(d.push(&frame(&pieces[0], 0)).is_none());
        assert!(d.push(&frame(&pieces[0], 0)).is_none(), "the same piece twice overlaps");
        assert_eq!(d.stats.inconsistent, 1);
        for p in &pieces[1..] {
            assert!(d.push(&frame(p, 0)).is_none(), "the datagram was dropped");
        }
        d.finish();
        assert_eq!(d.stats.incomplete_at_end, 1);
        assert_eq!(d.stats.lost(), 2);
    }

    #[test]
    fn a_datagram_waits_30_seconds_at_most() {
        let pieces = ipv4_pieces(&[b'y'; 64], 32, 9);
        let mut d = Defragmenter::default();
        assert!(d.push(&frame(&pieces[0], 100)).is_none());
        let late = ipv4_pieces(&[b'z'; 64], 32, 10);
        assert!(d.push(&frame(&late[0], 131)).is_none());
        assert_eq!(d.stats.timed_out, 1);
        assert!(d.push(&frame(&pieces[1], 131)).is_none(), "its first piece is gone");
    }

    #[test]
    fn held_bytes_stay_under_the_cap_whatever_arrives() {
        let mut d = Defragmenter::default();
        for id in 0..20_000u16 {
            let pieces = ipv4_pieces(&[b'q'; 1400], 1384, id);
            assert!(d.push(&frame(&pieces[0], 1)).is_none());
            assert!(d.held_bytes() <= MAX_HELD_BYTES);
        }
        assert!(d.stats.over_cap > 15_000, "{:?}", d.stats);
        assert_eq!(d.pending.len(), d.age.len());
    }

    #[test]
    fn ipv6_fragments_are_reassembled() {
        let text = b"RCPT TO:<a@b>\r\n".repeat(10);
        let mut tcp = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            50,
        )
        .tcp(40001, 587, 99, 1000)
        .write(&mut tcp, &text)
        .unwrap();
        let (header, body) = tcp.split_at(40);
        let mut d = Defragmenter::default();
        let mut done = None;
        for (i, chunk) in body.chunks(64).enumerate() {
            let mut h = etherparse::Ipv6Header::from_slice(header).unwrap().0;
            h.next_header = IpNumber::IPV6_FRAGMENTATION_HEADER;
            h.payload_length = (8 + chunk.len()) as u16;
            let more = (i + 1) * 64 < body.len();
            let frag = etherparse::Ipv6FragmentHeader::new(
                IpNumber::TCP,
                etherparse::IpFragOffset::try_new((i * 8) as u16).unwrap(),
                more,
                0xabcdef,
            );
            let mut v = h.to_bytes().to_vec();
            v.extend(frag.to_bytes());
            v.extend(chunk);
            if let Some(r) = d.push(&Frame { link_type: LinkType::IPV6, ..frame(&v, 0) }) {
                done = Some(r);
            }
        }
        let r = done.expect("reassembled");
        let p = r.packet(&frame(&[], 0)).unwrap();
        assert_eq!((p.dst_port, p.ttl, p.ip_id), (587, 50, None));
        assert_eq!(p.payload, &text[..]);
    }
}
