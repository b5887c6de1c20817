//! `read --threads N`: connections sharded over N threads by a hash of their normalised address
//! pair, each thread with its own flow table and analyzer.
//!
//! Shard 0, the reader, walks the memory-mapped capture and reads every frame's bucket from its
//! header bytes (`peek`; frames too odd for that, fragments, VLAN tags, IPv6..., have none and
//! every shard decodes them). It publishes every frame it read, with its bucket, to the other
//! shards: an index of small records (`Indexed`), a block of `BATCH` at a time. Every shard,
//! the reader too, analyses the blocks in order: it decodes its own frames and uses the others
//! only as clock ticks, so connections expire exactly when they would in one table. Each pcap
//! record is thus walked and peeked once, not once per shard (that was about 195 instructions a
//! frame in every shard, about a tenth of a shard's work on the real mix). The reader's extra
//! work is balanced by giving it fewer buckets (`split`), and it analyses `LAG` blocks behind
//! its reading, so that a follower with a lighter run of work can get ahead of the reader's
//! analysis instead of waiting for every block (a reader analysing each frame as it read it was
//! slower in wall time than every shard reading the file, in 15 of 21 interleaved rounds, for
//! all the instructions it saved).
//!
//! This is not the dispatcher thread that lost before (it waited on memory for every record
//! header and did no analysis, then the workers decoded each frame again): the reader analyses
//! its share too, and a follower reads a compact index sequentially and touches only its own
//! frames' bytes.
//!
//! Each thread diagnoses its sessions and, when the sink gives a [`Renderer`], renders those no
//! failover note can change, so mostly text crosses threads. Each thread sends the sessions that
//! end, in its own output order, a chunk at a time, and every batch of frames how far it read
//! and which connections it opened (first packet numbers). The merger (`merge`), on a thread of
//! its own, merges the shards' streams by `OutputKey`, numbers the sessions in order of first
//! packet across shards and hands them on, so the output is the same as with one thread, and
//! what waits between the shards and the output is a few chunks however many connections end at
//! once.
//!
//! No thread waits on another in a circle: the index channel is unbounded (the reader's lead is
//! bounded by the merger, which stops taking its reports `AHEAD` batches past the slowest
//! shard), the reader sends reports only from its analysis, which is behind what it published
//! (a send may wait for the merger, which may be waiting for a follower to read past a
//! session's frame), and every shard reports how far it read after every block, before it
//! waits for the next.
//!
//! Only a regular file can be shared this way; other input (stdin, gzip) is read by one thread.

use super::merge::{BATCH, Body, CHUNK, Ended, IN_FLIGHT, Merger, Report};
use super::peek::Peek;
use super::renderer::Renderer;
use smtpdiag::capture::{self, CaptureError, CaptureWarning, Frame, FrameSink, ReadStats};
use smtpdiag::diagnose::{self, DiagnoseConfig, failover};
use smtpdiag::session::{Analyzer, AnalyzerConfig, Brief, DecodeStats, Route, Session};
use smtpdiag::tcp::flow::{BUCKETS, TableStats, bucket_of};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// What the read of one file produced, besides the sessions handed to `on_done`.
pub struct Outcome {
    pub result: Result<ReadStats, CaptureError>,
    pub decode_stats: DecodeStats,
    pub table_stats: TableStats,
    pub warnings: Vec<CaptureWarning>,
}

/// A regular, non-empty, uncompressed file is mapped (as `capture::read_path` does); anything
/// else is None: every shard would have to decompress a gzip file again.
pub fn open_map(path: &Path) -> Option<memmap2::Mmap> {
    // Only regular files are opened: opening a FIFO would wait for its writer.
    if path.as_os_str() == "-" || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let map = capture::map_regular(&file, &file.metadata().ok()?)?;
    (!map.starts_with(&[0x1f, 0x8b])).then_some(map)
}

/// What to read, with how many shards, and how to analyse and render.
pub struct Job<'a> {
    pub name: &'a str,
    pub map: &'a memmap2::Mmap,
    pub threads: usize,
    pub config: &'a AnalyzerConfig,
    pub diagnose: &'a DiagnoseConfig,
    pub renderer: Option<&'a Renderer>,
}

/// What every shard thread shares, read at every frame: on cache lines of its own, so that no
/// variable the merging thread writes beside it takes the line from the other cores.
#[repr(align(128))]
struct Shared<'a> {
    name: &'a str,
    map: &'a memmap2::Mmap,
    config: &'a AnalyzerConfig,
    diagnose: &'a DiagnoseConfig,
    renderer: Option<&'a Renderer>,
    /// Set on an interrupt: the reader stops reading, then every shard hands on what it has open.
    stop_reading: AtomicBool,
    /// Set when the output is gone: every shard stops at once.
    closed: AtomicBool,
}

/// A frame as the reader publishes it to the other shards: its bytes are a slice of the map,
/// and its bucket is there when the header bytes gave it (see `Peek::mail_bucket`).
#[derive(Clone, Copy)]
struct Indexed<'m> {
    frame: Frame<'m>,
    bucket: Option<u8>,
}

/// Frames published at once: up to `BATCH`, fewer when the reader sends sessions mid-batch.
type Block<'m> = Arc<Vec<Indexed<'m>>>;

/// What a shard does besides analysing its buckets.
enum Role<'m> {
    /// Reads the capture and publishes every frame to these followers.
    Reader(Vec<mpsc::Sender<Block<'m>>>),
    /// Takes the frames from the reader's index.
    Follower(mpsc::Receiver<Block<'m>>),
}

/// Read one mapped capture with `job.threads` shards; `on_done` gets the sessions in output
/// order.
pub fn read(
    job: Job<'_>,
    stop_reading: &dyn Fn() -> bool,
    on_done: &mut dyn FnMut(Ended) -> ControlFlow<()>,
) -> Outcome {
    let Job { name, map, threads, config, diagnose, renderer } = job;
    let shared = Shared {
        name,
        map,
        config,
        diagnose,
        renderer,
        stop_reading: AtomicBool::new(false),
        closed: AtomicBool::new(false),
    };
    // Followers read their frames' bytes after the reader's read may have returned: the map
    // stays watched for SIGBUS (a file cut while read) until every shard is done.
    let _watch = capture::watch_map(map);
    let split = split(threads);
    std::thread::scope(|scope| {
        let (mut rxs, mut shards) = (Vec::new(), Vec::new());
        let (followers, mut indexes): (Vec<_>, Vec<_>) = (1..threads).map(|_| mpsc::channel()).unzip();
        let mut roles = std::iter::once(Role::Reader(followers)).chain(indexes.drain(..).map(Role::Follower));
        for (shard, &mine) in split.iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Report>(IN_FLIGHT);
            rxs.push(rx);
            let shared = &shared;
            let role = roles.next().expect("a role per shard");
            shards.push(scope.spawn(move || run_shard(shared, shard, mine, role, &mut |r| tx.send(r).map_err(drop))));
        }
        let mut merger = Merger::new(map, rxs, on_done);
        merger.run(
            &mut || {
                if stop_reading() {
                    shared.stop_reading.store(true, Ordering::Relaxed);
                }
            },
            &mut || shared.closed.store(true, Ordering::Relaxed),
        );
        // The reader's result and decode counters are kept (it decodes every frame the others
        // would).
        let mut results = shards.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        let (result, decode_stats) = results.next().flatten().expect("shard 0 reads");
        results.for_each(drop);
        let mut table_stats = TableStats::default();
        let mut warnings = Vec::new();
        // In shard order, so that the warnings come out alike every time.
        merger.ends.sort_by_key(|(shard, ..)| *shard);
        for (_, t, w) in merger.ends.drain(..) {
            add_table_stats(&mut table_stats, &t);
            for w in w {
                merge_warning(&mut warnings, w);
            }
        }
        Outcome { result, decode_stats, table_stats, warnings }
    })
}

/// One shard: reads the capture (shard 0) or follows the reader's index, analyses its own
/// connections, reports every batch and at the end its counters and warnings. The reader
/// returns the read's result and its decode counters.
fn run_shard<'m>(
    shared: &Shared<'m>,
    shard: usize,
    mine: u64,
    role: Role<'m>,
    report: &mut dyn FnMut(Report) -> Result<(), ()>,
) -> Option<(Result<ReadStats, CaptureError>, DecodeStats)> {
    let outbox = RefCell::new(Outbox { shard, sessions: Vec::new(), read_to: 0, offset: 0, report, gone: false });
    // Diagnosis (and rendering) runs here, in parallel; failover notes need the global order.
    // Sessions of one capture render to texts of similar length: each is sized like the last.
    let mut size_hint = 0;
    let mut analyzer = Analyzer::new(shared.name, shared.config.clone(), |s| {
        let ended = ended(shared, s, &mut size_hint);
        outbox.borrow_mut().push(ended, &shared.closed)
    });
    analyzer.starts = Some(Vec::new());
    let mut own = Own { shared, mine, analyzer: &mut analyzer, outbox: &outbox };
    let result = match role {
        Role::Reader(followers) => {
            let mut reader = ShardReader {
                own: &mut own,
                peek: Peek::new(&shared.config.tcp.ports),
                pending: Vec::with_capacity(BATCH as usize),
                followers,
                unread: VecDeque::new(),
                warnings: VecDeque::new(),
                populated: 0,
                page: 0,
            };
            let result = capture::read_map(shared.name, shared.map, &mut reader);
            reader.finish();
            Some(result)
        }
        Role::Follower(index) => {
            for block in index {
                if own.block(&block).is_break() {
                    break;
                }
            }
            None
        }
    };
    let read_to = outbox.borrow().read_to;
    let offset = shared.map.len();
    if outbox.borrow().gone || shared.closed.load(Ordering::Relaxed) {
        // The output is gone: the rest would not be shown.
        return result.map(|r| (r, analyzer.decode_stats.clone()));
    }
    // Every connection this shard opened is known before the ones still open are handed on.
    let starts = analyzer.starts.as_mut().map(std::mem::take).unwrap_or_default();
    outbox.borrow_mut().send(read_to, offset, starts, None);
    analyzer.finish();
    let mut table_stats = analyzer.table_stats().clone();
    if shard != 0 {
        // Every shard counts the packets on other ports it decodes; shard 0 reports them.
        table_stats.tcp_packets -= table_stats.other_port_packets.min(table_stats.tcp_packets);
        table_stats.other_port_packets = 0;
    }
    // The analyzer's warnings are the flow table's caps (per shard) and the decoder's (alike
    // in every shard); the merger drops repeats.
    let end = Some((table_stats, analyzer.warnings.clone()));
    outbox.borrow_mut().send(u64::MAX, offset, Vec::new(), end);
    result.map(|r| (r, analyzer.decode_stats.clone()))
}

/// Where a frame's bytes end in the map.
fn end_in_map(map: &[u8], frame: &Frame<'_>) -> usize {
    (frame.data.as_ptr() as usize).saturating_sub(map.as_ptr() as usize) + frame.data.len()
}

/// What a shard analyses with: its buckets, its analyzer and where its sessions go.
struct Own<'s, 'a, 'r, 'o, F: FnMut(Session) -> ControlFlow<()>> {
    shared: &'s Shared<'a>,
    /// The buckets this shard holds, a bit each (see `split`).
    mine: u64,
    analyzer: &'r mut Analyzer<F>,
    outbox: &'r RefCell<Outbox<'o>>,
}

impl<F: FnMut(Session) -> ControlFlow<()>> Own<'_, '_, '_, '_, F> {
    /// Analyses a block of the index, then reports how far this shard read (before it waits for
    /// the next block: the merger may be waiting to learn that it read past a session of
    /// another shard's). Break when the output is gone.
    fn block(&mut self, block: &[Indexed<'_>]) -> ControlFlow<()> {
        for entry in block {
            handle(self.analyzer, self.mine, &entry.frame, entry.bucket.map(usize::from));
        }
        self.report(block)
    }

    /// Reports how far this shard read: to the last frame of `block`.
    fn report(&mut self, block: &[Indexed<'_>]) -> ControlFlow<()> {
        let Some(last) = block.last() else { return ControlFlow::Continue(()) };
        let starts = self.analyzer.starts.as_mut().map(std::mem::take).unwrap_or_default();
        let mut outbox = self.outbox.borrow_mut();
        outbox.send(last.frame.number, end_in_map(self.shared.map, &last.frame), starts, None);
        if outbox.gone || self.shared.closed.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// A shard's sessions on their way to the merger, sent a chunk at a time.
struct Outbox<'r> {
    shard: usize,
    sessions: Vec<Ended>,
    /// What the last report said of how far the shard read.
    read_to: u64,
    offset: usize,
    report: &'r mut dyn FnMut(Report) -> Result<(), ()>,
    /// The merger is gone (it stopped): nothing more is sent.
    gone: bool,
}

impl Outbox<'_> {
    /// A session that ended: sent on once a chunk is full. Break once the output is gone.
    fn push(&mut self, ended: Ended, closed: &AtomicBool) -> ControlFlow<()> {
        self.sessions.push(ended);
        if self.sessions.len() >= CHUNK {
            self.send(self.read_to, self.offset, Vec::new(), None);
        }
        if self.gone || closed.load(Ordering::Relaxed) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    /// Sends the sessions waiting, with how far the shard read and what it opened.
    fn send(&mut self, read_to: u64, offset: usize, starts: Vec<u64>, end: Option<(TableStats, Vec<CaptureWarning>)>) {
        (self.read_to, self.offset) = (read_to, offset);
        if self.gone {
            return;
        }
        let sessions = std::mem::take(&mut self.sessions);
        let report = Report { shard: self.shard, read_to, offset, starts, sessions, end };
        self.gone = (self.report)(report).is_err();
    }
}

/// Diagnoses a finished session and, unless a failover note may still change it, renders it
/// into a text of `size_hint` bytes' room (then set to what this one took).
fn ended(shared: &Shared<'_>, mut s: Session, size_hint: &mut usize) -> Ended {
    // The number is the rank among all shards' connections, known when merged.
    s.index = 0;
    let key = s.key;
    let brief = Brief::of(&s);
    let verdicts = diagnose::diagnose(&s, shared.diagnose);
    if failover::may_fail_over(&verdicts) {
        return Ended { key, brief, body: Body::Whole(Box::new(s), verdicts) };
    }
    let body = match shared.renderer {
        Some(r) => {
            let rendered = r.render(&s, &verdicts, *size_hint);
            *size_hint = rendered.len().next_power_of_two();
            Body::Rendered(rendered)
        }
        None => Body::Whole(Box::new(s), verdicts),
    };
    Ended { key, brief, body }
}

/// Adds a shard's warning unless another shard gave it already. A cap's warning names the
/// packet where it first bit: of the same warning from several shards, the earliest is the one
/// a single thread would have given.
fn merge_warning(warnings: &mut Vec<CaptureWarning>, w: CaptureWarning) {
    fn split(message: &str) -> (Option<u64>, &str) {
        let rest = message.strip_prefix("packet ").and_then(|r| r.split_once(": "));
        match rest.and_then(|(n, text)| Some((n.parse().ok()?, text))) {
            Some((n, text)) => (Some(n), text),
            None => (None, message),
        }
    }
    let (number, text) = split(&w.message);
    match warnings.iter_mut().find(|o| split(&o.message).1 == text) {
        Some(o) if number < split(&o.message).0 => *o = w,
        Some(_) => {}
        None => warnings.push(w),
    }
}

/// Blocks the reader's own analysis runs behind its reading: how far a follower can get ahead
/// of the reader's analysis before it waits for the next block (the shards' work comes in runs,
/// one heavy connection then light ones, in either shard).
const LAG: usize = 2;

/// Shard 0: reads the capture, publishes every frame to the followers a block at a time, and
/// analyses its own frames from the same blocks, `LAG` blocks behind its reading.
struct ShardReader<'w, 's, 'a, 'r, 'o, F: FnMut(Session) -> ControlFlow<()>> {
    own: &'w mut Own<'s, 'a, 'r, 'o, F>,
    peek: Peek,
    /// Frames read since the last block was published.
    pending: Vec<Indexed<'a>>,
    followers: Vec<mpsc::Sender<Block<'a>>>,
    /// Blocks published and not yet analysed here.
    unread: VecDeque<Block<'a>>,
    /// The reader's warnings not yet handed to the analyzer, each with the number of the frame
    /// it came before: handed on where the analysis reaches that frame, as one thread would.
    warnings: VecDeque<(u64, CaptureWarning)>,
    /// The map is populated up to here (see `capture::populate_ahead`).
    populated: usize,
    /// The page the last frame read ended in.
    page: usize,
}

impl<'a, F: FnMut(Session) -> ControlFlow<()>> FrameSink for ShardReader<'_, '_, 'a, '_, '_, F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        // Most frames are plain: their bucket, read from the header bytes, is all another shard
        // needs to know whether the frame is its own or a tick.
        let bucket = self.peek.mail_bucket(frame);
        let map: &'a [u8] = self.own.shared.map;
        let at = (frame.data.as_ptr() as usize).wrapping_sub(map.as_ptr() as usize);
        // `capture::read_map` hands out slices of the map, never copies.
        let data = map.get(at..at.wrapping_add(frame.data.len())).expect("a mapped frame's bytes lie in the map");
        self.pending.push(Indexed { frame: Frame { data, ..*frame }, bucket: bucket.map(|b| b as u8) });
        // Pages mapped ahead in one call per step, not faulted in one by one; asked once a
        // page (a dozen frames share one), like the one-thread reader does.
        let end = at.wrapping_add(frame.data.len());
        if end >> 12 != self.page {
            self.page = end >> 12;
            capture::populate_ahead(self.own.shared.map, end, &mut self.populated);
        }
        if self.pending.len() < BATCH as usize {
            return ControlFlow::Continue(());
        }
        self.publish();
        // Asked once a batch, not every frame: a closed output or an interrupt stops the
        // reading a thousand frames later at most.
        let s = self.own.shared;
        if s.stop_reading.load(Ordering::Relaxed) || s.closed.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        if self.unread.len() > LAG {
            return self.analyse_oldest();
        }
        ControlFlow::Continue(())
    }

    fn warning(&mut self, warning: CaptureWarning) {
        // Reader warnings are the reader's alone (shard 0's).
        let next = self.pending.last().or_else(|| self.unread.back().and_then(|b| b.last()));
        let before = next.map_or(0, |e| e.frame.number) + 1;
        self.warnings.push_back((before, warning));
    }
}

impl<F: FnMut(Session) -> ControlFlow<()>> ShardReader<'_, '_, '_, '_, '_, F> {
    /// Hands the frames read since the last block to every follower, and keeps the block for
    /// this shard's own analysis.
    fn publish(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let block = Arc::new(std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH as usize)));
        for follower in &self.followers {
            // A follower that is gone stopped because the output is.
            let _ = follower.send(Arc::clone(&block));
        }
        self.unread.push_back(block);
    }

    /// Analyses the oldest block not analysed yet, handing on the reader's warnings where they
    /// came.
    fn analyse_oldest(&mut self) -> ControlFlow<()> {
        let Some(block) = self.unread.pop_front() else { return ControlFlow::Continue(()) };
        let past = block.last().map_or(0, |e| e.frame.number);
        if self.warnings.front().is_none_or(|&(before, _)| before > past) {
            return self.own.block(&block);
        }
        for entry in block.iter() {
            self.warnings_before(entry.frame.number);
            handle(self.own.analyzer, self.own.mine, &entry.frame, entry.bucket.map(usize::from));
        }
        self.own.report(&block)
    }

    /// Hands the analyzer the reader's warnings that came before frame `number`.
    fn warnings_before(&mut self, number: u64) {
        while self.warnings.front().is_some_and(|&(before, _)| before <= number) {
            if let Some((_, w)) = self.warnings.pop_front() {
                self.own.analyzer.warning(w);
            }
        }
    }

    /// The reading ended: the followers get the last frames and the end of the index, then
    /// this shard analyses what it has not (unless the output is gone).
    fn finish(mut self) {
        self.publish();
        self.followers.clear();
        while !self.unread.is_empty() {
            if self.analyse_oldest().is_break() {
                return;
            }
        }
        self.warnings_before(u64::MAX);
    }
}

/// A frame for a shard's analyzer. A shard holds whole buckets of the flow table (see
/// `tcp::flow`), so that every bucket's share of the caps, and what it evicts, is the same for
/// any number of threads. `bucket`: the frame's connection's, when the header bytes gave it; a
/// frame of another shard's bucket is only a tick.
#[inline]
fn handle<F: FnMut(Session) -> ControlFlow<()>>(
    analyzer: &mut Analyzer<F>,
    mine: u64,
    frame: &Frame<'_>,
    bucket: Option<usize>,
) {
    if bucket.is_some_and(|b| mine & 1 << b == 0) {
        analyzer.foreign(frame);
    } else {
        decoded(analyzer, mine, frame, bucket);
    }
}

/// A frame decoded whole: this shard's packet, or a tick.
fn decoded<F: FnMut(Session) -> ControlFlow<()>>(
    analyzer: &mut Analyzer<F>,
    mine: u64,
    frame: &Frame<'_>,
    bucket: Option<usize>,
) {
    // Every shard reassembles IP fragments itself (each sees every frame), so a datagram
    // becomes the same packet in all of them and goes to the shard of its connection.
    let reassembled;
    let packet = match analyzer.route(frame) {
        Route::Mail(p) => Some(p),
        Route::Reassembled(r) => {
            reassembled = r;
            reassembled.packet(frame).ok()
        }
        _ => None,
    };
    match packet {
        Some(p) if mine & 1 << bucket.unwrap_or_else(|| bucket_of(&p)) != 0 => {
            let _ = analyzer.packet(&p);
        }
        // Every packet's time moves the capture's clock, as in a single table.
        _ => analyzer.tick(frame.number, frame.ts),
    }
}

/// Buckets' worth of analysis that the reader's extra work (walking and peeking every frame and
/// writing the index) costs: on the real mix (fast profile), the reader alone takes 163 M
/// instructions of the 1,465 M a one-thread read takes, a follower alone 15 M, and a bucket's
/// analysis 44 M on average, so the difference is 3.3 buckets.
const INDEX_COST: usize = 3;

/// The buckets each shard holds, a bit each: in turn, each bucket goes to the shard with the
/// least load so far (the last of equals: a follower before the reader), the reader starting
/// `INDEX_COST` buckets in. Two threads: the reader holds 14 buckets, the follower 18.
fn split(threads: usize) -> Vec<u64> {
    const { assert!(BUCKETS <= 64) };
    let mut load: Vec<usize> = (0..threads).map(|s| if s == 0 { INDEX_COST } else { 0 }).collect();
    let mut mine = vec![0; threads];
    for b in 0..BUCKETS {
        let Some(s) = (0..threads).rev().min_by_key(|&s| load[s]) else { break };
        mine[s] |= 1 << b;
        load[s] += 1;
    }
    mine
}

fn add_table_stats(total: &mut TableStats, t: &TableStats) {
    total.tcp_packets += t.tcp_packets;
    total.other_port_packets += t.other_port_packets;
    total.flows += t.flows;
    total.flows_evicted += t.flows_evicted;
    total.memcap_evictions += t.memcap_evictions;
    total.max_open_flows = total.max_open_flows.max(t.max_open_flows);
    total.global_cap_flushes += t.global_cap_flushes;
    total.late_packets += t.late_packets;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bucket is held by exactly one shard, and the reader, which also indexes every
    /// frame, holds fewer than the others.
    #[test]
    fn every_bucket_has_one_shard_and_the_reader_fewer() {
        for threads in 1..=BUCKETS {
            let split = split(threads);
            assert_eq!(split.len(), threads);
            assert_eq!(split.iter().fold(0, |all, &mine| all | mine), u64::MAX >> (64 - BUCKETS));
            assert_eq!(split.iter().map(|mine| mine.count_ones() as usize).sum::<usize>(), BUCKETS);
            let held = |s: usize| split[s].count_ones();
            assert!((1..threads).all(|s| held(s) >= held(0)), "{threads} threads: {split:?}");
        }
        assert_eq!(split(2).iter().map(|mine| mine.count_ones()).collect::<Vec<_>>(), [14, 18]);
    }
}
