//! Counts heap allocations per packet while analysing a capture, to show that the common path
//! (a packet of a known connection, in order, carrying body bytes) allocates nothing.
//!
//! `cargo run --release --example alloc-count -- target/bench/100m.pcap`
//!
//! Sessions are diagnosed but not rendered, so what is counted is the analysis: decode, flow
//! table, reassembly, SMTP. Allocations made when a connection opens or ends (its state, its
//! record, its diagnosis) are spread over its packets in the average; the second figure counts
//! only the packets after which nothing opened or ended.

use smtpdiag::capture::{self, CaptureWarning, Frame, FrameSink};
use smtpdiag::diagnose::{self, DiagnoseConfig};
use smtpdiag::session::{Analyzer, AnalyzerConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Counter<S> {
    inner: S,
    packets: u64,
    /// Packets whose handling allocated, and the allocations they made.
    allocating: u64,
    allocs: u64,
    /// Full-size frames (over 1000 bytes: message bodies, TLS records), and those that allocated.
    bulk: u64,
    bulk_allocating: u64,
}

impl<S: FrameSink> FrameSink for Counter<S> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        let before = ALLOCS.load(Ordering::Relaxed);
        let flow = self.inner.frame(frame);
        let n = ALLOCS.load(Ordering::Relaxed) - before;
        self.packets += 1;
        self.allocs += n;
        self.allocating += u64::from(n > 0);
        if frame.data.len() > 1000 {
            self.bulk += 1;
            self.bulk_allocating += u64::from(n > 0);
        }
        flow
    }
    fn warning(&mut self, w: CaptureWarning) {
        self.inner.warning(w);
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: alloc-count FILE");
    let config = DiagnoseConfig::default();
    let mut sessions = 0u64;
    let mut boundary_allocs = 0u64;
    let mut analyzer_config = AnalyzerConfig::default();
    // As `read` runs without ladders: only the packet events the rules need.
    analyzer_config.tcp.compact_events = true;
    let analyzer = Analyzer::new(&path, analyzer_config, |s| {
        let before = ALLOCS.load(Ordering::Relaxed);
        let _ = diagnose::diagnose(&s, &config);
        drop(s);
        boundary_allocs += ALLOCS.load(Ordering::Relaxed) - before;
        sessions += 1;
        ControlFlow::Continue(())
    });
    let mut counter = Counter { inner: analyzer, packets: 0, allocating: 0, allocs: 0, bulk: 0, bulk_allocating: 0 };
    capture::read_path(std::path::Path::new(&path), &mut counter).expect("read");
    let Counter { inner, packets: p, allocating, allocs: a, bulk, bulk_allocating } = counter;
    let opened = inner.table_stats().flows;
    drop(inner);
    println!("packets                         {p}");
    println!("connections                     {opened} ({sessions} ended before the capture did)");
    println!("allocations while reading       {a}  ({:.3} per packet)", a as f64 / p as f64);
    println!("  of which diagnosing sessions  {boundary_allocs}");
    println!(
        "packets that allocated at all   {} ({:.2}%)  — opens, ends, SMTP commands and replies, event-list doubling",
        allocating,
        100.0 * allocating as f64 / p as f64
    );
    println!("packets with no allocation      {} ({:.2}%)", p - allocating, 100.0 * (p - allocating) as f64 / p as f64);
    println!(
        "full-size packets (> 1000 B)    {bulk}, of which allocated {bulk_allocating} ({:.3}%)",
        100.0 * bulk_allocating as f64 / bulk.max(1) as f64
    );
}
