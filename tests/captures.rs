//! The bundled lab captures (real software, real kernel TCP, recorded by tcpdump) against the
//! verdicts listed in captures/expected.tsv, plus the dialogue and evidence of key scenarios.

mod common;

use common::*;
use std::collections::BTreeSet;

#[test]
fn every_capture_gets_exactly_its_expected_verdicts() {
    let table = std::fs::read_to_string(captures_dir().join("expected.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 6, "expected.tsv: {line:?} has not the 6 columns of the header");
        let (file, id, want) = (cols[0], cols[1], cols[2]);
        // Zeek's names for how the connection went: its conn.log conn_state and history letters.
        let (want_state, want_history) = (cols[3], cols[4]);
        let want: BTreeSet<String> = want.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
        if id == "-" {
            // A capture that holds no session at all (the other side of a device that dropped it).
            let path = capture(file);
            let all = sessions(&[path.to_str().unwrap()]);
            if !all.is_empty() {
                failures.push(format!("{file}: want no session, got {}", all.len()));
            }
            checked += 1;
            continue;
        }
        let session = session_of(file, id);
        let got: BTreeSet<String> = codes(&session).into_iter().collect();
        if got != want {
            failures.push(format!("{file} #{id}: want {want:?}, got {got:?}"));
        }
        let tcp = &session["tcp"];
        let (state, history) = (tcp["conn_state"].as_str().unwrap_or("?"), tcp["history"].as_str().unwrap_or("?"));
        if state != want_state || history != want_history {
            failures.push(format!("{file} #{id}: want {want_state} {want_history}, got {state} {history}"));
        }
        checked += 1;
    }
    assert!(checked >= 40, "expected.tsv lists only {checked} rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_pcap_in_captures_is_listed() {
    let table = std::fs::read_to_string(captures_dir().join("expected.tsv")).unwrap();
    for entry in std::fs::read_dir(captures_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".pcap") {
            assert!(table.lines().any(|l| l.starts_with(&format!("{name}\t"))), "{name} is not in expected.tsv");
        }
    }
}

#[test]
fn delivered_session_dialogue() {
    let s = session_of("01-delivered.pcap", "1");
    assert_eq!(strings(&s["smtp"]["commands"]), ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(s["smtp"]["replies"], serde_json::json!([220, 250, 250, 250, 354, 250, 221]));
    assert_eq!(s["smtp"]["mail_from"], serde_json::json!(["sender@example.net"]));
    assert_eq!(s["smtp"]["rcpt_to"], serde_json::json!(["rcpt@example.com"]));
    assert_eq!(s["tcp"]["handshake"], "complete");
    assert_eq!(s["tcp"]["conn_state"], "SF");
    assert_eq!(s["client"]["ip"], "203.0.113.5");
    assert_eq!(s["server"]["port"], 25);
    let tx = &s["smtp"]["transactions"][0];
    assert_eq!(tx["data_reply"]["code"], 250);
    assert!(tx["queue_id"].as_str().unwrap().len() > 5);
}

#[test]
fn reject_is_554_then_server_fin_first() {
    let s = session_of("02-reject-554-greeting.pcap", "1");
    assert_eq!(s["smtp"]["banner"]["code"], 554);
    assert_eq!(s["tcp"]["closed_by"], "server_fin");
    let v = verdict(&s, "REJECT");
    assert_eq!(v["severity"], "error");
    assert_eq!(packets(v), [4, 6, 7], "554 reply, server FIN, client FIN");
}

#[test]
fn tcprefuse_is_handshake_then_server_rst_without_payload() {
    let s = session_of("03-tcprefuse.pcap", "1");
    assert_eq!(s["tcp"]["payload_bytes"]["server"], 0);
    assert_eq!(s["tcp"]["closed_by"], "server_rst");
    assert_eq!(packets(verdict(&s, "TCPREFUSE")), [1, 2, 3, 4]);
}

#[test]
fn port_closed_and_no_answer_are_told_apart() {
    let closed = session_of("04-port-closed.pcap", "1");
    assert_eq!(closed["tcp"]["handshake"], "syn_rst");
    assert_eq!(closed["tcp"]["conn_state"], "REJ");
    let dropped = session_of("05-syn-dropped.pcap", "1");
    assert_eq!(dropped["tcp"]["handshake"], "syn_only");
    assert_eq!(dropped["tcp"]["syn_count"], 6);
    assert_eq!(dropped["tcp"]["conn_state"], "S0");
    assert!(verdict(&dropped, "NO_ANSWER")["summary"].as_str().unwrap().contains("6 SYNs"));
}

#[test]
fn tempfail_names_the_failover_host() {
    for file in ["06-tempfail-421-greeting-failover.pcap", "07-tempfail-452-rcpt-failover.pcap"] {
        let s = session_of(file, "1");
        let summary = verdict(&s, "TEMPFAIL")["summary"].as_str().unwrap().to_string();
        assert!(summary.contains("failed over to 198.51.100.26:25 (session 2)"), "{file}: {summary}");
    }
    let s = session_of("07-tempfail-452-rcpt-failover.pcap", "1");
    assert!(verdict(&s, "TEMPFAIL")["summary"].as_str().unwrap().contains("452 4.3.1 Insufficient system resources"));
}

#[test]
fn firewall_reset_names_the_ttl_that_gave_it_away() {
    let s = session_of("20-fw-reset-long-command-line.pcap", "1");
    let summary = verdict(&s, "FIREWALL_RESET")["summary"].as_str().unwrap().to_string();
    assert!(summary.contains("TTL 255") && summary.contains("63"), "{summary}");
    let limit = verdict(&s, "INSPECTION_LIMIT");
    assert!(limit["summary"].as_str().unwrap().contains("582 bytes + CRLF (limit 512 with CRLF)"));
}

#[test]
fn inspection_limits_name_the_limit_and_length() {
    for (file, text) in [
        ("21-fw-reset-long-header-line.pcap", "header line of 1115 bytes (limit 998)"),
        ("24-fw-reset-too-many-rcpts.pcap", "(limit 100)"),
        ("25-fw-reset-long-sender.pcap", "sender address of 342 bytes (limit 320)"),
        ("26-fw-reset-long-mime-filename.pcap", "filename of 274 bytes (limit 255)"),
    ] {
        let s = session_of(file, "1");
        let summary = verdict(&s, "INSPECTION_LIMIT")["summary"].as_str().unwrap().to_string();
        assert!(summary.contains(text), "{file}: {summary}");
    }
}

#[test]
fn masked_banner_and_keywords_are_kept_verbatim() {
    let s = session_of("18-fw-starttls-stripped.pcap", "1");
    let banner = s["smtp"]["banner"]["text"].as_str().unwrap();
    assert!(banner.chars().all(|c| matches!(c, '*' | '2' | '0')), "{banner}");
    assert!(strings(&s["smtp"]["ehlo_keywords"]).contains(&"XXXXXXXA".to_string()));
    assert_eq!(packets(verdict(&s, "STARTTLS_STRIPPED")), [7]);
}

#[test]
fn mtu_blackhole_points_at_the_full_size_retransmissions() {
    let s = session_of("23-mtu-blackhole.pcap", "1");
    let v = verdict(&s, "MTU_BLACKHOLE");
    assert!(v["summary"].as_str().unwrap().contains("1448 bytes"));
    assert!(packets(v).len() >= 3);
}

#[test]
fn large_message_reassembles_every_byte() {
    let s = session_of("22-large-message.pcap", "1");
    let body = &s["smtp"]["transactions"][0]["body"];
    assert!(body["bytes"].as_u64().unwrap() > 60_000);
    assert_eq!(body["terminated"], true);
    assert!(s["tcp"].get("gaps").is_none(), "no gap in either direction: {}", s["tcp"]);
}

#[test]
fn a_router_capture_on_any_interface_shows_the_rewrite_without_false_retransmissions() {
    let s = session_of("30-fw-any-interface-starttls-stripped.pcap", "1");
    assert!(s["tcp"].get("retransmissions").is_none(), "{}", s["tcp"]);
    assert!(s["tcp"]["duplicates"]["server"].as_u64().unwrap() >= 10);
    let summary = verdict(&s, "STREAM_REWRITTEN")["summary"].as_str().unwrap().to_string();
    assert!(summary.contains("XXXXXXXA") && summary.contains("STARTTLS"), "{summary}");
    assert!(summary.contains("(TTL 64)") && summary.contains("(TTL 63)"), "{summary}");
    assert_eq!(s["smtp"]["replies"], serde_json::json!([220, 250, 250, 250, 354, 250, 221]));
}

/// Issue 15: mail ports on the initiator's side only (FTP from 2525, a probe from port 25) make
/// no mail session; the delivery after them is the file's only session.
#[test]
fn only_the_responder_side_makes_a_mail_session() {
    let sessions = sessions(&[capture("40-not-mail-ports-ftp-and-scan.pcap").to_str().unwrap()]);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["server"]["port"], 25);
    assert_eq!(sessions[0]["headline"], "DELIVERED");
}

/// Issue 15: after STARTTLS 220 the dialogue went on in plain text and is read as SMTP.
#[test]
fn plain_text_after_starttls_keeps_the_dialogue() {
    let s = session_of("32-starttls-then-plaintext.pcap", "1");
    assert_eq!(strings(&s["smtp"]["commands"]), ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]);
    assert_eq!(s["headline"], "DELIVERED");
}

/// Issue 15: the binary stream on 465 is not turned into dozens of commands.
#[test]
fn not_smtp_keeps_the_record_small() {
    let path = capture("38-not-smtp-on-465.pcap");
    let s = &sessions(&["--events", path.to_str().unwrap()])[0];
    assert!(s["smtp"].get("commands").is_none(), "{}", s["smtp"]);
    assert!(s["smtp"]["events"].as_array().unwrap().len() <= 4, "{}", s["smtp"]["events"]);
    assert_eq!(s["headline"], "NOT_SMTP");
}

/// A public capture (captures/public/, origin and licence in captures/README.md).
#[test]
fn public_pcapplusplus_smtp_packets() {
    let all = sessions(&[capture("public/pcapplusplus-Smtp.pcap").to_str().unwrap()]);
    let got: Vec<Vec<String>> = all.iter().map(codes).collect();
    assert_eq!(
        got,
        [vec!["IDLE_TIMEOUT", "INCOMPLETE"], vec!["IDLE_TIMEOUT", "INCOMPLETE"], vec!["TEMPFAIL", "INCOMPLETE"]],
        "{all:?}"
    );
    assert!(all.iter().all(|s| s["headline"].is_string()));
}
