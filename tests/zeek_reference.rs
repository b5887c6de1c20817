//! Zeek's `conn_state` and `history` as the binary reports them (`read --json`, `tcp.conn_state`,
//! `tcp.history`), against Zeek's own conn.log baselines in the shared corpus.
//!
//! For every connection of the corpus's facts.jsonl whose Zeek baseline has exactly one conn.log
//! row in the same orientation as the manifest, smtpdiag reads the capture with the server's port
//! as its mail port, and the session of that client and server must carry Zeek's values. Going
//! through the binary checks the whole path (decoding, reassembly gaps, `ZeekConn`), not a second
//! decoder kept in the test. The corpus is not part of the repository (../shared/corpus beside
//! the project): without it the test prints "skipped" and checks nothing.

mod common;

use serde_json::Value;
use std::path::Path;

/// Baselines smtpdiag does not reproduce, and why.
const KNOWN: &[(&str, &str)] = &[
    (
        "zeek/smtp__mime-header-size-limit.pcap",
        "history letter 'X' is not one of the TCP analyzer's letters (baseline from a script \
         outside TCP state)",
    ),
    (
        "zeek/tcp__syn-bad.pcap",
        "Zeek ran without -C and logs the bad-checksum SYN as 'C'; smtpdiag verifies no \
         checksums (captures taken on a sending host carry unfilled offloaded ones), as zeek -C",
    ),
];

/// What the manifest says Zeek logged for one connection.
struct Case {
    capture: String,
    client: String,
    server: String,
    conn_state: Option<String>,
    history: Option<String>,
}

#[test]
fn zeek_conn_log_reference() {
    let Some(root) = common::corpus("zeek_conn_log_reference") else { return };
    let text = std::fs::read_to_string(root.join("facts.jsonl")).unwrap();
    let (mut checked, mut matched, mut unexpected) = (0, 0, Vec::new());
    for case in text.lines().filter_map(case_of) {
        let got = conn_of(&root, &case);
        checked += 1;
        let state = got.as_ref().map(|(s, _)| s.as_str());
        let history = got.as_ref().map(|(_, h)| h.as_str());
        let state_ok = got.is_some() && case.conn_state.as_deref().is_none_or(|s| Some(s) == state);
        let hist_ok = got.is_some() && case.history.as_deref().is_none_or(|h| Some(h) == history);
        if state_ok && hist_ok {
            matched += 1;
            continue;
        }
        let known = KNOWN.iter().find(|(c, _)| *c == case.capture);
        println!(
            "MISMATCH {} {} -> {}: zeek {:?} {:?}, ours {state:?} {history:?}{}",
            case.capture,
            case.client,
            case.server,
            case.conn_state,
            case.history,
            known.map(|(_, why)| format!(" (known: {why})")).unwrap_or_default()
        );
        if known.is_none() {
            unexpected.push(case.capture.clone());
        }
    }
    println!("zeek reference: {matched}/{checked} connections match");
    assert!(checked >= 10, "only {checked} Zeek conn.log rows found in facts.jsonl");
    assert!(unexpected.is_empty(), "unexpected mismatches: {unexpected:?}");
}

/// A manifest line with exactly one same-orientation Zeek conn.log row carrying `conn_state` or
/// `history`.
fn case_of(line: &str) -> Option<Case> {
    let v: Value = serde_json::from_str(line).ok()?;
    let zeek = v.get("zeek")?;
    if zeek.get("orientation")?.as_str()? != "same" {
        return None;
    }
    let rows = zeek.get("conn_log")?.as_array()?;
    let [row] = rows.as_slice() else { return None };
    let field = |k: &str| row.get(k).and_then(Value::as_str).map(str::to_owned);
    let (conn_state, history) = (field("conn_state"), field("history"));
    if conn_state.is_none() && history.is_none() {
        return None;
    }
    let text = |k: &str| v.get(k)?.as_str().map(str::to_owned);
    Some(Case { capture: text("capture")?, client: text("client")?, server: text("server")?, conn_state, history })
}

/// (conn_state, history) of the session between the case's client and server, as
/// `smtpdiag read --json --port SERVER_PORT` reports it; None when there is no such session.
fn conn_of(root: &Path, case: &Case) -> Option<(String, String)> {
    let port = case.server.rsplit(':').next()?;
    let capture = root.join(&case.capture);
    let out = common::run(&["read", "--json", "--port", port, capture.to_str()?]);
    assert!(out.status.success(), "{}: {}", case.capture, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).ok()?.lines().find_map(|line| {
        let s: Value = serde_json::from_str(line).unwrap();
        let ours = (endpoint(&s["client"]), endpoint(&s["server"]));
        (ours == (case.client.clone(), case.server.clone())).then(|| {
            let field = |k: &str| s["tcp"][k].as_str().unwrap_or_default().to_string();
            (field("conn_state"), field("history"))
        })
    })
}

/// `ip:port` as the manifest writes it (`[v6]:port`).
fn endpoint(e: &Value) -> String {
    let ip = e["ip"].as_str().unwrap_or_default();
    let port = &e["port"];
    if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") }
}
