//! Ladder diagrams of the bundled captures: golden files compared byte for byte (regenerate with
//! `UPDATE_GOLDEN=1 cargo test --test ladder`), plus the row order of the key endings asserted
//! explicitly so a golden update cannot hide a wrong ladder.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;

/// Runs smtpdiag in captures/ with a relative file name, so titles hold no machine's path.
fn ladder(args: &[&str]) -> String {
    let out = Command::new(bin()).current_dir(captures_dir()).args(args).env("NO_COLOR", "1").output().unwrap();
    assert!(out.status.success(), "smtpdiag {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 cargo test --test ladder writes it)", path.display()));
    assert!(want == actual, "{name} differs from the golden file; got:\n{actual}");
}

const GOLDEN: [(&str, &str); 4] = [
    ("02-reject-554-greeting.pcap", "reject"),
    ("03-tcprefuse.pcap", "tcprefuse"),
    ("16-fw-masked-banner.pcap", "masked-banner"),
    ("01-delivered.pcap", "delivered"),
];

#[test]
fn terminal_ladders_match_golden_files() {
    for (file, name) in GOLDEN {
        golden(&format!("{name}.txt"), &ladder(&["ladder", file, "--width", "100"]));
        golden(&format!("{name}.ascii.txt"), &ladder(&["ladder", file, "--width", "100", "--ascii"]));
    }
}

#[test]
fn mermaid_and_svg_match_golden_files() {
    golden("reject.mmd", &ladder(&["ladder", "02-reject-554-greeting.pcap", "--format", "mermaid"]));
    golden("reject.svg", &ladder(&["ladder", "02-reject-554-greeting.pcap", "--format", "svg"]));
}

/// (packet number, arrow direction, flags) of each row of the ASCII ladder.
fn rows(text: &str) -> Vec<(u64, &'static str, String)> {
    text.lines()
        .filter_map(|l| {
            let (head, rest) = l.split_once(" |")?;
            let number = head.split_whitespace().next()?.parse().ok()?;
            let dir = if rest.starts_with('<') { "S>C" } else { "C>S" };
            let flags = rest.trim_start_matches(['<', '-', ' ']).split_whitespace().next()?.to_string();
            Some((number, dir, flags))
        })
        .collect()
}

fn flags(rows: &[(u64, &str, String)]) -> Vec<String> {
    rows.iter().map(|(_, d, f)| format!("{d} {f}")).collect()
}

#[test]
fn reject_ladder_order() {
    let all = rows(&ladder(&["ladder", "02-reject-554-greeting.pcap", "--ascii", "--all-packets"]));
    // Capture 02: handshake, the server's 554, the client's ACK of it, then the server closes
    // first and the client's FIN/ACK follows without QUIT.
    assert_eq!(
        flags(&all),
        ["C>S SYN", "S>C SYN/ACK", "C>S ACK", "S>C PSH/ACK", "C>S ACK", "S>C FIN/ACK", "C>S FIN/ACK", "S>C ACK"]
    );
    assert_eq!(all.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6, 7, 8]);
    let text = ladder(&["ladder", "02-reject-554-greeting.pcap", "--ascii", "--width", "120"]);
    let folded = rows(&text);
    // Folding drops only the ACK of the 554: the handshake ACK and the ACK of the client's FIN
    // carry news and stay.
    assert_eq!(
        flags(&folded),
        ["C>S SYN", "S>C SYN/ACK", "C>S ACK", "S>C PSH/ACK", "S>C FIN/ACK", "C>S FIN/ACK", "S>C ACK"]
    );
    let reply = text.lines().find(|l| l.starts_with("4 ")).unwrap();
    assert!(reply.contains("554 5.7.1 esa.example.com Access denied"), "{reply}");
    assert!(reply.contains("< server refused the session - REJECT"), "{reply}");
}

#[test]
fn tcprefuse_ladder_order() {
    let text = ladder(&["ladder", "03-tcprefuse.pcap", "--ascii"]);
    assert_eq!(flags(&rows(&text)), ["C>S SYN", "S>C SYN/ACK", "C>S ACK", "S>C RST/ACK"]);
    let rst = text.lines().find(|l| l.starts_with("4 ")).unwrap();
    assert!(rst.ends_with("< RST after handshake - TCPREFUSE"), "{rst}");
    assert!(text.contains("TCPREFUSE              handshake completed"));
}

#[test]
fn masked_banner_is_marked_on_its_row() {
    let text = ladder(&["ladder", "16-fw-masked-banner.pcap", "--width", "120"]);
    let banner = text.lines().find(|l| l.starts_with(" 4 ")).unwrap();
    assert!(banner.contains("[masked]  220 ****"), "{banner}");
    assert!(banner.contains("◀ banner masked by a firewall"), "{banner}");
}

#[test]
fn lines_never_exceed_the_width() {
    for width in ["40", "72", "100", "160"] {
        for (file, _) in GOLDEN {
            let text = ladder(&["ladder", file, "--width", width, "--seq"]);
            for line in text.lines().filter(|l| l.contains('│')) {
                assert!(line.chars().count() <= width.parse().unwrap(), "width {width}: {line}");
            }
        }
    }
}

#[test]
fn selection_by_verdict_client_and_limit() {
    let both = "06-tempfail-421-greeting-failover.pcap";
    let tempfail = ladder(&["ladder", both, "--verdict", "tempfail", "--format", "json"]);
    let lines: Vec<serde_json::Value> = tempfail.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["schema"], "smtpdiag.ladder.v1");
    assert_eq!(lines[0]["header"]["server"], "198.51.100.25:25");
    let second = ladder(&["ladder", both, "--server", "198.51.100.26", "--format", "json"]);
    assert_eq!(second.lines().count(), 1);
    assert!(second.contains(r#""id":"2""#));
    assert_eq!(ladder(&["ladder", both, "--limit", "1", "--format", "json"]).lines().count(), 1);
    assert_eq!(ladder(&["ladder", both, "--session", "2", "--format", "json"]).lines().count(), 1);
    assert_eq!(ladder(&["ladder", both, "--client", "192.0.2.1", "--format", "json"]), "");
}

#[test]
fn time_modes() {
    let abs = ladder(&["ladder", "03-tcprefuse.pcap", "--time", "abs", "--ascii"]);
    assert!(abs.contains("4 08:57:10.112"), "{abs}");
    let delta = ladder(&["ladder", "03-tcprefuse.pcap", "--time", "delta", "--ascii"]);
    assert!(delta.contains("1 +0.000000"), "{delta}");
}

#[test]
fn read_draws_a_ladder_under_each_session() {
    let text = ladder(&["read", "--ladder", "--width", "90", "06-tempfail-421-greeting-failover.pcap"]);
    assert_eq!(text.matches("client 203.0.113.5").count(), 2, "{text}");
    let first = text.find("#1 ").unwrap();
    let second = text.find("#2 ").unwrap();
    assert!(first < text.find("session 1 ·").unwrap() && text.find("session 1 ·").unwrap() < second);
}

#[test]
fn svg_files_per_session_or_single() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("l.svg");
    let file = capture("06-tempfail-421-greeting-failover.pcap");
    let run = |extra: &[&str]| {
        let mut args = vec!["ladder", file.to_str().unwrap(), "--format", "svg", "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        assert!(run(&args).status.success());
    };
    run(&[]);
    assert!(dir.path().join("l-1.svg").exists() && dir.path().join("l-2.svg").exists());
    run(&["--single-file"]);
    let doc = std::fs::read_to_string(&out).unwrap();
    assert_eq!(doc.matches("<g transform").count(), 2);
    run(&["--session", "1"]);
    assert!(std::fs::read_to_string(&out).unwrap().matches("<g transform").count() == 1);
}

/// Issue 15: outside the firewall, the client's STARTTLS (packet 8) and the server's 500
/// (packet 9) cross the wire intact; only the banner and the EHLO reply show masks.
#[test]
fn only_packets_whose_bytes_show_a_mask_are_marked_masked() {
    let text = ladder(&["ladder", "19-fw-starttls-command-masked.pcap", "--width", "120"]);
    let row = |n: &str| text.lines().find(|l| l.split_whitespace().next() == Some(n)).unwrap_or("").to_string();
    assert!(row("4").contains("[masked]"), "{text}");
    assert!(!row("8").contains("[masked]") && row("8").contains("STARTTLS"), "{text}");
    assert!(!row("9").contains("[masked]"), "{text}");
    let inside = ladder(&["ladder", "19-fw-starttls-command-masked.inside.pcap", "--width", "120"]);
    assert!(inside.lines().any(|l| l.contains("[masked]") && l.contains("XXXXXXXX")), "{inside}");
}
