//! Whole-dialogue tests built from literal byte sequences reproducing the corpus's tricky cases,
//! one file per theme; the helpers they share are here.

mod damaged;
mod dialogue;
mod properties;
mod starttls;

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
