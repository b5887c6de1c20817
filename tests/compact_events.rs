//! `read` without ladders keeps only the packet events the rules need (`tcp::events`): the
//! verdicts must be exactly those of the full event lists, on every lab capture, on a generated
//! capture with thousands of interleaved sessions, and on the public corpus when it is present.

mod common;

use common::*;
use smtpdiag::capture;
use smtpdiag::diagnose::{self, DiagnoseConfig};
use smtpdiag::session::{Analyzer, AnalyzerConfig};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Session index, verdict code, summary and packets.
type Found = (u64, String, String, Vec<u64>);

/// The verdicts of every session, and the packet events kept.
fn verdicts(path: &Path, compact: bool) -> (Vec<Found>, usize) {
    let mut config = AnalyzerConfig::default();
    config.tcp.compact_events = compact;
    let diagnose_config = DiagnoseConfig::default();
    let mut out = Vec::new();
    let mut events = 0;
    let mut analyzer = Analyzer::new("x", config, |s| {
        events += s.conn.events.len();
        for v in diagnose::diagnose(&s, &diagnose_config) {
            out.push((s.index, v.code.to_string(), v.summary().into_owned(), v.packets));
        }
        ControlFlow::Continue(())
    });
    let _ = capture::read_path(path, &mut analyzer);
    analyzer.finish();
    drop(analyzer);
    out.sort();
    (out, events)
}

fn same_verdicts(path: &Path) -> (usize, usize) {
    let (full, all) = verdicts(path, false);
    let (compact, kept) = verdicts(path, true);
    assert_eq!(full, compact, "{}: compact event lists changed a verdict", path.display());
    (all, kept)
}

fn pcaps_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            pcaps_under(&path, found);
        } else if path.extension().is_some_and(|e| e == "pcap" || e == "pcapng" || e == "trace") {
            found.push(path);
        }
    }
}

#[test]
fn lab_captures_get_the_same_verdicts() {
    let mut files = Vec::new();
    pcaps_under(&captures_dir(), &mut files);
    assert!(files.len() > 20);
    for f in files {
        same_verdicts(&f);
    }
}

#[test]
fn public_corpus_gets_the_same_verdicts_when_present() {
    let Some(corpus) = corpus("public_corpus_gets_the_same_verdicts_when_present") else { return };
    let mut files = Vec::new();
    pcaps_under(&corpus, &mut files);
    assert!(!files.is_empty(), "no capture under {}", corpus.display());
    for f in files {
        same_verdicts(&f);
    }
}

#[test]
fn a_generated_capture_gets_the_same_verdicts_from_far_fewer_events() {
    let Some((_dir, file)) = generated_capture("8M", 11) else {
        eprintln!("gen-capture example not built; skipped");
        return;
    };
    let (all, kept) = same_verdicts(&file);
    assert!(kept * 3 < all, "compact mode kept {kept} of {all} events");
}
