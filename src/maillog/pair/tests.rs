use super::*;
use crate::synth::{CLIENT, SessionBuilder};

/// The synthetic sessions start at 1,700,000,000 s: 2023-11-14 22:13:20 UTC.
fn index(text: &str) -> LogIndex {
    let file = LogFile::from_text("log", text.to_string());
    let (format, parsed) = super::super::parse(&file, None).unwrap();
    let loaded =
        LoadedFile { name: "log".into(), format, connections: parsed.connections.len(), unparsed: parsed.unparsed };
    LogIndex::from_connections(vec![loaded], parsed.connections, TimeZone::UTC, "UTC", 3.0)
}

fn session(port: u16, wait: f64, end: impl Fn(&mut SessionBuilder)) -> Session {
    let mut b = SessionBuilder::new(([203, 0, 113, 5], port), ([198, 51, 100, 25], 25));
    b.wait(wait).handshake().server("220 esa ESMTP\r\n");
    end(&mut b);
    b.analyze().remove(0)
}

fn quits(b: &mut SessionBuilder) {
    b.client("QUIT\r\n").server("221 bye\r\n").close();
}

#[test]
fn exim_ports_pair_concurrent_sessions_from_one_client() {
    let mut idx = index(
        "2023-11-14 22:13:20 SMTP connection from [203.0.113.5]:40001 I=[198.51.100.25]:25 (TCP/IP connection count = 1)\n\
         2023-11-14 22:13:20 SMTP connection from [203.0.113.5]:40002 I=[198.51.100.25]:25 (TCP/IP connection count = 2)\n\
         2023-11-14 22:13:21 SMTP connection from [203.0.113.5]:40002 I=[198.51.100.25]:25 closed by QUIT\n\
         2023-11-14 22:13:21 SMTP connection from [203.0.113.5]:40001 I=[198.51.100.25]:25 closed by QUIT",
    );
    let a = idx.annotate(&session(40002, 0.1, quits), &[]).note.unwrap();
    let b = idx.annotate(&session(40001, 0.2, quits), &[]).note.unwrap();
    assert_eq!((a.pairing, a.connection_id.as_deref()), ("paired", Some("[203.0.113.5]:40002")));
    assert_eq!(a.lines, ["log:2", "log:3"]);
    assert_eq!(b.connection_id.as_deref(), Some("[203.0.113.5]:40001"));
    assert_eq!(b.outcome.as_deref(), Some("closed by QUIT"));
    let summary = idx.summary();
    assert_eq!((summary.sessions_paired, summary.unpaired.len(), summary.sessions_unknown), (2, 0, 0));
}

/// AsyncOS logs no client port: two connections from one client in the same second cannot be
/// told apart by the log, and the session says so.
#[test]
fn asyncos_connections_without_ports_in_the_same_second_are_ambiguous() {
    let mut idx = index(
        "Tue Nov 14 22:13:20 2023 Info: New SMTP ICID 7 interface Data 1 (198.51.100.25) address 203.0.113.5 reverse dns host unknown verified no\n\
         Tue Nov 14 22:13:20 2023 Info: New SMTP ICID 8 interface Data 1 (198.51.100.25) address 203.0.113.5 reverse dns host unknown verified no\n\
         Tue Nov 14 22:13:21 2023 Info: ICID 7 close\n\
         Tue Nov 14 22:13:21 2023 Info: ICID 8 close",
    );
    let note = idx.annotate(&session(40001, 0.1, quits), &[]).note.unwrap();
    assert_eq!(note.pairing, "ambiguous");
    assert_eq!(note.candidates, ["ICID 7", "ICID 8"]);
    assert_eq!(note.connection_id, None);
    assert_eq!(idx.summary().sessions_ambiguous, 1);
}

#[test]
fn the_envelope_tells_two_connections_apart() {
    let mut idx = index(
        "Tue Nov 14 22:13:20 2023 Info: New SMTP ICID 7 interface Data 1 (198.51.100.25) address 203.0.113.5 reverse dns host unknown verified no\n\
         Tue Nov 14 22:13:20 2023 Info: New SMTP ICID 8 interface Data 1 (198.51.100.25) address 203.0.113.5 reverse dns host unknown verified no\n\
         Tue Nov 14 22:13:20 2023 Info: Start MID 70 ICID 7\n\
         Tue Nov 14 22:13:20 2023 Info: MID 70 ICID 7 From: <a@example.net>\n\
         Tue Nov 14 22:13:20 2023 Info: Start MID 80 ICID 8\n\
         Tue Nov 14 22:13:20 2023 Info: MID 80 ICID 8 From: <b@example.net>",
    );
    let s = session(40001, 0.1, |b| {
        b.client("MAIL FROM:<b@example.net>\r\n").server("250 ok\r\n");
        quits(b);
    });
    let note = idx.annotate(&s, &[]).note.unwrap();
    assert_eq!((note.pairing, note.connection_id.as_deref()), ("paired", Some("ICID 8")));
    assert_eq!(note.message_ids, ["80"]);
    let summary = idx.summary();
    assert_eq!(summary.unpaired.iter().map(|u| u.conn.connection_id.as_str()).collect::<Vec<_>>(), ["ICID 7"]);
}

#[test]
fn a_quit_in_the_log_against_a_reset_in_the_packets_is_flagged() {
    let mut idx = index(
        "2023-11-14 22:13:20 SMTP connection from [203.0.113.5]:40001 I=[198.51.100.25]:25 (TCP/IP connection count = 1)\n\
         2023-11-14 22:13:21 SMTP connection from [203.0.113.5]:40001 I=[198.51.100.25]:25 closed by QUIT",
    );
    let s = session(40001, 0.1, |b| {
        b.client("EHLO x\r\n").server("250 esa\r\n").rst(CLIENT);
    });
    let a = idx.annotate(&s, &[]);
    let [v] = &a.verdicts[..] else { panic!("{:?}", a.verdicts) };
    assert_eq!(v.code, VerdictCode::LogContradicts);
    assert!(v.finding.contains("'closed by QUIT', but the packets show a reset from the client side"), "{}", v.finding);
    assert_eq!(v.packets, [s.conn.last.number]);
}

#[test]
fn a_generic_loss_is_explained_by_the_packets_cause() {
    let mut idx = index(
        "2023-11-14 22:13:20 SMTP connection from [203.0.113.5]:40001 I=[198.51.100.25]:25 (TCP/IP connection count = 1)\n\
         2023-11-14 22:13:21 SMTP connection from (x) [203.0.113.5]:40001 I=[198.51.100.25]:25 lost while reading message data",
    );
    let s = session(40001, 0.1, |b| {
        b.rst(CLIENT);
    });
    let cause = Verdict {
        code: VerdictCode::FirewallReset,
        severity: Severity::Error,
        finding: "reset sent by a device in the path".into(),
        explanation: "".into(),
        packets: vec![5],
        failover: None,
    };
    let a = idx.annotate(&s, &[cause]);
    assert!(a.verdicts.is_empty(), "a loss and a reset agree: {:?}", a.verdicts);
    assert_eq!(
        a.note.unwrap().explanation.as_deref(),
        Some(
            "the exim log says [203.0.113.5]:40001 'lost while reading message data'; the packets show reset sent by a \
             device in the path (FIREWALL_RESET)"
        )
    );
}

#[test]
fn a_log_of_another_day_pairs_nothing_and_says_so_once() {
    let mut idx = index(
        "2023-11-12 22:13:20 SMTP connection from [203.0.113.5]:40001 I=[198.51.100.25]:25 (TCP/IP connection count = 1)\n\
         2023-11-12 22:13:21 SMTP connection from [203.0.113.5]:40001 I=[198.51.100.25]:25 closed by QUIT",
    );
    assert!(idx.annotate(&session(40001, 0.1, quits), &[]).note.is_none());
    assert!(idx.annotate(&session(40002, 5.0, quits), &[]).note.is_none());
    let summary = idx.summary();
    assert_eq!(summary.sessions_unknown, 2);
    assert_eq!((summary.unpaired.len(), summary.outside_captures), (0, 1));
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
    assert!(summary.warnings[0].contains("covers 2023-11-12 (time zone UTC), the captures 2023-11-14"));
}

#[test]
fn syslog_lines_take_the_year_of_the_capture() {
    let mut idx = index(
        "Nov 14 22:13:20 esa postfix/smtpd[9]: connect from unknown[203.0.113.5]\n\
         Nov 14 22:13:21 esa postfix/smtpd[9]: disconnect from unknown[203.0.113.5] ehlo=1 quit=1 commands=2",
    );
    let note = idx.annotate(&session(40001, 0.1, quits), &[]).note.unwrap();
    assert_eq!(
        (note.connection_id.as_deref(), note.outcome.as_deref()),
        (Some("smtpd[9] [203.0.113.5]"), Some("disconnect (quit)"))
    );
}

/// The gateway as the client: a DCID pairs with the session to the remote server, and its
/// Connection Error quotes the greeting the packets carry.
#[test]
fn an_outbound_dcid_pairs_with_the_session_to_the_remote_server() {
    let mut idx = index(
        "Tue Nov 14 22:13:20 2023 Info: New SMTP DCID 299 interface 198.51.100.25 address 192.0.2.7 port 25\n\
         Tue Nov 14 22:13:20 2023 Info: Delivery start DCID 299 MID 1404 to RID [0]\n\
         Tue Nov 14 22:13:20 2023 Info: Connection Error: DCID 299 domain: example.org IP: 192.0.2.7 port: 25 details: 421-4.3.2 Service not available interface: 198.51.100.25 reason: unexpected SMTP response\n\
         Tue Nov 14 22:13:20 2023 Info: DCID 299 close",
    );
    let mut b = SessionBuilder::new(([198, 51, 100, 25], 40100), ([192, 0, 2, 7], 25));
    b.wait(0.2).handshake().server("421-4.3.2 Service not available\r\n421 4.3.2 try later\r\n").close();
    let s = b.analyze().remove(0);
    let note = idx.annotate(&s, &[]).note.unwrap();
    assert_eq!((note.pairing, note.connection_id.as_deref()), ("paired", Some("DCID 299")));
    assert_eq!(note.message_ids, ["1404"]);
    assert_eq!(note.outcome.as_deref(), Some("Connection Error: 421-4.3.2 Service not available"));
    // Another host's session from the same gateway is not this DCID's.
    let mut other = SessionBuilder::new(([198, 51, 100, 25], 40102), ([192, 0, 2, 8], 25));
    other.wait(0.3).handshake().server("220 mx\r\n");
    quits(&mut other);
    assert!(idx.annotate(&other.analyze().remove(0), &[]).note.is_none());
}

/// `live`: lines written after the log was first read are read as the file grows, and a
/// connection whose lines straddle two readings comes out whole.
#[test]
fn a_followed_log_is_read_again_as_it_grows() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mainlog");
    let open = |port: u16, at: &str| {
        format!(
            "2023-11-14 {at} SMTP connection from [203.0.113.5]:{port} I=[198.51.100.25]:25 (TCP/IP connection count = 1)\n"
        )
    };
    let quit = |port: u16, at: &str| {
        format!("2023-11-14 {at} SMTP connection from (x) [203.0.113.5]:{port} I=[198.51.100.25]:25 closed by QUIT\n")
    };
    std::fs::write(&path, open(40001, "22:13:20")).unwrap();
    let name = path.display().to_string();
    let file = super::super::read_file(&path).unwrap();
    let mut idx = LogIndex::from_files(vec![file], None, "UTC", 3.0).unwrap();
    idx.follow(vec![Follow::new(&name, std::fs::File::open(&path).unwrap())]);
    let mut log = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    log.write_all((quit(40001, "22:13:21") + &open(40002, "22:13:21")).as_bytes()).unwrap();
    let note = idx.annotate(&session(40001, 0.1, quits), &[]).note.unwrap();
    assert_eq!(note.outcome.as_deref(), Some("closed by QUIT"));
    assert_eq!(note.lines, [format!("{name}:1"), format!("{name}:2")]);
    // Half a line is left for the next reading.
    log.write_all(quit(40002, "22:13:22").as_bytes()).unwrap();
    log.write_all(b"2023-11-14 22:13:22 SMTP conn").unwrap();
    std::thread::sleep(REFRESH);
    let note = idx.annotate(&session(40002, 1.5, quits), &[]).note.unwrap();
    assert_eq!(
        (note.connection_id.as_deref(), note.outcome.as_deref()),
        (Some("[203.0.113.5]:40002"), Some("closed by QUIT"))
    );
    assert_eq!(note.lines, [format!("{name}:3"), format!("{name}:4")]);
    let summary = idx.summary();
    assert_eq!((summary.connections, summary.sessions_paired, summary.unpaired.len()), (2, 2, 0));
    assert!(summary.files[0].unparsed.is_empty());
}

/// A SYN that was never answered is not the log connection of the same client that second.
#[test]
fn an_unanswered_syn_pairs_with_nothing() {
    let mut idx = index(
        "Tue Nov 14 22:13:20 2023 Info: New SMTP ICID 7 interface Data 1 (198.51.100.25) address 203.0.113.5 reverse dns host unknown verified no\n\
         Tue Nov 14 22:13:21 2023 Info: ICID 7 close",
    );
    let mut b = SessionBuilder::new(([203, 0, 113, 5], 40009), ([198, 51, 100, 25], 25));
    b.wait(0.1).syn().wait(1.0).syn();
    assert!(idx.annotate(&b.analyze().remove(0), &[]).note.is_none());
    let note = idx.annotate(&session(40001, 0.2, quits), &[]).note.unwrap();
    assert_eq!(note.connection_id.as_deref(), Some("ICID 7"));
    assert_eq!(idx.summary().sessions_unknown, 1);
}
