//! `read --threads N`: connections sharded over N worker threads by a hash of their normalised
//! address pair, each worker with its own flow table and analyzer.
//!
//! The calling thread reads the capture, decodes each frame once to route it, and broadcasts
//! batches of frame references to every worker: a worker analyses the packets of its shard and
//! uses the others only as clock ticks, so connections expire exactly when they would in one
//! table. Frames of a memory-mapped file are passed as offsets into the shared map (no copy);
//! frames of a stream (stdin, gzip) are copied into the batch. Each worker reports, per batch,
//! the connections it opened (first packet numbers) and the sessions that ended, diagnosed.
//! The calling thread waits for every worker's report of a batch, numbers the sessions in order
//! of first packet across shards, sorts them by `OutputKey` and prints them: the output is the
//! same as with one thread.

use smtpdiag::capture::{self, CaptureError, CaptureWarning, Frame, FrameSink, LinkType, ReadStats, Timestamp};
use smtpdiag::diagnose::{self, DiagnoseConfig, Verdict};
use smtpdiag::session::{Analyzer, AnalyzerConfig, DecodeStats, Route, Session};
use smtpdiag::tcp::flow::TableStats;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};

/// Frames per batch: large enough that channel and wake-up costs vanish, small enough that a
/// few batches in flight stay a few megabytes.
const BATCH: usize = 1024;
/// Batches a worker may have queued before the reader waits.
const IN_FLIGHT: usize = 16;
/// Mapped bytes released back to the page cache at a time, once every worker is past them.
const RELEASE_STEP: usize = 8 << 20;

#[derive(Clone, Copy)]
enum Loc {
    /// Offset and length in the memory-mapped file.
    Map(usize, usize),
    /// Offset and length in the batch's own buffer.
    Buf(usize, usize),
}

struct Item {
    number: u64,
    ts: Timestamp,
    link_type: LinkType,
    orig_len: u32,
    shard: usize,
    loc: Loc,
}

struct Batch {
    seq: u64,
    items: Vec<Item>,
    buf: Vec<u8>,
}

/// What a worker found in one batch (`seq` u64::MAX: at end of input).
struct Report {
    seq: u64,
    starts: Vec<u64>,
    sessions: Vec<(Session, Vec<Verdict>)>,
    /// Final counters, with the last report only.
    end: Option<(TableStats, Vec<CaptureWarning>)>,
}

/// What the read of one file produced, besides the sessions handed to `on_session`.
pub struct Outcome {
    pub result: Result<ReadStats, CaptureError>,
    pub decode_stats: DecodeStats,
    pub table_stats: TableStats,
    pub warnings: Vec<CaptureWarning>,
}

/// Read one capture with `threads` workers; `on_session` gets the sessions in output order.
pub fn read(
    path: &Path,
    threads: usize,
    config: &AnalyzerConfig,
    diagnose_config: &DiagnoseConfig,
    stop_reading: &dyn Fn() -> bool,
    on_session: &mut dyn FnMut(Session, Vec<Verdict>) -> ControlFlow<()>,
) -> Outcome {
    let name = path.display().to_string();
    let map = open_map(path);
    let base: &[u8] = map.as_deref().unwrap_or(&[]);
    let hasher = foldhash::fast::RandomState::default();
    std::thread::scope(|scope| {
        let (report_tx, report_rx) = mpsc::channel::<Report>();
        let mut senders = Vec::new();
        for shard in 0..threads {
            let (tx, rx) = mpsc::sync_channel::<Arc<Batch>>(IN_FLIGHT);
            senders.push(tx);
            let report_tx = report_tx.clone();
            let (name, config) = (name.as_str(), config.clone());
            scope.spawn(move || worker(shard, name, config, diagnose_config, base, rx, report_tx));
        }
        drop(report_tx);
        let mut d = Dispatcher {
            router: Analyzer::new(&name, config.clone(), |_| ControlFlow::Continue(())),
            hasher,
            threads,
            base,
            map: map.as_ref(),
            released: 0,
            batch: new_batch(0),
            map_end: Vec::new(),
            senders,
            merger: Merger::new(threads, report_rx, on_session),
            stop_reading,
        };
        let result = match &map {
            Some(m) => capture::read_bytes(&name, m, &mut d),
            None => capture::read_path(path, &mut d),
        };
        d.send();
        let Dispatcher { router, senders, mut merger, .. } = d;
        drop(senders);
        merger.drain_all();
        let mut table_stats = router.table_stats().clone();
        let mut warnings = router.warnings.clone();
        for (t, w) in merger.ends.drain(..) {
            add_table_stats(&mut table_stats, &t);
            warnings.extend(w);
        }
        Outcome { result, decode_stats: router.decode_stats.clone(), table_stats, warnings }
    })
}

/// A regular, non-empty file is mapped (as `capture::read_path` does); anything else streams.
fn open_map(path: &Path) -> Option<memmap2::Mmap> {
    if path.as_os_str() == "-" {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    capture::map_regular(&file, &file.metadata().ok()?)
}

fn add_table_stats(total: &mut TableStats, t: &TableStats) {
    total.tcp_packets += t.tcp_packets;
    total.other_port_packets += t.other_port_packets;
    total.flows += t.flows;
    total.flows_evicted += t.flows_evicted;
    total.max_open_flows = total.max_open_flows.max(t.max_open_flows);
    total.global_cap_flushes += t.global_cap_flushes;
    total.late_packets += t.late_packets;
}

fn new_batch(seq: u64) -> Batch {
    Batch { seq, items: Vec::with_capacity(BATCH), buf: Vec::new() }
}

/// The shard of a connection: both directions hash alike.
fn shard_of(hasher: &foldhash::fast::RandomState, a: (IpAddr, u16), b: (IpAddr, u16), n: usize) -> usize {
    let key = if a <= b { (a, b) } else { (b, a) };
    let mut h = hasher.build_hasher();
    key.hash(&mut h);
    (std::hash::Hasher::finish(&h) % n as u64) as usize
}

struct Dispatcher<'m, 'o, F: FnMut(Session) -> ControlFlow<()>> {
    router: Analyzer<F>,
    hasher: foldhash::fast::RandomState,
    threads: usize,
    base: &'m [u8],
    map: Option<&'m memmap2::Mmap>,
    /// Mapped bytes before this offset were given back to the page cache.
    released: usize,
    batch: Batch,
    /// Per batch sent and not yet reported by every worker: the end of its mapped frames.
    map_end: Vec<(u64, usize)>,
    senders: Vec<SyncSender<Arc<Batch>>>,
    merger: Merger<'o>,
    stop_reading: &'o dyn Fn() -> bool,
}

impl<F: FnMut(Session) -> ControlFlow<()>> Dispatcher<'_, '_, F> {
    fn send(&mut self) {
        if self.batch.items.is_empty() {
            return;
        }
        let seq = self.batch.seq;
        let batch = Arc::new(std::mem::replace(&mut self.batch, new_batch(seq + 1)));
        let end = batch.items.iter().rev().find_map(|i| if let Loc::Map(o, l) = i.loc { Some(o + l) } else { None });
        self.map_end.push((seq, end.unwrap_or(0)));
        for tx in &self.senders {
            // A worker gone means it panicked; the scope reports that when it ends.
            let _ = tx.send(batch.clone());
        }
        self.merger.drain_ready(false);
        self.release();
    }

    /// Give mapped pages every worker is done with back to the page cache, so the resident
    /// size stays small however large the file.
    fn release(&mut self) {
        let done = self.merger.next_seq;
        let upto = self.map_end.iter().take_while(|(seq, _)| *seq < done).map(|(_, end)| *end).max().unwrap_or(0);
        self.map_end.retain(|(seq, _)| *seq >= done);
        let Some(map) = self.map else { return };
        let upto = upto & !4095;
        if upto >= self.released + RELEASE_STEP {
            // SAFETY: no frame before `upto` is referenced any more (every worker reported the
            // batches holding them, and reassembly copies what it keeps); the pages of this
            // read-only file map are read again from the page cache if ever touched.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, self.released, upto - self.released)
            };
            self.released = upto;
        }
    }
}

impl<F: FnMut(Session) -> ControlFlow<()>> FrameSink for Dispatcher<'_, '_, F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        if (self.stop_reading)() || self.merger.stopped {
            return ControlFlow::Break(());
        }
        let Route::Mail(p) = self.router.route(frame) else { return ControlFlow::Continue(()) };
        let shard = shard_of(&self.hasher, (p.src, p.src_port), (p.dst, p.dst_port), self.threads);
        let (ptr, len) = (frame.data.as_ptr() as usize, frame.data.len());
        let base = self.base.as_ptr() as usize;
        let loc = if ptr >= base && ptr + len <= base + self.base.len() {
            Loc::Map(ptr - base, len)
        } else {
            let at = self.batch.buf.len();
            self.batch.buf.extend_from_slice(frame.data);
            Loc::Buf(at, len)
        };
        let (number, ts, link_type, orig_len) = (frame.number, frame.ts, frame.link_type, frame.orig_len);
        self.batch.items.push(Item { number, ts, link_type, orig_len, shard, loc });
        if self.batch.items.len() >= BATCH {
            self.send();
        }
        ControlFlow::Continue(())
    }

    fn warning(&mut self, warning: CaptureWarning) {
        self.router.warning(warning);
    }
}

fn worker(
    shard: usize,
    name: &str,
    config: AnalyzerConfig,
    diagnose_config: &DiagnoseConfig,
    base: &[u8],
    rx: Receiver<Arc<Batch>>,
    tx: mpsc::Sender<Report>,
) {
    // Diagnosis runs here, in parallel; failover notes and rendering need the global order.
    let found: RefCell<Vec<(Session, Vec<Verdict>)>> = RefCell::new(Vec::new());
    let mut analyzer = Analyzer::new(name, config, |s| {
        let verdicts = diagnose::diagnose(&s, diagnose_config);
        found.borrow_mut().push((s, verdicts));
        ControlFlow::Continue(())
    });
    analyzer.starts = Some(Vec::new());
    for batch in rx {
        for item in &batch.items {
            if item.shard != shard {
                analyzer.tick(item.number, item.ts);
                continue;
            }
            let data = match item.loc {
                Loc::Map(o, l) => &base[o..o + l],
                Loc::Buf(o, l) => &batch.buf[o..o + l],
            };
            let frame =
                Frame { number: item.number, ts: item.ts, link_type: item.link_type, data, orig_len: item.orig_len };
            // The router decoded this frame already: it is a mail-port TCP packet.
            if let Route::Mail(p) = analyzer.route(&frame) {
                let _ = analyzer.packet(&p);
            }
        }
        let starts = analyzer.starts.as_mut().map(std::mem::take).unwrap_or_default();
        let sessions = std::mem::take(&mut *found.borrow_mut());
        if tx.send(Report { seq: batch.seq, starts, sessions, end: None }).is_err() {
            return;
        }
    }
    analyzer.finish();
    let end = Some((analyzer.table_stats().clone(), Vec::new()));
    let sessions = std::mem::take(&mut *found.borrow_mut());
    let _ = tx.send(Report { seq: u64::MAX, starts: Vec::new(), sessions, end });
}

/// Puts the workers' sessions back in one order.
struct Merger<'o> {
    threads: usize,
    rx: Receiver<Report>,
    on_session: &'o mut dyn FnMut(Session, Vec<Verdict>) -> ControlFlow<()>,
    /// Reports per batch until every worker's is in.
    pending: BTreeMap<u64, Vec<Report>>,
    /// Next batch to merge.
    next_seq: u64,
    /// First packet numbers of all connections, sorted: a session's index is its rank here.
    starts: Vec<u64>,
    ends: Vec<(TableStats, Vec<CaptureWarning>)>,
    stopped: bool,
}

impl<'o> Merger<'o> {
    fn new(
        threads: usize,
        rx: Receiver<Report>,
        on_session: &'o mut dyn FnMut(Session, Vec<Verdict>) -> ControlFlow<()>,
    ) -> Self {
        Merger {
            threads,
            rx,
            on_session,
            pending: BTreeMap::new(),
            next_seq: 0,
            starts: Vec::new(),
            ends: Vec::new(),
            stopped: false,
        }
    }

    /// Merge every batch all workers have reported; with `block`, wait for the workers to end.
    fn drain_ready(&mut self, block: bool) {
        loop {
            let report = if block {
                match self.rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            } else {
                match self.rx.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            self.pending.entry(report.seq).or_default().push(report);
            self.merge_complete();
        }
        if block {
            self.merge_complete();
        }
    }

    fn drain_all(&mut self) {
        self.drain_ready(true);
    }

    fn merge_complete(&mut self) {
        while let Some(mut entry) = self.pending.first_entry() {
            if entry.get().len() < self.threads {
                return;
            }
            // Batches are numbered without holes; the end reports (u64::MAX) come last.
            if *entry.key() != self.next_seq && *entry.key() != u64::MAX {
                return;
            }
            let reports = std::mem::take(entry.get_mut());
            entry.remove();
            self.next_seq += 1;
            self.merge(reports);
        }
    }

    fn merge(&mut self, reports: Vec<Report>) {
        let mut sessions = Vec::new();
        let mut starts = Vec::new();
        for r in reports {
            starts.extend(r.starts);
            sessions.extend(r.sessions);
            self.ends.extend(r.end);
        }
        // Every batch's connections open after the previous batch's: appending keeps it sorted.
        starts.sort_unstable();
        self.starts.extend(starts);
        sessions.sort_by_key(|(s, _): &(Session, Vec<Verdict>)| s.key);
        for (mut s, verdicts) in sessions {
            s.index = self.starts.partition_point(|&n| n < s.key.first_packet) as u64 + 1;
            if self.stopped {
                continue;
            }
            if (self.on_session)(s, verdicts).is_break() {
                self.stopped = true;
            }
        }
    }
}
