//! Synthetic edge cases for the rules (the real-capture cases are in tests/captures.rs).

use super::{DiagnoseConfig, diagnose};
use crate::synth::{CLIENT, SERVER, SessionBuilder};

fn codes(b: &SessionBuilder) -> Vec<&'static str> {
    let sessions = b.analyze();
    assert_eq!(sessions.len(), 1, "one session expected");
    diagnose(&sessions[0], &DiagnoseConfig::default()).iter().map(|v| v.code).collect()
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
fn a_greeting_then_quit_gets_no_verdict() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 mx\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    assert!(codes(&b).is_empty());
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
    assert_eq!(codes(&b), ["IDLE_TIMEOUT"]);
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
