//! What a diagnosis says about a session.

pub use super::codes::{Severity, VerdictCode};
use serde::{Serialize, Serializer};

/// One finding with the packets that prove it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub code: VerdictCode,
    pub severity: Severity,
    /// One line a mail admin understands.
    pub summary: String,
    /// What it means and what to check or change.
    pub explanation: String,
    /// Packet numbers (1-based, file order) of the evidence.
    pub packets: Vec<u64>,
}

// By name: codes.rs stays std-only for build.rs.
impl Serialize for VerdictCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
