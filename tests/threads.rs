//! `read --threads 2` prints exactly what one thread prints: on every lab capture, and on a
//! generated capture with thousands of interleaved sessions, impairments included.

mod common;

use common::*;
use std::process::Command;

fn json(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn two_threads_match_one_on_every_lab_capture() {
    let mut checked = 0;
    for entry in std::fs::read_dir(captures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pcap") {
            let p = path.to_str().unwrap();
            let one = json(&["read", "--json", p]);
            assert!(one == json(&["read", "--json", "--threads", "2", p]), "{p}: 2 threads differ");
            assert!(one == json(&["read", "--json", "--threads", "3", p]), "{p}: 3 threads differ");
            // Text is rendered in the shard threads too, its session number patched in later.
            let text = json(&["read", p]);
            assert!(text == json(&["read", "--threads", "2", p]), "{p}: text with 2 threads differs");
            checked += 1;
        }
    }
    assert!(checked > 20);
}

#[test]
fn two_threads_match_one_on_a_generated_capture() {
    let Some((_dir, file)) = generated_capture("6M", 7) else {
        eprintln!("gen-capture example not built; skipped");
        return;
    };
    let p = file.to_str().unwrap();
    let one = json(&["read", "--json", p]);
    assert!(one.lines().count() > 30);
    assert!(one == json(&["read", "--json", "--threads", "2", p]), "2 threads differ");
    assert!(one == json(&["read", "--json", "--threads", "4", p]), "4 threads differ");
    let text = json(&["read", p]);
    assert!(text == json(&["read", "--threads", "2", p]), "text with 2 threads differs");
    assert!(text == json(&["read", "--threads", "4", p]), "text with 4 threads differs");
    // NDJSON into a pipe counts no totals unless asked for; asked for, every session is counted,
    // with the shards' rendered sessions as with whole ones.
    let totals = json(&["read", "--json", "--totals", p]);
    assert!(totals == json(&["read", "--json", "--totals", "--threads", "2", p]), "totals with 2 threads differ");
    let record = totals.lines().last().unwrap();
    let sessions = format!(r#""sessions":{},"#, one.lines().count());
    assert!(record.starts_with(r#"{"schema":"smtpdiag.totals.v1","#) && record.contains(&sessions), "{record}");
    // A stream (stdin) cannot be shared by several readers: one thread reads it, and says so.
    let piped = |threads: &str| {
        let out = Command::new(bin())
            .args(["read", "--json", "--threads", threads, "-"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (piped_one, quiet) = piped("1");
    assert!(!piped_one.is_empty() && quiet.is_empty(), "{quiet}");
    let (piped_two, note) = piped("2");
    assert!(piped_one == piped_two, "stdin: --threads 2 differs from one thread");
    assert!(note.contains("--threads needs an uncompressed capture file"), "{note}");
}

#[test]
fn a_truncated_capture_gives_the_same_sessions_and_warnings_with_threads() {
    let Some((dir, file)) = generated_capture("2M", 11) else {
        eprintln!("gen-capture example not built; skipped");
        return;
    };
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3 + 7]).unwrap();
    let p = cut.to_str().unwrap();
    let one = run(&["read", "--json", p]);
    let two = run(&["read", "--json", "--threads", "2", p]);
    assert!(!one.stdout.is_empty());
    assert_eq!(one.stdout, two.stdout);
    assert_eq!(one.status.code(), two.status.code());
    let (e1, e2) = (String::from_utf8_lossy(&one.stderr), String::from_utf8_lossy(&two.stderr));
    assert!(e1.contains("capture ends in the middle"), "{e1}");
    assert_eq!(e1, e2);
}

#[test]
fn a_gzip_capture_is_read_with_one_thread_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("c.pcap.gz");
    let raw = std::fs::read(capture("07-tempfail-452-rcpt-failover.pcap")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &raw).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let p = gz.to_str().unwrap();
    let one = run(&["read", "--json", p]);
    let two = run(&["read", "--json", "--threads", "2", p]);
    assert!(!one.stdout.is_empty());
    assert_eq!(one.stdout, two.stdout);
    let note = String::from_utf8_lossy(&two.stderr);
    assert!(note.contains("not stdin or gzip; reading it with one thread"), "{note}");
}

/// The output's reader goes away after the first bytes: the merger stops, every shard with it,
/// and the exit status is the one a single thread gives.
#[test]
fn a_closed_output_stops_every_shard() {
    let Some((_dir, file)) = generated_capture("6M", 7) else {
        eprintln!("gen-capture example not built; skipped");
        return;
    };
    let status = |threads: &str| {
        let mut child = Command::new(bin())
            .args(["read", "--json", "--threads", threads, file.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut first = [0; 100];
        std::io::Read::read_exact(&mut child.stdout.take().unwrap(), &mut first).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("--threads {threads}: still running a minute after its output closed");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let one = status("1");
    assert_eq!(status("2"), one, "--threads 2");
    assert_eq!(status("4"), one, "--threads 4");
}
