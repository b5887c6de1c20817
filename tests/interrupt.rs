//! An interrupted run (SIGINT) and a closed output pipe (`smtpdiag read … | head`) end cleanly:
//! no panic message, and every line already printed is a whole NDJSON record.

mod common;

use common::bin;
use common::pcap::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

/// Records of `n` complete sessions (client port 30000 + first + i), ten seconds apart so each
/// is handed on (after its linger) when the next one starts.
fn sessions(p: &mut Pcap, first: u16, n: u16) {
    for i in 0..n {
        let port = 30000 + first + i;
        p.ts += 10_000_000_000;
        let c = |seq, ack, flags, data: &[u8]| tcp_frame(CLIENT, SERVER, port, 25, seq, ack, flags, data);
        let s = |seq, ack, flags, data: &[u8]| tcp_frame(SERVER, CLIENT, 25, port, seq, ack, flags, data);
        p.frame(&c(100, 0, SYN, b"")).frame(&s(500, 101, SYN | ACK, b"")).frame(&c(101, 501, ACK, b""));
        p.frame(&s(501, 101, ACK | PSH, b"220 mx\r\n")).frame(&c(101, 509, ACK | PSH, b"QUIT\r\n"));
        p.frame(&s(509, 107, ACK | PSH, b"221 bye\r\n")).frame(&s(518, 107, FIN | ACK, b""));
        p.frame(&c(107, 519, FIN | ACK, b"")).frame(&s(519, 108, ACK, b""));
    }
}

fn assert_clean(stdout: &str, stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    for line in stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}

#[test]
fn sigint_ends_the_run_cleanly_with_whole_lines() {
    let mut child = Command::new(bin())
        .args(["read", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut p = Pcap::default();
    sessions(&mut p, 0, 20);
    let head = p.bytes();
    stdin.write_all(&head).unwrap();
    stdin.flush().unwrap();
    // The first records arrive while the capture is still being written.
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.ends_with('\n'));
    let status = Command::new("/bin/kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    // Drain the output meanwhile: the head's records alone can fill the pipe, and a tool
    // blocked on writing them would never read the tail (nor this test write it).
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        rest
    });
    // The reader checks the flag between packets: give it some more.
    let mut more = Pcap { ts: p.ts, ..Pcap::default() };
    sessions(&mut more, 20, 2000);
    let tail = more.bytes();
    let _ = stdin.write_all(&tail[24..]);
    drop(stdin);
    let rest = reader.join().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_clean(&(first + &rest), &stderr);
    assert!(rest.lines().count() < 2019, "the run went on after the interrupt");
}

#[test]
fn closed_output_pipe_ends_the_run_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pcap");
    let mut p = Pcap::default();
    sessions(&mut p, 0, 5000);
    std::fs::write(&path, p.bytes()).unwrap();
    for mode in [&["read", "--json"][..], &["read"][..], &["read", "--json", "--threads", "2"][..]] {
        let mut child = Command::new(bin())
            .args(mode)
            .arg(&path)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.ends_with('\n'));
        drop(stdout);
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{mode:?}: {stderr}");
        assert!(stderr.is_empty(), "{mode:?}: {stderr}");
        if mode.contains(&"--json") {
            assert_clean(&first, &stderr);
        }
    }
}
