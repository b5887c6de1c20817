//! Captures with holes and senders that break the rules: gaps, overlong and binary lines, bare
//! LFs, masked text, partial lines at the end, bytes that are no SMTP at all.

use super::*;

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
