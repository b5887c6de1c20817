//! STARTTLS, implicit TLS and what the dialogue reads of the TLS records.

use super::*;

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
fn client_hello_sent_before_the_starttls_reply_waits_for_it() {
    let mut first = b"STARTTLS\r\n".to_vec();
    first.extend(tls::tests::client_hello_record("late.example"));
    let rec = run(&[(S, b"220 hi\r\n"), (C, &first), (S, b"220 go\r\n")]);
    assert_eq!(rec.commands, ["STARTTLS"]);
    let tls = rec.starttls.unwrap().tls.unwrap();
    assert_eq!(tls.client_hello.unwrap().sni.as_deref(), Some("late.example"));
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
