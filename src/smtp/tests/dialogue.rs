//! Commands, replies, pipelining, message data (DATA, BDAT), AUTH and transactions.

use super::*;

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
    assert_eq!(t.rcpts.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(), ["c@d", "e@f"]);
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

/// The body's fast path (whole lines taken from the packet) counts what the line splitter
/// counts: the same message fed whole and one byte at a time (so every line goes through the
/// splitter) gives the same record, in headers, MIME parts and body alike.
#[test]
fn message_fed_whole_or_bytewise_is_the_same() {
    let long = "x".repeat(1100);
    // Folded beyond the kept field's limit, with a fold longer than the line limit.
    let folds = " x\r\n".repeat(9000);
    let body = format!(
        "Subject: t\r\n{folds}\t{long}\r\n x\r\nX-Long: {long}\r\nContent-Type: multipart/mixed;\r\n boundary=\"b1\"\r\n\r\n\
         pre\r\n--b1\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n{long}\r\n\
         ..dot\r\nbare\n-dash\r\n--b1--\r\nafter\r\n.\r\n"
    );
    let feed = |bytewise: bool, personal_headers: bool| {
        let cfg = SmtpConfig { max_line_len: 1024, personal_headers, ..Default::default() };
        let mut d = Dialogue::new(&cfg);
        let p = |n| PacketRef { number: n, ..Default::default() };
        d.on_data(S, b"220 mx\r\n", p(1));
        d.on_data(C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", p(2));
        d.on_data(S, b"250 ok\r\n250 ok\r\n354 go\r\n", p(3));
        if bytewise {
            body.as_bytes().chunks(1).for_each(|b| d.on_data(C, b, p(4)));
        } else {
            d.on_data(C, body.as_bytes(), p(4));
        }
        d.on_data(S, b"250 queued\r\n", p(5));
        d.finish()
    };
    // Without personal headers the folded Subject is not kept at all, only counted.
    for personal in [true, false] {
        let whole = feed(false, personal);
        let b = whole.transactions[0].body.as_ref().unwrap();
        assert_eq!((b.lines_over_998, b.dot_stuffed_lines, b.bare_lf_lines, b.attachments.len()), (3, 1, 1, 1));
        assert_eq!(b.identity.subject.as_ref().map(String::len), personal.then_some(998));
        assert_eq!(stored(&whole), stored(&feed(true, personal)));
    }
}
