//! What the table keeps per connection, and what it charges to the memory budget for it.

use super::super::conn::ConnTracker;
use super::super::reassembly::{Reassembler, StreamStart};
use super::AppFactory;
use super::early::Early;
use super::key::FlowKey;

/// A connection past its first packets: its tracker, and its payload state once it needs one.
pub(super) struct Full<A> {
    pub(super) tracker: ConnTracker,
    /// Where each direction's stream starts, until the payload state takes over.
    pub(super) starts: [StreamStart; 2],
    /// Created by the first payload byte, FIN or acknowledgment of bytes the capture missed (as
    /// Suricata creates a flow's `alstate`): a handshake alone never allocates it.
    pub(super) payload: Option<Box<Payload<A>>>,
    pub(super) buffered: usize,
    /// Heap bytes handling its packets allocated and kept, this box included (`crate::heap`;
    /// 0 when the program does not meter its allocator).
    pub(super) heap: usize,
}

impl<A> Full<A> {
    /// Adds to `heap` what was allocated (less what was freed) on this thread since `before`
    /// (a reading of `heap::thread_allocated`), all of it by handling this connection.
    pub(super) fn kept_since(&mut self, before: isize) {
        self.heap = self.heap.saturating_add_signed(crate::heap::thread_allocated() - before);
    }
}

impl<A> Full<A> {
    /// Both directions sent a FIN (their reassemblers hold it), or someone reset: only late
    /// packets can still come.
    pub(super) fn is_closed(&self) -> bool {
        self.tracker.reset_seen() || self.payload.as_ref().is_some_and(|p| p.reasm.iter().all(Reassembler::fin_seen))
    }

    /// The payload state, created from the stream starts if the connection has none yet.
    #[inline]
    pub(super) fn payload(&mut self, make_app: &mut AppFactory<A>) -> &mut Payload<A> {
        if self.payload.is_none() {
            self.payload = Some(self.new_payload(make_app));
        }
        match &mut self.payload {
            Some(payload) => payload,
            None => unreachable!("made above"),
        }
    }

    /// Once per connection: kept out of the per-packet path.
    #[cold]
    fn new_payload(&self, make_app: &mut AppFactory<A>) -> Box<Payload<A>> {
        let app = make_app(&self.tracker.client, &self.tracker.server);
        Box::new(Payload { reasm: self.starts.map(Reassembler::from_start), app })
    }
}

/// What a connection holds once a byte flowed (or went missing): one allocation.
pub(super) struct Payload<A> {
    pub(super) reasm: [Reassembler; 2],
    pub(super) app: A,
}

pub(super) enum State<A> {
    Early(Early),
    Full(Box<Full<A>>),
}

pub(super) struct Flow<A> {
    pub(super) key: FlowKey,
    /// `key.bucket()`, asked once.
    pub(super) bucket: u8,
    pub(super) id: u64,
    /// Number of the connection's first packet: with the key, what the deadline heaps hold.
    pub(super) first: u64,
    pub(super) deadline: i64,
    /// Bytes charged to the bucket's budget at the last update.
    pub(super) charged: usize,
    pub(super) state: State<A>,
}

/// Heap and map bookkeeping per connection, charged with the flow itself.
pub(super) const BOOKKEEPING: usize = 56 /* heap entry */ + 16 /* map slot, and its share of free slots */;
/// A buffered out-of-order segment beyond its bytes: its vector's allocation, packet reference
/// and share of a half-full tree node. 96 let 10,000 flows of one-byte segments peak at 1.8 times
/// the cap (scripts/hostile-memory).
pub(super) const PENDING_OVERHEAD: usize = 176;

impl<A> Flow<A> {
    pub(super) fn is_closed(&self) -> bool {
        match &self.state {
            State::Early(e) => e.reset_seen(),
            State::Full(f) => f.is_closed(),
        }
    }

    pub(super) fn client_isn(&self) -> Option<u32> {
        match &self.state {
            State::Early(e) => e.client_isn(),
            State::Full(f) => f.tracker.client_isn(),
        }
    }

    pub(super) fn last_ts(&self) -> i64 {
        match &self.state {
            State::Early(e) => e.headers().last().map_or(0, |h| h.ts),
            State::Full(f) => f.tracker.last.ts.0,
        }
    }

    pub(super) fn buffered(&self) -> usize {
        match &self.state {
            State::Early(_) => 0,
            State::Full(f) => f.buffered,
        }
    }

    /// What the connection holds, for the memory budget: the flow and its bookkeeping, and once
    /// past its first packets everything handling it allocated — its tracker and kept packet
    /// events, and with payload its reassemblers, buffered segments and their tree, the
    /// dialogue's strings and lists — as measured (`heap`). Without a metered allocator, an
    /// estimate of the state, segments and events instead.
    #[inline]
    pub(super) fn charge(&self) -> usize {
        let base = std::mem::size_of::<Flow<A>>() + BOOKKEEPING;
        match &self.state {
            State::Early(_) => base,
            State::Full(f) => {
                let payload = f.payload.as_ref().map_or(0, |p| {
                    let reasm = p.reasm.iter().map(|r| r.held_bytes() + r.pending_segments() * PENDING_OVERHEAD);
                    std::mem::size_of::<Payload<A>>() + reasm.sum::<usize>()
                });
                let estimate = std::mem::size_of::<Full<A>>() + payload + f.tracker.held_bytes();
                base + f.heap.max(estimate)
            }
        }
    }
}
