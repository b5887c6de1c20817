//! The binary's contract at its edges: exit codes, errors that name the file, warnings with
//! offsets, stdin and gzip input, several files, colors, ports.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_file_that_is_not_a_capture_is_an_input_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello, this is text\n").unwrap();
    let out = run(&["read", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("notes.txt") && err.contains("not a pcap or pcapng capture"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn missing_and_empty_files_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    for (path, text) in [(empty.to_str().unwrap(), "empty"), ("/nonexistent/x.pcap", "x.pcap")] {
        let out = run(&["read", path]);
        assert_eq!(out.status.code(), Some(2), "{path}");
        assert!(stderr(&out).contains(text), "{}", stderr(&out));
        // Nothing was read: no totals of nothing on stdout.
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{path}");
    }
}

/// --help states the statuses the program returns (2 for a capture it cannot read).
#[test]
fn help_documents_the_exit_statuses_the_program_returns() {
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    assert!(help.contains("2 usage error, a capture that could not be read"), "{help}");
    assert!(!help.contains("1 a capture could not be read"), "{help}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["read"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn a_truncated_capture_warns_with_the_offset_and_keeps_what_was_read() {
    let whole = std::fs::read(capture("01-delivered.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("killed-tcpdump.pcap");
    std::fs::write(&cut, &whole[..1500]).unwrap();
    let out = run(&["read", "--json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("killed-tcpdump.pcap: offset 1401: capture ends in the middle of packet 14"), "{err}");
    let s: serde_json::Value = serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(s["smtp"]["replies"], serde_json::json!([220, 250, 250, 250]));
    assert_eq!(codes(&s), ["INCOMPLETE"]);
}

#[test]
fn stdin_and_gzip_give_the_same_sessions_as_the_plain_file() {
    let path = capture("02-reject-554-greeting.pcap");
    let plain = sessions(&[path.to_str().unwrap()]);
    let bytes = std::fs::read(&path).unwrap();

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gz_path = dir.path().join("reject.pcap.gz");
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    let from_gz = sessions(&[gz_path.to_str().unwrap()]);

    let mut child =
        Command::new(bin()).args(["read", "--json", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let from_stdin: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    for other in [&from_gz, &from_stdin] {
        assert_eq!(other.len(), plain.len());
        for (a, b) in plain.iter().zip(other) {
            assert_eq!(a["tcp"], b["tcp"]);
            assert_eq!(a["smtp"], b["smtp"]);
            assert_eq!(a["verdicts"], b["verdicts"]);
        }
    }
}

#[test]
fn several_files_are_read_in_turn_and_named_in_records() {
    let a = capture("03-tcprefuse.pcap");
    let b = capture("04-port-closed.pcap");
    let all = sessions(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(all.len(), 2);
    assert!(all[0]["capture"].as_str().unwrap().ends_with("03-tcprefuse.pcap"));
    assert!(all[1]["capture"].as_str().unwrap().ends_with("04-port-closed.pcap"));
}

#[test]
fn port_option_replaces_the_default_set() {
    let path = capture("01-delivered.pcap");
    assert!(sessions(&["--port", "587", path.to_str().unwrap()]).is_empty());
    assert_eq!(sessions(&["--port", "25", path.to_str().unwrap()]).len(), 1);
}

#[test]
fn text_output_has_no_color_codes_when_not_a_terminal() {
    let out =
        Command::new(bin()).args(["read", capture("02-reject-554-greeting.pcap").to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("REJECT") && text.contains("1 session in 1 capture"), "{text}");
}

#[test]
fn json_records_carry_the_documented_fields() {
    let s = session_of("01-delivered.pcap", "1");
    assert_eq!(s["schema"], "smtpdiag.session.v2");
    for key in [
        "id",
        "capture",
        "client",
        "server",
        "first_ts",
        "last_ts",
        "first_packet",
        "last_packet",
        "end",
        "tcp",
        "smtp",
        "headline",
        "verdicts",
    ] {
        assert!(s.get(key).is_some(), "missing {key}");
    }
    for key in ["handshake", "conn_state", "history", "closed_by", "role_basis", "packets", "payload_bytes", "rtt_ms"] {
        assert!(s["tcp"].get(key).is_some(), "missing tcp.{key}");
    }
    for key in ["banner", "helo", "ehlo_keywords", "mail_from", "rcpt_to", "transactions", "commands", "replies"] {
        assert!(s["smtp"].get(key).is_some(), "missing smtp.{key}");
    }
    let v = &s["verdicts"][0];
    for key in ["code", "severity", "summary", "packets"] {
        assert!(v.get(key).is_some(), "missing verdicts[].{key}");
    }
    // Left out by default: zero counters, the transcript, the packet evidence, explanations.
    for key in ["retransmissions", "gaps", "close", "ttl", "handshake_packets", "events_kept"] {
        assert!(s["tcp"].get(key).is_none(), "tcp.{key} without --events");
    }
    for key in ["events", "maxima", "starttls", "anomalies"] {
        assert!(s["smtp"].get(key).is_none(), "smtp.{key} by default");
    }
    assert!(s["smtp"]["banner"].get("packet").is_none() && v.get("explanation").is_none(), "{s}");
}

#[test]
fn events_and_explain_add_the_transcript_the_packet_evidence_and_the_explanations() {
    let path = capture("01-delivered.pcap");
    let s = &sessions(&["--events", "--explain", path.to_str().unwrap()])[0];
    assert_eq!(s["schema"], "smtpdiag.session.v2");
    for key in ["close", "ttl", "ip_id", "mss", "max_segment", "handshake_packets", "events_kept"] {
        assert!(s["tcp"].get(key).is_some(), "missing tcp.{key} with --events");
    }
    let events = s["smtp"]["events"].as_array().unwrap();
    assert_eq!((events[0]["type"].as_str(), events[0]["code"].as_u64()), (Some("reply"), Some(220)));
    assert_eq!(s["smtp"]["banner"]["packet"], 4);
    assert_eq!(s["smtp"]["transactions"][0]["rcpts"][0]["packet"], 10);
    assert!(s["smtp"]["maxima"]["command_line"]["value"].as_u64().is_some(), "{s}");
    assert!(s["verdicts"][0]["explanation"].as_str().is_some_and(|e| !e.is_empty()), "{s}");
    // --events needs --json.
    assert_eq!(run(&["read", "--events", path.to_str().unwrap()]).status.code(), Some(2));
}

#[test]
fn man_page_and_completions_are_generated_from_the_cli() {
    let man = run(&["generate", "man"]);
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH smtpdiag"));
    let bash = run(&["generate", "bash"]);
    assert!(String::from_utf8_lossy(&bash.stdout).contains("smtpdiag"));
}

#[test]
fn an_unknown_link_type_is_warned_about_once_and_skipped() {
    use smtpdiag::capture::{LinkType, PcapWriter, Timestamp};
    let mut w = PcapWriter::new(Vec::new(), LinkType(147), 65535).unwrap();
    for i in 0..3 {
        w.write_packet(Timestamp(i), b"\x01\x02\x03\x04", 4).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("user0.pcap");
    std::fs::write(&path, w.into_inner()).unwrap();
    let out = run(&["read", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert_eq!(err.matches("link type 147 (USER) is not supported").count(), 1, "{err}");
    assert!(err.contains("user0.pcap"));
}

#[test]
fn explain_adds_what_to_check() {
    let path = capture("03-tcprefuse.pcap");
    let plain = run(&["read", path.to_str().unwrap()]);
    let explained = run(&["read", "--explain", path.to_str().unwrap()]);
    let (plain, explained) = (String::from_utf8_lossy(&plain.stdout), String::from_utf8_lossy(&explained.stdout));
    assert!(!plain.contains("sender group"));
    assert!(explained.contains("TCPREFUSE policy") && explained.contains("sender group"), "{explained}");
}

/// --color always|never|auto with NO_COLOR and CLICOLOR_FORCE, for read and ladder (stdout is a pipe here).
#[test]
fn color_follows_the_option_then_no_color_and_clicolor_force() {
    let file = capture("02-reject-554-greeting.pcap");
    let colored = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(bin());
        cmd.args(args).arg(&file).env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}");
        out.stdout.contains(&0x1b)
    };
    for command in ["read", "ladder"] {
        assert!(!colored(&[command], &[]), "{command}: a pipe gets no colors");
        assert!(colored(&[command, "--color", "always"], &[("NO_COLOR", "1")]), "{command}: always");
        assert!(colored(&[command, "--color=always"], &[]), "{command}: always");
        assert!(colored(&[command], &[("CLICOLOR_FORCE", "1")]), "{command}: CLICOLOR_FORCE");
        assert!(!colored(&[command], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]), "{command}: NO_COLOR wins");
        assert!(!colored(&[command, "--color", "never"], &[("CLICOLOR_FORCE", "1")]), "{command}: never");
    }
    assert_eq!(run(&["read", "--color", "sometimes", file.to_str().unwrap()]).status.code(), Some(2));
}

/// Round trip times are whole microseconds in JSON (0.045, not 0.045000000000000005).
#[test]
fn rtt_is_rounded_to_the_microsecond() {
    let mut seen = 0;
    for file in ["01-delivered.pcap", "03-tcprefuse.pcap", "29-slow-handshake-first-syn-lost.pcap"] {
        for s in sessions(&[capture(file).to_str().unwrap()]) {
            for key in ["syn_synack", "synack_ack"] {
                let Some(ms) = s["tcp"]["rtt_ms"][key].as_f64() else { continue };
                seen += 1;
                let text = s["tcp"]["rtt_ms"][key].to_string();
                let decimals = text.split('.').nth(1).map_or(0, str::len);
                assert!(decimals <= 3, "{file}: {key} {text}");
                assert!(ms >= 0.0);
            }
        }
    }
    assert!(seen > 3);
}

/// The inspection limit's text gives the command line's length as JSON does (without CRLF).
#[test]
fn text_and_json_count_a_command_line_alike() {
    let path = capture("20-fw-reset-long-command-line.pcap");
    let s = &sessions(&["--events", path.to_str().unwrap()])[0];
    let len = s["smtp"]["maxima"]["command_line"]["value"].as_u64().unwrap();
    let summary = verdict(s, "INSPECTION_LIMIT")["summary"].as_str().unwrap().to_string();
    assert!(summary.contains(&format!("command line of {len} bytes + CRLF")), "{len}: {summary}");
}

/// `read` wraps verdict lines only when asked (--width) or on a terminal; into a pipe a verdict is one line.
#[test]
fn read_wraps_verdict_lines_to_the_width_only_when_asked() {
    let file = capture("20-fw-reset-long-command-line.pcap");
    let text = |args: &[&str]| {
        let mut all = vec!["read"];
        all.extend_from_slice(args);
        all.push(file.to_str().unwrap());
        String::from_utf8(run(&all).stdout).unwrap()
    };
    let piped = text(&[]);
    let verdict_lines = |t: &str| t.lines().filter(|l| l.starts_with("      ") && !l.starts_with("       ")).count();
    assert_eq!(verdict_lines(&piped), 4, "{piped}");
    assert!(piped.lines().any(|l| l.chars().count() > 120), "a pipe gets whole lines: {piped}");
    let wrapped = text(&["--width", "72"]);
    for line in wrapped.lines().filter(|l| l.starts_with("      ")) {
        assert!(line.chars().count() <= 72, "{line}");
    }
    assert_eq!(verdict_lines(&wrapped), 4, "continuations are indented under the summary: {wrapped}");
    let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(words(&wrapped), words(&piped));
}
