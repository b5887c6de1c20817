//! The packets a connection keeps for ladders and rules.
//!
//! A ladder draws every packet, so it needs them all (up to `--max-events`). The rules do not:
//! they look at flags, resets, TTLs, zero windows, retransmissions, the first and last payload
//! and the latest packets before an event. In compact mode (`read` without a ladder) the
//! ordinary packets in the middle of a transfer — in order, ACK/PSH only, nothing new about
//! TTL or window — are kept only while they are among the last few of their direction. A
//! megabyte body then costs a few dozen events instead of seven hundred, and memory stays flat
//! however many sessions are open. Short sessions keep every packet either way.

use super::Direction;
use super::reassembly::SegmentClass;
use crate::capture::Timestamp;
use crate::decode::TcpFlags;

/// One packet as a ladder diagram or a verdict rule sees it.
#[derive(Clone, Copy, Debug)]
pub struct PacketEvent {
    pub number: u64,
    pub ts: Timestamp,
    pub dir: Direction,
    pub flags: TcpFlags,
    /// Sequence and acknowledgment numbers relative to each side's first sequence number.
    pub rel_seq: u32,
    pub rel_ack: u32,
    /// Payload length on the wire.
    pub len: u32,
    pub window: u16,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub class: SegmentClass,
    /// Bytes of this direction found missing while handling this packet.
    pub gap_bytes: u64,
}

/// Segments at least this long count as full-size (path MTU rules look for the first one).
pub const FULL_SIZE_MIN: u32 = 1000;

/// Ordinary packets kept per direction in compact mode: the latest ones, which the rules read
/// when a reset or a stall follows. Kept inline (a ring in the flow itself): a separate buffer
/// per connection would be one more cache miss per packet with thousands of sessions open.
const RECENT: usize = 3;

/// The last `RECENT` ordinary packets of one direction, oldest first from `start`.
#[derive(Default)]
struct Ring {
    slots: [Option<PacketEvent>; RECENT],
    start: usize,
    len: usize,
}

impl Ring {
    /// Adds `e`; returns the oldest packet when it falls out.
    fn push(&mut self, e: PacketEvent) -> Option<PacketEvent> {
        if self.len < RECENT {
            self.slots[(self.start + self.len) % RECENT] = Some(e);
            self.len += 1;
            return None;
        }
        let old = self.slots[self.start].replace(e);
        self.start = (self.start + 1) % RECENT;
        old
    }

    fn drain(&mut self) -> impl Iterator<Item = PacketEvent> + '_ {
        let (start, len) = (self.start, std::mem::take(&mut self.len));
        (0..len).filter_map(move |i| self.slots[(start + i) % RECENT].take())
    }
}

/// What one direction has shown so far, to tell a notable packet from an ordinary one.
#[derive(Clone, Copy, Default)]
struct Seen {
    payload: bool,
    small_payload: bool,
    full_size: bool,
    /// TTL range of the direction's own packets (not resets, not duplicates).
    ttl: Option<(u8, u8)>,
}

/// Room for the kept events made at the first one with payload: a session keeps about this
/// many, and growing to them one doubling at a time cost reallocations and copies. A refused
/// handshake (no payload) keeps its few events in a small vector, as before.
const KEPT_WITH_PAYLOAD: usize = 16;

pub struct EventLog {
    kept: Vec<PacketEvent>,
    recent: [Ring; 2],
    seen: [Seen; 2],
    /// Number and direction of the latest packet with payload.
    last_payload: Option<(u64, Direction)>,
    compact: bool,
    max: usize,
    pub dropped: u64,
    pub elided: u64,
}

impl EventLog {
    pub fn new(max: usize, compact: bool) -> Self {
        EventLog {
            kept: Vec::new(),
            recent: Default::default(),
            seen: Default::default(),
            last_payload: None,
            compact,
            max,
            dropped: 0,
            elided: 0,
        }
    }

    /// Heap bytes of the kept events.
    #[inline]
    pub fn held_bytes(&self) -> usize {
        self.kept.capacity() * std::mem::size_of::<PacketEvent>()
    }

    pub fn push(&mut self, e: PacketEvent) {
        let notable = self.note(&e);
        if e.len > 0 {
            self.last_payload = Some((e.number, e.dir));
        }
        if self.compact && !notable {
            if let Some(old) = self.recent[e.dir.index()].push(e) {
                self.keep_or_elide(old);
            }
            return;
        }
        self.keep(e);
    }

    /// Whether `e` tells the rules something the ordinary packets around it do not; updates
    /// what its direction has shown.
    fn note(&mut self, e: &PacketEvent) -> bool {
        let seen = &mut self.seen[e.dir.index()];
        // SYN, FIN, RST, URG, ECN: anything but a plain ACK (with or without PSH).
        let odd_flags = e.flags.0 & !(TcpFlags::ACK | TcpFlags::PSH) != 0 || !e.flags.ack();
        let mut notable = !matches!(e.class, SegmentClass::InOrder | SegmentClass::Empty)
            || e.gap_bytes > 0
            || e.window == 0
            || odd_flags;
        if e.len > 0 {
            // A change of turn (a command after a reply, a reply after data) is kept: the
            // rules measure who waited for whom.
            let turn = self.last_payload.is_none_or(|(_, dir)| dir != e.dir);
            notable |= turn || !std::mem::replace(&mut seen.payload, true);
            if e.len >= FULL_SIZE_MIN {
                notable |= !std::mem::replace(&mut seen.full_size, true);
            } else {
                notable |= !std::mem::replace(&mut seen.small_payload, true);
            }
        }
        if !e.flags.rst() && e.class != SegmentClass::Duplicate {
            let widened = match seen.ttl {
                Some((lo, hi)) => (e.ttl < lo || e.ttl > hi).then(|| (lo.min(e.ttl), hi.max(e.ttl))),
                None => Some((e.ttl, e.ttl)),
            };
            if let Some(range) = widened {
                seen.ttl = Some(range);
                notable = true;
            }
        }
        notable
    }

    /// Inlined: a call for every notable packet otherwise (the release build left it one).
    #[inline]
    fn keep(&mut self, e: PacketEvent) {
        if self.kept.len() >= self.max {
            self.dropped += 1;
            return;
        }
        if e.len > 0 && self.kept.capacity() < KEPT_WITH_PAYLOAD {
            // `len` is below `max` (above) and below a capacity under KEPT_WITH_PAYLOAD.
            self.kept.reserve_exact(KEPT_WITH_PAYLOAD.min(self.max) - self.kept.len());
        }
        self.kept.push(e);
    }

    /// An ordinary packet leaving the recent window: dropped, unless it is the latest payload.
    fn keep_or_elide(&mut self, e: PacketEvent) {
        if self.last_payload.is_some_and(|(number, _)| number == e.number) {
            self.keep(e);
        } else {
            self.elided += 1;
        }
    }

    /// The kept events in packet order (the log is left empty).
    pub fn finish(&mut self) -> Vec<PacketEvent> {
        if self.recent.iter().all(|r| r.len == 0) {
            return std::mem::take(&mut self.kept);
        }
        let mut recent = std::mem::take(&mut self.recent);
        // The kept events are in packet order already: each of the few recent ones goes in at
        // its place (packet numbers are unique), which costs less than sorting the whole list.
        for e in recent.iter_mut().flat_map(|r| r.drain()) {
            if self.kept.len() >= self.max {
                self.dropped += 1;
                continue;
            }
            let at = self.kept.partition_point(|k| k.number < e.number);
            self.kept.insert(at, e);
        }
        std::mem::take(&mut self.kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(number: u64, dir: Direction, flags: u8, len: u32) -> PacketEvent {
        PacketEvent {
            number,
            ts: Timestamp(number as i64),
            dir,
            flags: TcpFlags(flags),
            rel_seq: 0,
            rel_ack: 0,
            len,
            window: 1000,
            ttl: 64,
            ip_id: None,
            class: if len > 0 { SegmentClass::InOrder } else { SegmentClass::Empty },
            gap_bytes: 0,
        }
    }

    const ACK: u8 = 0x10;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;

    #[test]
    fn full_mode_keeps_everything() {
        let mut log = EventLog::new(1000, false);
        for n in 1..=500 {
            log.push(event(n, Direction::ClientToServer, ACK, 1400));
        }
        assert_eq!(log.finish().len(), 500);
    }

    #[test]
    fn compact_mode_keeps_notable_and_recent_packets_in_order() {
        let mut log = EventLog::new(1000, true);
        log.push(event(1, Direction::ClientToServer, SYN, 0));
        for n in 2..=400 {
            let dir = if n % 2 == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
            log.push(event(n, dir, ACK, if dir == Direction::ClientToServer { 1400 } else { 0 }));
        }
        let mut ttl_change = event(401, Direction::ClientToServer, ACK, 1400);
        ttl_change.ttl = 50;
        log.push(ttl_change);
        log.push(event(402, Direction::ServerToClient, RST | ACK, 0));
        let elided = log.elided;
        let kept = log.finish();
        let numbers: Vec<u64> = kept.iter().map(|e| e.number).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        // SYN, the first payload, the first pure ACK of the server, the TTL change, the reset,
        // and the last RECENT of each direction.
        for n in [1, 2, 3, 401, 402] {
            assert!(numbers.contains(&n), "{n} missing from {numbers:?}");
        }
        assert!(numbers.contains(&400) && numbers.contains(&399) && !numbers.contains(&390));
        assert!(!numbers.contains(&200));
        assert_eq!(kept.len() as u64 + elided, 402);
        assert!(kept.len() < 20, "{}", kept.len());
    }

    #[test]
    fn the_last_payload_survives_a_run_of_pure_acks() {
        let mut log = EventLog::new(1000, true);
        for n in 1..=50 {
            log.push(event(n, Direction::ClientToServer, ACK, 1400));
        }
        for n in 51..=100 {
            log.push(event(n, Direction::ClientToServer, ACK, 0));
        }
        let kept = log.finish();
        assert!(kept.iter().any(|e| e.number == 50), "the last payload packet was dropped");
    }

    #[test]
    fn the_cap_counts_what_it_drops() {
        let mut log = EventLog::new(10, false);
        for n in 1..=15 {
            log.push(event(n, Direction::ClientToServer, ACK, 10));
        }
        assert_eq!(log.dropped, 5);
        assert_eq!(log.finish().len(), 10);
    }
}
