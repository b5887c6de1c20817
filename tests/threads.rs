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
    // A stream (stdin) is copied into batches instead of shared as map offsets.
    let piped = |threads: &str| {
        let out = Command::new(bin())
            .args(["read", "--json", "--threads", threads, "-"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let piped_one = piped("1");
    assert!(!piped_one.is_empty());
    assert!(piped_one == piped("2"), "stdin: --threads 2 differs from one thread");
}
