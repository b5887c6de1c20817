//! SMTP stage: turns the two reassembled byte streams of a connection into a dialogue record.
//! (Interface placeholder while the parser is written; replaced by the real parser.)

use crate::tcp::{Direction, PacketRef};
use serde::Serialize;

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub max_line_len: usize,
    pub max_events: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig { max_line_len: 64 * 1024, max_events: 10_000 }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SmtpRecord {
    pub commands: Vec<String>,
    pub replies: Vec<u16>,
}

pub struct Dialogue {
    record: SmtpRecord,
}

impl Dialogue {
    pub fn new(_config: &SmtpConfig) -> Self {
        Dialogue { record: SmtpRecord::default() }
    }
    pub fn on_data(&mut self, _dir: Direction, _data: &[u8], _at: PacketRef) {}
    pub fn on_gap(&mut self, _dir: Direction, _missing: u64, _at: PacketRef) {}
    pub fn finish(self) -> SmtpRecord {
        self.record
    }
}
