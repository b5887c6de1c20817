//! A hostile peer's text never reaches the terminal raw: every verdict that quotes a banner, a
//! reply or a command is fed one full of terminal controls (OSC title and clipboard writes,
//! screen clears, C1 CSI, bidi overrides), and nothing that a terminal would act on may come out
//! of `read`, `read --explain`, `read --ladder` or `ladder`, on stdout or stderr.

mod common;

use common::synth::{CLIENT, SERVER, SessionBuilder};
use common::*;
use smtpdiag::render::sanitize::is_clean;

/// What a malicious MX or client puts in its text: window title, screen clear, clipboard write
/// (OSC 52), backspace, NUL, DEL, a C1 CSI, and bidi overrides.
const EVIL: &str = "\u{1b}]0;OWNED\u{7}\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{8}\u{0}\u{7f}\u{9b}31m\u{202e}gnp\u{2066}x";

fn ehlo(b: &mut SessionBuilder) -> &mut SessionBuilder {
    b.handshake().server("220 mx ESMTP\r\n").client("EHLO a.example\r\n").server("250 mx\r\n")
}

/// One session per verdict that quotes wire text, with the verdict it must get.
fn scenarios() -> Vec<(&'static str, SessionBuilder)> {
    let mut out = Vec::new();

    let mut b = SessionBuilder::lab();
    b.handshake().server(&format!("554 5.7.1 {EVIL}\r\n")).client("QUIT\r\n").server("221 bye\r\n").close();
    out.push(("REJECT", b));

    let mut b = SessionBuilder::lab();
    ehlo(&mut b).client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client(&format!("RCPT TO:<{EVIL}>\r\n"));
    b.server(&format!("550 5.1.1 {EVIL}\r\n")).client("QUIT\r\n").server("221 bye\r\n").close();
    out.push(("TRANSACTION_REJECTED", b));

    let mut b = SessionBuilder::lab();
    ehlo(&mut b).client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client("RCPT TO:<c@d>\r\n").server("250 ok\r\n");
    b.client("DATA\r\n").server("354 go\r\n").client("Subject: x\r\n\r\nhi\r\n.\r\n");
    b.server(&format!("250 2.0.0 Ok: queued as {EVIL}\r\n")).client("QUIT\r\n").server("221 bye\r\n").close();
    out.push(("DELIVERED", b));

    let mut b = SessionBuilder::lab();
    b.handshake().server(&format!("421 4.3.2 {EVIL}\r\n")).fin(SERVER).ack(CLIENT).fin(CLIENT).ack(SERVER);
    out.push(("TEMPFAIL", b));

    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server(&format!("502 5.5.1 {EVIL}\r\n"));
    b.client("HELO a\r\n").server("250 ok\r\n").client(&format!("XXXX {EVIL}\r\n"));
    b.server(&format!("500 5.5.1 unrecognized command XXXX {EVIL}\r\n"));
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    out.push(("COMMAND_MASKED", b));

    let mut b = SessionBuilder::lab();
    let long = format!("MAIL FROM:<{EVIL}{}>\r\n", "a".repeat(600));
    ehlo(&mut b).client(&long).forged_rst(SERVER, 255);
    out.push(("INSPECTION_LIMIT", b));

    let mut b = SessionBuilder::new(([192, 0, 2, 7], 50000), ([198, 51, 100, 25], 587));
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250-mx\r\n250 AUTH PLAIN\r\n");
    b.client("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n").server(&format!("535 5.7.8 {EVIL}\r\n"));
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    out.push(("AUTH_FAILED", b));
    out
}

/// Every byte a terminal would act on, shown with where it is, for the failure message.
fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| !is_clean(&c.to_string())) {
        let around = &text[at.saturating_sub(60)..(at + 20).min(text.len())];
        panic!("{what}: U+{:04X} reached the output at byte {at}: {around:?}", c as u32);
    }
}

#[test]
fn no_verdict_lets_a_terminal_control_through() {
    let dir = tempfile::tempdir().unwrap();
    for (code, b) in scenarios() {
        let path = dir.path().join(format!("{code}.pcap"));
        std::fs::write(&path, b.pcap()).unwrap();
        let file = path.to_str().unwrap();
        let read = run(&["read", file]);
        assert!(read.status.success(), "{code}: {}", String::from_utf8_lossy(&read.stderr));
        let stdout = String::from_utf8_lossy(&read.stdout);
        assert!(stdout.contains(code), "{code} expected:\n{stdout}");
        assert!(stdout.contains(r"\x1b]"), "{code}: the hostile text is quoted, escaped:\n{stdout}");
        for args in [
            &["read"][..],
            &["read", "--explain"],
            &["read", "--ladder"],
            &["ladder"],
            &["read", "--ascii", "--ladder"],
        ] {
            let mut all = args.to_vec();
            all.push(file);
            let out = run(&all);
            assert_clean(&format!("{code} {args:?} stdout"), &out.stdout);
            assert_clean(&format!("{code} {args:?} stderr"), &out.stderr);
        }
    }
}

#[test]
fn the_queue_id_takes_no_control_bytes() {
    let (_, b) = scenarios().into_iter().find(|(c, _)| *c == "DELIVERED").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.pcap");
    std::fs::write(&path, b.pcap()).unwrap();
    let records = sessions(&[path.to_str().unwrap()]);
    let summary = records[0]["verdicts"][0]["summary"].as_str().unwrap().to_string();
    assert!(!summary.contains("queue id"), "a control byte is no queue id: {summary:?}");
}

/// File names are the user's, but they end up in errors and warnings: a name made to drive the
/// terminal is shown escaped too.
#[test]
fn errors_and_warnings_escape_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("cap{EVIL}.pcap").replace(['\0', '/'], "");
    let path = dir.path().join(&name);
    let (_, b) = scenarios().remove(0);
    let mut bytes = b.pcap();
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&["read", path.to_str().unwrap(), path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning") && stderr.contains(r"\x1b]0;OWNED"), "{stderr}");
    assert_clean("warning stderr", &out.stderr);
    assert_clean("warning stdout", &out.stdout);
    std::fs::write(&path, b"not a capture at all").unwrap();
    let out = run(&["read", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(r"\x1b]0;OWNED"));
    assert_clean("error stderr", &out.stderr);
}
