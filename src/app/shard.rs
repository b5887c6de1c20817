//! `read --threads N`: connections sharded over N threads by a hash of their normalised address
//! pair, each thread with its own flow table and analyzer.
//!
//! Every thread reads the whole memory-mapped capture itself: it analyses the packets of its
//! shard and uses the others only as clock ticks, so connections expire exactly when they would
//! in one table. Of another shard's frame it reads only the header bytes that give its bucket
//! (`peek`); frames too odd for that (fragments, VLAN tags, IPv6...) every shard decodes. No thread hands frames to another: a dispatcher
//! thread cost as much as the analysis it saved (it waited on memory for every record header,
//! then the workers decoded each frame again). Each thread diagnoses its sessions and, when
//! the sink gives a [`Renderer`], renders those no failover note can change, so mostly text
//! crosses threads. Each thread sends the sessions that end, in its own output order, a chunk
//! at a time, and every `BATCH` frames how far it read and which connections it opened (first
//! packet numbers). The calling thread is the merger (`merge`): it merges the shards' streams
//! by `OutputKey`, numbers the sessions in order of first packet across shards and hands them
//! on, so the output is the same as with one thread, and what waits between the shards and the
//! output is a few chunks however many connections end at once.
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
use std::ops::ControlFlow;
use std::path::Path;
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
    on_done: &mut dyn FnMut(Ended) -> ControlFlow<()>,
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
        let (mut rxs, mut shards) = (Vec::new(), Vec::new());
        for shard in 0..threads {
            let (tx, rx) = mpsc::sync_channel::<Report>(IN_FLIGHT);
            rxs.push(rx);
            let shared = &shared;
            shards.push(scope.spawn(move || run_shard(shared, shard, &mut |r| tx.send(r).map_err(drop))));
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
        // Shard 0's read result and decode counters are kept (every shard decodes every frame).
        let mut results = shards.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        let (result, decode_stats) = results.next().expect("one shard at least");
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

/// One shard: reads the whole capture, analyses its own connections, reports every batch and
/// at the end its counters and warnings. Returns the read's result and the decode counters,
/// which are the same in every shard (each decodes every frame); shard 0's are kept.
fn run_shard(
    shared: &Shared<'_>,
    shard: usize,
    report: &mut dyn FnMut(Report) -> Result<(), ()>,
) -> (Result<ReadStats, CaptureError>, DecodeStats) {
    let outbox = RefCell::new(Outbox { shard, sessions: Vec::new(), read_to: 0, offset: 0, report, gone: false });
    // Diagnosis (and rendering) runs here, in parallel; failover notes need the global order.
    // Sessions of one capture render to texts of similar length: each is sized like the last.
    let mut size_hint = 0;
    let mut analyzer = Analyzer::new(shared.name, shared.config.clone(), |s| {
        let ended = ended(shared, s, &mut size_hint);
        outbox.borrow_mut().push(ended, &shared.closed)
    });
    analyzer.starts = Some(Vec::new());
    let mut reader = ShardReader {
        shared,
        shard,
        analyzer: &mut analyzer,
        outbox: &outbox,
        read_to: 0,
        populated: 0,
        peek: Peek::new(&shared.config.tcp.ports),
        mine: buckets_of(shard, shared.threads),
    };
    let result = capture::read_map(shared.name, shared.map, &mut reader);
    let (read_to, offset) = (reader.read_to, shared.map.len());
    if outbox.borrow().gone || shared.closed.load(Ordering::Relaxed) {
        // The output is gone: the rest would not be shown.
        return (result, analyzer.decode_stats.clone());
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
    (result, analyzer.decode_stats.clone())
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

struct ShardReader<'s, 'a, 'r, 'o, F: FnMut(Session) -> ControlFlow<()>> {
    shared: &'s Shared<'a>,
    shard: usize,
    analyzer: &'r mut Analyzer<F>,
    outbox: &'r RefCell<Outbox<'o>>,
    /// The last frame handled.
    read_to: u64,
    /// The map is populated up to here (see `capture::populate_ahead`).
    populated: usize,
    peek: Peek,
    /// The buckets this shard holds, a bit each (see `buckets_of`).
    mine: u64,
}

impl<F: FnMut(Session) -> ControlFlow<()>> FrameSink for ShardReader<'_, '_, '_, '_, F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        // A shard holds whole buckets of the flow table (see `tcp::flow`), so that every
        // bucket's share of the caps, and what it evicts, is the same for any number of threads.
        // Most frames are plain and another shard's: their bucket, read from the header bytes,
        // is all this shard needs of them.
        let bucket = self.peek.mail_bucket(frame);
        if bucket.is_some_and(|b| self.mine & 1 << b == 0) {
            self.analyzer.foreign(frame);
        } else {
            self.decoded(frame, bucket);
        }
        self.read_to = frame.number;
        let s = self.shared;
        let base = s.map.as_ptr() as usize;
        let offset = (frame.data.as_ptr() as usize).saturating_sub(base) + frame.data.len();
        // Pages mapped ahead in one call per step, not faulted in one by one (whichever shard
        // leads maps them for all).
        capture::populate_ahead(s.map, offset, &mut self.populated);
        if frame.number.is_multiple_of(BATCH) {
            let starts = self.analyzer.starts.as_mut().map(std::mem::take).unwrap_or_default();
            let mut outbox = self.outbox.borrow_mut();
            outbox.send(frame.number, offset, starts, None);
            // Asked once a batch, not every frame: a closed output or an interrupt stops the
            // shards a thousand frames later at most.
            if outbox.gone || s.closed.load(Ordering::Relaxed) || s.stop_reading.load(Ordering::Relaxed) {
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

impl<F: FnMut(Session) -> ControlFlow<()>> ShardReader<'_, '_, '_, '_, F> {
    /// A frame decoded whole: this shard's packet, or a tick. `bucket`: its connection's, when
    /// the header bytes said already.
    fn decoded(&mut self, frame: &Frame<'_>, bucket: Option<usize>) {
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
            Some(p) if self.mine & 1 << bucket.unwrap_or_else(|| bucket_of(&p)) != 0 => {
                let _ = self.analyzer.packet(&p);
            }
            // Every packet's time moves the capture's clock, as in a single table.
            _ => self.analyzer.tick(frame.number, frame.ts),
        }
    }
}

/// The buckets shard `shard` of `threads` holds, a bit each: bucket mod `threads`.
fn buckets_of(shard: usize, threads: usize) -> u64 {
    const { assert!(BUCKETS <= 64) };
    (0..BUCKETS).filter(|b| b % threads == shard).fold(0, |mine, b| mine | 1 << b)
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
