//! The one code that names a session's outcome on its line (and as `headline` in JSON).
//!
//! Verdicts are ranked by what they explain, not by severity alone: the reply that refused the
//! transaction (TRANSACTION_REJECTED, TEMPFAIL) outranks the generic way the connection closed
//! afterwards (RECEIVING_ABORTED), and a named cause (INSPECTION_LIMIT) outranks its symptom
//! (FIREWALL_RESET). Codes not in the list (annotations such as MASKED_BANNER or
//! RETRANSMISSIONS) come after it, most severe first.

use super::Verdict;

/// Highest rank first.
pub const RANKING: &[&str] = &[
    // A named cause of the failure.
    "INSPECTION_LIMIT",
    "BANNER_NEVER_COMPLETED",
    // The server refused the connection or the transaction, or could not be reached.
    "REJECT",
    "TCPREFUSE",
    "PORT_CLOSED",
    "NO_ANSWER",
    "TRANSACTION_REJECTED",
    "AUTH_FAILED",
    "TEMPFAIL",
    "TLS_FAILED",
    "NOT_SMTP",
    "SERVER_SILENT",
    "STARTTLS_STRIPPED",
    "MTU_BLACKHOLE",
    // How the connection closed when nothing above explains it.
    "FIREWALL_RESET",
    "RECEIVING_ABORTED",
    "IDLE_TIMEOUT",
    "CLIENT_STALLED",
    "ABORTED_BY_SENDER",
    "COMMAND_MASKED",
    // It went well.
    "DELIVERED",
    "TLS_STARTED",
    "NO_MESSAGE",
];

fn rank(v: &Verdict) -> (usize, std::cmp::Reverse<super::Severity>) {
    let listed = RANKING.iter().position(|c| *c == v.code).unwrap_or(RANKING.len());
    (listed, std::cmp::Reverse(v.severity))
}

/// The verdict shown on the session line; the first of equals in rule order.
pub fn headline(verdicts: &[Verdict]) -> Option<&Verdict> {
    verdicts.iter().min_by_key(|v| rank(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Severity;

    fn v(code: &'static str, severity: Severity) -> Verdict {
        Verdict { code, severity, summary: String::new(), explanation: String::new(), packets: vec![] }
    }

    #[test]
    fn the_refusing_reply_outranks_the_close() {
        let list = [v("RECEIVING_ABORTED", Severity::Error), v("TEMPFAIL", Severity::Warning)];
        assert_eq!(headline(&list).unwrap().code, "TEMPFAIL");
        let list = [v("FIREWALL_RESET", Severity::Error), v("INSPECTION_LIMIT", Severity::Error)];
        assert_eq!(headline(&list).unwrap().code, "INSPECTION_LIMIT");
    }

    #[test]
    fn annotations_come_after_the_outcome_most_severe_first() {
        let list = [v("MASKED_BANNER", Severity::Warning), v("DELIVERED", Severity::Info)];
        assert_eq!(headline(&list).unwrap().code, "DELIVERED");
        let list = [v("INCOMPLETE", Severity::Info), v("RETRANSMISSIONS", Severity::Warning)];
        assert_eq!(headline(&list).unwrap().code, "RETRANSMISSIONS");
        assert!(headline(&[]).is_none());
    }
}
