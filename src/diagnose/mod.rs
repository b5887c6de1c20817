//! Diagnosis stage: verdicts with evidence, computed from a finished session record.

pub mod verdict;

pub use verdict::{Severity, Verdict};

use crate::session::Session;

/// Thresholds a user may want to change.
#[derive(Clone, Debug)]
pub struct DiagnoseConfig {
    /// Silence (seconds) before a close that counts as an idle timeout.
    pub idle_timeout_s: f64,
    /// Seconds within which a client's next session to another server counts as failover.
    pub failover_window_s: f64,
}

impl Default for DiagnoseConfig {
    fn default() -> Self {
        DiagnoseConfig { idle_timeout_s: 30.0, failover_window_s: 120.0 }
    }
}

/// Every verdict that applies to a finished session.
pub fn diagnose(_session: &Session, _config: &DiagnoseConfig) -> Vec<Verdict> {
    Vec::new()
}
