//! `smtpdiag generate man [COMMAND]`: a page per subcommand, each rendered by groff (and by
//! man-db's `man -l` in CI) without a warning; the top page names only pages that exist.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

/// Every page: "smtpdiag" and each subcommand, as the top page lists them.
fn pages() -> Vec<(String, String)> {
    let top = page(None);
    let mut all = vec![("smtpdiag".to_string(), top.clone())];
    let listed = top.split(".SH SUBCOMMANDS").nth(1).expect("the top page lists the subcommands");
    let listed = listed.split("\n.SH ").next().unwrap();
    for line in listed.lines().filter(|l| l.starts_with("smtpdiag\\-")) {
        let name = line.trim_start_matches("smtpdiag\\-").split('(').next().unwrap().replace("\\-", "-");
        all.push((name.clone(), page(Some(&name))));
    }
    all
}

fn page(command: Option<&str>) -> String {
    let mut args = vec!["generate", "man"];
    args.extend(command);
    let out = run(&args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Renders `page` with `program args…` on stdin; returns what it said on stderr.
fn render_warnings(program: &str, args: &[&str], page: &str) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} failed");
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_subcommand_has_a_page_and_the_top_page_names_only_those() {
    let all = pages();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for want in ["smtpdiag", "read", "ladder", "live", "generate"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(!names.contains(&"help"), "no page for clap's help subcommand: {names:?}");
    for (name, text) in &all {
        let title = if name == "smtpdiag" { "smtpdiag".to_string() } else { format!("smtpdiag-{name}") };
        assert!(text.contains(&format!(".TH {title} 1")), "{name}: {}", &text[..200.min(text.len())]);
        assert!(text.is_ascii(), "{name}: non-ASCII characters are written as groff escapes");
        if name != "smtpdiag" {
            assert!(text.contains(&format!("\\fBsmtpdiag {name}\\fR")), "{name}: the synopsis runs `smtpdiag {name}`");
        }
    }
    let out = run(&["generate", "man", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read, ladder, live"));
}

#[test]
fn pages_render_without_groff_warnings() {
    for (name, text) in pages() {
        let Some(warnings) = render_warnings("groff", &["-man", "-ww", "-z"], &text) else {
            eprintln!("skipped: groff is not installed");
            return;
        };
        assert_eq!(warnings, "", "{name}");
    }
}

#[test]
fn dir_writes_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("man1");
    let out = run(&["generate", "man", "--dir", target.to_str().unwrap()]);
    assert!(out.status.success());
    for (name, text) in pages() {
        let file = if name == "smtpdiag" { "smtpdiag.1".to_string() } else { format!("smtpdiag-{name}.1") };
        assert_eq!(std::fs::read_to_string(target.join(&file)).unwrap(), text, "{file}");
    }
}

/// As a user reads them: man-db's `man -l`, warnings on (scripts/ci-deps-manpages installs it).
#[test]
#[ignore = "needs man-db (scripts/ci-deps-manpages)"]
fn pages_render_with_man_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in pages() {
        let path = dir.path().join(format!("{name}.1"));
        std::fs::write(&path, &text).unwrap();
        let out = Command::new("man")
            .args(["--warnings=w", "-l", path.to_str().unwrap()])
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .output()
            .expect("man-db is installed");
        assert!(out.status.success(), "{name}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{name}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("SYNOPSIS"), "{name}");
    }
}

/// Completions offer the verdict codes (the library's one list) and the ladder formats.
#[test]
fn completions_offer_verdict_codes_and_formats() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["generate", shell]);
        let script = String::from_utf8(out.stdout).unwrap();
        for code in smtpdiag::diagnose::VerdictCode::all() {
            assert!(script.contains(code.as_str()), "{shell}: {code}");
        }
        assert!(script.contains("mermaid") && script.contains("svg"), "{shell}: formats");
    }
}
