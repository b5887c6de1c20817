//! One bucket's share of the table: its connections' deadlines and charges, its tombstones.

use super::key::FlowKey;
use super::state::Flow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::BuildHasher;

/// The connections themselves, of every bucket, in one map: a packet finds its connection with
/// one hash, and the connection says its bucket.
pub(super) type Flows<A> = hashbrown::HashTable<Box<Flow<A>>>;

/// One bucket's share of the table: its connections' deadlines, its tombstones and what its
/// connections hold.
#[derive(Default)]
pub(super) struct Bucket {
    /// Its open connections (they are in the table's map).
    pub(super) open: usize,
    /// Earliest deadline first; entries may be stale (checked against the flow when popped).
    /// Entries are (deadline, first packet number, key): the first packet number breaks ties,
    /// so the order is the same whatever shard a flow lands in.
    pub(super) deadlines: BinaryHeap<Reverse<(i64, u64, FlowKey)>>,
    /// Connections handed on after a clean close, until their linger ends: the time it ends
    /// and the client's ISN (a SYN with another one opens a new connection).
    pub(super) closed: HashMap<FlowKey, (i64, Option<u32>), foldhash::fast::RandomState>,
    /// The same, in the order they end (all wait the same time, so insertion order is it).
    pub(super) closed_order: VecDeque<(i64, FlowKey)>,
    /// Connections on a mail port whose responder is not on one, until when (see
    /// `remember_not_mail`), and the same in insertion order.
    pub(super) not_mail: HashMap<FlowKey, i64, foldhash::fast::RandomState>,
    pub(super) not_mail_order: VecDeque<(i64, FlowKey)>,
    /// Bytes charged by its connections.
    pub(super) used: usize,
    /// Out-of-order bytes buffered by its connections.
    pub(super) buffered: usize,
}

impl Bucket {
    /// The earliest time anything in the bucket may be due.
    pub(super) fn next_due(&self) -> i64 {
        let heap = self.deadlines.peek().map_or(i64::MAX, |Reverse((d, ..))| *d);
        let tomb = self.closed_order.front().map_or(i64::MAX, |(u, _)| *u);
        heap.min(tomb)
    }

    /// Drops the oldest entry of the order queue, and its tombstone unless a later burial of
    /// the same connection replaced it. False when there was none.
    pub(super) fn unbury_oldest(&mut self) -> bool {
        let Some((until, key)) = self.closed_order.pop_front() else { return false };
        if self.closed.get(&key).is_some_and(|(u, _)| *u == until) {
            self.closed.remove(&key);
        }
        true
    }

    /// Takes connection `key` (of this bucket) out of `flows`.
    pub(super) fn remove<A>(&mut self, flows: &mut Flows<A>, hash: u64, key: &FlowKey) -> Option<Box<Flow<A>>> {
        let flow = flows.find_entry(hash, |f| f.key == *key).ok()?.remove().0;
        self.open -= 1;
        self.used -= flow.charged;
        self.buffered -= flow.buffered().min(self.buffered);
        Some(flow)
    }

    /// Pops the oldest idle connection (earliest deadline) other than `keep`: its deadline and
    /// key. Stale entries are dropped or queued again on the way.
    pub(super) fn pop_oldest<A>(
        &mut self,
        flows: &Flows<A>,
        hasher: &foldhash::fast::RandomState,
        keep: Option<FlowKey>,
    ) -> Option<(i64, FlowKey)> {
        let mut kept = None;
        let found = loop {
            let Some(Reverse((deadline, first, key))) = self.deadlines.pop() else { break None };
            let Some(flow) = flows.find(hasher.hash_one(key), |f| f.key == key && f.first == first) else {
                continue;
            };
            if flow.deadline > deadline {
                self.deadlines.push(Reverse((flow.deadline, first, key)));
                continue;
            }
            if Some(key) == keep {
                kept = Some(Reverse((deadline, first, key)));
                continue;
            }
            break Some((deadline, key));
        };
        self.deadlines.extend(kept);
        found
    }
}
