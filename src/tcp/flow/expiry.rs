//! Handing connections on before their last packet: deadlines (idle, half-open, linger), the
//! caps (`--memcap`, `--max-flows`) and the tombstones a clean close leaves for late packets.

use super::key::FlowKey;
use super::process::flush_pending;
use super::state::State;
use super::{EndReason, FinishPhase, Finished, FlowTable, StreamConsumer, share};
use crate::capture::Timestamp;
use crate::decode::Packet;
use std::cmp::Reverse;
use std::hash::BuildHasher;

impl<A: StreamConsumer> FlowTable<A> {
    /// Over the bucket's share of `--memcap`: hand on the oldest idle connections other than
    /// this packet's; if that is not enough, it stops waiting for missing segments.
    #[inline]
    pub(super) fn enforce_memcap(&mut self, b: usize, key: FlowKey, hash: u64, done: &mut dyn FnMut(Finished<A>)) {
        // Asked every packet, over the cap rarely: the test stays in the caller.
        if self.buckets[b].used > share(self.config.memcap) {
            self.evict_over_memcap(b, key, hash, done);
        }
    }

    fn evict_over_memcap(&mut self, b: usize, key: FlowKey, hash: u64, done: &mut dyn FnMut(Finished<A>)) {
        let cap = share(self.config.memcap);
        while self.buckets[b].used > cap {
            match self.buckets[b].pop_oldest(&self.flows, &self.hasher, Some(key)) {
                Some((deadline, victim)) => self.evict(b, deadline, victim, true, done),
                None => {
                    let bucket = &mut self.buckets[b];
                    if let Some(flow) = self.flows.find_mut(hash, |f| f.key == key)
                        && let State::Full(full) = &mut flow.state
                        && full.buffered > 0
                    {
                        self.stats.global_cap_flushes += 1;
                        let allocated = crate::heap::thread_allocated();
                        flush_pending(full);
                        full.kept_since(allocated);
                        bucket.buffered -= full.buffered.min(bucket.buffered);
                        full.buffered = 0;
                        let charge = flow.charge();
                        bucket.used = bucket.used - flow.charged + charge;
                        flow.charged = charge;
                    }
                    return;
                }
            }
        }
    }

    /// Hands on a connection a cap pushed out. One that had closed is reported closed (it was
    /// only waiting for late packets) and leaves its tombstone.
    pub(super) fn evict(
        &mut self,
        b: usize,
        deadline: i64,
        key: FlowKey,
        memcap: bool,
        done: &mut dyn FnMut(Finished<A>),
    ) {
        let hash = self.hasher.hash_one(key);
        let Some(flow) = self.buckets[b].remove(&mut self.flows, hash, &key) else { return };
        self.open -= 1;
        let end = if flow.is_closed() {
            let until = flow.last_ts().saturating_add(self.waits.linger);
            self.bury(b, key, until, flow.client_isn());
            EndReason::Closed
        } else {
            self.stats.flows_evicted += 1;
            self.stats.memcap_evictions += u64::from(memcap);
            EndReason::Evicted
        };
        self.finish(flow, end, (FinishPhase::Evicted, deadline), done);
    }

    /// A packet of a connection handed on after a clean close, within its linger. A SYN with a
    /// new sequence number opens a new connection instead.
    pub(super) fn is_late(&mut self, b: usize, key: FlowKey, p: &Packet<'_>) -> bool {
        let bucket = &mut self.buckets[b];
        let Some(&(_, isn)) = bucket.closed.get(&key) else { return false };
        if p.flags.syn() && !p.flags.ack() && isn != Some(p.seq) {
            bucket.closed.remove(&key);
            return false;
        }
        true
    }

    /// Leaves a tombstone for a connection handed on after a clean close. As many as the
    /// bucket's share of `max_flows` are kept: a flood of short connections must not grow them
    /// without end (the oldest go first; a late packet of one gone becomes a session of its own).
    pub(super) fn bury(&mut self, b: usize, key: FlowKey, until: i64, client_isn: Option<u32>) {
        let cap = share(self.config.max_flows);
        let bucket = &mut self.buckets[b];
        // The order queue also holds entries outdated by a later burial: it is capped too.
        while bucket.closed.len() >= cap || bucket.closed_order.len() >= 2 * cap {
            if !bucket.unbury_oldest() {
                break;
            }
        }
        bucket.closed.insert(key, (until, client_isn));
        bucket.closed_order.push_back((until, key));
        self.next_due = self.next_due.min(until);
    }

    /// Hand on every connection whose deadline has passed at capture time `now`, in order of
    /// deadline (then first packet) across buckets.
    #[inline]
    pub fn expire(&mut self, now: Timestamp, done: &mut dyn FnMut(Finished<A>)) {
        // Asked every packet, due rarely: the test stays in the caller.
        if now.0 >= self.next_due {
            self.expire_due(now, done);
        }
    }

    fn expire_due(&mut self, now: Timestamp, done: &mut dyn FnMut(Finished<A>)) {
        let mut due = std::mem::take(&mut self.due);
        let mut next_due = i64::MAX;
        for bucket in &mut self.buckets {
            while bucket.closed_order.front().is_some_and(|(until, _)| *until <= now.0) {
                bucket.unbury_oldest();
            }
            while let Some(&Reverse((deadline, first, key))) = bucket.deadlines.peek() {
                if deadline > now.0 {
                    break;
                }
                bucket.deadlines.pop();
                let hash = self.hasher.hash_one(key);
                let Some(flow) = self.flows.find(hash, |f| f.key == key && f.first == first) else { continue };
                if flow.deadline > now.0 {
                    bucket.deadlines.push(Reverse((flow.deadline, first, key)));
                    continue;
                }
                due.push((deadline, first, key));
            }
            next_due = next_due.min(bucket.next_due());
        }
        self.next_due = next_due;
        due.sort_unstable();
        for &(deadline, _, key) in &due {
            let b = key.bucket();
            let hash = self.hasher.hash_one(key);
            let Some(flow) = self.buckets[b].remove(&mut self.flows, hash, &key) else { continue };
            self.open -= 1;
            let end = if flow.is_closed() { EndReason::Closed } else { EndReason::Idle };
            let until = flow.last_ts().saturating_add(self.waits.linger);
            if end == EndReason::Closed && until > now.0 {
                self.bury(b, key, until, flow.client_isn());
            }
            self.finish(flow, end, (FinishPhase::Expired, deadline), done);
        }
        due.clear();
        self.due = due;
    }
}
