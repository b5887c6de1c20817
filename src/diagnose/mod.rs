//! Diagnosis stage: verdicts with evidence, computed from a finished session record.
//!
//! Each rule is one small function in a table, grouped by family: how the session ended
//! (`ending`), traces of middleboxes (`middlebox`), transport faults (`transport`). Verdicts that
//! need to see several sessions (failover after a tempfail) are added by `failover`.

// Before the rule families: its macros are used by `middlebox`.
#[macro_use]
mod asa_fix;
pub mod codes;
mod ending;
mod facts;
pub mod failover;
pub mod headline;
mod middlebox;
mod outcome;
mod transport;
mod turns;
pub mod verdict;

pub use failover::{FailoverTracker, Held};
pub use headline::headline;
pub use verdict::{Failover, Severity, Verdict, VerdictCode};

use crate::session::Session;
use facts::Facts;

/// Thresholds a user may want to change.
#[derive(Clone, Debug)]
pub struct DiagnoseConfig {
    /// Silence (seconds) before a close that counts as an idle timeout.
    pub idle_timeout_s: f64,
    /// Seconds within which a client's next session to another server counts as failover.
    pub failover_window_s: f64,
    /// Silence (seconds) of the side whose turn it was that counts as CLIENT_STALLED or
    /// SERVER_SILENT.
    pub client_stall_s: f64,
    /// RETRANSMISSIONS needs at least this many retransmitted segments in one direction…
    pub retransmission_min_count: u64,
    /// …and at least this share of that direction's bytes.
    pub retransmission_share: f64,
}

impl Default for DiagnoseConfig {
    fn default() -> Self {
        DiagnoseConfig {
            idle_timeout_s: 30.0,
            failover_window_s: 120.0,
            client_stall_s: 5.0,
            retransmission_min_count: 3,
            retransmission_share: 0.03,
        }
    }
}

type Rule = fn(&Facts, &DiagnoseConfig) -> Option<Verdict>;
type MultiRule = fn(&Facts, &DiagnoseConfig) -> Vec<Verdict>;

/// In the order they are shown.
const RULES: &[Rule] = &[
    ending::port_closed,
    ending::no_answer,
    ending::tcprefuse,
    ending::reject,
    ending::delivered,
    ending::tempfail,
    ending::transaction_rejected,
    ending::auth_failed,
    ending::aborted_by_sender,
    ending::receiving_aborted,
    ending::idle_timeout,
    ending::tls,
    outcome::not_smtp,
    turns::client_stalled,
    turns::server_silent,
    middlebox::masked_banner,
    middlebox::banner_never_completed,
    middlebox::command_masked,
    middlebox::ehlo_refused,
    middlebox::firewall_reset,
    middlebox::inspection_limit,
    middlebox::stream_rewritten,
    transport::retransmissions,
    transport::zero_window,
    transport::mtu_blackhole,
    transport::slow_handshake,
    ending::incomplete,
];

const MULTI_RULES: &[MultiRule] = &[middlebox::ehlo_keywords_masked];

/// Rules that read the verdicts found before them.
type AfterRule = fn(&Facts, &DiagnoseConfig, &[Verdict]) -> Option<Verdict>;
const AFTER_RULES: &[AfterRule] = &[outcome::no_message];

/// Every verdict that applies to a finished session.
pub fn diagnose(session: &Session, config: &DiagnoseConfig) -> Vec<Verdict> {
    let facts = Facts::new(session);
    let mut out: Vec<Verdict> = RULES.iter().filter_map(|rule| rule(&facts, config)).collect();
    for rule in MULTI_RULES {
        out.extend(rule(&facts, config));
    }
    for rule in AFTER_RULES {
        if let Some(v) = rule(&facts, config, &out) {
            out.push(v);
        }
    }
    out
}

/// A rule's verdict (see [`Verdict::new`]).
fn verdict(
    code: VerdictCode,
    finding: String,
    explanation: impl Into<std::borrow::Cow<'static, str>>,
    packets: Vec<u64>,
) -> Verdict {
    Verdict::new(code, finding, explanation, packets)
}

#[cfg(test)]
mod tests;
