//! The SMTP dialogue parser on arbitrary byte streams in both directions, with gaps, under small
//! caps: no panic, every list within its cap, and the record always serialises.
//!
//! Input: records of a control byte and a length byte, then that many data bytes. Control bit 0
//! picks the direction (0 client, 1 server); bit 7 makes the record a gap of `length * 97 + 1`
//! bytes instead of data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpdiag::smtp::{Dialogue, SmtpConfig};
use smtpdiag::tcp::{Direction, PacketRef};

fuzz_target!(|data: &[u8]| {
    let cfg = SmtpConfig {
        max_line_len: 64,
        max_events: 40,
        max_pending: 8,
        max_undecided_bytes: 256,
        max_items: 16,
        ..SmtpConfig::default()
    };
    let mut d = Dialogue::new(&cfg);
    let mut rest = data;
    let mut number = 0;
    while let [ctrl, len, tail @ ..] = rest {
        number += 1;
        let at = PacketRef { number, ts: Default::default() };
        let dir = if ctrl & 1 == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
        if ctrl & 0x80 != 0 {
            d.on_gap(dir, *len as u64 * 97 + 1, at);
            rest = tail;
            continue;
        }
        let n = (*len as usize).min(tail.len());
        d.on_data(dir, &tail[..n], at);
        rest = &tail[n..];
    }
    let rec = d.finish();
    assert!(rec.events.len() <= cfg.max_events);
    assert!(rec.commands.len() <= cfg.max_items && rec.replies.len() <= cfg.max_items);
    assert!(rec.mail_from.len() <= cfg.max_items && rec.rcpt_to.len() <= cfg.max_items);
    assert!(rec.transactions.len() <= cfg.max_items);
    for t in &rec.transactions {
        assert!(t.rcpts.len() <= cfg.max_items && t.bdat_chunks.len() <= cfg.max_items);
    }
    for tls in rec.implicit_tls.as_deref().into_iter().chain(rec.starttls.iter().filter_map(|s| s.tls.as_ref())) {
        assert!(tls.alerts.len() <= 16);
    }
    // One anomaly entry per kind and direction.
    assert!(rec.anomalies.len() <= 2 * 32);
    smtpdiag::render::json::smtp_value(&rec).expect("the record serialises");
});
