//! The selection options (`--session`, `--client`, … `--limit`) as clap reads them, shared by
//! `read`, `ladder` and `live`. build.rs includes this file with the CLI definition, so it uses
//! only clap, the verdict codes and the selection syntax (`spec`).

use crate::diagnose::codes::VerdictCode;
use crate::select::spec::{AddrFilter, TimeBound};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};

/// Which sessions to show: every condition given must hold; an option given several times
/// matches any of its values.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Selection")]
pub struct Selection {
    /// Session id (as printed by `read`; "FILE:ID" when several captures are read).
    #[arg(long = "session", value_name = "ID")]
    pub sessions: Vec<String>,
    /// Only sessions from this client: an address, a network (203.0.113.0/24) or IP:PORT.
    #[arg(long, value_name = "IP[/PREFIX]")]
    pub client: Vec<AddrFilter>,
    /// Only sessions to this server: an address, a network or IP:PORT.
    #[arg(long, value_name = "IP[/PREFIX]")]
    pub server: Vec<AddrFilter>,
    /// Only sessions with this verdict code (e.g. TCPREFUSE; any letter case).
    #[arg(long, value_name = "CODE", ignore_case = true, value_parser = verdict_codes())]
    pub verdict: Vec<VerdictCode>,
    /// Only sessions with a packet at or after this time: UTC ("2026-11-23 08:57:10"), @EPOCH,
    /// or an offset from the capture's first packet (+90s, +5m, +1h30m).
    #[arg(long, value_name = "TIME")]
    pub since: Option<TimeBound>,
    /// Only sessions with a packet at or before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<TimeBound>,
    /// Only sessions that carried the message with this Message-ID (angle brackets optional).
    #[arg(long, value_name = "ID")]
    pub message_id: Vec<String>,
    /// Only sessions in which the server queued a message under this id (from its 250 reply).
    #[arg(long, value_name = "ID")]
    pub queue_id: Vec<String>,
    /// At most this many sessions.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// The codes `--verdict` accepts (and shell completions offer), parsed into the enum.
fn verdict_codes() -> impl TypedValueParser<Value = VerdictCode> {
    PossibleValuesParser::new(VerdictCode::all().map(VerdictCode::as_str)).try_map(|name| name.parse::<VerdictCode>())
}
