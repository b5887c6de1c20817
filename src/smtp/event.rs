//! The bounded, packet-referenced event list and the anomaly tally that later stages
//! (diagnosis, ladder diagrams) read.

pub use super::reply::ReplyLines;
use super::verb::Verb;
use crate::tcp::{Direction, PacketRef};

/// Longest argument or reply text kept in an event; the full length is in `len`.
pub const EVENT_TEXT_MAX: usize = 1024;

#[derive(Clone, Debug)]
pub enum Event {
    Command {
        verb: Verb,
        /// For AUTH only the mechanism: credentials are never stored.
        arg: Option<String>,
        /// Line length without the line ending.
        len: usize,
        first_packet: PacketRef,
        last_packet: PacketRef,
        reply: Option<u16>,
    },
    /// A SASL response line (RFC 4954 §4): content dropped.
    AuthData {
        len: usize,
        first_packet: PacketRef,
        last_packet: PacketRef,
        reply: Option<u16>,
    },
    Reply {
        code: u16,
        lines: ReplyLines,
        line_count: u32,
        /// What it answers: a command's verb or a pseudo-command ([`Verb::Greeting`],
        /// [`Verb::DataEnd`]); `None` if nothing was pending.
        answers: Option<Verb>,
        first_packet: PacketRef,
        last_packet: PacketRef,
    },
    Body {
        bytes: u64,
        lines: u64,
        dot_stuffed_lines: u64,
        terminated: bool,
        first_packet: Option<PacketRef>,
        last_packet: Option<PacketRef>,
    },
    BdatChunk {
        size: u64,
        last: bool,
        seen: u64,
        first_packet: PacketRef,
        last_packet: Option<PacketRef>,
    },
    Tls {
        from: Direction,
        record: String,
        detail: String,
        len: usize,
        packet: PacketRef,
    },
    Gap {
        from: Direction,
        bytes: u64,
        packet: PacketRef,
    },
    Anomaly {
        from: Direction,
        kind: AnomalyKind,
        detail: String,
        packet: PacketRef,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnomalyKind {
    PartialLineAtEnd,
    LineTooLong,
    BinaryJunk,
    NulByte,
    BareLf,
    NonReplyLine,
    UnmatchedReply,
    UnansweredCommand,
    /// The end-of-data dot (or BDAT LAST) got no final reply in the capture.
    NoFinalReply,
    Gap,
    ClientSpokeBeforeGreeting,
    UnterminatedMultilineReply,
    /// A reply line with no space or hyphen after its code ("220****").
    ReplyWithoutSeparator,
    MultilineCodeChange,
    BdatInvalidSize,
    BdatTruncated,
    DataBodyUnterminated,
    ClientBytesAfterStartTls,
    TlsBytes,
    PlaintextReplyToTls,
    NotTls,
    /// STARTTLS got its 220, then this side went on in plain text (a decrypted capture, or a
    /// client that ignored the reply): the dialogue is parsed on as SMTP.
    PlaintextAfterStartTls,
    /// A stream that opens with bytes that are neither SMTP nor TLS (a VPN on port 465): the
    /// rest of it is counted, not parsed.
    NotSmtp,
    HttpConnectTunnel,
    UndecidedOverflow,
    PendingOverflow,
}

/// One kind of anomaly in one direction: how often, and where first and last.
#[derive(Clone, Debug)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub from: Direction,
    pub count: u64,
    pub detail: String,
    pub first_packet: PacketRef,
    pub last_packet: PacketRef,
}

/// Events up to a cap (dropping later ones, counted), anomalies tallied by kind and direction.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    pub events: Vec<Event>,
    pub dropped: u64,
    pub anomalies: Vec<Anomaly>,
    max: usize,
}

impl EventLog {
    pub fn new(max: usize) -> Self {
        EventLog { max, ..Default::default() }
    }

    /// Stores the event; returns its index so a later reply can be attached to it.
    pub fn push(&mut self, e: Event) -> Option<usize> {
        if self.events.len() >= self.max {
            self.dropped += 1;
            return None;
        }
        // Most sessions log 8 to 16 events: room for 16 at once, not grown 4, 8, 16.
        if self.events.capacity() == 0 {
            self.events.reserve_exact(16.min(self.max));
        }
        self.events.push(e);
        Some(self.events.len() - 1)
    }

    pub fn anomaly(&mut self, from: Direction, kind: AnomalyKind, detail: String, at: PacketRef) {
        match self.anomalies.iter_mut().find(|a| a.kind == kind && a.from == from) {
            Some(a) => {
                a.count += 1;
                a.last_packet = at;
            }
            None => self.anomalies.push(Anomaly {
                kind,
                from,
                count: 1,
                detail: detail.clone(),
                first_packet: at,
                last_packet: at,
            }),
        }
        self.push(Event::Anomaly { from, kind, detail, packet: at });
    }

    pub fn has(&self, kind: AnomalyKind) -> bool {
        self.anomalies.iter().any(|a| a.kind == kind)
    }

    /// Records the reply code on the command event it answers, if that event was kept.
    pub fn set_reply(&mut self, index: Option<usize>, code: u16) {
        match index.and_then(|i| self.events.get_mut(i)) {
            Some(Event::Command { reply, .. }) | Some(Event::AuthData { reply, .. }) => *reply = Some(code),
            _ => {}
        }
    }
}

/// Cuts text for storage in an event, on a character boundary.
pub fn clip(s: &str) -> String {
    if s.len() <= EVENT_TEXT_MAX {
        return s.to_string();
    }
    let mut end = EVENT_TEXT_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
#[cfg(test)]
mod tests {
    /// Sessions with thousands of events move them when the list grows: a wider variant
    /// (a reply's lines, a command's argument) costs every event.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_event_stays_within_96_bytes() {
        assert!(std::mem::size_of::<super::Event>() <= 96, "{} bytes", std::mem::size_of::<super::Event>());
    }
}
