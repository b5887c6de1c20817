//! The whole pipeline on a raw capture: read → decode → TCP → SMTP → diagnosis → JSON and text,
//! under small caps, with the flow table and every per-session list checked against them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpdiag::capture;
use smtpdiag::diagnose::{self, DiagnoseConfig, FailoverTracker, Held};
use smtpdiag::render::{json, sanitize, text};
use smtpdiag::session::{Analyzer, AnalyzerConfig, Session};
use smtpdiag::smtp::SmtpConfig;
use smtpdiag::tcp::flow::TcpConfig;
use smtpdiag::tcp::reassembly::ReassemblyLimits;
use std::ops::ControlFlow;

const MAX_FLOWS: usize = 8;
const MAX_EVENTS: usize = 64;

fn config() -> AnalyzerConfig {
    AnalyzerConfig {
        tcp: TcpConfig {
            limits: ReassemblyLimits { max_buffered_bytes: 4096, max_buffered_segments: 16 },
            max_buffered_total: 16 * 1024,
            max_flows: MAX_FLOWS,
            max_events: MAX_EVENTS,
            idle_timeout_s: 60.0,
            ..TcpConfig::default()
        },
        smtp: SmtpConfig {
            max_line_len: 256,
            max_events: 100,
            max_pending: 16,
            max_undecided_bytes: 4096,
            max_items: 32,
            ..SmtpConfig::default()
        },
    }
}

/// The session's JSON line and text, both checked: one line, and nothing that drives a terminal.
fn render(s: Session, verdicts: Vec<diagnose::Verdict>) -> String {
    let line = json::session_line(&s, &verdicts, json::JsonDetail { events: true, explain: true });
    assert!(!line.contains('\n'));
    let text = text::session(&s, &verdicts, text::TextStyle::default());
    assert!(sanitize::is_clean(&text), "{text:?}");
    line
}

fn show(ready: Vec<Held<String>>) {
    for held in ready {
        if let Held::Open(s, verdicts) = held {
            render(*s, verdicts);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let diagnose_config = DiagnoseConfig::default();
    let mut failover = FailoverTracker::new(diagnose_config.failover_window_s);
    let mut analyzer = Analyzer::new("fuzz", config(), |s: Session| {
        assert!(s.conn.events.len() <= MAX_EVENTS);
        assert!(s.smtp.events.len() <= 100 && s.smtp.commands.len() <= 32);
        let verdicts = diagnose::diagnose(&s, &diagnose_config);
        show(failover.push(s, verdicts, render));
        ControlFlow::Continue(())
    });
    let _ = capture::read_bytes("fuzz", data, &mut analyzer);
    assert!(analyzer.open_flows() <= MAX_FLOWS);
    analyzer.finish();
    assert_eq!(analyzer.open_flows(), 0);
    drop(analyzer);
    show(failover.finish());
});
