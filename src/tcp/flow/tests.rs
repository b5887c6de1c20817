use super::EndReason;
use crate::synth::{CLIENT, SERVER, SessionBuilder};
use crate::tcp::conn::{CloseKind, Handshake, Role};

#[test]
fn syn_retries_are_one_connection_with_a_syn_count() {
    let mut b = SessionBuilder::lab();
    b.syn().wait(1.0).syn().wait(2.0);
    b.handshake().server("220 hi\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    let s = b.analyze();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].conn.syn_count, 3);
    assert_eq!(s[0].conn.handshake, Handshake::Complete);
    assert_eq!(s[0].smtp.replies, [220, 221]);
}

#[test]
fn simultaneous_close_is_closed_by_whoever_came_first() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 hi\r\n").fin(SERVER).fin(CLIENT).ack(SERVER).ack(CLIENT);
    let s = &b.analyze()[0];
    assert_eq!(s.conn.closed_by, Some((Role::Server, CloseKind::Fin)));
    assert_eq!(s.conn.zeek_conn_state, "SF");
    assert_eq!(s.end, EndReason::Closed);
}

#[test]
fn rst_mid_stream_ends_the_session_and_keeps_the_dialogue() {
    let mut b = SessionBuilder::lab();
    b.handshake()
        .server("220 hi\r\n")
        .client("EHLO a\r\n")
        .server("250 ok\r\n")
        .client("MAIL FROM:<a@b>\r\n")
        .rst(CLIENT);
    let s = &b.analyze()[0];
    assert_eq!(s.conn.closed_by, Some((Role::Client, CloseKind::Rst)));
    assert_eq!(s.smtp.commands, ["EHLO", "MAIL"]);
    assert_eq!(s.conn.zeek_conn_state, "RSTO");
}

#[test]
fn a_new_syn_on_the_same_ports_after_close_is_a_new_session() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 one\r\n").close().wait(1.0);
    let mut second = SessionBuilder::lab().at_isn(900_000, 80_000);
    second.handshake().server("220 two\r\n").close();
    b.frames.extend(second.frames.into_iter().map(|(ts, f)| (crate::capture::Timestamp(ts.0 + 2_000_000_000), f)));
    let s = b.analyze();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].smtp.banner.as_ref().unwrap().text, "one");
    assert_eq!(s[1].smtp.banner.as_ref().unwrap().text, "two");
}

/// Runs `b` and returns its sessions, with the flow table's late-packet count.
fn analyze_counting_late(b: &SessionBuilder) -> (Vec<crate::session::Session>, u64) {
    let mut sessions = Vec::new();
    let config = crate::session::AnalyzerConfig::default();
    let mut analyzer = crate::session::Analyzer::new("synthetic", config, |s| {
        sessions.push(s);
        std::ops::ControlFlow::Continue(())
    });
    let _ = crate::capture::read_bytes("synthetic", &b.pcap(), &mut analyzer as &mut dyn crate::capture::FrameSink);
    analyzer.finish();
    let late = analyzer.table_stats().late_packets;
    drop(analyzer);
    (sessions, late)
}

#[test]
fn a_clean_close_is_handed_on_after_the_grace_and_late_packets_do_not_start_a_session() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 hi\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
    // Within the grace: still part of the session (a second copy of the last ACK, say).
    b.wait(0.5).ack(CLIENT);
    // After the grace, inside the linger: a late retransmitted FIN is absorbed, not a session.
    let (fin_seq, ack) = (b.next_seq(SERVER) - 1, b.next_seq(CLIENT));
    b.wait(2.0).raw(SERVER, 0x11, fin_seq, ack, b"", 63);
    // A packet after the whole linger is a new (midstream) connection again.
    b.wait(10.0).ack(CLIENT);
    let (s, late) = analyze_counting_late(&b);
    assert_eq!(late, 1);
    assert_eq!(s.len(), 2, "the session, then the packet after the linger");
    assert_eq!(s[0].end, EndReason::Closed);
    // Handshake 3, dialogue 3, close 4, and the copy within the grace.
    assert_eq!(s[0].conn.dirs[0].packets + s[0].conn.dirs[1].packets, 11);
    assert_eq!(s[1].conn.handshake, Handshake::Midstream);
}

#[test]
fn tombstones_are_capped_like_flows() {
    // The cap is per bucket: ten client ports whose connections share one.
    let key = |port: u16| super::key::FlowKey {
        v6: false,
        a: (super::key::addr_bytes([10, 0, 0, 1].into()), port),
        b: (super::key::addr_bytes([10, 0, 0, 2].into()), 25),
    };
    let bucket = key(40000).bucket();
    let ports: Vec<u16> = (40000..u16::MAX).filter(|&p| key(p).bucket() == bucket).take(10).collect();
    let mut b = SessionBuilder::lab();
    for (i, &port) in (0..10u16).zip(&ports) {
        let mut one = SessionBuilder::new(([10, 0, 0, 1], port), ([10, 0, 0, 2], 25));
        one.handshake().server("220 hi\r\n").close();
        // Ten connections 0.6 s apart: at most two in their 1 s grace at once, but up to
        // nine in their 5 s linger.
        let shift = i64::from(i) * 600_000_000;
        b.frames.extend(one.frames.into_iter().map(|(ts, f)| (crate::capture::Timestamp(ts.0 + shift), f)));
    }
    let mut config = crate::session::AnalyzerConfig::default();
    config.tcp.max_flows = 3 * super::BUCKETS;
    let mut most = 0;
    let mut analyzer = crate::session::Analyzer::new("synthetic", config, |_| std::ops::ControlFlow::Continue(()));
    let pcap = b.pcap();
    struct Watch<'a, F: FnMut(crate::session::Session) -> std::ops::ControlFlow<()>>(
        &'a mut crate::session::Analyzer<F>,
        &'a mut usize,
    );
    impl<F: FnMut(crate::session::Session) -> std::ops::ControlFlow<()>> crate::capture::FrameSink for Watch<'_, F> {
        fn frame(&mut self, frame: &crate::capture::Frame<'_>) -> std::ops::ControlFlow<()> {
            let flow = self.0.frame(frame);
            *self.1 = (*self.1).max(self.0.tombstones());
            flow
        }
        fn warning(&mut self, w: crate::capture::CaptureWarning) {
            self.0.warning(w);
        }
    }
    let _ = crate::capture::read_bytes("synthetic", &pcap, &mut Watch(&mut analyzer, &mut most));
    assert_eq!(most, 3, "at most the bucket's share of --max-flows tombstones, and the cap was reached");
}

#[test]
fn a_reset_close_lingers_whole() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 hi\r\n").rst(SERVER).wait(3.0).rst(CLIENT);
    let (s, late) = analyze_counting_late(&b);
    assert_eq!((s.len(), late), (1, 0));
    assert_eq!(s[0].conn.dirs[0].packets, 3, "SYN, ACK and the reset 3 s later");
}

#[test]
fn a_lost_client_segment_becomes_a_gap_and_the_dialogue_resyncs() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 hi\r\n").client("EHLO a\r\n").server("250 ok\r\n");
    // MAIL FROM is "sent" but not captured: the next client segment starts after it.
    let mail = "MAIL FROM:<a@b>\r\n";
    let seq = b.next_seq(CLIENT);
    let ack = b.next_seq(SERVER);
    b.raw(CLIENT, 0x18, seq + mail.len() as u32, ack, b"RCPT TO:<c@d>\r\n", 64);
    b.raw(SERVER, 0x18, ack, seq + mail.len() as u32 + 15, b"250 ok\r\n250 ok\r\n", 63);
    let s = &b.analyze()[0];
    assert_eq!(s.conn.dirs[0].stream.gap_bytes, mail.len() as u64);
    assert!(s.smtp.commands.contains(&crate::smtp::Verb::Rcpt));
    assert!(s.conn.zeek_history.contains('G') || s.conn.zeek_history.contains('g'), "{}", s.conn.zeek_history);
}

#[test]
fn an_idle_session_is_handed_on_after_the_idle_timeout() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 hi\r\n").wait(700.0);
    let mut other = SessionBuilder::new(([203, 0, 113, 9], 40000), ([198, 51, 100, 25], 25));
    other.now = b.now;
    other.handshake();
    b.frames.extend(other.frames);
    let s = b.analyze();
    assert_eq!(s[0].end, EndReason::Idle);
    assert_eq!(s[1].end, EndReason::CaptureEnd);
}

#[test]
fn packets_on_other_ports_move_the_idle_clock_too() {
    let mut b = SessionBuilder::lab();
    b.handshake().server("220 hi\r\n").wait(700.0);
    let mut web = SessionBuilder::new(([203, 0, 113, 9], 40000), ([198, 51, 100, 80], 80));
    web.now = b.now;
    web.handshake();
    b.frames.extend(web.frames);
    let s = b.analyze();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].end, EndReason::Idle);
}

#[test]
fn a_mail_port_on_the_initiator_side_alone_is_no_mail_session() {
    // An FTP control connection from client port 2525, and a scan's SYN from port 25 to 113
    // answered by a reset.
    let mut ftp = SessionBuilder::new(([203, 0, 113, 5], 2525), ([198, 51, 100, 21], 21));
    ftp.handshake().server("220 FTP ready\r\n").client("USER a\r\n").server("331 pass\r\n").close();
    assert!(ftp.analyze().is_empty());
    let mut scan = SessionBuilder::new(([203, 0, 113, 5], 25), ([198, 51, 100, 21], 113));
    scan.syn().rst(SERVER);
    assert!(scan.analyze().is_empty());
}
