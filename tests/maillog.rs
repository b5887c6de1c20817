//! `--maillog`: the lab server's real Exim mainlog beside each capture, and AsyncOS mail_logs
//! written from the gateway documentation's format for lab captures (tests/maillog/README.md).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn asyncos_log(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/maillog").join(name).display().to_string()
}

/// `read --json` with a log: (session records, log_connection records).
fn paired(args: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let all = sessions(args);
    let (s, l): (Vec<Value>, Vec<Value>) = all.into_iter().partition(|r| r["schema"] == "smtpdiag.session.v2");
    assert!(l.iter().all(|r| r["schema"] == "smtpdiag.log_connection.v1"), "{l:?}");
    (s, l)
}

fn cap(name: &str) -> String {
    capture(name).display().to_string()
}

/// The lab's server logs with their capture: the inside one where the scenario recorded it
/// (the server's side of a firewall), else the outside one.
fn lab_logs() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(captures_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = name.strip_suffix(".exim.log").or_else(|| name.strip_suffix(".postfix.log")) else { continue };
        let inside = captures_dir().join(format!("{stem}.inside.pcap"));
        let pcap = if inside.exists() { inside } else { captures_dir().join(format!("{stem}.pcap")) };
        out.push((path, pcap));
    }
    out.sort();
    out
}

#[test]
fn every_lab_log_connection_pairs_with_its_session() {
    let logs = lab_logs();
    assert!(logs.len() >= 3, "lab logs: {logs:?}");
    for (log, pcap) in logs {
        let (log, pcap) = (log.display().to_string(), pcap.display().to_string());
        let (sessions, unpaired) = paired(&[&pcap, "--maillog", &log, "--log-tz", "UTC"]);
        assert!(unpaired.is_empty(), "{log}: log connections without a session: {unpaired:?}");
        // A connection whose handshake never completed never reached the server's log.
        for s in sessions.iter().filter(|s| s["tcp"]["handshake"] == "complete") {
            let note = &s["log"];
            assert_eq!(note["pairing"], "paired", "{pcap} #{}: {note}", s["id"]);
            let client = format!("[{}]:{}", s["client"]["ip"].as_str().unwrap(), s["client"]["port"]);
            if note["format"] == "exim" {
                assert_eq!(note["connection_id"], client.as_str(), "{pcap} #{}", s["id"]);
            }
            assert!(s["verdicts"].as_array().unwrap().iter().all(|v| v["code"] != "LOG_CONTRADICTS"), "{pcap}: {s}");
        }
    }
}

#[test]
fn the_outside_capture_misses_the_firewalls_own_connection_and_says_so() {
    let log = cap("60-exim-log-mixed-sessions.exim.log");
    let (sessions, unpaired) = paired(&[&cap("60-exim-log-mixed-sessions.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    assert_eq!(sessions.len(), 4);
    let [fw] = &unpaired[..] else { panic!("{unpaired:?}") };
    assert_eq!(fw["client"]["ip"], "198.51.100.1");
    assert_eq!(fw["server"], serde_json::json!({"ip": "198.51.100.25", "port": 25}));
    assert_eq!(fw["outcome"], "closed by QUIT");
    assert_eq!(fw["message_ids"].as_array().unwrap().len(), 1);
    assert!(fw["first_ts"].as_f64().unwrap() <= fw["last_ts"].as_f64().unwrap());
    let delivered = &sessions[0]["log"];
    assert_eq!(delivered["message_ids"][0], sessions[0]["smtp"]["transactions"][0]["queue_id"]);
    let aborted = &sessions[3]["log"];
    assert_eq!(aborted["outcome"], "lost while reading message data");
    assert!(aborted["explanation"].as_str().unwrap().contains("(RECEIVING_ABORTED)"), "{aborted}");
    // The text view: the log line under each session, the missing one listed at the end.
    let out = run(&["read", &cap("60-exim-log-mixed-sessions.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("      log  exim [203.0.113.5]:"), "{text}");
    assert!(text.contains("5 connections; 4 sessions paired, 0 ambiguous, 0 not in the log"), "{text}");
    assert!(text.contains("1 log connection with no session in the captures:"), "{text}");
    assert!(text.contains("exim [198.51.100.1]:"), "{text}");
}

#[test]
fn exims_generic_loss_is_explained_by_the_firewall_reset() {
    let log = cap("61-exim-log-fw-reset-long-header-line.exim.log");
    let (sessions, _) =
        paired(&[&cap("61-exim-log-fw-reset-long-header-line.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    let e = sessions[0]["log"]["explanation"].as_str().unwrap();
    assert!(e.starts_with("the exim log says [203.0.113.5]:"), "{e}");
    assert!(
        e.contains("'lost while reading message data (header)'; the packets show reset sent by a device in the path"),
        "{e}"
    );
    assert!(e.ends_with("(FIREWALL_RESET)"), "{e}");
}

#[test]
fn asyncos_log_in_central_european_time_with_wrapped_lines() {
    let log = asyncos_log("60-exim-log-mixed-sessions.asyncos.log");
    let pcap = cap("60-exim-log-mixed-sessions.pcap");
    let (sessions, unpaired) = paired(&[&pcap, "--maillog", &log, "--log-tz", "Europe/Berlin"]);
    assert!(sessions[0].get("log").is_none(), "session 1 has no log line: {}", sessions[0]["log"]);
    let ids: Vec<&str> = sessions[1..].iter().map(|s| s["log"]["connection_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ICID 501", "ICID 502", "ICID 503"]);
    assert_eq!(sessions[1]["log"]["message_ids"], serde_json::json!(["901"]));
    assert_eq!(sessions[1]["log"]["lines"][0], format!("{log}:1"));
    assert_eq!(sessions[3]["log"]["outcome"], "Receiving aborted");
    let [no_packets] = &unpaired[..] else { panic!("{unpaired:?}") };
    assert_eq!(
        (&no_packets["connection_id"], &no_packets["client"]["ip"]),
        (&"ICID 504".into(), &"198.51.100.1".into())
    );
    assert!(no_packets["client"].get("port").is_none(), "AsyncOS logs no client port");
    // The same log read as UTC is an hour off: nothing pairs, and its connections fall outside
    // the capture's time, so none is listed as missed by it.
    let (sessions, unpaired) = paired(&[&pcap, "--maillog", &log, "--log-tz", "UTC"]);
    assert!(sessions.iter().all(|s| s.get("log").is_none()));
    assert!(unpaired.is_empty(), "{unpaired:?}");
    let out = run(&["read", &pcap, "--maillog", &log, "--log-tz", "UTC"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("0 sessions paired, 0 ambiguous, 4 not in the log"), "{text}");
    assert!(text.contains("4 log connections outside the captures' time (not listed)"), "{text}");
}

#[test]
fn a_sender_quit_in_the_log_against_a_reset_in_the_packets_is_a_contradiction() {
    let log = asyncos_log("10-receiving-aborted-rst-mid-data.contradicting.asyncos.log");
    let (sessions, _) = paired(&[&cap("10-receiving-aborted-rst-mid-data.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    let v = verdict(&sessions[0], "LOG_CONTRADICTS");
    assert_eq!(v["severity"], "warning");
    assert_eq!(
        v["summary"],
        "the asyncos log says ICID 610 'Receiving aborted by sender', but the packets show a reset from the client side and no QUIT"
    );
    assert_eq!(packets(v), [18]);
}

#[test]
fn asyncos_lost_beside_a_forged_reset() {
    let log = asyncos_log("20-fw-reset-long-command-line.asyncos.log");
    let pcap = cap("20-fw-reset-long-command-line.inside.pcap");
    let (sessions, _) = paired(&[&pcap, "--maillog", &log, "--log-tz", "+00:00"]);
    let e = sessions[0]["log"]["explanation"].as_str().unwrap();
    assert!(
        e.starts_with("the asyncos log says ICID 510 'Receiving aborted'; the packets show reset sent by a device"),
        "{e}"
    );
}

fn temp_log(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_log_of_another_day_is_said_once_and_pairs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(capture("62-exim-log-idle-timeout.exim.log")).unwrap();
    let log = temp_log(&dir, "old.log", &text.replace("2026-12-06", "2026-12-01"));
    let out = run(&["read", "--json", &cap("62-exim-log-idle-timeout.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.matches("covers 2026-12-01").count(), 1, "{stderr}");
    assert!(stderr.contains("the captures 2026-12-06: no session is paired with it"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("\"log\":"), "{stdout}");
}

#[test]
fn an_unknown_format_is_an_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = temp_log(&dir, "notes.txt", "\nthis is not a mail log\nnor is this\n");
    let out = run(&["read", &cap("62-exim-log-idle-timeout.pcap"), "--maillog", &log]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&format!("{log}: not a mail log")), "{stderr}");
    assert!(stderr.contains("line 2 did not parse: \"this is not a mail log\""), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn lines_that_do_not_parse_are_counted_and_shown_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(capture("62-exim-log-idle-timeout.exim.log")).unwrap();
    let log = temp_log(&dir, "mainlog", &format!("{text}garbage \x1b[31m line\n"));
    let pcap = cap("62-exim-log-idle-timeout.pcap");
    let quiet = run(&["read", "--json", &pcap, "--maillog", &log, "--log-tz", "UTC"]);
    assert!(quiet.status.success());
    let stderr = String::from_utf8(quiet.stderr).unwrap();
    assert!(stderr.contains("mainlog: 1 line did not parse as exim log lines"), "{stderr}");
    assert!(!stderr.contains("garbage"));
    let verbose = run(&["read", "--json", &pcap, "--maillog", &log, "--log-tz", "UTC", "--verbose"]);
    let stderr = String::from_utf8(verbose.stderr).unwrap();
    let line = text.lines().count() + 1;
    assert!(stderr.contains(&format!("mainlog:{line}: \"garbage \\u{{1b}}[31m line\"")), "{stderr}");
    assert_eq!(verbose.stdout, quiet.stdout);
    assert!(String::from_utf8(quiet.stdout).unwrap().contains("\"pairing\":\"paired\""));
}

#[test]
fn gzip_logs_and_threads_give_the_same_pairing() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let plain = cap("60-exim-log-mixed-sessions.exim.log");
    let gz = dir.path().join("mainlog.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let pcap = cap("60-exim-log-mixed-sessions.inside.pcap");
    let ids = |log: &str, threads: &str| -> Vec<Value> {
        let (s, l) = paired(&[&pcap, "--maillog", log, "--log-tz", "UTC", "--threads", threads]);
        assert!(l.is_empty());
        s.iter().map(|s| s["log"]["connection_id"].clone()).collect()
    };
    let want = ids(&plain, "1");
    assert_eq!(want.len(), 5);
    assert_eq!(ids(gz.to_str().unwrap(), "1"), want);
    assert_eq!(ids(&plain, "2"), want);
}

#[test]
fn the_ladder_shows_the_log_under_the_drawing() {
    let log = cap("61-exim-log-fw-reset-long-header-line.exim.log");
    let out =
        run(&["ladder", &cap("61-exim-log-fw-reset-long-header-line.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("log  exim [203.0.113.5]:"), "{text}");
    assert!(text.contains("(FIREWALL_RESET)"), "{text}");
}

#[test]
fn postfix_maillog_pairs_by_port_and_queue_id() {
    let log = cap("63-postfix-log-mixed-sessions.postfix.log");
    let (sessions, unpaired) =
        paired(&[&cap("63-postfix-log-mixed-sessions.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    assert!(unpaired.is_empty());
    let notes: Vec<&Value> = sessions.iter().map(|s| &s["log"]).collect();
    assert!(notes.iter().all(|n| n["format"] == "postfix"));
    let client = &sessions[0]["client"];
    let id = format!("[{}]:{}", client["ip"].as_str().unwrap(), client["port"]);
    assert!(notes[0]["connection_id"].as_str().unwrap().ends_with(&id), "{}", notes[0]);
    assert_eq!(notes[0]["message_ids"][0], sessions[0]["smtp"]["transactions"][0]["queue_id"]);
    assert_eq!(notes[3]["outcome"], "lost connection after DATA (2211 bytes)");
    assert_eq!(notes[4]["outcome"], "timeout after EHLO");
    assert!(notes[4]["explanation"].as_str().unwrap().ends_with("(IDLE_TIMEOUT)"), "{}", notes[4]);
    let log = cap("64-postfix-log-fw-reset-long-command-line.postfix.log");
    let (sessions, _) =
        paired(&[&cap("64-postfix-log-fw-reset-long-command-line.pcap"), "--maillog", &log, "--log-tz", "UTC"]);
    let e = sessions[0]["log"]["explanation"].as_str().unwrap();
    assert!(e.contains("'lost connection after MAIL'; the packets show reset sent by a device in the path"), "{e}");
}

#[test]
fn bad_log_options_are_usage_errors() {
    let pcap = cap("62-exim-log-idle-timeout.pcap");
    let log = cap("62-exim-log-idle-timeout.exim.log");
    for (option, value, says) in
        [("--log-tz", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"), ("--log-skew", "nan", "'nan' is not")]
    {
        let out = run(&["read", &pcap, "--maillog", &log, option, value]);
        assert_eq!(out.status.code(), Some(2), "{option} {value}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(says), "{stderr}");
    }
    let out = run(&["read", &pcap, "--maillog", "/nonexistent/mainlog"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("/nonexistent/mainlog: cannot read the log"));
}
