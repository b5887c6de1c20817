//! `read --threads N`: connections sharded over N threads by a hash of their normalised address
//! pair, each thread with its own flow table and analyzer.
//!
//! Every thread reads the whole memory-mapped capture itself: it decodes each frame, analyses
//! the packets of its shard and uses the others only as clock ticks, so connections expire
//! exactly when they would in one table. No thread hands frames to another: a dispatcher
//! thread cost as much as the analysis it saved (it waited on memory for every record header,
//! then the workers decoded each frame again). Each thread diagnoses its sessions and, when
//! the sink gives a [`Renderer`], renders those no failover note can change, so mostly text
//! crosses threads. Every `BATCH` frames a thread reports the connections it opened (first
//! packet numbers) and the sessions that ended. The calling thread is shard 0 and the merger:
//! once every shard reported a batch, it numbers the sessions in order of first packet across
//! shards, sorts them by `OutputKey` and hands them on, so the output is the same as with one
//! thread.
//!
//! Only a regular file can be shared this way; other input (stdin, gzip) is read by one thread.

use super::read::{Rendered, Renderer};
use smtpdiag::capture::{self, CaptureError, CaptureWarning, Frame, FrameSink, ReadStats};
use smtpdiag::diagnose::{self, DiagnoseConfig, Verdict, failover};
use smtpdiag::session::{Analyzer, AnalyzerConfig, Brief, DecodeStats, OutputKey, Route, Session};
use smtpdiag::tcp::flow::TableStats;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};

/// Frames per report: large enough that channel costs vanish, small enough that the sessions
/// of a few reports in flight stay small.
const BATCH: u64 = 1024;
/// Reports a shard may run ahead of the slowest one before it waits.
const IN_FLIGHT: usize = 4;
/// Mapped bytes released back to the page cache at a time, once every shard is past them.
/// Unmapping pages that two running threads share interrupts the other core to flush its TLB;
/// 4 MB steps instead of 1 MB made two threads about 4 % faster (1 GB file), and the few more
/// pages held are lost in the heap's run-to-run spread.
const RELEASE_STEP: usize = 4 << 20;

/// A finished session on its way to the output.
pub enum Done {
    /// Diagnosed, whole: a failover note may still change it, or the sink renders it itself.
    Whole(Box<Session>, Vec<Verdict>),
    /// Rendered by its shard; what the failover tracker needs of it rides along.
    Rendered(Brief, Rendered),
}

/// What one shard found in one batch of frames (`seq` u64::MAX: at end of input).
struct Report {
    shard: usize,
    seq: u64,
    /// End of the batch in the file (for giving mapped pages back).
    offset: usize,
    starts: Vec<u64>,
    sessions: Vec<(OutputKey, Done)>,
    /// Final counters and warnings, with the last report only.
    end: Option<(TableStats, Vec<CaptureWarning>)>,
}

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

/// What every shard thread shares.
struct Shared<'a> {
    name: &'a str,
    map: &'a memmap2::Mmap,
    threads: usize,
    config: &'a AnalyzerConfig,
    diagnose: &'a DiagnoseConfig,
    renderer: Option<&'a Renderer>,
    /// Set on an interrupt: every shard stops reading, then hands on what it has open.
    stop_reading: AtomicBool,
    /// Set when the output is gone: every shard stops at once.
    closed: AtomicBool,
}

/// Read one mapped capture with `job.threads` shards; `on_done` gets the sessions in output
/// order.
pub fn read(
    job: Job<'_>,
    stop_reading: &dyn Fn() -> bool,
    on_done: &mut dyn FnMut(Done) -> ControlFlow<()>,
) -> Outcome {
    let Job { name, map, threads, config, diagnose, renderer } = job;
    let shared = Shared {
        name,
        map,
        threads,
        config,
        diagnose,
        renderer,
        stop_reading: AtomicBool::new(false),
        closed: AtomicBool::new(false),
    };
    std::thread::scope(|scope| {
        let mut rxs = Vec::new();
        for shard in 1..threads {
            let (tx, rx) = mpsc::sync_channel::<Report>(IN_FLIGHT);
            rxs.push(rx);
            let shared = &shared;
            scope.spawn(move || {
                let _ = run_shard(shared, shard, &mut |r| tx.send(r).map_err(drop));
            });
        }
        let mut merger = Merger::new(&shared, rxs, on_done);
        let (result, decode_stats) = run_shard(&shared, 0, &mut |r| {
            merger.own(r, stop_reading);
            Ok(())
        });
        merger.drain_all();
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

/// One shard: reads the whole capture, analyses its own connections, reports every batch and
/// at the end its counters and warnings. Returns the read's result and the decode counters,
/// which are the same in every shard (each decodes every frame); shard 0's are kept.
fn run_shard(
    shared: &Shared<'_>,
    shard: usize,
    report: &mut dyn FnMut(Report) -> Result<(), ()>,
) -> (Result<ReadStats, CaptureError>, DecodeStats) {
    // Diagnosis (and rendering) runs here, in parallel; failover notes need the global order.
    let found: RefCell<Vec<(OutputKey, Done)>> = RefCell::new(Vec::new());
    let mut analyzer = Analyzer::new(shared.name, shared.config.clone(), |s| {
        found.borrow_mut().push((s.key, done(shared, s)));
        ControlFlow::Continue(())
    });
    analyzer.starts = Some(Vec::new());
    let mut reader = ShardReader { shared, shard, analyzer: &mut analyzer, found: &found, report, seq: 0, gone: false };
    let result = capture::read_map(shared.name, shared.map, &mut reader);
    if reader.gone || shared.closed.load(Ordering::Relaxed) {
        // The output is gone: the rest would not be shown.
        return (result, analyzer.decode_stats.clone());
    }
    analyzer.finish();
    let starts = analyzer.starts.as_mut().map(std::mem::take).unwrap_or_default();
    let sessions = std::mem::take(&mut *found.borrow_mut());
    let mut table_stats = analyzer.table_stats().clone();
    if shard != 0 {
        // Every shard counts the packets on other ports it decodes; shard 0 reports them.
        table_stats.tcp_packets -= table_stats.other_port_packets.min(table_stats.tcp_packets);
        table_stats.other_port_packets = 0;
    }
    // The analyzer's warnings are the flow table's caps (per shard) and the decoder's (alike
    // in every shard); the merger drops repeats.
    let end = Some((table_stats, analyzer.warnings.clone()));
    let _ = report(Report { shard, seq: u64::MAX, offset: shared.map.len(), starts, sessions, end });
    (result, analyzer.decode_stats.clone())
}

/// Diagnoses a finished session and, unless a failover note may still change it, renders it.
fn done(shared: &Shared<'_>, mut s: Session) -> Done {
    // The number is the rank among all shards' connections, known when merged.
    s.index = 0;
    let verdicts = diagnose::diagnose(&s, shared.diagnose);
    if failover::may_fail_over(&verdicts) {
        return Done::Whole(Box::new(s), verdicts);
    }
    match shared.renderer.and_then(|r| r.render(&s, &verdicts)) {
        Some(rendered) => Done::Rendered(Brief::of(&s), rendered),
        None => Done::Whole(Box::new(s), verdicts),
    }
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

/// The shard of a connection: whole buckets of the flow table (see `tcp::flow`), so that every
/// bucket's share of the caps, and what it evicts, is the same for any number of threads.
fn shard_of(p: &smtpdiag::decode::Packet<'_>, n: usize) -> usize {
    smtpdiag::tcp::flow::bucket_of(p) % n
}

struct ShardReader<'s, 'a, 'r, F: FnMut(Session) -> ControlFlow<()>> {
    shared: &'s Shared<'a>,
    shard: usize,
    analyzer: &'r mut Analyzer<F>,
    found: &'r RefCell<Vec<(OutputKey, Done)>>,
    report: &'r mut dyn FnMut(Report) -> Result<(), ()>,
    seq: u64,
    /// The merger is gone (it stopped): nothing more is reported.
    gone: bool,
}

impl<F: FnMut(Session) -> ControlFlow<()>> FrameSink for ShardReader<'_, '_, '_, F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        let s = self.shared;
        if self.gone || s.closed.load(Ordering::Relaxed) || s.stop_reading.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        // Every shard reassembles IP fragments itself (each sees every frame), so a datagram
        // becomes the same packet in all of them and goes to the shard of its connection.
        let reassembled;
        let packet = match self.analyzer.route(frame) {
            Route::Mail(p) => Some(p),
            Route::Reassembled(r) => {
                reassembled = r;
                reassembled.packet(frame).ok()
            }
            _ => None,
        };
        match packet {
            Some(p) if shard_of(&p, s.threads) == self.shard => {
                let _ = self.analyzer.packet(&p);
            }
            // Every packet's time moves the capture's clock, as in a single table.
            _ => self.analyzer.tick(frame.number, frame.ts),
        }
        if frame.number.is_multiple_of(BATCH) {
            let base = self.shared.map.as_ptr() as usize;
            let offset = (frame.data.as_ptr() as usize).saturating_sub(base) + frame.data.len();
            let starts = self.analyzer.starts.as_mut().map(std::mem::take).unwrap_or_default();
            let sessions = std::mem::take(&mut *self.found.borrow_mut());
            let report = Report { shard: self.shard, seq: self.seq, offset, starts, sessions, end: None };
            self.seq += 1;
            if (self.report)(report).is_err() {
                self.gone = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn warning(&mut self, warning: CaptureWarning) {
        // Reader warnings are the same in every shard: shard 0 keeps them.
        if self.shard == 0 {
            self.analyzer.warning(warning);
        }
    }
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

/// Puts the shards' sessions back in one order; runs on shard 0's thread.
struct Merger<'s, 'a, 'o> {
    shared: &'s Shared<'a>,
    /// Reports of shards 1.., each on its own bounded channel: a shard that runs ahead waits.
    rxs: Vec<Receiver<Report>>,
    on_done: &'o mut dyn FnMut(Done) -> ControlFlow<()>,
    /// Reports received and not merged yet, per shard (shard 0 first), in batch order.
    queues: Vec<VecDeque<Report>>,
    /// Shards whose channel closed (they sent their last report, or died).
    closed: Vec<bool>,
    /// First packet numbers of all connections, sorted: a session's index is its rank here.
    starts: Vec<u64>,
    /// Per shard, its final counters and warnings.
    ends: Vec<(usize, TableStats, Vec<CaptureWarning>)>,
    /// Mapped bytes before this offset were given back to the page cache.
    released: usize,
    stopped: bool,
}

impl<'s, 'a, 'o> Merger<'s, 'a, 'o> {
    fn new(
        shared: &'s Shared<'a>,
        rxs: Vec<Receiver<Report>>,
        on_done: &'o mut dyn FnMut(Done) -> ControlFlow<()>,
    ) -> Self {
        let n = shared.threads;
        Merger {
            shared,
            rxs,
            on_done,
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            closed: vec![false; n],
            starts: Vec::new(),
            ends: Vec::new(),
            released: 0,
            stopped: false,
        }
    }

    /// Shard 0's own report of a batch: merge what is complete, and wait for the other shards
    /// while shard 0 is more than `IN_FLIGHT` batches ahead of them.
    fn own(&mut self, report: Report, stop_reading: &dyn Fn() -> bool) {
        self.queues[0].push_back(report);
        loop {
            self.poll();
            while self.merge_next(false) {}
            if self.queues[0].len() <= IN_FLIGHT || self.stopped {
                break;
            }
            let lagging = (1..self.queues.len()).find(|&i| self.queues[i].is_empty() && !self.closed[i]);
            let Some(i) = lagging else { break };
            match self.rxs[i - 1].recv() {
                Ok(r) => self.queues[i].push_back(r),
                Err(_) => self.closed[i] = true,
            }
        }
        if stop_reading() {
            self.shared.stop_reading.store(true, Ordering::Relaxed);
        }
    }

    /// Takes the reports that are in, up to `IN_FLIGHT` per shard (the rest wait in its channel,
    /// and a shard whose channel is full waits too).
    fn poll(&mut self) {
        for (i, rx) in self.rxs.iter().enumerate() {
            let shard = i + 1;
            while self.queues[shard].len() < IN_FLIGHT {
                match rx.try_recv() {
                    Ok(r) => self.queues[shard].push_back(r),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        self.closed[shard] = true;
                        break;
                    }
                }
            }
        }
    }

    /// Wait for every shard to end, merging as reports come; then merge what is left, batches
    /// some shard never reported included (an interrupt stops the shards at different frames).
    fn drain_all(&mut self) {
        for i in 1..self.queues.len() {
            while let Ok(r) = self.rxs[i - 1].recv() {
                self.queues[i].push_back(r);
                while self.merge_next(false) {}
            }
            self.closed[i] = true;
        }
        while self.merge_next(true) {}
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.shared.closed.store(true, Ordering::Relaxed);
    }

    /// Merges the oldest batch once every shard reported it (or reported its end instead, or,
    /// with `all`, is gone); the end reports (`seq` u64::MAX) once all are in. False when
    /// nothing could be merged.
    fn merge_next(&mut self, all: bool) -> bool {
        let mut oldest = u64::MAX;
        for (i, q) in self.queues.iter().enumerate() {
            match q.front() {
                None if !all && !self.closed[i] => return false,
                None => {}
                Some(r) => oldest = oldest.min(r.seq),
            }
        }
        if self.queues.iter().all(VecDeque::is_empty) {
            return false;
        }
        let reports: Vec<Report> = self
            .queues
            .iter_mut()
            .filter_map(|q| if q.front().is_some_and(|r| r.seq == oldest) { q.pop_front() } else { None })
            .collect();
        self.merge(reports);
        true
    }

    fn merge(&mut self, reports: Vec<Report>) {
        let mut sessions = Vec::new();
        let mut starts = Vec::new();
        let mut offset = 0;
        for r in reports {
            starts.extend(r.starts);
            sessions.extend(r.sessions);
            self.ends.extend(r.end.map(|(t, w)| (r.shard, t, w)));
            offset = offset.max(r.offset);
        }
        // Every batch's connections open after the previous batch's: appending keeps it sorted.
        starts.sort_unstable();
        self.starts.extend(starts);
        sessions.sort_by_key(|(key, _)| *key);
        for (key, mut done) in sessions {
            if self.stopped {
                break;
            }
            let index = self.starts.partition_point(|&n| n < key.first_packet) as u64 + 1;
            match &mut done {
                Done::Whole(s, _) => s.index = index,
                Done::Rendered(brief, _) => brief.index = index,
            }
            if (self.on_done)(done).is_break() {
                self.stop();
            }
        }
        self.release(offset);
    }

    /// Give mapped pages every shard is done with back to the page cache, so the resident size
    /// stays small however large the file.
    fn release(&mut self, upto: usize) {
        let upto = upto.min(self.shared.map.len()) & !4095;
        if upto >= self.released + RELEASE_STEP {
            // SAFETY: every shard has reported the batches holding the frames before `upto`, so
            // none reads them again (reassembly copies what it keeps); the pages of this
            // read-only file map are read again from the page cache if ever touched.
            let _ = unsafe {
                self.shared.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    self.released,
                    upto - self.released,
                )
            };
            self.released = upto;
        }
    }
}
