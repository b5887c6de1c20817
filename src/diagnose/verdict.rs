//! What a diagnosis says about a session.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// How the session went, when it went well (DELIVERED, TLS_STARTED).
    Info,
    /// Worth knowing; mail may still flow (retransmissions, tempfail).
    Warning,
    /// Mail did not flow, or something in the path broke it.
    Error,
}

/// One finding with the packets that prove it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Stable code, e.g. "TCPREFUSE".
    pub code: &'static str,
    pub severity: Severity,
    /// One line a mail admin understands.
    pub summary: String,
    /// What it means and what to check or change.
    pub explanation: String,
    /// Packet numbers (1-based, file order) of the evidence.
    pub packets: Vec<u64>,
}
