//! The one code that names a session's outcome on its line (and as `headline` in JSON).
//!
//! Verdicts are ranked by what they explain, not by severity alone: the reply that refused the
//! transaction (TRANSACTION_REJECTED, TEMPFAIL) outranks the generic way the connection closed
//! afterwards (RECEIVING_ABORTED), and a named cause (INSPECTION_LIMIT) outranks its symptom
//! (FIREWALL_RESET). Codes without a rank (annotations such as MASKED_BANNER or
//! RETRANSMISSIONS) come after the ranked ones, most severe first. The ranks are a column of
//! `codes::TABLE`.

use super::Verdict;

/// Ranked codes by their rank (`Props::rank`), then the rest by severity.
fn rank(v: &Verdict) -> (u8, std::cmp::Reverse<super::Severity>) {
    (v.code.props().rank.unwrap_or(u8::MAX), std::cmp::Reverse(v.severity))
}

/// The verdict shown on the session line; the first of equals in rule order.
pub fn headline(verdicts: &[Verdict]) -> Option<&Verdict> {
    verdicts.iter().min_by_key(|v| rank(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::VerdictCode::*;
    use crate::diagnose::{Severity, VerdictCode};

    fn v(code: VerdictCode, severity: Severity) -> Verdict {
        Verdict { code, severity, finding: String::new(), explanation: "".into(), packets: vec![], failover: None }
    }

    #[test]
    fn the_refusing_reply_outranks_the_close() {
        let list = [v(ReceivingAborted, Severity::Error), v(Tempfail, Severity::Warning)];
        assert_eq!(headline(&list).unwrap().code, Tempfail);
        let list = [v(FirewallReset, Severity::Error), v(InspectionLimit, Severity::Error)];
        assert_eq!(headline(&list).unwrap().code, InspectionLimit);
    }

    #[test]
    fn annotations_come_after_the_outcome_most_severe_first() {
        let list = [v(MaskedBanner, Severity::Warning), v(Delivered, Severity::Info)];
        assert_eq!(headline(&list).unwrap().code, Delivered);
        let list = [v(Incomplete, Severity::Info), v(Retransmissions, Severity::Warning)];
        assert_eq!(headline(&list).unwrap().code, Retransmissions);
        assert!(headline(&[]).is_none());
    }
}
