//! The reading loop `read` and `ladder` share: captures → Analyzer → diagnose → failover, each
//! finished session handed to a sink with its verdicts.

use super::merge::{Body, Ended};
use super::output::Interrupt;
use super::renderer::{Rendered, Renderer};
use super::shard;
use smtpdiag::capture::{self, CaptureError, CaptureWarning, Frame, FrameSink};
use smtpdiag::cli::AnalysisArgs;
use smtpdiag::diagnose::failover::HeldSize;
use smtpdiag::diagnose::{self, DiagnoseConfig, FailoverTracker, Held, Verdict};
use smtpdiag::render::sanitize::sanitize;
use smtpdiag::session::{Analyzer, Brief, DecodeStats, Session};
use smtpdiag::tcp::flow::TableStats;
use std::ops::ControlFlow;
use std::path::PathBuf;

/// Receives sessions in output order (failover notes already added).
pub trait SessionSink {
    /// What a finished session becomes while it waits behind one held for a failover note
    /// (its rendered text, say): far smaller than the session.
    type Final: HeldSize;
    /// Turn a session no later one can change into what `write` takes.
    fn finalize(&mut self, s: Session, verdicts: Vec<Verdict>) -> Self::Final;
    /// Returning `Break` stops the reading (closed output, enough sessions).
    fn write(&mut self, f: Self::Final) -> ControlFlow<()>;
    fn session(&mut self, s: Session, verdicts: Vec<Verdict>) -> ControlFlow<()> {
        let f = self.finalize(s, verdicts);
        self.write(f)
    }
    /// For `read --threads`: renders, in the shard threads, the sessions no failover note can
    /// change, so rendering runs in parallel too. None: every session comes to `finalize`.
    fn renderer(&self) -> Option<Renderer> {
        None
    }
    /// A session rendered in a shard thread by `renderer`, its number now known.
    fn rendered(&mut self, r: Rendered, index: u64) -> Self::Final;
    /// Whether the sink draws packets (ladders): then sessions keep every packet event, not
    /// only those the rules read.
    fn draws_packets(&self) -> bool {
        true
    }
    /// Before each capture's sessions, when several captures are read.
    fn capture_start(&mut self, _name: &str) {}
    /// After each capture that could be read (even in part), with its counters.
    fn capture_done(&mut self, _decode: &DecodeStats, _table: &TableStats) {}
}

/// Reads every capture in turn with `threads` analysis threads; returns the exit status (2 when
/// a capture could not be read).
pub fn analyze(
    files: &[PathBuf],
    analysis: &AnalysisArgs,
    threads: usize,
    interrupt: &Interrupt,
    sink: &mut impl SessionSink,
) -> i32 {
    let mut analyzer_config = super::config::analyzer(analysis);
    analyzer_config.tcp.compact_events = !sink.draws_packets();
    let diagnose_config = super::config::diagnose(analysis);
    let mut status = 0;
    for path in files {
        let name = path.display().to_string();
        if files.len() > 1 {
            sink.capture_start(&name);
        }
        let renderer = sink.renderer();
        let mut stage = Stage::new(&diagnose_config, &mut *sink);
        // Only a mapped file can be read by several threads at once.
        let map = (threads > 1).then(|| shard::open_map(path)).flatten();
        if threads > 1 && map.is_none() {
            eprintln!(
                "smtpdiag: {}: --threads needs an uncompressed capture file, not stdin or gzip; reading it with one thread",
                sanitize(&name)
            );
        }
        let (result, decode_stats, table_stats) = if let Some(map) = &map {
            let stop = || interrupt.raised();
            let mut on_done = |e: Ended| match e.body {
                Body::Whole(s, v) => stage.diagnosed(*s, v),
                Body::Rendered(r) => stage.rendered(&e.brief, r),
            };
            let job = shard::Job {
                name: &name,
                map,
                // A shard holds whole buckets of the flow table: more would idle.
                threads: threads.min(smtpdiag::tcp::flow::BUCKETS),
                config: &analyzer_config,
                diagnose: &diagnose_config,
                renderer: renderer.as_ref(),
            };
            let o = shard::read(job, &stop, &mut on_done);
            report_warnings(&name, &o.warnings);
            (o.result.map(|_| ()), o.decode_stats, o.table_stats)
        } else {
            let mut analyzer = Analyzer::new(&name, analyzer_config.clone(), |s| stage.session(s));
            let mut frames = Interruptible { inner: &mut analyzer, interrupt };
            let result = capture::read_path_until(path, &mut frames, &|| interrupt.raised());
            // Whatever went wrong, the sessions read so far are still reported.
            analyzer.finish();
            report_warnings(&name, &analyzer.warnings);
            (result.map(|_| ()), analyzer.decode_stats.clone(), analyzer.table_stats().clone())
        };
        stage.finish();
        let stopped = stage.stopped;
        if result.is_ok() || decode_stats.frames > 0 {
            sink.capture_done(&decode_stats, &table_stats);
        }
        if let Err(e) = result {
            eprintln!("smtpdiag: {}", describe(&e));
            status = 2;
        }
        if stopped || interrupt.raised() {
            break;
        }
    }
    status
}

fn describe(e: &CaptureError) -> String {
    sanitize(&e.to_string()).into_owned()
}

/// Warnings name the file and may quote it: shown through the sanitizer.
pub fn report_warnings(name: &str, warnings: &[CaptureWarning]) {
    for w in warnings {
        eprintln!("smtpdiag: warning: {}: {}", sanitize(name), sanitize(&w.to_string()));
    }
}

/// Diagnosis and failover between the analyzer and the sink.
pub struct Stage<'a, K: SessionSink> {
    diagnose: &'a DiagnoseConfig,
    failover: FailoverTracker<K::Final>,
    sink: &'a mut K,
    stopped: bool,
}

impl<'a, K: SessionSink> Stage<'a, K> {
    pub fn new(diagnose: &'a DiagnoseConfig, sink: &'a mut K) -> Self {
        Stage { diagnose, failover: FailoverTracker::new(diagnose.failover_window_s), sink, stopped: false }
    }

    pub fn session(&mut self, s: Session) -> ControlFlow<()> {
        let verdicts = diagnose::diagnose(&s, self.diagnose);
        self.diagnosed(s, verdicts)
    }

    /// A session diagnosed already (by a worker thread).
    pub fn diagnosed(&mut self, s: Session, verdicts: Vec<Verdict>) -> ControlFlow<()> {
        let sink = &mut *self.sink;
        let ready = self.failover.push(s, verdicts, |s, v| sink.finalize(s, v));
        self.hand_on(ready)
    }

    /// A session a shard thread rendered.
    pub fn rendered(&mut self, brief: &Brief, r: Rendered) -> ControlFlow<()> {
        let output = self.sink.rendered(r, brief.index);
        let ready = self.failover.push_final(brief, output);
        self.hand_on(ready)
    }

    pub fn finish(&mut self) {
        let ready = self.failover.finish();
        let _ = self.hand_on(ready);
    }

    /// The clock moved without a new session (live capture's timer): held sessions whose
    /// failover window passed are handed on.
    pub fn tick(&mut self, now_s: f64) {
        let ready = self.failover.tick(now_s);
        let _ = self.hand_on(ready);
    }

    fn hand_on(&mut self, ready: Vec<Held<K::Final>>) -> ControlFlow<()> {
        for held in ready {
            if self.stopped {
                break;
            }
            let flow = match held {
                Held::Open(s, verdicts) => self.sink.session(*s, verdicts),
                Held::Final(f) => self.sink.write(f),
            };
            self.stopped = flow.is_break();
        }
        if self.stopped { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
}

/// Stops the reading between two packets once SIGINT/SIGTERM arrived.
struct Interruptible<'a, S: FrameSink> {
    inner: &'a mut S,
    interrupt: &'a Interrupt,
}

impl<S: FrameSink> FrameSink for Interruptible<'_, S> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        if self.interrupt.raised() {
            return ControlFlow::Break(());
        }
        self.inner.frame(frame)
    }
    fn warning(&mut self, warning: CaptureWarning) {
        self.inner.warning(warning);
    }
}
