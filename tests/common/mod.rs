//! Shared helpers for integration tests: run the binary, parse its NDJSON.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_smtpdiag")
}

pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

pub fn capture(name: &str) -> PathBuf {
    captures_dir().join(name)
}

/// The public capture corpus with reference facts (not part of the repository), found beside the
/// project as ../shared/corpus. When it is absent, prints "skipped: TEST: …" and returns None, so
/// a test that needs it says it checked nothing instead of passing silently.
pub fn corpus(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("facts.jsonl").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: {test}: no corpus at {}", dir.display());
        None
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).env("NO_COLOR", "1").output().expect("run smtpdiag")
}

/// `smtpdiag read --json FILE…`: the session records, asserting a clean exit.
pub fn sessions(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["read", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(out.status.success(), "smtpdiag {all:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l}: {e}")))
        .collect()
}

pub fn session_of(file: &str, id: &str) -> Value {
    let path = capture(file);
    let all = sessions(&[path.to_str().unwrap()]);
    all.into_iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("{file}: no session {id}"))
}

pub fn codes(session: &Value) -> Vec<String> {
    // A record without verdicts has no `verdicts` field.
    let verdicts = session.get("verdicts").map_or(&[][..], |v| v.as_array().unwrap());
    verdicts.iter().map(|v| v["code"].as_str().unwrap().to_string()).collect()
}

pub fn verdict<'a>(session: &'a Value, code: &str) -> &'a Value {
    session["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["code"] == code)
        .unwrap_or_else(|| panic!("no {code} verdict in {:?}", codes(session)))
}

pub fn packets(v: &Value) -> Vec<u64> {
    // A verdict without evidence packets has no `packets` field.
    let packets = v.get("packets").map_or(&[][..], |p| p.as_array().unwrap());
    packets.iter().map(|p| p.as_u64().unwrap()).collect()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}
pub mod pcap;
/// The library's test helpers (synthetic sessions), compiled from their one source file.
#[path = "../../src/synth.rs"]
pub mod synth;

/// The example binary cargo builds beside the tests.
pub fn generator() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.join("examples");
    let bin = dir.join(format!("gen-capture{}", std::env::consts::EXE_SUFFIX));
    bin.exists().then_some(bin)
}

/// A capture written by gen-capture (`size` as it takes it, e.g. "6M") in a temporary folder
/// that lives as long as the returned guard; `None` when the example was not built.
pub fn generated_capture(size: &str, seed: u64) -> Option<(tempfile::TempDir, PathBuf)> {
    let gen_bin = generator()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gen.pcap");
    let seed = seed.to_string();
    let status = Command::new(gen_bin).args(["--size", size, "--seed", &seed, "-o", file.to_str().unwrap()]).status();
    assert!(status.unwrap().success(), "gen-capture failed");
    Some((dir, file))
}
