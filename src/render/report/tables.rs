//! Per-server and per-client tallies: how many sessions delivered, were refused, tempfailed,
//! aborted, or show firewall artifacts. A session counts in every column its verdicts name.

use crate::diagnose::Verdict;
use crate::diagnose::VerdictCode::{self, *};

/// A message accepted.
const DELIVERED: &[VerdictCode] = &[Delivered];
/// The server (or something in its name) said no: at the greeting, the handshake or a command.
const REFUSED: &[VerdictCode] = &[Reject, TcpRefuse, PortClosed, TransactionRejected, AuthFailed];
const TEMPFAILED: &[VerdictCode] = &[Tempfail];
const ABORTED: &[VerdictCode] = &[AbortedBySender, ReceivingAborted];
/// Traces of a middlebox: masking, rewriting, forged resets, inspection limits.
const FIREWALL: &[VerdictCode] = &[
    MaskedBanner,
    BannerNeverCompleted,
    CommandMasked,
    EhloKeywordMasked,
    StarttlsStripped,
    FirewallReset,
    InspectionLimit,
    StreamRewritten,
];

/// Which columns one session counts in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub delivered: bool,
    pub refused: bool,
    pub tempfailed: bool,
    pub aborted: bool,
    pub firewall: bool,
}

impl Outcome {
    pub fn of(verdicts: &[Verdict]) -> Outcome {
        let any = |codes: &[VerdictCode]| verdicts.iter().any(|v| codes.contains(&v.code));
        Outcome {
            delivered: any(DELIVERED),
            refused: any(REFUSED),
            tempfailed: any(TEMPFAILED),
            aborted: any(ABORTED),
            firewall: any(FIREWALL),
        }
    }
}

/// One table row: sessions of one address and their outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub sessions: u64,
    pub delivered: u64,
    pub refused: u64,
    pub tempfailed: u64,
    pub aborted: u64,
    pub firewall: u64,
}

impl Tally {
    pub fn add(&mut self, o: Outcome) {
        self.sessions += 1;
        self.delivered += u64::from(o.delivered);
        self.refused += u64::from(o.refused);
        self.tempfailed += u64::from(o.tempfailed);
        self.aborted += u64::from(o.aborted);
        self.firewall += u64::from(o.firewall);
    }

    /// Adds another row (the "others" line under a cut table).
    pub fn merge(&mut self, t: &Tally) {
        self.sessions += t.sessions;
        self.delivered += t.delivered;
        self.refused += t.refused;
        self.tempfailed += t.tempfailed;
        self.aborted += t.aborted;
        self.firewall += t.firewall;
    }

    /// Sessions that went wrong somehow: the order of a table, worst first.
    fn trouble(&self) -> u64 {
        self.refused + self.tempfailed + self.aborted + self.firewall
    }
}

/// A table as shown: its rows, and the rest added up with how many addresses they are.
pub type Shown<K> = (Vec<(K, Tally)>, Option<(usize, Tally)>);

/// The rows to show, most sessions with trouble first, then most sessions; past `max` rows the
/// rest are added up into one "others" tally.
pub fn top<K: Clone + Ord>(rows: &std::collections::BTreeMap<K, Tally>, max: usize) -> Shown<K> {
    let mut all: Vec<(K, Tally)> = rows.iter().map(|(k, t)| (k.clone(), *t)).collect();
    all.sort_by(|a, b| b.1.trouble().cmp(&a.1.trouble()).then(b.1.sessions.cmp(&a.1.sessions)).then(a.0.cmp(&b.0)));
    if all.len() <= max {
        return (all, None);
    }
    let rest = all.split_off(max);
    let mut others = Tally::default();
    for (_, t) in &rest {
        others.merge(t);
    }
    (all, Some((rest.len(), others)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Severity;
    use std::collections::BTreeMap;

    fn v(code: VerdictCode) -> Verdict {
        Verdict {
            code,
            severity: Severity::Error,
            finding: String::new(),
            explanation: "".into(),
            packets: vec![],
            failover: None,
        }
    }

    #[test]
    fn a_session_counts_in_every_column_it_names() {
        let o = Outcome::of(&[v(Delivered), v(FirewallReset)]);
        assert_eq!(o, Outcome { delivered: true, firewall: true, ..Outcome::default() });
        let mut t = Tally::default();
        t.add(o);
        t.add(Outcome::of(&[v(TcpRefuse)]));
        assert_eq!(t, Tally { sessions: 2, delivered: 1, refused: 1, firewall: 1, ..Tally::default() });
    }

    #[test]
    fn tables_show_trouble_first_and_add_up_the_rest() {
        let mut rows = BTreeMap::new();
        for (name, refused, sessions) in [("a", 0, 9), ("b", 2, 3), ("c", 0, 1), ("d", 1, 1)] {
            rows.insert(name, Tally { sessions, refused, ..Tally::default() });
        }
        let (shown, others) = top(&rows, 3);
        let names: Vec<&str> = shown.iter().map(|r| r.0).collect();
        assert_eq!(names, ["b", "d", "a"]);
        assert_eq!(others, Some((1, Tally { sessions: 1, ..Tally::default() })));
    }
}
