//! What a diagnosis says about a session.

pub use super::codes::{Severity, VerdictCode};
use crate::tcp::conn::Endpoint;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// One finding with the packets that prove it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub code: VerdictCode,
    pub severity: Severity,
    /// What the rule found, one line a mail admin understands. Shown through
    /// [`Verdict::summary`], which adds the failover.
    pub finding: String,
    /// What it means and what to check or change: mostly a fixed text, not copied per verdict.
    pub explanation: Cow<'static, str>,
    /// Packet numbers (1-based, file order) of the evidence.
    pub packets: Vec<u64>,
    /// The client's next session, to another server, after this failure (set by `failover`,
    /// which needs the sessions after this one to see it).
    pub failover: Option<Failover>,
}

/// A client that went on to another server on the same port after a failure.
#[derive(Clone, Debug, PartialEq)]
pub struct Failover {
    pub server: Endpoint,
    /// Id of the session to it, as `read` prints it.
    pub session: String,
    /// Seconds from the end of the failed session to the start of that one.
    pub after_s: f64,
}

impl fmt::Display for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the client failed over to {} (session {}) {:.1} s later", self.server, self.session, self.after_s)
    }
}

impl Verdict {
    /// A verdict with its code's severity; packets are sorted and deduplicated.
    pub fn new(
        code: VerdictCode,
        finding: String,
        explanation: impl Into<Cow<'static, str>>,
        mut packets: Vec<u64>,
    ) -> Verdict {
        packets.sort_unstable();
        packets.dedup();
        let explanation = explanation.into();
        Verdict { code, severity: code.props().severity, finding, explanation, packets, failover: None }
    }

    /// The one line shown for it: the finding, and where the client failed over to.
    pub fn summary(&self) -> Cow<'_, str> {
        match &self.failover {
            None => Cow::Borrowed(&self.finding),
            Some(to) => Cow::Owned(format!("{}; {to}", self.finding)),
        }
    }
}

/// As JSON shows it: the summary with the failover, and no field of its own for it.
impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = s.serialize_struct("Verdict", 5)?;
        v.serialize_field("code", &self.code)?;
        v.serialize_field("severity", &self.severity)?;
        v.serialize_field("summary", &self.summary())?;
        v.serialize_field("explanation", &self.explanation)?;
        v.serialize_field("packets", &self.packets)?;
        v.end()
    }
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
