//! Whole-dialogue tests built from literal byte sequences reproducing the corpus's tricky cases.

use super::*;
use crate::tcp::{Direction, PacketRef};

const C: Direction = Direction::ClientToServer;
const S: Direction = Direction::ServerToClient;

/// Feeds steps in order, one packet each (numbered from 1).
fn run_with(cfg: &SmtpConfig, steps: &[(Direction, &[u8])]) -> SmtpRecord {
    let mut d = Dialogue::new(cfg);
    for (i, (dir, bytes)) in steps.iter().enumerate() {
        d.on_data(*dir, bytes, PacketRef { number: i as u64 + 1, ..Default::default() });
    }
    d.finish()
}

fn run(steps: &[(Direction, &[u8])]) -> SmtpRecord {
    run_with(&SmtpConfig::default(), steps)
}

fn has(rec: &SmtpRecord, kind: AnomalyKind) -> bool {
    rec.anomalies.iter().any(|a| a.kind == kind)
}

/// Everything the record holds, as text (what reaches any output is a part of it).
fn stored(rec: &SmtpRecord) -> String {
    format!("{rec:?}")
}

#[test]
fn multi_line_banner_and_ehlo_reply_split_mid_line() {
    let rec = run(&[
        (S, b"220-mx.example.org ESMTP\r\n220 no UCE\r\n"),
        (C, b"EHLO client.example\r\n"),
        (S, b"250-mx.example.org\r\n250-PIPELINING\r\n250-SI"),
        (S, b"ZE 10240000\r\n250 STARTTLS\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 bye\r\n"),
    ]);
    let b = rec.banner.as_ref().unwrap();
    assert_eq!((b.code, b.text.as_str(), b.packet.number), (220, "mx.example.org ESMTP\nno UCE", 1));
    assert_eq!(rec.helo_verb, Some(Verb::Ehlo));
    assert_eq!(rec.helo.as_deref(), Some("client.example"));
    assert_eq!(rec.ehlo_keywords, ["PIPELINING", "SIZE 10240000", "STARTTLS"]);
    assert_eq!(rec.commands, ["EHLO", "QUIT"]);
    assert_eq!(rec.replies, [220, 250, 221]);
    assert!(rec.anomalies.is_empty(), "{:?}", rec.anomalies);
    assert!(rec.starttls.is_none());
}

#[test]
fn pipelined_envelope_and_data_in_one_chunk() {
    let rec = run(&[
        (S, b"220 mx ESMTP\r\n"),
        (C, b"EHLO c\r\n"),
        (S, b"250-mx\r\n250 PIPELINING\r\n"),
        (C, b"MAIL FROM:<a@x.org> SIZE=99\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"),
        (S, b"250 ok\r\n250 ok\r\n550 no such user\r\n354 go ahead\r\n"),
        (C, b"Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n"),
        (S, b"250 2.0.0 Ok: queued as 4F3B21C\r\n221 bye\r\n"),
    ]);
    assert!(rec.pipelining);
    assert_eq!(rec.commands, ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]);
    assert_eq!(rec.replies, [220, 250, 250, 250, 550, 354, 250, 221]);
    assert_eq!(rec.mail_from, ["a@x.org"]);
    assert_eq!(rec.rcpt_to, ["b@y.org", "c@y.org"]);
    let t = &rec.transactions[0];
    assert_eq!(t.rcpts.iter().map(|r| r.reply).collect::<Vec<_>>(), [Some(250), Some(550)]);
    assert_eq!(t.data_intermediate_reply, Some(354));
    assert_eq!(t.data_reply.as_ref().map(|r| r.code), Some(250));
    assert_eq!(t.queue_id.as_deref(), Some("4F3B21C"));
    let body = t.body.as_ref().unwrap();
    assert_eq!((body.bytes, body.lines, body.terminated), (21, 3, true));
}

#[test]
fn rset_data_dot_in_one_segment() {
    let rec = run(&[(S, b"220 hi\r\n"), (C, b"RSET\r\nDATA\r\n.\r\n"), (S, b"250 ok\r\n354 go\r\n250 accepted\r\n")]);
    assert_eq!(rec.commands, ["RSET", "DATA"]);
    assert_eq!(rec.replies, [220, 250, 354, 250]);
    let t = rec.transactions.last().unwrap();
    assert_eq!(t.data_reply.as_ref().map(|r| r.code), Some(250));
    assert_eq!(t.body.as_ref().map(|b| b.bytes), Some(0));
}

#[test]
fn whole_message_pipelined_before_any_reply() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nRSET\r\n.\r\nQUIT\r\n"),
        (S, b"250 a\r\n250 b\r\n250 c\r\n354 d\r\n250 e\r\n221 f\r\n"),
    ]);
    // "RSET" inside the body is content, not a command.
    assert_eq!(rec.commands, ["HELO", "MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(rec.transactions[0].data_reply.as_ref().unwrap().code, 250);
}

#[test]
fn dot_stuffing_and_dot_lines() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
        (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        (C, b"X: y\r\n\r\n..hidden\r\n...\r\n. \r\n.\r\n"),
        (S, b"250 done\r\n"),
    ]);
    let body = rec.transactions[0].body.as_ref().unwrap();
    assert_eq!((body.dot_stuffed_lines, body.lines), (3, 5));
    assert_eq!(rec.transactions[0].data_reply.as_ref().unwrap().code, 250);
}

#[test]
fn rejected_data_lines_are_commands_again() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"DATA\r\nEHLO c\r\nMAIL FROM:<a@b>\r\n"),
        (S, b"503 need MAIL\r\n250 hi\r\n250 ok\r\n"),
        (C, b"RCPT TO:<c@d>\r\nDATA\r\n"),
        (S, b"250 ok\r\n354 go\r\n"),
        (C, b"hi\r\n.\r\n"),
        (S, b"250 queued as ABC123\r\n"),
    ]);
    assert_eq!(rec.commands, ["DATA", "EHLO", "MAIL", "RCPT", "DATA"]);
    assert_eq!(rec.replies, [220, 503, 250, 250, 250, 354, 250]);
    let first = &rec.transactions[0];
    assert_eq!((first.data_intermediate_reply, first.data_reply.is_none()), (Some(503), true));
    let last = rec.transactions.last().unwrap();
    assert_eq!(last.mail_from.as_deref(), Some("a@b"));
    assert_eq!(last.queue_id.as_deref(), Some("ABC123"));
}

#[test]
fn data_without_any_server_reply_is_a_body() {
    // One-sided capture: only the client direction exists.
    let rec = run(&[(
        C,
        b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nQUIT\r\n.\r\nMAIL FROM:<e@f>\r\nDATA\r\nx\r\n.\r\nquit\r\n",
    )]);
    // Two pipelined messages: the second DATA is undecided too when the capture ends.
    assert_eq!(rec.commands, ["HELO", "MAIL", "RCPT", "DATA", "MAIL", "DATA", "QUIT"]);
    assert_eq!(rec.transactions.len(), 2);
    assert!(rec.banner.is_none());
    assert!(!has(&rec, AnomalyKind::UnansweredCommand));
}

#[test]
fn bdat_last_with_crlf_inside_split_across_packets() {
    let chunk = b"To: a@b\r\nFrom: c@d\r\nSubject: chunk\r\n\r\nHello.\r\n.\r\nThis is the end of RFC 3030 tests!!\r\n";
    assert_eq!(chunk.len(), 86);
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 86 LAST\r\n"),
        (C, &chunk[..40]),
        (C, &chunk[40..]),
        (S, b"250 ok\r\n250 ok\r\n250 2.0.0 OK id=1abc-000123-AB\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 bye\r\n"),
    ]);
    assert_eq!(rec.commands, ["MAIL", "RCPT", "BDAT", "QUIT"]);
    let t = &rec.transactions[0];
    assert_eq!(t.data_reply.as_ref().unwrap().code, 250);
    assert_eq!(t.queue_id.as_deref(), Some("1abc-000123-AB"));
    let c = &t.bdat_chunks[0];
    assert_eq!((c.size, c.seen, c.last, c.reply, c.last_packet.unwrap().number), (86, 86, true, Some(250), 4));
    assert_eq!(t.body.as_ref().unwrap().bytes, 86);
}

#[test]
fn bdat_pipelined_with_next_mail_and_zero_last() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 7\r\nabc\r\nxyBDAT 0 LAST\r\nMAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\nDATA\r\n"),
        (S, b"250 a\r\n250 b\r\n250 c\r\n250 d\r\n250 e\r\n250 f\r\n354 g\r\n"),
        (C, b"x\r\n.\r\n"),
        (S, b"250 h\r\n"),
    ]);
    assert_eq!(rec.commands, ["MAIL", "RCPT", "BDAT", "BDAT", "MAIL", "RCPT", "DATA"]);
    assert_eq!(rec.mail_from, ["a@b", "e@f"]);
    assert_eq!(rec.transactions.len(), 2);
    assert_eq!(rec.transactions[0].bdat_chunks.len(), 2);
    assert_eq!(rec.transactions[0].data_reply.as_ref().unwrap().code, 250);
    assert_eq!(rec.transactions[1].data_reply.as_ref().unwrap().code, 250);
}

#[test]
fn invalid_bdat_skips_nothing() {
    for arg in ["5 X", "-1 LAST", "15555555557777777777", "", "1234 SCRAMBLE", "SCRAMBLE"] {
        let line = format!("BDAT {arg}\r\nRSET\r\nQUIT\r\n");
        let rec = run(&[
            (S, b"220 hi\r\n"),
            (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            (S, b"250 ok\r\n250 ok\r\n"),
            (C, line.as_bytes()),
            (S, b"521 bad\r\n250 ok\r\n221 bye\r\n"),
        ]);
        assert_eq!(rec.commands, ["MAIL", "RCPT", "BDAT", "RSET", "QUIT"], "{arg}");
        assert!(has(&rec, AnomalyKind::BdatInvalidSize));
        // Like the reference, "BDAT -1 LAST" still has a final reply (the rejection).
        let data_reply = rec.transactions[0].data_reply.as_ref().map(|r| r.code);
        assert_eq!(data_reply, if arg.ends_with("LAST") { Some(521) } else { None }, "{arg}");
    }
}

#[test]
fn starttls_then_client_hello_and_server_hello() {
    let ch = tls::tests::client_hello_record("mx.example.org");
    let sh = tls::tests::server_hello_record(0x0303);
    let mut server_tls = sh.clone();
    server_tls.extend([20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 4, 9, 9, 9, 9]);
    let mut reply = b"220 2.0.0 Ready to start TLS\r\n".to_vec();
    reply.extend(&server_tls[..10]);
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"EHLO c\r\n"),
        (S, b"250-hi\r\n250 STARTTLS\r\n"),
        (C, b"STARTTLS\r\n"),
        (S, &reply),
        (C, &ch),
        (S, &server_tls[10..]),
        (C, &[23, 3, 3, 0, 2, 7, 7]),
    ]);
    assert_eq!(rec.commands, ["EHLO", "STARTTLS"]);
    assert_eq!(rec.replies, [220, 250, 220]);
    let st = rec.starttls.as_ref().unwrap();
    assert_eq!((st.requested, st.reply), (true, Some(220)));
    let tls = st.tls.as_ref().unwrap();
    let hello = tls.client_hello.as_ref().unwrap();
    assert_eq!((hello.version.as_str(), hello.sni.as_deref()), ("TLS 1.2", Some("mx.example.org")));
    assert_eq!(hello.supported_versions, ["TLS 1.3", "TLS 1.2"]);
    assert_eq!(tls.server_hello.as_ref().unwrap().version, "TLS 1.2");
    assert!(tls.encrypted && tls.change_cipher_spec);
    assert_eq!((tls.client_app_data_bytes, tls.server_app_data_bytes), (2, 4));
    assert!(rec.implicit_tls.is_none());
}

#[test]
fn tls_alert_in_clear_after_starttls() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"STARTTLS\r\n"),
        (S, b"220 go ahead\r\n"),
        (C, &tls::tests::client_hello_record("a.b")),
        (S, &[21, 3, 3, 0, 2, 2, 40]),
    ]);
    let tls = rec.starttls.unwrap().tls.unwrap();
    assert_eq!(tls.alerts.len(), 1);
    let a = &tls.alerts[0];
    assert_eq!(
        (a.from.as_str(), a.level.as_str(), a.description.as_str(), a.packet.number),
        ("server", "fatal", "handshake_failure", 5)
    );
    assert!(!tls.encrypted);
}

#[test]
fn starttls_refused_keeps_plain_text() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"STARTTLS\r\n"),
        (S, b"454 TLS not available\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 bye\r\n"),
    ]);
    assert_eq!(rec.commands, ["STARTTLS", "QUIT"]);
    assert_eq!(rec.starttls.as_ref().unwrap().reply, Some(454));
    assert!(rec.starttls.unwrap().tls.is_none());
}

#[test]
fn implicit_tls_client_with_plain_text_banner() {
    let rec = run(&[(C, &tls::tests::client_hello_record("smtp.example.org")), (S, b"220 mx ESMTP ready\r\n")]);
    assert_eq!(rec.banner.as_ref().unwrap().code, 220);
    assert!(rec.commands.is_empty());
    assert_eq!(rec.replies, [220]);
    assert!(has(&rec, AnomalyKind::PlaintextReplyToTls));
    let tls = rec.implicit_tls.unwrap();
    assert_eq!(tls.client_hello.unwrap().sni.as_deref(), Some("smtp.example.org"));
}

#[test]
fn auth_login_exchange_stores_no_credentials() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"EHLO c\r\n"),
        (S, b"250-hi\r\n250 AUTH LOGIN PLAIN\r\n"),
        (C, b"AUTH LOGIN\r\n"),
        (S, b"334 VXNlcm5hbWU6\r\n"),
        (C, b"dXNlckBleGFtcGxlLm9yZw==\r\n"),
        (S, b"334 UGFzc3dvcmQ6\r\n"),
        (C, b"c2VjcmV0cGFzcw==\r\n"),
        (S, b"235 2.7.0 Authentication successful\r\n"),
        (C, b"MAIL FROM:<a@b>\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        (S, b"503 already authenticated\r\n"),
    ]);
    assert_eq!(rec.commands, ["EHLO", "AUTH", "MAIL", "AUTH"]);
    assert_eq!(rec.replies, [220, 250, 334, 334, 235, 250, 503]);
    assert_eq!(rec.transactions[0].mail_reply, Some(250));
    let j = stored(&rec);
    for secret in ["dXNlckBleGFtcGxlLm9yZw", "c2VjcmV0cGFzcw", "AGFsaWNlAHNlY3JldA"] {
        assert!(!j.contains(secret), "{secret} leaked");
    }
    assert!(j.contains(r#"verb: Auth, arg: Some("PLAIN")"#), "{j}");
}

#[test]
fn gap_inside_body_keeps_body_mode() {
    let mut d = Dialogue::new(&SmtpConfig::default());
    let p = |n| PacketRef { number: n, ..Default::default() };
    d.on_data(S, b"220 hi\r\n", p(1));
    d.on_data(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", p(2));
    d.on_data(S, b"250 ok\r\n250 ok\r\n354 go\r\n", p(3));
    d.on_data(C, b"Subject: x\r\n\r\nline one\r\nline t", p(4));
    d.on_gap(C, 1400, p(5));
    d.on_data(C, b"wo ends\r\nQUIT\r\n.\r\nQUIT\r\n", p(6));
    d.on_data(S, b"250 ok\r\n221 bye\r\n", p(7));
    let rec = d.finish();
    assert_eq!(rec.commands, ["MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(rec.transactions[0].data_reply.as_ref().unwrap().code, 250);
    assert!(has(&rec, AnomalyKind::Gap));
}

#[test]
fn gap_at_command_boundary_takes_the_replies_before_the_next_command() {
    let mut d = Dialogue::new(&SmtpConfig::default());
    let p = |n| PacketRef { number: n, ..Default::default() };
    d.on_data(S, b"220 hi\r\n", p(1));
    d.on_data(C, b"HELO c\r\n", p(2));
    d.on_data(S, b"250 hi\r\n", p(3));
    d.on_gap(C, 20, p(4));
    d.on_data(S, b"250 sender ok\r\n", p(5));
    d.on_data(C, b"RCPT TO:<c@d>\r\n", p(6));
    d.on_data(S, b"250 rcpt ok\r\n", p(7));
    let rec = d.finish();
    assert_eq!(rec.commands, ["HELO", "RCPT"]);
    assert_eq!(rec.replies, [220, 250, 250, 250]);
    assert_eq!(rec.transactions[0].rcpts[0].reply, Some(250));
    assert!(!has(&rec, AnomalyKind::UnmatchedReply));
}

#[test]
fn gap_mid_reply_resynchronises_at_next_line() {
    let mut d = Dialogue::new(&SmtpConfig::default());
    let p = |n| PacketRef { number: n, ..Default::default() };
    d.on_data(S, b"220 hi\r\n", p(1));
    d.on_data(C, b"EHLO c\r\n", p(2));
    d.on_data(S, b"250-hi\r\n250-PIPE", p(3));
    d.on_gap(S, 30, p(4));
    d.on_data(S, b"LINING\r\n250 SIZE\r\n", p(5));
    d.on_data(C, b"QUIT\r\n", p(6));
    d.on_data(S, b"221 bye\r\n", p(7));
    let rec = d.finish();
    // The broken EHLO reply is lost; its final line stands alone and answers EHLO.
    assert_eq!(rec.replies, [220, 250, 221]);
    assert_eq!(rec.commands, ["EHLO", "QUIT"]);
}

#[test]
fn huge_line_without_crlf_is_bounded() {
    let cfg = SmtpConfig { max_line_len: 1024, ..Default::default() };
    let mut d = Dialogue::new(&cfg);
    let block = vec![b'A'; 64 * 1024];
    d.on_data(S, b"220 hi\r\n", PacketRef::default());
    for i in 0..160 {
        d.on_data(C, &block, PacketRef { number: i + 2, ..Default::default() });
    }
    let rec = d.finish();
    assert!(stored(&rec).len() < 8 * 1024);
    assert!(has(&rec, AnomalyKind::PartialLineAtEnd));
    assert_eq!(rec.commands.len(), 1);
    assert!(rec.commands[0].as_str().len() <= 64);
}

#[test]
fn long_command_line_counted_and_located() {
    let mut line = b"EHLO ".to_vec();
    line.extend(vec![b'a'; 4090]);
    line.extend(b"\r\n");
    let cfg = SmtpConfig { max_line_len: 1000, ..Default::default() };
    let rec = run_with(&cfg, &[(S, b"220 hi\r\n"), (C, &line), (S, b"500 line too long\r\n")]);
    let m = rec.maxima.command_line.clone().unwrap();
    assert_eq!((m.value, m.packet.number), (4095, 2));
    assert!(has(&rec, AnomalyKind::LineTooLong));
    assert_eq!(rec.replies, [220, 500]);
}

#[test]
fn nul_and_binary_never_panic() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"HE\x00LO \xff\xfe\r\n\x00\x00\x00\n"),
        (S, b"500 what\r\n\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\r\n250 never parsed\r\n"),
    ]);
    assert!(has(&rec, AnomalyKind::NulByte));
    assert!(has(&rec, AnomalyKind::BinaryJunk));
    assert_eq!(rec.replies, [220, 500]);
    assert_eq!(rec.commands.len(), 2);
}

#[test]
fn asa_masked_banner_keywords_and_commands_kept_verbatim() {
    let rec = run(&[
        (S, b"220 ***********2**0*****\r\n"),
        (C, b"EHLO c\r\n"),
        (S, b"250-mx\r\n250-XXXXXXXA\r\n250 8BITMIME\r\n"),
        (C, b"XXXX\r\n"),
        (S, b"500 5.5.1 Command unrecognized: \"XXXX\"\r\n"),
    ]);
    assert_eq!(rec.banner.as_ref().unwrap().text, "***********2**0*****");
    assert_eq!(rec.ehlo_keywords, ["XXXXXXXA", "8BITMIME"]);
    assert_eq!(rec.commands, ["EHLO", "XXXX"]);
    assert!(stored(&rec).contains(r#"Command unrecognized: \"XXXX\""#));
}

#[test]
fn banner_without_crlf_glued_to_next_reply() {
    let mut banner = b"220 ".to_vec();
    banner.extend(vec![b'x'; 5000]);
    let rec = run(&[(S, &banner), (C, b"EHLO c\r\n"), (S, b"250-mx\r\n250 OK\r\n"), (C, b"QUIT\r\n")]);
    // "220 xxx…250-mx" is one line: the greeting. "250 OK" answers EHLO; QUIT is unanswered.
    assert_eq!(rec.replies, [220, 250]);
    assert_eq!(rec.banner.as_ref().unwrap().text.len(), 5006);
    assert!(has(&rec, AnomalyKind::UnansweredCommand));
}

#[test]
fn unsolicited_reply_and_partial_reply_at_end() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"NOOP\r\n"),
        (S, b"250 ok\r\n"),
        (S, b"250 extra\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 by"),
    ]);
    assert_eq!(rec.replies, [220, 250, 250]);
    assert!(has(&rec, AnomalyKind::UnmatchedReply));
    assert!(has(&rec, AnomalyKind::PartialLineAtEnd));
}

#[test]
fn partial_command_at_end_still_listed() {
    let rec = run(&[(S, b"220 hi\r\n"), (C, b"QUIT")]);
    assert_eq!(rec.commands, ["QUIT"]);
    assert!(has(&rec, AnomalyKind::PartialLineAtEnd));
}

#[test]
fn bare_lf_everywhere() {
    let rec = run(&[
        (S, b"220 hi\n"),
        (C, b"EHLO c\n"),
        (S, b"500 no\n"),
        (C, b"HELO c\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n"),
        (S, b"250 a\n250 b\n250 c\n354 d\n"),
        (C, b"x\n.\nQUIT\n"),
        (S, b"250 e\n221 f\n"),
    ]);
    assert_eq!(rec.commands, ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(rec.replies, [220, 500, 250, 250, 250, 354, 250, 221]);
    assert!(has(&rec, AnomalyKind::BareLf));
    assert_eq!(rec.helo_verb, Some(Verb::Ehlo));
}

#[test]
fn rset_helo_and_nested_mail_shape_transactions() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"HELO c\r\n"),
        (S, b"250 hi\r\n"),
        (C, b"MAIL FROM:<a@b>\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"MAIL FROM:<x@y>\r\n"),
        (S, b"503 nested MAIL\r\n"),
        (C, b"RCPT TO:<c@d>\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"EHLO\r\n"),
        (S, b"501 syntax\r\n"),
        (C, b"RCPT TO:<e@f>\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"RSET\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"MAIL FROM:<g@h>\r\n"),
        (S, b"250 ok\r\n"),
    ]);
    assert_eq!(rec.mail_from, ["a@b", "x@y", "g@h"]);
    assert_eq!(rec.transactions.len(), 2);
    let t = &rec.transactions[0];
    assert_eq!(t.nested_mail_from, ["x@y"]);
    assert_eq!(t.rcpt_to, ["c@d", "e@f"]);
    assert_eq!(t.reset_by, Some(Verb::Rset));
    assert_eq!(rec.helo.as_deref(), Some("c"));
}

#[test]
fn mime_attachments_and_long_header_line() {
    let long = format!("X-Long: {}\r\n", "h".repeat(1200));
    let body = format!(
        "Content-Type: multipart/mixed;\r\n boundary=\"b1\"\r\n{long}\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment;\r\n filename*=UTF-8''%E2%82%AC.pdf\r\n\r\nJVBERi0=\r\n--b1--\r\n.\r\n"
    );
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"),
        (S, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        (C, body.as_bytes()),
        (S, b"250 ok\r\n"),
    ]);
    let b = rec.transactions[0].body.as_ref().unwrap();
    assert_eq!(b.longest_header_line.as_ref().unwrap().value, 1208);
    assert_eq!(b.lines_over_998, 1);
    assert_eq!(b.attachments.len(), 1);
    let a = &b.attachments[0];
    assert_eq!((a.filename.as_str(), a.filename_len, a.packet.number), ("€.pdf", 7, 4));
    assert!(a.part_bytes.unwrap() > 0);
    assert_eq!(rec.maxima.mime_filename.as_ref().unwrap().value, 7);
    assert_eq!(rec.maxima.header_line.as_ref().unwrap().value, 1208);
}

#[test]
fn client_before_greeting_and_http_connect_tunnel() {
    let rec = run(&[(C, b"EHLO c\r\n"), (S, b"220 hi\r\n250 ok\r\n")]);
    assert_eq!(rec.banner.as_ref().unwrap().code, 220);
    assert!(has(&rec, AnomalyKind::ClientSpokeBeforeGreeting));
    assert!(rec.client_spoke_first);
    let rec = run(&[
        (C, b"CONNECT mx:25 HTTP/1.0\r\n\r\n"),
        (S, b"HTTP/1.0 200 Connection established\r\n\r\n"),
        (S, b"220 mx\r\n"),
        (C, b"HELO c\r\n"),
        (S, b"250 ok\r\n"),
    ]);
    assert_eq!(rec.commands, ["HELO"]);
    assert_eq!(rec.replies, [220, 250]);
}

#[test]
fn events_are_capped_and_reply_codes_attached() {
    let cfg = SmtpConfig { max_events: 3, ..Default::default() };
    let rec = run_with(
        &cfg,
        &[(S, b"220 hi\r\n"), (C, b"NOOP\r\n"), (S, b"250 ok\r\n"), (C, b"QUIT\r\n"), (S, b"221 bye\r\n")],
    );
    assert_eq!(rec.events.len(), 3);
    assert_eq!(rec.events_dropped, 2);
    assert!(matches!(rec.events[1], Event::Command { reply: Some(250), .. }));
    let j = stored(&rec);
    assert!(j.contains(r#"Command { verb: Noop,"#), "{j}");
}

#[test]
fn many_pipelined_data_rejections_stay_linear() {
    let n = 20_000;
    let rec = run(&[(S, b"220 hi\r\n"), (C, "DATA\r\n".repeat(n).as_bytes()), (S, "503 no\r\n".repeat(n).as_bytes())]);
    assert_eq!(rec.commands.len(), n);
    assert_eq!(rec.replies.len(), n + 1);
    assert!(!has(&rec, AnomalyKind::UnansweredCommand));
}

#[test]
fn hold_limit_assumes_the_body_follows() {
    let cfg = SmtpConfig { max_undecided_bytes: 4096, ..Default::default() };
    let rec = run_with(&cfg, &[(S, b"220 hi\r\n"), (C, "DATA\r\n".repeat(100_000).as_bytes())]);
    assert_eq!(rec.commands, ["DATA"]);
    assert!(has(&rec, AnomalyKind::UndecidedOverflow));
    assert!(has(&rec, AnomalyKind::DataBodyUnterminated));
}

#[test]
fn client_hello_sent_before_the_starttls_reply_waits_for_it() {
    let mut first = b"STARTTLS\r\n".to_vec();
    first.extend(tls::tests::client_hello_record("late.example"));
    let rec = run(&[(S, b"220 hi\r\n"), (C, &first), (S, b"220 go\r\n")]);
    assert_eq!(rec.commands, ["STARTTLS"]);
    let tls = rec.starttls.unwrap().tls.unwrap();
    assert_eq!(tls.client_hello.unwrap().sni.as_deref(), Some("late.example"));
}

#[test]
fn gap_inside_bdat_chunk_is_subtracted() {
    let mut d = Dialogue::new(&SmtpConfig::default());
    let p = |n| PacketRef { number: n, ..Default::default() };
    d.on_data(S, b"220 hi\r\n", p(1));
    d.on_data(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3000 LAST\r\n", p(2));
    d.on_data(C, &[b'x'; 1000], p(3));
    d.on_gap(C, 1500, p(4));
    d.on_data(C, &[b'y'; 500], p(5));
    d.on_data(C, b"QUIT\r\n", p(6));
    d.on_data(S, b"250 a\r\n250 b\r\n250 c\r\n221 d\r\n", p(7));
    let rec = d.finish();
    assert_eq!(rec.commands, ["MAIL", "RCPT", "BDAT", "QUIT"]);
    let c = &rec.transactions[0].bdat_chunks[0];
    assert_eq!((c.seen, c.reply), (1500, Some(250)));
    assert_eq!(rec.transactions[0].data_reply.as_ref().unwrap().code, 250);
}

#[test]
fn bdat_chunks_and_tls_alerts_stay_within_their_caps() {
    // Found by the smtp fuzz target: both lists grew with every chunk or alert sent.
    let cfg = SmtpConfig { max_items: 5, ..Default::default() };
    let many_bdat = "BDAT 0\r\n".repeat(50);
    let rec = run_with(&cfg, &[(S, b"220 hi\r\n"), (C, b"MAIL FROM:<a@b>\r\n"), (C, many_bdat.as_bytes())]);
    assert_eq!(rec.transactions[0].bdat_chunks.len(), 5);
    assert!(rec.items_dropped >= 45, "{}", rec.items_dropped);
    let alerts: Vec<u8> = [21u8, 3, 3, 0, 2, 2, 40].repeat(100);
    let mut hello = tls::tests::client_hello_record("x.example");
    hello.extend(&alerts);
    let rec = run(&[(C, &hello), (S, &alerts)]);
    let tls = rec.implicit_tls.expect("implicit TLS");
    assert_eq!(tls.alerts.len(), 16);
}

mod robustness {
    //! Arbitrary bytes in any order never panic and stay within the configured bounds.
    use super::*;
    use proptest::prelude::*;

    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            Just(b"DATA\r\n".to_vec()),
            Just(b"BDAT 7 LAST\r\n".to_vec()),
            Just(b"STARTTLS\r\n".to_vec()),
            Just(b"AUTH LOGIN\r\n".to_vec()),
            Just(b".\r\n".to_vec()),
            Just(b"220 ok\r\n".to_vec()),
            Just(b"354 go\r\n".to_vec()),
            Just(b"334 x\r\n250-".to_vec()),
            Just(vec![0x16, 3, 1, 0, 4, 2, 0, 0, 0]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn never_panics(steps in proptest::collection::vec((any::<bool>(), any::<u8>(), piece()), 0..40)) {
            let cfg = SmtpConfig { max_line_len: 32, max_events: 50, max_pending: 8, max_undecided_bytes: 100, max_items: 20, personal_headers: false };
            let mut d = Dialogue::new(&cfg);
            for (i, (client, gap, bytes)) in steps.iter().enumerate() {
                let dir = if *client { C } else { S };
                let at = PacketRef { number: i as u64, ..Default::default() };
                if *gap > 240 {
                    d.on_gap(dir, u64::from(*gap), at);
                }
                d.on_data(dir, bytes, at);
            }
            let rec = d.finish();
            prop_assert!(rec.events.len() <= 50);
            prop_assert!(rec.commands.len() <= 20 && rec.replies.len() <= 20);
        }
    }
}

mod split {
    //! Splitting the streams at arbitrary points must not change what is parsed.
    use super::*;
    use proptest::prelude::*;

    fn dialogue() -> Vec<(Direction, Vec<u8>)> {
        let mut bdat = b"BDAT 19 LAST\r\n".to_vec();
        bdat.extend(b"line\r\n.\r\nmore\r\n\r\nxy");
        vec![
            (S, b"220-mx ESMTP\r\n220 ready\r\n".to_vec()),
            (C, b"EHLO c.example\r\n".to_vec()),
            (S, b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH LOGIN\r\n".to_vec()),
            (C, b"AUTH LOGIN\r\n".to_vec()),
            (S, b"334 VXNlcm5hbWU6\r\n".to_vec()),
            (C, b"dXNlcg==\r\n".to_vec()),
            (S, b"235 ok\r\n".to_vec()),
            (C, b"MAIL FROM:<a@b.org>\r\nRCPT TO:<c@d.org>\r\nRCPT TO:<e@f.org>\r\nDATA\r\n".to_vec()),
            (S, b"250 ok\r\n250 ok\r\n550 no\r\n354 go\r\n".to_vec()),
            (C, b"Subject: t\r\n\r\n..stuffed\r\nRSET\r\n.\r\nRSET\r\nDATA\r\n.\r\n".to_vec()),
            (S, b"250 queued as Q1\r\n250 reset\r\n503 no rcpt\r\n500 what\r\n".to_vec()),
            (C, b"MAIL FROM:<g@h.org>\r\nRCPT TO:<i@j.org>\r\n".to_vec()),
            (C, bdat),
            (S, b"250 ok\r\n250 ok\r\n250 OK id=1x-2y\r\n".to_vec()),
            (C, b"QUIT\r\n".to_vec()),
            (S, b"221 bye\r\n".to_vec()),
        ]
    }

    fn parse(steps: &[(Direction, Vec<u8>)]) -> SmtpRecord {
        let mut d = Dialogue::new(&SmtpConfig::default());
        for (i, (dir, b)) in steps.iter().enumerate() {
            d.on_data(*dir, b, PacketRef { number: i as u64 + 1, ..Default::default() });
        }
        d.finish()
    }

    /// Cuts every step at the given fractions of its length.
    fn split(steps: &[(Direction, Vec<u8>)], cuts: &[Vec<f64>]) -> Vec<(Direction, Vec<u8>)> {
        let mut out = Vec::new();
        for ((dir, b), fr) in steps.iter().zip(cuts) {
            let mut at: Vec<usize> = fr.iter().map(|f| (f * b.len() as f64) as usize).collect();
            at.push(0);
            at.push(b.len());
            at.sort_unstable();
            at.dedup();
            for w in at.windows(2) {
                out.push((*dir, b[w[0]..w[1]].to_vec()));
            }
        }
        out
    }

    fn summary(r: &SmtpRecord) -> impl PartialEq + std::fmt::Debug {
        let tx: Vec<_> = r
            .transactions
            .iter()
            .map(|t| {
                (t.mail_from.clone(), t.rcpt_to.clone(), t.data_reply.as_ref().map(|d| d.code), t.queue_id.clone())
            })
            .collect();
        (
            r.commands.clone(),
            r.replies.clone(),
            r.mail_from.clone(),
            r.rcpt_to.clone(),
            tx,
            r.ehlo_keywords.clone(),
            r.banner.as_ref().map(|b| b.text.clone()),
        )
    }

    #[test]
    fn reference_dialogue_parses_as_intended() {
        let r = parse(&dialogue());
        assert_eq!(
            r.commands,
            ["EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "RSET", "DATA", ".", "MAIL", "RCPT", "BDAT", "QUIT"]
        );
        assert_eq!(r.replies, [220, 250, 334, 235, 250, 250, 550, 354, 250, 250, 503, 500, 250, 250, 250, 221]);
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn any_split_parses_the_same(cuts in proptest::collection::vec(proptest::collection::vec(0.0f64..1.0, 0..4), 16)) {
            let steps = dialogue();
            let whole = parse(&steps);
            let pieces = parse(&split(&steps, &cuts));
            prop_assert_eq!(summary(&whole), summary(&pieces));
        }
    }
}

#[test]
fn plain_text_after_starttls_is_parsed_on_as_smtp() {
    // A capture exported decrypted (or a client that ignored the 220): both sides go on in clear.
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"EHLO c\r\n"),
        (S, b"250-hi\r\n250 STARTTLS\r\n"),
        (C, b"STARTTLS\r\n"),
        (S, b"220 go ahead\r\n"),
        (C, b"EHLO c\r\n"),
        (S, b"250 hi\r\n"),
        (C, b"MAIL FROM:<a@b>\r\n"),
        (S, b"250 ok\r\n"),
        (C, b"QUIT\r\n"),
        (S, b"221 bye\r\n"),
    ]);
    assert_eq!(rec.commands, ["EHLO", "STARTTLS", "EHLO", "MAIL", "QUIT"]);
    assert_eq!(rec.replies, [220, 250, 220, 250, 250, 221]);
    assert!(has(&rec, AnomalyKind::PlaintextAfterStartTls));
    let tls = rec.starttls.as_ref().unwrap().tls.as_ref();
    assert!(tls.is_none_or(|t| t.client_hello.is_none() && !t.encrypted));
}

#[test]
fn a_tls_handshake_after_starttls_is_not_plain_text() {
    let rec = run(&[
        (S, b"220 hi\r\n"),
        (C, b"STARTTLS\r\n"),
        (S, b"220 go ahead\r\n"),
        (C, &tls::tests::client_hello_record("a.b")),
    ]);
    assert!(!has(&rec, AnomalyKind::PlaintextAfterStartTls));
    assert!(rec.starttls.unwrap().tls.unwrap().client_hello.is_some());
}

#[test]
fn binary_bytes_on_a_mail_port_are_not_parsed_as_commands() {
    // OpenVPN over TCP on port 465: a length-prefixed P_CONTROL_HARD_RESET_CLIENT_V2 and its answer.
    let mut hello =
        vec![0x00, 0x0e, 0x38, 0x5d, 0x9a, 0x01, 0xc2, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
    hello.extend(std::iter::repeat_n(b'\n', 3).chain((0..200u8).map(|i| i.wrapping_mul(37))));
    let rec = run(&[(C, &hello), (S, &[0x00, 0x1a, 0x40, 0x11, 0x22, 0x01, 0x02]), (C, &hello)]);
    assert!(rec.commands.is_empty(), "{:?}", rec.commands);
    assert!(rec.replies.is_empty());
    assert!(has(&rec, AnomalyKind::NotSmtp));
    assert!(rec.events.len() <= 4, "{}", rec.events.len());
}

#[test]
fn a_server_whose_first_bytes_are_text_but_no_reply_code_is_not_smtp() {
    // An SSH daemon on port 587, and an HTTP request sent back on a SYN/ACK (Zeek's
    // tcp__payload-synack): neither starts with the three digits every SMTP reply has.
    for banner in ["SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "GET //index.php?page=../../../etc/passwd HTTP/1.1\r\n"] {
        let rec = run(&[(S, banner.as_bytes())]);
        assert!(has(&rec, AnomalyKind::NotSmtp), "{banner}");
        assert!(rec.replies.is_empty() && rec.banner.is_none(), "{banner}");
    }
    // A masked banner keeps its digits: still SMTP.
    let rec = run(&[(S, b"220 ****************2***0**\r\n")]);
    assert!(!has(&rec, AnomalyKind::NotSmtp));
}
