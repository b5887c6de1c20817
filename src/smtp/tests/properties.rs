//! Property tests: any bytes stay bounded, any split parses the same.

use super::*;

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
                let rcpts: Vec<_> = t.rcpts.iter().map(|r| r.address.clone()).collect();
                (t.mail_from.clone(), rcpts, t.data_reply.as_ref().map(|d| d.code), t.queue_id.clone())
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
