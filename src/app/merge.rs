//! The merger of `read --threads`: puts the sessions of every shard back in the order one
//! thread gives them, holding only a bounded number of them on the way.
//!
//! Each shard sends its sessions in its own output order (the order its flow table hands them
//! on, which is `OutputKey` order), in chunks of at most `CHUNK`, and every `BATCH` frames a
//! note of how far it read. The merger takes the smallest session at the head of the shards'
//! streams (a k-way merge) once no shard can still send a smaller one: every other shard has a
//! session waiting, or has read past the frame that ended this one. So a flood that ends a
//! hundred thousand connections at once (end of input, say) crosses from the shards to the
//! printer a chunk at a time instead of in one report per shard.
//!
//! The merger runs on a thread of its own, asleep on a channel but for a few thousand reports per
//! run: the printing it does (about 3 % of the work on the real mix) then goes to whichever core
//! has room, instead of always to the shard that merged (which made that shard the busier one).

use super::renderer::Rendered;
use smtpdiag::capture::{CaptureWarning, PageRelease};
use smtpdiag::diagnose::Verdict;
use smtpdiag::session::{Brief, OutputKey, Session};
use smtpdiag::tcp::flow::TableStats;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::mpsc::{self, Receiver};

/// Frames between a shard's notes of how far it read: large enough that channel costs vanish,
/// small enough that a session waits little for the other shards.
pub const BATCH: u64 = 1024;
/// Sessions per report at most: with `IN_FLIGHT` reports in each channel and `WAITING` sessions
/// taken per shard, what the merger holds is bounded (whole sessions are kilobytes each).
pub const CHUNK: usize = 64;
/// Reports a shard may have in its channel before it waits. Most are a batch's note, a few
/// bytes; the merger, on a thread of its own, takes them in as they come. 4 stalled the shards
/// often when shard 0 merged between its own batches, and 16 was needed then; with the merger
/// apart, 8 and 16 kept the 1 GB file's peak RSS with two threads 3-6 MB higher than 4 (the
/// rendered sessions waiting in them are freed by another thread, so their pages come back to
/// the shard's heap later).
pub const IN_FLIGHT: usize = 4;
/// Sessions taken in per shard before its channel is left to wait.
const WAITING: usize = 4 * CHUNK;
/// Batches of frames a shard's reports are taken in ahead of the slowest shard; beyond that its
/// channel fills and it waits (see `poll`). Meanwhile the mapped pages behind the slowest shard
/// stay (2 MB of frames of 240 bytes, 7 MB of 860: at 32 batches the 1 GB file's peak RSS with
/// two threads was 113 MB instead of 90). Work comes in runs (one heavy connection, then light
/// ones); with 4 batches the shards took turns waiting for each other.
const AHEAD: u64 = 8;

/// A finished session on its way to the output: where it goes, what the failover tracker needs
/// of it, and its body. The merger writes its number into `brief` (and a whole session).
pub struct Ended {
    pub key: OutputKey,
    pub brief: Brief,
    pub body: Body,
}

pub enum Body {
    /// Diagnosed, whole: a failover note may still change it, or the sink renders it itself.
    Whole(Box<Session>, Vec<Verdict>),
    /// Rendered by its shard, without its number.
    Rendered(Rendered),
}

/// What the merger needs of a session: where it goes, and where its number is written.
pub trait Numbered {
    fn key(&self) -> OutputKey;
    fn set_index(&mut self, index: u64);
}

impl Numbered for Ended {
    fn key(&self) -> OutputKey {
        self.key
    }
    fn set_index(&mut self, index: u64) {
        self.brief.index = index;
        if let Body::Whole(s, _) = &mut self.body {
            s.index = index;
        }
    }
}

/// What a shard sends: sessions in its output order, and how far it read.
pub struct Report<T = Ended> {
    pub shard: usize,
    /// Every frame up to this number is handled: the shard's later sessions end at later frames,
    /// and `starts` (of this report and the earlier ones) holds every connection it opened up to
    /// here.
    pub read_to: u64,
    /// The end in the file of frame `read_to` (for giving mapped pages back).
    pub offset: usize,
    /// First packet numbers of the connections it opened since its last report, in order.
    pub starts: Vec<u64>,
    pub sessions: Vec<T>,
    /// Final counters and warnings, with the last report only.
    pub end: Option<(TableStats, Vec<CaptureWarning>)>,
}

/// One shard's stream as the merger sees it.
struct Lane<T> {
    waiting: VecDeque<T>,
    read_to: u64,
    offset: usize,
    /// First packet numbers of its connections not yet known to be before every connection still
    /// to come, in order, each marked `HANDED_ON` once its session was: a session's number is
    /// its rank among all lanes' starts.
    starts: VecDeque<u64>,
    /// Starts dropped from the front of `starts`.
    dropped: u64,
    /// Where in `starts` the first one not marked `HANDED_ON` is.
    first_open: usize,
    /// Its last report came (or its channel closed): nothing more will.
    done: bool,
}

impl<T> Default for Lane<T> {
    fn default() -> Self {
        Lane {
            waiting: VecDeque::new(),
            read_to: 0,
            offset: 0,
            starts: VecDeque::new(),
            dropped: 0,
            first_open: 0,
            done: false,
        }
    }
}

/// The mark on a start whose session was handed on (frame numbers never reach it).
const HANDED_ON: u64 = 1 << 63;

impl<T: Numbered> Lane<T> {
    /// Connections this lane opened before packet `first`.
    fn opened_before(&self, first: u64) -> u64 {
        self.dropped + self.starts.partition_point(|&n| n & !HANDED_ON < first) as u64
    }

    /// The lane's first connection whose session is still to come (or, with none, the first
    /// packet one it opens later can have).
    fn oldest_open(&self) -> u64 {
        match self.starts.get(self.first_open) {
            Some(&n) => n,
            None if self.done => u64::MAX,
            None => self.read_to.saturating_add(1),
        }
    }

    /// The session of the connection opened at packet `first` was handed on.
    fn handed_on(&mut self, first: u64) {
        let Ok(at) = self.starts.binary_search_by_key(&first, |&n| n & !HANDED_ON) else { return };
        self.starts[at] |= HANDED_ON;
        while self.starts.get(self.first_open).is_some_and(|&n| n & HANDED_ON != 0) {
            self.first_open += 1;
        }
    }

    /// Can this lane still send a session that goes before `key`, or a connection opened before
    /// it (which would change its number)?
    fn may_precede(&self, key: &OutputKey) -> bool {
        if self.done {
            return false;
        }
        let opened_before_known = self.read_to.saturating_add(1) >= key.first_packet;
        let ends_after = !self.waiting.is_empty() || key.frame <= self.read_to;
        !(opened_before_known && ends_after)
    }
}

/// Merges the shards' streams; `on_done` gets the sessions in output order.
pub struct Merger<'o, T = Ended> {
    /// Reports of every shard, each on its own bounded channel: a shard that runs ahead waits.
    rxs: Vec<Receiver<Report<T>>>,
    on_done: &'o mut dyn FnMut(T) -> ControlFlow<()>,
    lanes: Vec<Lane<T>>,
    /// Per shard, its final counters and warnings.
    pub ends: Vec<(usize, TableStats, Vec<CaptureWarning>)>,
    map: &'o memmap2::Mmap,
    release: PageRelease,
    /// The output is gone: what comes is dropped.
    pub stopped: bool,
    /// The most sessions waiting here at once.
    pub most_held: usize,
}

impl<'o, T: Numbered> Merger<'o, T> {
    pub fn new(
        map: &'o memmap2::Mmap,
        rxs: Vec<Receiver<Report<T>>>,
        on_done: &'o mut dyn FnMut(T) -> ControlFlow<()>,
    ) -> Self {
        let lanes = (0..rxs.len()).map(|_| Lane::default()).collect();
        let release = PageRelease::default();
        Merger { rxs, on_done, lanes, ends: Vec::new(), map, release, stopped: false, most_held: 0 }
    }

    fn accept(&mut self, r: Report<T>) {
        let lane = &mut self.lanes[r.shard];
        lane.waiting.extend(r.sessions);
        lane.starts.extend(r.starts);
        lane.read_to = lane.read_to.max(r.read_to);
        lane.offset = lane.offset.max(r.offset);
        if let Some((t, w)) = r.end {
            lane.done = true;
            self.ends.push((r.shard, t, w));
        }
        self.most_held = self.most_held.max(self.lanes.iter().map(|l| l.waiting.len()).sum());
    }

    /// Takes the reports that are in, up to `WAITING` sessions per shard (the rest wait in its
    /// channel, and a shard whose channel is full waits too).
    ///
    /// A shard more than `AHEAD` batches ahead of the slowest other one is left to wait on its
    /// full channel: the mapped pages between the slowest and the fastest shard stay resident,
    /// and a shard that reads other shards' frames only as far as their header can outrun them
    /// by hundreds of megabytes (the 1 GB file's peak RSS went from 90 to 270 MB).
    fn poll(&mut self) {
        for i in 0..self.lanes.len() {
            while !self.lanes[i].done
                && self.lanes[i].waiting.len() < WAITING
                && self.lanes[i].read_to <= self.limit_for(i)
            {
                match self.rxs[i].try_recv() {
                    Ok(r) => self.accept(r),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => self.lanes[i].done = true,
                }
            }
        }
    }

    /// How far shard `i` may have read for its next report to be taken in: `AHEAD` batches past
    /// the slowest other shard still reading.
    fn limit_for(&self, i: usize) -> u64 {
        let others = self.lanes.iter().enumerate().filter(|&(j, l)| j != i && !l.done);
        others.map(|(_, l)| l.read_to).min().map_or(u64::MAX, |slowest| slowest.saturating_add(AHEAD * BATCH))
    }

    /// Waits for shard `i`'s next report.
    fn receive(&mut self, i: usize) {
        match self.rxs[i].recv() {
            Ok(r) => self.accept(r),
            Err(_) => self.lanes[i].done = true,
        }
    }

    /// The shard the merge waits for: one that may still send a session before the smallest
    /// waiting one, or else the one that read least. None when every shard is done.
    fn blocker(&self) -> Option<usize> {
        let open = || self.lanes.iter().enumerate().filter(|(_, l)| !l.done);
        match self.smallest() {
            Some((_, key)) => open().find(|(_, l)| l.may_precede(&key)).map(|(i, _)| i),
            None => open().min_by_key(|(_, l)| l.read_to).map(|(i, _)| i),
        }
    }

    /// The lane holding the smallest waiting session, and its key.
    fn smallest(&self) -> Option<(usize, OutputKey)> {
        let heads = self.lanes.iter().enumerate().filter_map(|(i, l)| l.waiting.front().map(|e| (i, e.key())));
        heads.min_by_key(|&(_, key)| key)
    }

    /// Hands on every session no shard can still precede, in order; then gives back the mapped
    /// pages every shard is done with.
    fn emit(&mut self) {
        while !self.stopped {
            let Some((i, key)) = self.smallest() else { break };
            if self.lanes.iter().any(|l| l.may_precede(&key)) {
                break;
            }
            let Some(mut ended) = self.lanes[i].waiting.pop_front() else { break };
            let opened_before: u64 = self.lanes.iter().map(|l| l.opened_before(key.first_packet)).sum();
            ended.set_index(opened_before + 1);
            self.lanes[i].handed_on(key.first_packet);
            if (self.on_done)(ended).is_break() {
                self.stopped = true;
            }
        }
        self.forget_starts();
        let upto = self.lanes.iter().map(|l| if l.done { self.map.len() } else { l.offset }).min();
        self.release.release_to(self.map, upto.unwrap_or(0));
    }

    /// Drops the starts before every connection still to come, counting them: no session to
    /// come has a first packet before them, so they only add to every rank. What is kept spans
    /// the connections open now, not all that were read.
    fn forget_starts(&mut self) {
        let floor = self.lanes.iter().map(Lane::oldest_open).min().unwrap_or(u64::MAX);
        for lane in &mut self.lanes {
            while lane.starts.front().is_some_and(|&n| n & !HANDED_ON < floor) {
                lane.starts.pop_front();
                lane.dropped += 1;
                lane.first_open -= 1;
            }
        }
    }

    /// Takes the shards' reports as the merge needs them, waiting on the shard it needs next,
    /// until all are done, and hands on every session (of shards an interrupt stopped early
    /// too). `between` runs after each report waited for (to pass on an interrupt); when the
    /// output is gone, `on_stop` runs once (to stop the shards) and the rest is dropped.
    pub fn run(&mut self, between: &mut dyn FnMut(), on_stop: &mut dyn FnMut()) {
        loop {
            self.poll();
            self.emit();
            if self.stopped {
                on_stop();
                // Nothing more is shown: let the shards end.
                for rx in &self.rxs {
                    while rx.recv().is_ok() {}
                }
                return;
            }
            match self.blocker() {
                Some(i) => self.receive(i),
                None => break,
            }
            between();
        }
        self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session as the merger sees it: its key and the number it is given.
    struct Item {
        key: OutputKey,
        index: u64,
    }

    impl Numbered for Item {
        fn key(&self) -> OutputKey {
            self.key
        }
        fn set_index(&mut self, index: u64) {
            self.index = index;
        }
    }

    /// What shard `shard` of two sends for `frames` frames in which every frame opens a
    /// connection, shards taking turns: half of its connections end 50 frames later, the rest at
    /// end of input.
    fn script(shard: u64, frames: u64) -> Vec<Report<Item>> {
        let mine = |f: u64| f % 2 == shard;
        let (mut reports, mut sessions, mut starts, mut read_to) = (Vec::new(), Vec::new(), Vec::new(), 0);
        let send = |reports: &mut Vec<Report<Item>>, sessions: &mut Vec<Item>, starts: Vec<u64>, read_to, end| {
            let sessions = std::mem::take(sessions);
            reports.push(Report { shard: shard as usize, read_to, offset: 0, starts, sessions, end });
        };
        let item =
            |frame, first_packet| Item { key: OutputKey { frame, first_packet, ..OutputKey::default() }, index: 0 };
        for f in 1..=frames {
            if f > 50 && mine(f - 50) && (f - 50) % 4 < 2 {
                sessions.push(item(f, f - 50));
                if sessions.len() >= CHUNK {
                    send(&mut reports, &mut sessions, Vec::new(), read_to, None);
                }
            }
            if mine(f) {
                starts.push(f);
            }
            if f % BATCH == 0 {
                read_to = f;
                send(&mut reports, &mut sessions, std::mem::take(&mut starts), read_to, None);
            }
        }
        send(&mut reports, &mut sessions, std::mem::take(&mut starts), frames, None);
        for f in (1..=frames).filter(|&f| mine(f) && (f % 4 >= 2 || f + 50 > frames)) {
            sessions.push(item(u64::MAX, f));
            if sessions.len() >= CHUNK {
                send(&mut reports, &mut sessions, Vec::new(), frames, None);
            }
        }
        send(&mut reports, &mut sessions, Vec::new(), u64::MAX, Some((TableStats::default(), Vec::new())));
        reports
    }

    /// Ten thousand connections of each shard end at once at end of input: they come out in
    /// key order, numbered by first packet, and the merger never holds more than a few chunks.
    #[test]
    fn sessions_ending_at_once_cross_in_chunks_in_order() {
        let frames = 20_000;
        let map = memmap2::MmapOptions::new().len(4096).map_anon().expect("anonymous map");
        let map = map.make_read_only().expect("read-only");
        let (mut rxs, mut shards) = (Vec::new(), Vec::new());
        for shard in 0..2 {
            let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
            rxs.push(rx);
            shards.push(std::thread::spawn(move || {
                for r in script(shard, frames) {
                    tx.send(r).expect("merger alive");
                }
            }));
        }
        let mut out = Vec::new();
        let mut on_done = |item: Item| {
            out.push((item.key, item.index));
            ControlFlow::Continue(())
        };
        let mut merger = Merger::new(&map, rxs, &mut on_done);
        merger.run(&mut || {}, &mut || panic!("the output stays"));
        for shard in shards {
            shard.join().expect("shard");
        }
        assert_eq!(merger.ends.len(), 2);
        let most_held = merger.most_held;
        drop(merger);
        assert_eq!(out.len(), frames as usize);
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "in key order");
        // Every frame opened a connection: a session's number is its first packet.
        assert!(out.iter().all(|(key, index)| *index == key.first_packet));
        // Each shard's lane takes reports while it holds fewer than `WAITING`.
        assert!(most_held <= 2 * (WAITING + CHUNK), "{most_held} sessions held");
    }

    /// A batch note of shard `shard`, read to `read_to`.
    fn note(shard: usize, read_to: u64) -> Report<Item> {
        Report { shard, read_to, offset: 0, starts: Vec::new(), sessions: Vec::new(), end: None }
    }

    /// A shard that reads ahead of the others (it only peeks at their frames) is taken in only
    /// while it is within `AHEAD` batches of the slowest; the rest of its reports stay in its
    /// channel, which fills, so it waits instead of holding the mapped file open behind it.
    #[test]
    fn a_shard_far_ahead_of_the_slowest_is_left_waiting() {
        let map = memmap2::MmapOptions::new().len(4096).map_anon().expect("anonymous map");
        let map = map.make_read_only().expect("read-only");
        let (slow_tx, slow_rx) = mpsc::sync_channel(4);
        let (fast_tx, fast_rx) = mpsc::sync_channel(4 * AHEAD as usize);
        for batch in 1..=4 * AHEAD {
            fast_tx.send(note(1, batch * BATCH)).expect("merger alive");
        }
        slow_tx.send(note(0, BATCH)).expect("merger alive");
        let mut on_done = |_: Item| ControlFlow::Continue(());
        let mut merger = Merger::new(&map, vec![slow_rx, fast_rx], &mut on_done);
        merger.poll();
        let lead = merger.lanes[1].read_to;
        assert!(lead > BATCH && lead <= (2 + AHEAD) * BATCH, "shard 1 taken in to frame {lead}");
        slow_tx.send(note(0, 3 * AHEAD * BATCH)).expect("merger alive");
        merger.poll();
        assert_eq!(merger.lanes[1].read_to, 4 * AHEAD * BATCH, "taken in once shard 0 caught up");
        // And the other way round: shard 0, now ahead, is taken in to `AHEAD` batches past
        // shard 1 (and one report more); its later reports wait in its channel.
        for batch in 3 * AHEAD + 1..=5 * AHEAD + 4 {
            slow_tx.send(note(0, batch * BATCH)).expect("merger alive");
            merger.poll();
        }
        assert_eq!(merger.lanes[0].read_to, (5 * AHEAD + 1) * BATCH, "shard 0 taken in to this frame");
    }
}
