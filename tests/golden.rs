//! Golden outputs: `read --json` (NAME.ndjson), `read --json --events --explain` (NAME.full.ndjson)
//! and `read` (NAME.txt) of every capture in captures/
//! and captures/public/, stored in captures/golden/ beside each other, so any change of output shows
//! up as a reviewable diff of those files.
//!
//! Regenerate them all, after a change meant to alter output, with
//!
//!     UPDATE_GOLDEN=1 cargo test --test golden
//!
//! and check in the diff: it must show only what the change meant to change.
//!
//! The same files pin `read --threads 2`: sharding must not change a byte.
//!
//! Determinism: the binary runs with captures/ as its working directory and a relative file name,
//! so the `capture` field and any file name in the text hold no absolute path; NO_COLOR=1 keeps
//! colour codes out. Nothing in the output comes from the wall clock (times are the packets'), so
//! the files are compared byte for byte, without normalisation.

mod common;

use common::captures_dir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The capture files under captures/ (top level and public/), as paths relative to captures/,
/// sorted. A mail log beside a capture (NAME.exim.log) is not a capture.
fn capture_files() -> Vec<PathBuf> {
    let root = captures_dir();
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("public")] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            if [".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"].iter().any(|ext| name.ends_with(ext)) {
                files.push(path.strip_prefix(&root).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// captures/golden/REL without its capture extension, plus `ext`.
fn golden_path(capture: &Path, ext: &str) -> PathBuf {
    let rel = capture.to_str().unwrap();
    let stem = rel.trim_end_matches(".gz").trim_end_matches(".pcapng").trim_end_matches(".pcap");
    captures_dir().join("golden").join(format!("{stem}.{ext}"))
}

/// stdout of `smtpdiag ARGS… CAPTURE`, run in captures/; a failure or any stderr output fails the
/// test (it would be missing from the golden file).
fn output(args: &[&str], capture: &Path) -> String {
    let out = Command::new(common::bin())
        .args(args)
        .arg(capture)
        .current_dir(captures_dir())
        .env("NO_COLOR", "1")
        .output()
        .expect("run smtpdiag");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "smtpdiag {args:?} {}: {stderr}", capture.display());
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The first differing line of two texts, for a short failure message (the full diff is the
/// regenerated file's `git diff`).
fn first_difference(want: &str, got: &str) -> String {
    let (mut w, mut g) = (want.lines(), got.lines());
    for line in 1.. {
        match (w.next(), g.next()) {
            (Some(a), Some(b)) if a == b => continue,
            (None, None) => return "differs only in line endings".into(),
            (a, b) => {
                let cut = |s: Option<&str>| s.map_or("<end>".to_string(), |s| s.chars().take(300).collect());
                return format!("line {line}:\n    want {}\n    got  {}", cut(a), cut(b));
            }
        }
    }
    unreachable!()
}

/// What is pinned per capture: the default record, the record with everything asked for (the
/// transcript and packet evidence of --events, the explanations of --explain), and the text.
const GOLDEN_OUTPUTS: [(&[&str], &str); 3] = [
    (&["read", "--json"], "ndjson"),
    (&["read", "--json", "--events", "--explain"], "full.ndjson"),
    (&["read"], "txt"),
];

#[test]
fn every_capture_matches_its_golden_outputs() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let captures = capture_files();
    assert!(captures.len() >= 70, "only {} captures found in {}", captures.len(), captures_dir().display());
    let mut failures = Vec::new();
    // The summary of all captures together is the other test's.
    let mut expected_files = vec![captures_dir().join("golden/summary.txt")];
    for capture in &captures {
        for (args, ext) in GOLDEN_OUTPUTS {
            let got = output(args, capture);
            let path = golden_path(capture, ext);
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &got).unwrap();
            }
            match std::fs::read_to_string(&path) {
                Ok(want) if want == got => {
                    // Sharded analysis must print the same bytes (README: --threads).
                    let threaded = output(&[args, &["--threads", "2"]].concat(), capture);
                    if threaded != want {
                        let diff = first_difference(&want, &threaded);
                        failures.push(format!("{} with --threads 2: {diff}", path.display()));
                    }
                }
                Ok(want) => failures.push(format!("{}: {}", path.display(), first_difference(&want, &got))),
                Err(e) => failures.push(format!("{}: {e}", path.display())),
            }
            expected_files.push(path);
        }
    }
    // A golden file whose capture is gone would otherwise pin nothing and linger.
    let mut stale = Vec::new();
    for dir in [captures_dir().join("golden"), captures_dir().join("golden/public")] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_file() && !expected_files.contains(&path) {
                if update {
                    std::fs::remove_file(&path).unwrap();
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
    }
    assert!(stale.is_empty(), "golden files without a capture: {stale:?} (UPDATE_GOLDEN=1 removes them)");
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ; if the change is meant, regenerate with \
         `UPDATE_GOLDEN=1 cargo test --test golden` and review `git diff captures/golden`:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_file_names_follow_the_capture() {
    assert_eq!(
        golden_path(Path::new("public/pcapplusplus-Smtp.pcap"), "ndjson"),
        captures_dir().join("golden/public/pcapplusplus-Smtp.ndjson")
    );
    assert_eq!(
        golden_path(Path::new("16-fw-masked-banner.inside.pcap"), "txt"),
        captures_dir().join("golden/16-fw-masked-banner.inside.txt")
    );
}

/// The summary: from the "N sessions in M captures" line to the end.
fn summary(text: &str) -> &str {
    let at = text.find(" captures (").expect("a totals line");
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    &text[start..]
}

/// The summary `read` prints after the sessions of every capture at once (captures/golden/summary.txt):
/// a verdict change anywhere moves its counts.
#[test]
fn the_summary_of_every_capture_matches_its_golden_file() {
    let captures = capture_files();
    let mut command = Command::new(common::bin());
    command.arg("read").args(&captures).current_dir(captures_dir()).env("NO_COLOR", "1");
    let out = command.output().expect("run smtpdiag");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let got = summary(&text);
    let path = captures_dir().join("golden/summary.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 cargo test --test golden writes it)", path.display()));
    assert!(
        want == got,
        "{}: {} (UPDATE_GOLDEN=1 cargo test --test golden)",
        path.display(),
        first_difference(&want, got)
    );
}
