//! The summary at the end of `read`: headed sections, sessions by headline then by `--by`, each
//! with counts and first/last time; beside NDJSON a totals record with --totals.
//! The summary of every bundled capture is pinned in captures/golden/summary.txt by tests/golden.rs.

mod common;

use common::*;

fn all_captures() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

fn read(options: &[&str]) -> std::process::Output {
    let files = all_captures();
    let mut args = vec!["read"];
    args.extend_from_slice(options);
    args.extend(files.iter().map(String::as_str));
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The summary: from the "N sessions in M captures" line to the end.
fn summary(text: &str) -> String {
    let at = text.rfind("\n").map(|_| text.find(" captures (").expect("a totals line")).unwrap();
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[start..].to_string()
}

#[test]
fn sections_are_headed_and_count_every_session_once_by_headline() {
    let text = String::from_utf8(read(&[]).stdout).unwrap();
    let s = summary(&text);
    let total: u64 = s.split_whitespace().next().unwrap().parse().unwrap();
    let section = |head: &str| -> Vec<String> {
        let body = s.split(head).nth(1).unwrap_or_else(|| panic!("no {head} in {s}"));
        body.lines().skip(1).take_while(|l| l.starts_with("  ")).map(str::to_string).collect()
    };
    let count = |rows: &[String]| -> u64 {
        rows.iter().map(|r| r.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()).sum()
    };
    let heads = section("sessions by headline:");
    assert_eq!(count(&heads), total, "{s}");
    let servers = section("sessions by server:");
    assert_eq!(count(&servers), total, "{s}");
    assert!(servers.iter().any(|r| r.starts_with("  198.51.100.26:25 ")), "{s}");
    assert!(s.contains("verdicts (every finding of every session)"), "{s}");
    // Each row: key, count, first and last time.
    assert!(heads.iter().all(|r| r.split_whitespace().count() == 6), "{heads:?}");
}

#[test]
fn by_chooses_the_second_section() {
    for (by, head, key) in [
        ("client", "sessions by client:", "  203.0.113.5 "),
        ("hour", "sessions by hour (UTC):", "  2026-11-23 08:00 "),
        ("verdict", "sessions by verdict", "  DELIVERED "),
    ] {
        let text = String::from_utf8(read(&["--by", by]).stdout).unwrap();
        let s = summary(&text);
        assert!(s.contains(head), "{by}: {s}");
        let body = s.split(head).nth(1).unwrap();
        assert!(body.lines().any(|l| l.starts_with(key)), "{by}: {s}");
    }
    assert_eq!(run(&["read", "--by", "moon", "x.pcap"]).status.code(), Some(2));
}

#[test]
fn with_json_stdout_has_only_records_and_totals_adds_a_record() {
    let out = read(&["--json"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.lines().all(|l| l.starts_with("{\"schema\":\"smtpdiag.session.v2\"")), "only sessions on stdout");
    // The text totals go to stderr only when that is a terminal (here a pipe).
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let sessions = stdout.lines().count() as u64;

    let out = read(&["--json", "--totals", "--by", "client"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["schema"], "smtpdiag.totals.v1");
    assert_eq!(last["sessions"], sessions);
    assert_eq!(last["by"], "client");
    let heads = last["by_headline"].as_array().unwrap();
    assert_eq!(heads.iter().map(|h| h["sessions"].as_u64().unwrap()).sum::<u64>(), sessions);
    assert!(heads.iter().all(|h| h["first_ts"].as_f64().unwrap() <= h["last_ts"].as_f64().unwrap()));
    assert_eq!(last["groups"][0]["key"], "203.0.113.5");
    // --totals is for NDJSON.
    assert_eq!(run(&["read", "--totals", "x.pcap"]).status.code(), Some(2));
}
