//! Synthetic edge cases for the rules (the real-capture cases are in tests/captures.rs).

use super::{DiagnoseConfig, VerdictCode, diagnose};
use crate::synth::{CLIENT, SERVER, SessionBuilder};

fn codes(b: &SessionBuilder) -> Vec<&'static str> {
    let sessions = b.analyze();
    assert_eq!(sessions.len(), 1, "one session expected");
    diagnose(&sessions[0], &DiagnoseConfig::default()).iter().map(|v| v.code.as_str()).collect()
}

fn delivery(b: &mut SessionBuilder) -> &mut SessionBuilder {
    b.handshake()
        .server("220 mx ESMTP\r\n")
        .client("EHLO a.example\r\n")
        .server("250-mx\r\n250 PIPELINING\r\n")
        .client("MAIL FROM:<a@example.net>\r\n")
        .server("250 ok\r\n")
        .client("RCPT TO:<b@example.com>\r\n")
        .server("250 ok\r\n")
        .client("DATA\r\n")
        .server("354 go\r\n")
        .client("Subject: x\r\n\r\nhello\r\n.\r\n")
        .server("250 ok queued as 4F2A1\r\n")
        .client("QUIT\r\n")
        .server("221 bye\r\n")
        .close()
}

#[test]
fn a_clean_delivery_gets_delivered_and_nothing_else() {
    let mut b = SessionBuilder::lab();
    delivery(&mut b);
    assert_eq!(codes(&b), ["DELIVERED"]);
}

#[test]
fn a_greeting_then_quit_is_no_message() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    assert_eq!(codes(&b), ["NO_MESSAGE"]);
}

#[test]
fn a_refused_vrfy_then_quit_is_no_message_not_reject() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("VRFY postmaster\r\n").server("550 5.1.1 no\r\n");
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    assert_eq!(codes(&b), ["NO_MESSAGE"]);
}

#[test]
fn a_sender_callout_is_no_message() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250 ok\r\n");
    b.client("MAIL FROM:<>\r\n").server("250 ok\r\n").client("RCPT TO:<x@y>\r\n").server("250 ok\r\n");
    b.client("RSET\r\n").server("250 reset\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    let sessions = b.analyze();
    let v = diagnose(&sessions[0], &DiagnoseConfig::default());
    assert_eq!(v.iter().map(|v| v.code.as_str()).collect::<Vec<_>>(), ["NO_MESSAGE"]);
    assert!(v[0].finding.contains("callout"), "{}", v[0].finding);
}

#[test]
fn a_server_that_never_greets_is_server_silent() {
    let mut b = SessionBuilder::lab();
    b.handshake().wait(10.0).close();
    assert_eq!(codes(&b), ["SERVER_SILENT"]);
    // Closed at once: a port probe, not a silent server.
    let mut b = SessionBuilder::lab();
    b.handshake().wait(0.01).close();
    assert_eq!(codes(&b), ["NO_MESSAGE"]);
}

#[test]
fn a_command_never_answered_is_server_silent() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").wait(20.0).close();
    assert_eq!(codes(&b), ["SERVER_SILENT"]);
}

#[test]
fn a_client_silent_after_a_complete_greeting_stalled() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220-mx\r\n220-more\r\n220 mx\r\n").wait(10.0);
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    let sessions = b.analyze();
    let v = diagnose(&sessions[0], &DiagnoseConfig::default());
    assert_eq!(v.iter().map(|v| v.code.as_str()).collect::<Vec<_>>(), ["CLIENT_STALLED"]);
    assert!(v[0].finding.contains("10.0 s after the greeting, then sent QUIT"), "{}", v[0].finding);
    assert!(v[0].finding.contains("device in the path"), "{}", v[0].finding);
}

#[test]
fn plain_text_after_starttls_is_read_on_and_delivered() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250-mx\r\n250 STARTTLS\r\n");
    b.client("STARTTLS\r\n").server("220 go ahead\r\n").client("EHLO a\r\n").server("250 mx\r\n");
    b.client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client("RCPT TO:<c@d>\r\n").server("250 ok\r\n");
    b.client("DATA\r\n").server("354 go\r\n").client("Subject: x\r\n\r\nhi\r\n.\r\n").server("250 ok id=1\r\n");
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    assert_eq!(codes(&b), ["DELIVERED", "PLAINTEXT_AFTER_STARTTLS"]);
}

#[test]
fn not_smtp_on_a_mail_port_is_said_so() {
    let mut b = SessionBuilder::lab();
    b.handshake();
    b.send(CLIENT, crate::decode::TcpFlags::PSH | crate::decode::TcpFlags::ACK, &[0, 14, 0x38, 1, 2, 3, 0, 0, 0, 0, 0]);
    b.send(SERVER, crate::decode::TcpFlags::PSH | crate::decode::TcpFlags::ACK, &[0, 26, 0x40, 9, 8, 7, 0, 1]);
    b.close();
    assert_eq!(codes(&b), ["NOT_SMTP"]);
}

#[test]
fn server_reset_with_its_own_ttl_is_tcprefuse_not_a_firewall() {
    let mut b = SessionBuilder::lab();
    b.handshake().rst(SERVER);
    assert_eq!(codes(&b), ["TCPREFUSE"]);
}

#[test]
fn reset_with_a_foreign_ttl_is_a_firewall_reset() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250 ok\r\n").forged_rst(SERVER, 255);
    let c = codes(&b);
    assert!(c.contains(&"FIREWALL_RESET"), "{c:?}");
}

#[test]
fn a_5xx_greeting_is_reject_even_when_the_client_quits_first() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("554 5.7.1 go away\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    assert_eq!(codes(&b), ["REJECT"]);
}

#[test]
fn a_421_greeting_without_another_session_is_a_plain_tempfail() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("421 4.3.2 busy\r\n").fin(SERVER).ack(CLIENT).fin(CLIENT).ack(SERVER);
    assert_eq!(codes(&b), ["TEMPFAIL"]);
}

#[test]
fn quit_after_mail_is_aborted_by_sender_but_not_after_a_refused_rcpt() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("HELO a\r\n").server("250 ok\r\n");
    b.client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    assert_eq!(codes(&b), ["ABORTED_BY_SENDER"]);

    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("HELO a\r\n").server("250 ok\r\n");
    b.client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client("RCPT TO:<x@y>\r\n").server("550 no such user\r\n");
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    assert_eq!(codes(&b), ["TRANSACTION_REJECTED"]);
}

#[test]
fn long_silence_before_the_close_is_an_idle_timeout() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250 ok\r\n").wait(45.0).close();
    assert_eq!(codes(&b), ["IDLE_TIMEOUT", "CLIENT_STALLED"]);
}

#[test]
fn retransmitted_bytes_that_differ_are_a_rewrite() {
    let mut b = SessionBuilder::lab();
    b.handshake();
    let (seq, ack) = (b.next_seq(SERVER), b.next_seq(CLIENT));
    b.raw(SERVER, 0x18, seq, ack, b"220 mx ESMTP ready\r\n", 63);
    b.raw(SERVER, 0x18, seq, ack, b"220 mx ESMTP XXXXX\r\n", 63);
    let c = codes(&b);
    assert!(c.contains(&"STREAM_REWRITTEN"), "{c:?}");
}

#[test]
fn masked_command_and_refused_ehlo() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("502 5.5.1 not implemented\r\n");
    b.client("HELO a\r\n").server("250 ok\r\n").client("XXXX\r\n").server("500 5.5.1 unrecognized command XXXX\r\n");
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    let c = codes(&b);
    assert!(c.contains(&"EHLO_REFUSED") && c.contains(&"COMMAND_MASKED"), "{c:?}");
}

#[test]
fn a_few_retransmissions_are_not_a_finding_many_are() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n");
    let (seq, ack) = (b.next_seq(CLIENT), b.next_seq(SERVER));
    b.raw(CLIENT, 0x18, seq, ack, b"EHLO a\r\n", 64).raw(CLIENT, 0x18, seq, ack, b"EHLO a\r\n", 64);
    assert!(!codes(&b).contains(&"RETRANSMISSIONS"));
    for _ in 0..4 {
        b.raw(CLIENT, 0x18, seq, ack, b"EHLO a\r\n", 64);
    }
    assert!(codes(&b).contains(&"RETRANSMISSIONS"));
}

#[test]
fn syn_retries_before_success_are_a_slow_handshake() {
    let mut b = SessionBuilder::lab();
    b.syn().wait(1.0).syn().wait(2.0);
    delivery(&mut b);
    assert_eq!(codes(&b), ["DELIVERED", "SLOW_HANDSHAKE"]);
}

#[test]
fn a_capture_that_starts_mid_session_is_incomplete() {
    let mut b = SessionBuilder::lab();
    delivery(&mut b);
    b.frames.drain(..5);
    let c = codes(&b);
    assert!(c.contains(&"INCOMPLETE"), "{c:?}");
}

#[test]
fn a_refused_login_is_auth_failed() {
    let mut b = SessionBuilder::new(([192, 0, 2, 7], 50000), ([198, 51, 100, 25], 587));
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250-mx\r\n250 AUTH LOGIN PLAIN\r\n");
    b.client("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n").server("535 5.7.8 Authentication credentials invalid\r\n");
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    assert_eq!(codes(&b), ["AUTH_FAILED"]);
}

/// A refusal of the SASL response itself (501: it could not be decoded) fails the login too.
#[test]
fn a_refused_sasl_response_is_auth_failed() {
    let mut b = SessionBuilder::new(([192, 0, 2, 7], 50000), ([198, 51, 100, 25], 587));
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250-mx\r\n250 AUTH LOGIN\r\n");
    b.client("AUTH LOGIN\r\n").server("334 VXNlcm5hbWU6\r\n");
    b.client("not base64\r\n").server("501 5.5.2 cannot decode response\r\n");
    b.client("QUIT\r\n").server("221 bye\r\n").close();
    let sessions = b.analyze();
    let v = diagnose(&sessions[0], &DiagnoseConfig::default());
    assert_eq!(v.iter().map(|v| v.code.as_str()).collect::<Vec<_>>(), ["AUTH_FAILED"]);
    assert!(v[0].finding.contains("\"501 5.5.2 cannot decode response\""), "{}", v[0].finding);
}

/// A session cut by a forged reset right after `line`; the INSPECTION_LIMIT verdict.
fn cut_after(line: &str) -> Option<crate::diagnose::Verdict> {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("EHLO a\r\n").server("250 ok\r\n");
    b.client("MAIL FROM:<a@b>\r\n").server("250 ok\r\n").client(line).forged_rst(SERVER, 255);
    let sessions = b.analyze();
    diagnose(&sessions[0], &DiagnoseConfig::default()).into_iter().find(|v| v.code == VerdictCode::InspectionLimit)
}

#[test]
fn inspection_built_in_checks_are_named() {
    let pipe = cut_after("RCPT TO:<\"|/bin/sh\"@example.com>\r\n").expect("pipe");
    assert!(pipe.finding.contains("pipe character"), "{}", pipe.finding);
    assert!(pipe.explanation.contains("built-in check"), "{}", pipe.explanation);
    let short = cut_after("XY\r\n").expect("short");
    assert!(short.finding.contains("command of 2 characters"), "{}", short.finding);
    let bare = cut_after("RCPT TO:<c@d>\n").expect("bare LF");
    assert!(bare.finding.contains("not terminated by CRLF"), "{}", bare.finding);
    assert!(cut_after("RCPT TO:<c@d>\r\n").is_none(), "an ordinary RCPT is no offence");
}

#[test]
fn each_limit_names_its_asa_setting() {
    let long = cut_after(&format!("RCPT TO:<{}@example.com>\r\n", "x".repeat(560))).expect("long line");
    assert!(
        long.explanation.contains("`match cmd line length gt 512` / `drop-connection log`"),
        "{}",
        long.explanation
    );
}

/// Zeek's `tcp__syn-then-ack-then-rst`: the SYN gets a bare (challenge) ACK, the client resets.
#[test]
fn a_syn_answered_by_a_bare_ack_is_no_answer_naming_the_ack() {
    use crate::decode::TcpFlags;
    let mut b = SessionBuilder::lab();
    b.raw(CLIENT, TcpFlags::SYN, 0, 0, b"", 64);
    b.raw(SERVER, TcpFlags::ACK, 77, 0, b"", 63);
    b.raw(CLIENT, TcpFlags::RST, 0, 0, b"", 64);
    let sessions = b.analyze();
    let verdicts = diagnose(&sessions[0], &DiagnoseConfig::default());
    assert_eq!(verdicts.iter().map(|v| v.code.as_str()).collect::<Vec<_>>(), ["NO_ANSWER"]);
    assert!(verdicts[0].finding.contains("bare ACK (packet 2)"), "{}", verdicts[0].finding);
    assert_eq!(verdicts[0].packets, [1, 2, 3]);
}
