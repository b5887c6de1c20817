//! `smtpdiag report`: the page's content and its escaping (plain tests), and the page opened in
//! headless Chromium (ignored by a plain `cargo test`: it needs the Debian package `chromium`,
//! which `.ci/run` installs through scripts/ci-deps-report; run it with
//! `cargo test --test report -- --ignored`).

mod common;

use common::synth::SessionBuilder;
use common::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `smtpdiag report ARGS… -o DIR/report.html` and returns the page.
fn report(dir: &Path, args: &[&str]) -> String {
    let out_path = dir.join("report.html");
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", out_path.to_str().unwrap()]);
    let out = run(&all);
    assert!(out.status.success(), "smtpdiag {all:?}: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&out_path).expect("the report was written")
}

fn pcaps() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    all.sort();
    all
}

/// A greeting and a command full of markup: every piece of it must reach the page as text.
#[test]
fn markup_from_the_wire_is_shown_as_text() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("554 <script>alert(1)</script> </svg> R&D <b>bold</b>\r\n");
    b.client("HELO </svg><script>alert(2)</script>&amp;\r\n").server("503 <img src=x onerror=alert(3)>\r\n");
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("hostile.pcap");
    std::fs::write(&pcap, b.pcap()).unwrap();
    let page = report(dir.path(), &[pcap.to_str().unwrap()]);

    let lower = page.to_lowercase();
    assert!(!lower.contains("<script"), "a script element in the page");
    assert!(!lower.contains("<img") && !lower.contains("<b>"), "markup from the wire became markup");
    assert_eq!(lower.matches("<svg").count(), lower.matches("</svg>").count(), "an </svg> closed a drawing early");
    // Shown as text: in the transcript and the verdict (HTML) and in the ladder (SVG).
    let ladder_at = page.find("<figure class=\"ladder\">").expect("the session is drawn");
    let (html_part, svg_part) = page.split_at(ladder_at);
    for part in [html_part, svg_part] {
        assert!(part.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "banner not escaped");
        assert!(part.contains("&lt;/svg&gt;"));
        assert!(part.contains("R&amp;D"));
    }
    assert!(page.contains("&lt;/svg&gt;&lt;script&gt;alert(2)&lt;/script&gt;&amp;amp;"), "HELO not escaped");
    assert!(page.contains("&lt;img src=x onerror=alert(3)&gt;"));
    assert!(page.contains(r#"id="s-1""#), "the session's anchor");
}

#[test]
fn the_page_has_totals_tables_charts_and_anchored_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let files = [capture("02-reject-554-greeting.pcap"), capture("16-fw-masked-banner.pcap")];
    let args: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let page = report(dir.path(), &args);
    for needle in [
        "Sessions by headline verdict",
        "Sessions over time",
        "firewall artifacts",
        "198.51.100.25",
        "203.0.113.5",
        // Several captures: ids and anchors name the capture.
        r#"id="s-"#,
        "02-reject-554-greeting.pcap:1",
        "REJECT",
        "MASKED_BANNER",
        // The masked banner's asterisks are marked in the transcript.
        "<mark>*",
    ] {
        assert!(page.contains(needle), "no {needle:?} in the page");
    }
    // Timeline, server chart and two ladders, all inline.
    assert!(page.matches("<svg").count() >= 4, "{} drawings", page.matches("<svg").count());
    assert!(!page.contains(" src=") && !page.contains("href=\"http"), "nothing is fetched");
    let anchors: Vec<&str> = page.match_indices(r#"<article class="session" id=""#).map(|(i, _)| &page[i..]).collect();
    assert_eq!(anchors.len(), 2, "both sessions are flagged and drawn");
}

#[test]
fn the_limit_draws_fewer_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let all = pcaps();
    let mut args: Vec<&str> = all.iter().map(|f| f.to_str().unwrap()).collect();
    args.extend_from_slice(&["--max-ladders", "3"]);
    let page = report(dir.path(), &args);
    assert_eq!(page.matches(r#"<article class="session""#).count(), 3);
    assert!(page.contains("Flagged sessions not drawn"));
}

#[test]
fn selection_narrows_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = capture("06-tempfail-421-greeting-failover.pcap");
    let page = report(dir.path(), &[file.to_str().unwrap(), "--session", "2"]);
    assert_eq!(page.matches(r#"<article class="session""#).count(), 1);
    assert!(page.contains(r#"id="s-2""#), "session 2 is drawn even if nothing is wrong with it");
    let page = report(dir.path(), &[file.to_str().unwrap(), "--server", "198.51.100.26"]);
    assert!(page.contains("198.51.100.26") && !page.contains("198.51.100.25"), "only the chosen server");
    // -o DIR writes DIR/report.html.
    let out = run(&["report", file.to_str().unwrap(), "--verdict", "TCPREFUSE", "-o", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session matched"));
    let empty = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(empty.contains("No session has a warning or an error."));
}

#[test]
fn the_mail_server_log_is_beside_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let file = capture("61-exim-log-fw-reset-long-header-line.pcap");
    let log = capture("61-exim-log-fw-reset-long-header-line.exim.log");
    let args = [file.to_str().unwrap(), "--maillog", log.to_str().unwrap(), "--log-tz", "UTC"];
    let page = report(dir.path(), &args);
    assert!(page.contains("Mail server log"), "the log's summary section");
    assert!(page.contains("paired, 0 ambiguous"), "the log's counts");
    let session = &page[page.find(r#"<article class="session""#).expect("the session is drawn")..];
    assert!(session.contains(r#"<pre class="log">log  exim"#), "the log's note under the session");
    assert!(session.contains("lost while reading message data"));
}

/// Headless Chromium opens the report of every capture from disk: no console message (the page
/// has no script, and its Content-Security-Policy would log any attempt to fetch or run
/// something), the DOM has the sessions, and the screenshot is a drawn page, not a blank one.
#[test]
#[ignore = "needs chromium (Debian package); run by .ci/run after scripts/ci-deps-report"]
fn chromium_renders_the_report_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let all = pcaps();
    let args: Vec<&str> = all.iter().map(|f| f.to_str().unwrap()).collect();
    let page = report(dir.path(), &args);
    let html = dir.path().join("report.html");
    let url = format!("file://{}", html.display());
    let shot = dir.path().join("report.png");

    let (dom, log) = chromium(dir.path(), &["--dump-dom", &url]);
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages:\n{}", console.join("\n"));
    let drawn = page.matches(r#"<article class="session""#).count();
    assert!(drawn > 10, "{drawn} sessions drawn");
    assert_eq!(dom.matches(r#"<article class="session""#).count(), drawn, "the browser's DOM lost sessions");

    let (_, log) =
        chromium(dir.path(), &[&format!("--screenshot={}", shot.display()), "--window-size=1280,2000", &url]);
    assert!(shot.exists(), "no screenshot; chromium said:\n{log}");
    let (width, height, pixels) = decode_png(&shot);
    assert_eq!((width, height), (1280, 2000));
    let colors: HashSet<[u8; 3]> = pixels.iter().copied().collect();
    // Text, cards, badges and both charts' verdict colors.
    assert!(colors.len() > 50, "only {} distinct colors", colors.len());
    let background = most_common(&pixels);
    let inked = pixels.iter().filter(|p| **p != background).count();
    assert!(inked * 100 > pixels.len() * 5, "almost blank: {inked} of {} pixels drawn", pixels.len());
    // The verdict colors of the charts are there (REJECT red, DELIVERED green).
    for (name, rgb) in [("REJECT", [0xcf, 0x22, 0x2e]), ("DELIVERED", [0x2d, 0xa4, 0x4e])] {
        assert!(colors.contains(&rgb), "no {name} color in the screenshot");
    }
    if let Ok(keep) = std::env::var("SMTPDIAG_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// Runs headless Chromium with a throwaway profile; returns its stdout and its log.
fn chromium(profile: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.join("chromium").display()))
        .args(args)
        .output()
        .expect("chromium (apt-get install chromium)");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed:\n{log}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), log)
}

fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "expected RGB(A), got {:?}", info.color_type);
    let pixels = buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    (info.width, info.height, pixels)
}

fn most_common(pixels: &[[u8; 3]]) -> [u8; 3] {
    let mut counts = std::collections::HashMap::new();
    for p in pixels {
        *counts.entry(*p).or_insert(0u64) += 1;
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(p, _)| p).unwrap()
}
