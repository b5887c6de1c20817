//! Every verdict code a rule can emit, and everything the program knows about each code, in one
//! table (as Suricata's `smtp_decoder_event_table`): its name, its severity, the phrase of its
//! ladder row and the packet that row is, whether it says how a session ended, whether a sender
//! fails over after it, and its place in the headline ranking. `--verdict` accepts the names (and
//! shell completions offer them); the README's verdict table describes each.
//!
//! A new verdict is one variant of [`VerdictCode`] and one row of [`TABLE`], in the same place:
//! the compiler checks the table has a row per variant, in variant order.
//!
//! build.rs includes this file (for the completions), so it depends on nothing but std.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// How the session went, when it went well (DELIVERED, TLS_STARTED).
    Info,
    /// Worth knowing; mail may still flow (retransmissions, tempfail).
    Warning,
    /// Mail did not flow, or something in the path broke it.
    Error,
}

impl Severity {
    /// The lowercase name JSON uses.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// In the order of the README's verdict table: endings, middleboxes, transport, the mail log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VerdictCode {
    Delivered,
    Reject,
    TcpRefuse,
    PortClosed,
    NoAnswer,
    Tempfail,
    TransactionRejected,
    AuthFailed,
    AbortedBySender,
    ReceivingAborted,
    IdleTimeout,
    TlsStarted,
    TlsFailed,
    PlaintextAfterStarttls,
    ClientStalled,
    ServerSilent,
    NoMessage,
    NotSmtp,
    Incomplete,
    MaskedBanner,
    BannerNeverCompleted,
    StarttlsStripped,
    EhloKeywordMasked,
    CommandMasked,
    EhloRefused,
    FirewallReset,
    InspectionLimit,
    StreamRewritten,
    Retransmissions,
    ZeroWindow,
    MtuBlackhole,
    SlowHandshake,
    /// The mail server's log against the packets (`--maillog`, src/maillog/pair.rs).
    LogContradicts,
}

/// Which of its evidence packets a verdict's ladder row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The first: where the failure showed (the refusing reply, the first retransmission).
    First,
    /// The last: the reset, the close or the alert that ended it.
    Last,
}

/// What the rest of the program knows about a code.
#[derive(Clone, Copy, Debug)]
pub struct Props {
    pub code: VerdictCode,
    /// The stable name users see, select and script against.
    pub name: &'static str,
    /// The severity the rule gives it (TRANSACTION_REJECTED drops to a warning when another
    /// message of the session was delivered).
    pub severity: Severity,
    /// The short phrase on the ladder row where it happened; without one the row shows the code.
    pub phrase: Option<&'static str>,
    pub anchor: Anchor,
    /// Its evidence packets carry bytes a middlebox masked (the ladder colours them). Not
    /// STREAM_REWRITTEN: its evidence names the first copies too, the changed ones come from
    /// the connection's rewrites.
    pub masks: bool,
    /// It says how the session ended; a session with none may get NO_MESSAGE. (INCOMPLETE says
    /// how the capture ended, not the session.)
    pub ends_session: bool,
    /// A sender moves on to its next MX or route host after it: the session waits for the
    /// client's next one (`failover`).
    pub fails_over: bool,
    /// Place in the headline ranking, 1 first (`headline`); `None` for annotations, which come
    /// after every ranked code, most severe first.
    pub rank: Option<u8>,
}

use Anchor::{First, Last};
use Severity::{Error, Info, Warning};
use VerdictCode::*;

/// Shorthands for the table's flag column.
const NONE: u8 = 0;
const ENDS: u8 = 1;
const FAILOVER: u8 = 2;
const MASKS: u8 = 4;

/// One row: code, name, severity, ladder phrase and anchor, flags, headline rank.
const fn row(
    code: VerdictCode,
    name: &'static str,
    severity: Severity,
    phrase: Option<&'static str>,
    anchor: Anchor,
    flags: u8,
    rank: Option<u8>,
) -> Props {
    Props {
        code,
        name,
        severity,
        phrase,
        anchor,
        masks: flags & MASKS != 0,
        ends_session: flags & ENDS != 0,
        fails_over: flags & FAILOVER != 0,
        rank,
    }
}

/// Headline ranks (1 first) are grouped: a named cause of the failure (1-2) outranks the server
/// refusing the connection or the transaction, or not being reachable (3-14); then how the
/// connection closed when nothing above explains it (15-20); then that it went well (21-23).
/// So the reply that refused the transaction (TEMPFAIL) outranks the close after it
/// (RECEIVING_ABORTED), and a named cause (INSPECTION_LIMIT) its symptom (FIREWALL_RESET).
#[rustfmt::skip]
pub const TABLE: [Props; VerdictCode::COUNT] = [
    row(Delivered,              "DELIVERED",                Info,    Some("message accepted"),              First, ENDS,            Some(21)),
    row(Reject,                 "REJECT",                   Error,   Some("server refused the session"),    First, ENDS,            Some(3)),
    row(TcpRefuse,              "TCPREFUSE",                Error,   Some("RST after handshake"),           Last,  ENDS | FAILOVER, Some(4)),
    row(PortClosed,             "PORT_CLOSED",              Error,   Some("SYN answered by RST"),           Last,  ENDS | FAILOVER, Some(5)),
    row(NoAnswer,               "NO_ANSWER",                Error,   Some("SYN never answered"),            Last,  ENDS | FAILOVER, Some(6)),
    row(Tempfail,               "TEMPFAIL",                 Warning, Some("temporary failure"),             First, ENDS | FAILOVER, Some(9)),
    row(TransactionRejected,    "TRANSACTION_REJECTED",     Error,   Some("rejected"),                      First, ENDS,            Some(7)),
    row(AuthFailed,             "AUTH_FAILED",              Error,   None,                                  First, ENDS,            Some(8)),
    row(AbortedBySender,        "ABORTED_BY_SENDER",        Warning, Some("client gave up"),                Last,  ENDS,            Some(19)),
    row(ReceivingAborted,       "RECEIVING_ABORTED",        Error,   Some("connection cut"),                Last,  ENDS,            Some(16)),
    row(IdleTimeout,            "IDLE_TIMEOUT",             Warning, Some("server timed out"),              First, ENDS,            Some(17)),
    row(TlsStarted,             "TLS_STARTED",              Info,    Some("TLS starts"),                    First, ENDS,            Some(22)),
    row(TlsFailed,              "TLS_FAILED",               Error,   Some("TLS handshake failed"),          Last,  ENDS,            Some(10)),
    row(PlaintextAfterStarttls, "PLAINTEXT_AFTER_STARTTLS", Warning, None,                                  First, NONE,            None),
    row(ClientStalled,          "CLIENT_STALLED",           Warning, None,                                  First, ENDS,            Some(18)),
    row(ServerSilent,           "SERVER_SILENT",            Error,   None,                                  First, ENDS,            Some(12)),
    row(NoMessage,              "NO_MESSAGE",               Info,    None,                                  First, NONE,            Some(23)),
    row(NotSmtp,                "NOT_SMTP",                 Error,   None,                                  First, ENDS,            Some(11)),
    row(Incomplete,             "INCOMPLETE",               Info,    Some("capture ends"),                  Last,  NONE,            None),
    row(MaskedBanner,           "MASKED_BANNER",            Warning, Some("banner masked by a firewall"),   First, MASKS,           None),
    row(BannerNeverCompleted,   "BANNER_NEVER_COMPLETED",   Error,   Some("banner never completed"),        Last,  ENDS,            Some(2)),
    row(StarttlsStripped,       "STARTTLS_STRIPPED",        Error,   Some("STARTTLS masked by a firewall"), First, MASKS,           Some(13)),
    row(EhloKeywordMasked,      "EHLO_KEYWORD_MASKED",      Warning, Some("EHLO keyword masked"),           First, MASKS,           None),
    row(CommandMasked,          "COMMAND_MASKED",           Warning, Some("command masked by a firewall"),  First, MASKS,           Some(20)),
    row(EhloRefused,            "EHLO_REFUSED",             Warning, Some("EHLO refused"),                  First, NONE,            None),
    row(FirewallReset,          "FIREWALL_RESET",           Error,   Some("RST forged by a firewall"),      Last,  NONE,            Some(15)),
    row(InspectionLimit,        "INSPECTION_LIMIT",         Error,   Some("over a firewall inspection limit"), First, ENDS,         Some(1)),
    row(StreamRewritten,        "STREAM_REWRITTEN",         Warning, Some("bytes rewritten in the path"),   First, NONE,            None),
    row(Retransmissions,        "RETRANSMISSIONS",          Warning, Some("retransmissions"),               First, NONE,            None),
    row(ZeroWindow,             "ZERO_WINDOW",              Warning, Some("zero window"),                   First, NONE,            None),
    row(MtuBlackhole,           "MTU_BLACKHOLE",            Error,   Some("full-size segment lost"),        First, NONE,            Some(14)),
    row(SlowHandshake,          "SLOW_HANDSHAKE",           Warning, Some("SYN retried"),                   First, NONE,            None),
    row(LogContradicts,         "LOG_CONTRADICTS",          Warning, None,                                  First, NONE,            None),
];

// The table has one row per variant, in variant order: `props` indexes it by the variant.
const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].code as usize == i, "TABLE rows must follow VerdictCode's order");
        i += 1;
    }
};

impl VerdictCode {
    /// (`LogContradicts` is the last variant: one added after it moves this.)
    pub const COUNT: usize = VerdictCode::LogContradicts as usize + 1;

    /// Every code, in the README's order.
    pub fn all() -> impl Iterator<Item = VerdictCode> {
        TABLE.iter().map(|p| p.code)
    }

    pub const fn props(self) -> &'static Props {
        &TABLE[self as usize]
    }

    /// "TCPREFUSE": the code's one string form.
    pub const fn as_str(self) -> &'static str {
        self.props().name
    }
}

impl fmt::Display for VerdictCode {
    /// Honours width and alignment (`{:<22}`), as a `&str` would.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A name that is no verdict code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode(pub String);

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no verdict code is named {:?}", self.0)
    }
}

impl std::error::Error for UnknownCode {}

impl FromStr for VerdictCode {
    type Err = UnknownCode;

    /// In any letter case, as `--verdict` takes it.
    fn from_str(s: &str) -> Result<Self, UnknownCode> {
        VerdictCode::all().find(|c| c.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownCode(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn names_are_unique_upper_case_and_parse_back() {
        for (i, code) in VerdictCode::all().enumerate() {
            let name = code.as_str();
            assert!(name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'), "{name}");
            assert!(!TABLE[..i].iter().any(|p| p.name == name), "{name} twice");
            assert_eq!(name.parse(), Ok(code));
            assert_eq!(name.to_ascii_lowercase().parse(), Ok(code), "any letter case");
        }
        assert_eq!("DELIVERY".parse::<VerdictCode>(), Err(UnknownCode("DELIVERY".into())));
        assert_eq!(format!("[{:<12}]", TcpRefuse), "[TCPREFUSE   ]");
    }

    #[test]
    fn only_failures_that_send_a_sender_elsewhere_fail_over() {
        let failover: Vec<&str> =
            VerdictCode::all().filter(|c| c.props().fails_over).map(VerdictCode::as_str).collect();
        assert_eq!(failover, ["TCPREFUSE", "PORT_CLOSED", "NO_ANSWER", "TEMPFAIL"]);
        assert!(VerdictCode::all().filter(|c| c.props().fails_over).all(|c| c.props().ends_session));
    }

    #[test]
    fn headline_ranks_are_distinct() {
        let mut ranks: Vec<u8> = TABLE.iter().filter_map(|p| p.rank).collect();
        ranks.sort_unstable();
        assert_eq!(ranks, (1..=ranks.len() as u8).collect::<Vec<_>>());
    }

    /// The README's verdict table names every code (it is the user's reference).
    #[test]
    fn the_readme_verdict_table_names_every_code() {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
        let table = readme.split("## Verdicts").nth(1).expect("a Verdicts section").split("\n## ").next().unwrap();
        for code in VerdictCode::all() {
            assert!(table.contains(&format!("`{code}`")), "README's verdict table lacks `{code}`");
        }
    }
}
