//! What the table keeps per connection, and what it charges to the memory budget for it.

use super::super::conn::ConnTracker;
use super::super::reassembly::Reassembler;
use super::early::Early;
use super::key::FlowKey;

/// Everything a connection holds once it carried payload: one allocation.
pub(super) struct Full<A> {
    pub(super) tracker: ConnTracker,
    pub(super) reasm: [Reassembler; 2],
    pub(super) app: A,
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
        self.tracker.reset_seen() || self.reasm.iter().all(Reassembler::fin_seen)
    }
}

pub(super) enum State<A> {
    Early(Early),
    Full(Box<Full<A>>),
}

pub(super) struct Flow<A> {
    pub(super) key: FlowKey,
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
    /// it carried payload everything handling it allocated — its state, buffered segments and
    /// their tree, kept packet events, the dialogue's strings and lists — as measured (`heap`).
    /// Without a metered allocator, an estimate of the state, segments and events instead.
    pub(super) fn charge(&self) -> usize {
        let base = std::mem::size_of::<Flow<A>>() + BOOKKEEPING;
        match &self.state {
            State::Early(_) => base,
            State::Full(f) => {
                let reasm: usize =
                    f.reasm.iter().map(|r| r.held_bytes() + r.pending_segments() * PENDING_OVERHEAD).sum();
                let estimate = std::mem::size_of::<Full<A>>() + reasm + f.tracker.held_bytes();
                base + f.heap.max(estimate)
            }
        }
    }
}
