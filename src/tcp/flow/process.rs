//! One packet of a connection in its full state: header facts, the peer's acknowledgment, the
//! payload through the reassembler, and how long the connection then waits.

use super::super::conn::ConnTracker;
use super::super::events::EventLog;
use super::super::reassembly::{Chunk, Reassembler, Segment, SegmentClass};
use super::super::seq::SeqNumber;
use super::super::{Direction, PacketRef};
use super::config::TcpConfig;
use super::config::Waits;
use super::early::{FROM_A, replayed};
use super::state::{Flow, Full, Payload, State};
use super::{AppFactory, StreamConsumer};
use crate::capture::Timestamp;
use crate::decode::Packet;

/// The full state of a connection, created (and fed the kept headers) if it is still early: the
/// tracker, and the payload state only if one of them needs it.
pub(super) fn make_full<'f, A: StreamConsumer>(
    config: &TcpConfig,
    flow: &'f mut Flow<A>,
    current: Option<&Packet<'_>>,
    make_app: &mut AppFactory<A>,
) -> &'f mut Full<A> {
    if let State::Early(e) = &flow.state {
        let key = flow.key;
        let (client, server) = (key.endpoint(e.client_is_a), key.endpoint(!e.client_is_a));
        let headers = e.headers;
        let kept = usize::from(e.len);
        // The first packet: the first kept header, or the packet being handled (an early
        // connection keeps every packet until it has none to spare).
        let (first_ts, first_sender) = match (headers[..kept].first(), current) {
            (Some(h), _) => (h.ts, key.endpoint(h.bits & FROM_A != 0)),
            (None, Some(p)) => (p.ts.0, key.endpoint(key.sent_by_a(p))),
            (None, None) => (0, client),
        };
        let tracker = ConnTracker::new(
            client,
            server,
            e.basis,
            PacketRef { number: flow.first, ts: Timestamp(first_ts) },
            first_sender,
            EventLog::new(config.max_events, config.compact_events),
        );
        let mut full = Box::new(Full { tracker, starts: Default::default(), payload: None, buffered: 0, heap: 0 });
        for h in &headers[..kept] {
            process(config, &mut full, &replayed(&key, h), make_app);
        }
        flow.state = State::Full(full);
    }
    match &mut flow.state {
        State::Full(full) => full,
        State::Early(_) => unreachable!("made full above"),
    }
}

/// A SYN with a new sequence number on a closed connection's ports opens a new connection.
pub(super) fn reuses_ports<A>(f: &Flow<A>, p: &Packet<'_>) -> bool {
    p.flags.syn() && !p.flags.ack() && f.is_closed() && f.client_isn() != Some(p.seq)
}

pub(super) fn deliver<A: StreamConsumer>(app: &mut A, dir: Direction, chunk: Chunk<'_>, at: PacketRef) {
    match chunk {
        Chunk::Data(d) => app.on_data(dir, d, at),
        Chunk::Gap(n) => app.on_gap(dir, n, at),
    }
}

pub(super) fn flush_pending<A: StreamConsumer>(full: &mut Full<A>) {
    let at = full.tracker.last;
    let Some(payload) = &mut full.payload else { return };
    let Payload { reasm, app } = &mut **payload;
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        reasm[dir.index()].flush_pending(at, &mut |c, at| deliver(app, dir, c, at));
    }
}

/// One packet of a known connection: header facts, then the peer's ACK (which may reveal bytes
/// the capture missed in the other direction), then this packet's own payload (its new
/// deadline is then `wait` after it).
pub(super) fn process<A: StreamConsumer>(
    config: &TcpConfig,
    full: &mut Full<A>,
    p: &Packet<'_>,
    make_app: &mut AppFactory<A>,
) {
    let dir = full.tracker.direction_of(p);
    let duplicate = full.tracker.is_duplicate(p, dir);
    full.tracker.observe(p, dir, duplicate);
    let (class, gap_bytes) = if full.payload.is_some() || needs_payload(full, p, dir) {
        reassemble(config, full.payload(make_app), p, dir, duplicate)
    } else {
        // What the reassemblers would keep of this packet: its direction's start.
        let start = &mut full.starts[dir.index()];
        let mut seq = SeqNumber(p.seq);
        if p.flags.syn() {
            start.syn(seq);
            seq = seq.plus(1);
        }
        if !p.flags.rst() {
            start.empty_segment(seq);
        }
        (SegmentClass::Empty, 0)
    };
    let class = if duplicate { SegmentClass::Duplicate } else { class };
    full.tracker.push_event(p, dir, class, gap_bytes);
    if let Some(payload) = &full.payload {
        full.tracker.after_reassembly(p, dir, &payload.reasm);
    }
    full.buffered = full.payload.as_ref().map_or(0, |pl| pl.reasm.iter().map(Reassembler::buffered_bytes).sum());
}

/// Does this packet need the reassemblers: a payload byte, a FIN, or an acknowledgment of bytes
/// the capture missed?
fn needs_payload<A>(full: &Full<A>, p: &Packet<'_>, dir: Direction) -> bool {
    let other = full.starts[dir.reverse().index()];
    p.wire_len() > 0 || p.flags.fin() || (p.flags.ack() && !p.flags.rst() && other.ack_reveals_bytes(SeqNumber(p.ack)))
}

/// The packet through the reassemblers: the peer's acknowledgment, then its own segment.
/// Returns how the segment related to the stream and the bytes it declared missing.
fn reassemble<A: StreamConsumer>(
    config: &TcpConfig,
    payload: &mut Payload<A>,
    p: &Packet<'_>,
    dir: Direction,
    duplicate: bool,
) -> (SegmentClass, u64) {
    let at = PacketRef { number: p.number, ts: p.ts };
    let Payload { reasm, app } = payload;
    let other = dir.reverse();
    // A reset's acknowledgment field is not evidence of delivery (middleboxes forge resets).
    if p.flags.ack() && !p.flags.rst() {
        reasm[other.index()].acked(SeqNumber(p.ack), at, &mut |c, at| deliver(app, other, c, at));
    }
    let r = &mut reasm[dir.index()];
    let mut seq = SeqNumber(p.seq);
    if p.flags.syn() {
        r.syn(seq);
        seq = seq.plus(1);
    }
    let mut gap_bytes = 0;
    let class = if p.flags.rst() {
        SegmentClass::Empty
    } else {
        let mut sink = |c: Chunk<'_>, at| {
            if let Chunk::Gap(n) = c {
                gap_bytes += n;
            }
            deliver(app, dir, c, at)
        };
        let segment = Segment { seq, payload: p.payload, missing: p.missing, fin: p.flags.fin(), duplicate, at };
        r.segment(segment, &config.limits, &mut sink)
    };
    (class, gap_bytes)
}

/// Nanoseconds a connection waits after its last packet before it is handed on.
pub(super) fn wait<A>(waits: &Waits, full: &Full<A>) -> i64 {
    if !full.is_closed() {
        if full.tracker.half_open() { waits.half_open } else { waits.idle }
    } else if !full.tracker.reset_seen()
        && full.payload.as_ref().is_some_and(|p| p.reasm.iter().all(Reassembler::fin_acked))
    {
        waits.closed_clean
    } else {
        waits.linger
    }
}
