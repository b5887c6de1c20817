//! Transport faults under the SMTP dialogue: loss, flow control, path MTU, slow handshakes.

use super::facts::{FULL_SIZE_MIN, Facts, who};
use super::{DiagnoseConfig, Verdict, VerdictCode, verdict};
use crate::tcp::Direction;
use crate::tcp::conn::Role;
use crate::tcp::reassembly::SegmentClass;

/// Retransmissions of full-size segments, never acknowledged, that make a black hole.
const BLACKHOLE_MIN_RETRANSMISSIONS: usize = 2;

pub fn retransmissions(f: &Facts, c: &DiagnoseConfig) -> Option<Verdict> {
    let mut parts = Vec::new();
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        let d = f.s.conn.dir(dir);
        let share =
            if d.payload_bytes > 0 { d.stream.retransmitted_bytes as f64 / d.payload_bytes as f64 } else { 0.0 };
        if d.stream.retransmissions >= c.retransmission_min_count && share >= c.retransmission_share {
            parts.push(format!(
                "{} {} segment{} ({:.0}% of its bytes)",
                who(Role::of(dir)),
                d.stream.retransmissions,
                if d.stream.retransmissions == 1 { "" } else { "s" },
                share * 100.0
            ));
        }
    }
    if parts.is_empty() {
        return None;
    }
    let packets =
        f.packets_where(|e| matches!(e.class, SegmentClass::Retransmission | SegmentClass::PartialRetransmission));
    Some(verdict(
        VerdictCode::Retransmissions,
        format!("retransmissions: {}", parts.join(", ")),
        "Segments were sent again because they (or their acknowledgments) were lost or delayed. A few are \
         normal; a large share slows the session down and, past the MTAs' timeouts, breaks it. Look for \
         loss on the path (interface errors, congested links, a policer) near the side that retransmits.",
        packets.into_iter().take(20).collect(),
    ))
}

pub fn zero_window(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let mut parts = Vec::new();
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        let n = f.s.conn.dir(dir).zero_window;
        if n > 0 {
            parts.push(format!(
                "the {} advertised a zero window {n} time{}",
                who(Role::of(dir)),
                if n == 1 { "" } else { "s" }
            ));
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(verdict(
        VerdictCode::ZeroWindow,
        parts.join("; "),
        "A zero receive window means that side's buffer was full: its application stopped reading (an MTA \
         busy scanning, a disk or queue stall). The other side has to wait; long stalls end in timeouts.",
        f.packets_where(|e| e.window == 0 && !e.flags.syn() && !e.flags.rst() && !e.flags.fin())
            .into_iter()
            .take(20)
            .collect(),
    ))
}

/// Full-size segments retransmitted and never acknowledged while small ones got through.
pub fn mtu_blackhole(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let events = &f.s.conn.events;
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        // Counted in Facts' one walk over the packets: most sessions have none.
        if f.full_size_retransmissions(dir) < BLACKHOLE_MIN_RETRANSMISSIONS {
            continue;
        }
        let big = || events.iter().filter(move |e| e.dir == dir && e.len >= FULL_SIZE_MIN);
        let Some(first_big) = big().next() else { continue };
        let retransmitted: Vec<_> = big().filter(|e| e.class == SegmentClass::Retransmission).collect();
        // The peer never acknowledged past the start of the first full-size segment…
        let acked_past = events.iter().filter(|e| e.dir != dir && e.flags.ack()).any(|e| e.rel_ack > first_big.rel_seq);
        // …while it did acknowledge this side's earlier, smaller segments.
        let small_ok =
            events.iter().any(|e| e.dir == dir && e.len > 0 && e.len < FULL_SIZE_MIN && e.number < first_big.number);
        if acked_past || !small_ok {
            continue;
        }
        let size = big().map(|e| e.len).max().unwrap_or(0);
        let mut packets: Vec<u64> = vec![first_big.number];
        packets.extend(retransmitted.iter().map(|e| e.number));
        return Some(verdict(
            VerdictCode::MtuBlackhole,
            format!(
                "path MTU black hole: the {}'s full-size segments ({size} bytes) were retransmitted {} times and never acknowledged, while smaller packets got through",
                who(Role::of(dir)),
                retransmitted.len()
            ),
            "Large packets are silently dropped somewhere on the path (a link or tunnel with a smaller MTU) \
             and the ICMP \"fragmentation needed\" message that would tell the sender is blocked, so Path \
             MTU Discovery cannot work: the command phase works, DATA stalls and the session times out. Allow \
             ICMP type 3 code 4 (IPv6: packet too big) through the firewalls, or clamp the TCP MSS on the \
             router at the narrow link.",
            packets.into_iter().take(20).collect(),
        ));
    }
    None
}

pub fn slow_handshake(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let c = &f.s.conn;
    if c.syn_count < 2 || c.synack_packet.is_none() {
        return None;
    }
    Some(verdict(
        VerdictCode::SlowHandshake,
        format!(
            "the handshake needed {} SYNs ({} retr{}, {:.1} s) before the server answered",
            c.syn_count,
            c.syn_count - 1,
            if c.syn_count == 2 { "y" } else { "ies" },
            c.syn_span_s.unwrap_or(0.0)
        ),
        "The first SYN(s) got no answer: lost on the path, or the server's listen queue was full (a busy \
         MTA or a SYN flood). Each retry doubles the wait (1 s, 2 s, 4 s …), which adds up to delivery delays.",
        f.packets_where(|e| e.flags.syn()),
    ))
}
