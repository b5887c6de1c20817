//! Hostile paths and a tired operator: output that cannot be written is exit status 2 naming
//! where, `ladder -o` files appear whole or not at all, `live -w` never follows a planted
//! symlink nor truncates a file it was not told to replace.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn full() -> Option<std::fs::File> {
    std::fs::OpenOptions::new().write(true).open("/dev/full").ok()
}

#[test]
fn output_to_a_full_disk_is_exit_status_2() {
    let Some(_) = full() else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    let capture = capture("01-delivered.pcap");
    let capture = capture.to_str().unwrap();
    for args in [&["read", "--json", capture][..], &["read", capture], &["ladder", capture]] {
        let out = Command::new(bin()).args(args).stdout(full().unwrap()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("standard output: No space left on device"), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_closed_pipe_is_still_a_quiet_success() {
    let mut child = Command::new(bin())
        .args(["read", "--json", capture("01-delivered.pcap").to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn ladder_into_an_existing_directory_writes_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("ladders");
    std::fs::create_dir(&into).unwrap();
    let capture = capture("01-delivered.pcap");
    let out = run(&["ladder", capture.to_str().unwrap(), "-o", into.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(into.join("ladders.txt")).unwrap().contains("client"));
    let out = run(&["ladder", "--format", "svg", capture.to_str().unwrap(), "-o", into.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut inside: Vec<String> =
        std::fs::read_dir(&into).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    inside.sort();
    assert_eq!(inside, ["ladders-1.svg", "ladders.txt"]);
    let beside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(beside.len(), 1, "nothing written beside the directory");
}

#[test]
fn ladder_output_that_cannot_be_written_names_the_path_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("out.txt");
    let capture = capture("01-delivered.pcap");
    let out = run(&["ladder", capture.to_str().unwrap(), "-o", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("out.txt"), "{}", stderr(&out));
    // An existing file is replaced whole: the old one stays until the new one is complete.
    let path = dir.path().join("kept.txt");
    std::fs::write(&path, "old").unwrap();
    let out = run(&["ladder", capture.to_str().unwrap(), "-o", path.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&path).unwrap().contains("client"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left behind");
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `live -w` as root, on the loopback interface (no packets needed).
fn live_w(args: &[&str]) -> std::process::Output {
    let mut all = vec!["live", "-i", "lo", "--duration", "0.5"];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
#[ignore = "needs root and libpcap; run by .ci/run"]
fn live_w_never_follows_a_symlink_nor_truncates_before_the_user_is_known() {
    assert!(is_root(), "run as root");
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("etc-somefile");
    std::fs::write(&target, "system file").unwrap();
    let link = dir.path().join("x.pcap");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let link_s = link.to_str().unwrap();

    let out = live_w(&["-w", link_s, "--user", "nobody"]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "system file");

    let keep = dir.path().join("keep.pcap");
    std::fs::write(&keep, "an older capture").unwrap();
    let out = live_w(&["-w", keep.to_str().unwrap(), "--user", "nosuchuser", "--force"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nosuchuser"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&keep).unwrap(), "an older capture");

    // Forced, the symlink itself is replaced by a new file owned by the user; the target stays.
    let out = live_w(&["-w", link_s, "--user", "nobody", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "system file");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.uid(), smtpdiag::capture::live::privdrop::lookup_user("nobody").unwrap().uid);
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert!(Path::new(&link).metadata().unwrap().len() >= 24, "a pcap header at least");

    // A -w that cannot be written (here standard output on a full device) is exit status 2.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(bin())
        .args(["live", "-i", "lo", "--duration", "0.5", "--json", "-w", "-"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write the capture"), "{}", stderr(&out));
}

#[test]
fn non_finite_or_negative_durations_are_usage_errors() {
    let capture = capture("01-delivered.pcap");
    let file = capture.to_str().unwrap();
    for bad in
        [&["--idle", "nan"][..], &["--idle=-1"], &["--idle", "inf"], &["--idle", "0"], &["--idle-threshold", "NaN"]]
    {
        let mut args = vec!["read", file];
        args.extend_from_slice(bad);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(stderr(&out).contains("seconds"), "{bad:?}: {}", stderr(&out));
    }
    assert!(run(&["read", file, "--idle", "0.5"]).status.success());
}

/// `read FIFO` with nobody writing waits, but SIGINT and SIGTERM end it (130) within a moment;
/// `--threads` does not open it either.
#[test]
fn a_fifo_without_a_writer_yields_to_sigint_and_sigterm() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.pcap");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (signal, threads) in [(libc::SIGINT, "1"), (libc::SIGTERM, "2")] {
        let mut child = Command::new(bin())
            .args(["read", "--threads", threads, fifo.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert!(child.try_wait().unwrap().is_none(), "it waits for a writer");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("signal {signal} ignored while waiting for the FIFO's writer");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(130), "{}", stderr(&out));
        assert!(stderr(&out).contains("waiting for a writer"), "{}", stderr(&out));
    }
    // With a writer, the FIFO is read as a stream.
    let capture = std::fs::read(capture("01-delivered.pcap")).unwrap();
    let child = Command::new(bin())
        .args(["read", fifo.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&fifo, capture).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("DELIVERED"));
}

/// A capture truncated while it is read (log rotation) ends like a truncated capture: a warning
/// with the offset, the sessions read so far, the totals; no SIGBUS.
#[test]
fn a_capture_truncated_while_read_ends_with_a_warning_not_sigbus() {
    use common::synth::SessionBuilder;
    use smtpdiag::capture::{LinkType, PcapWriter};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotating.pcap");
    let body = format!("Subject: x\r\n\r\n{}\r\n.\r\n", "y".repeat(1200));
    let mut b = SessionBuilder::new(([203, 0, 113, 5], 1024), ([198, 51, 100, 25], 25));
    b.handshake().server("220 mx\r\n").client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n");
    b.client("RCPT TO:<c@d>\r\n").server("250 ok\r\n").client("DATA\r\n").server("354 go\r\n");
    for _ in 0..40 {
        b.client(&body);
    }
    b.server("250 ok\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    // With --threads 2 nothing looks at the file's length: the SIGBUS handler does the work.
    for threads in ["1", "2"] {
        let mut w =
            PcapWriter::new(std::io::BufWriter::new(std::fs::File::create(&path).unwrap()), LinkType::ETHERNET, 65535)
                .unwrap();
        // The same session again and again, each copy from its own client port, a second later.
        let mut written = 0usize;
        for copy in 0u16.. {
            let port = (1024 + copy).to_be_bytes();
            for (ts, data) in &b.frames {
                let mut data = data.clone();
                let at = if data[34..36] == [4, 0] { 34 } else { 36 };
                data[at..at + 2].copy_from_slice(&port);
                let ts = smtpdiag::capture::Timestamp(ts.0 + i64::from(copy) * 1_000_000_000);
                w.write_packet(ts, &data, data.len() as u32).unwrap();
                written += 16 + data.len();
            }
            if written > 160 << 20 {
                break;
            }
        }
        drop(w.into_inner());
        cut_while_read(&path, threads);
    }
}

fn cut_while_read(path: &Path, threads: &str) {
    let child = Command::new(bin())
        .args(["read", "--threads", threads, path.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Cut once the reader has mapped the file (and is reading it: it takes a while).
    let maps = format!("/proc/{}/maps", child.id());
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&maps).unwrap_or_default().contains("rotating.pcap") {
        assert!(start.elapsed().as_secs() < 20, "the file was never mapped");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(8 << 20).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    if err.is_empty() && cfg!(not(debug_assertions)) {
        eprintln!("skipped: the reader finished before the file was cut");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "--threads {threads}: killed by a signal? {:?} {err}", out.status);
    assert!(err.contains("bytes while it was read"), "--threads {threads}: {err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("DELIVERED") && stdout.contains("sessions in 1 capture"),
        "{}",
        &stdout[stdout.len().saturating_sub(500)..]
    );
}
