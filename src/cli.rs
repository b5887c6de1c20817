//! Command-line definition. It depends on clap and four files of the stages below (the verdict
//! codes, the selection options and their syntax, the render options), which use nothing else,
//! because build.rs includes them all to generate the man pages and shell completions.

// The selection options belong to the stage that applies them; shown here with the others.
pub use crate::select::options::Selection;
// How the summary groups sessions belongs to the renderer; named here with the other options.
pub use crate::render::options::SummaryBy;
use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "smtpdiag",
    version,
    about = "Tells, from packets, why an SMTP session failed",
    long_about = "smtpdiag reads packet captures (pcap, pcapng, gzip) or sniffs an interface, rebuilds every \
                  SMTP session on the mail ports and says how each one ended and why: REJECT vs TCPREFUSE, \
                  tempfails, aborted transfers, firewall ESMTP inspection artifacts, transport faults — with \
                  the packet numbers that prove it.",
    after_help = "Exit status: 0 success (also when no session matched the selection); 1 a live capture \
                  failed while running; 2 usage error, a capture that could not be read, or output that could \
                  not be written; 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Colors: auto (a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces them), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyze capture files: one line (or JSON record) per SMTP session, then totals.
    Read(ReadArgs),
    /// Draw ladder (sequence) diagrams of selected sessions.
    Ladder(LadderArgs),
    /// Sniff an interface and diagnose sessions as they end (needs root or cap_net_raw).
    Live(LiveArgs),
    /// Compare captures taken on both sides of a device: what it translated, rewrote, forged, dropped.
    Diff(DiffArgs),
    /// Write one self-contained HTML page (tables, charts, ladders) to attach to a ticket.
    Report(ReportArgs),
    /// Print a man page or a shell completion script (generated at build time).
    Generate {
        #[arg(value_enum)]
        what: Generated,
        /// With `man`: the page of this subcommand (smtpdiag-COMMAND(1)) instead of smtpdiag(1).
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
        /// With `man`: write every page (smtpdiag.1, smtpdiag-COMMAND.1) into this directory,
        /// e.g. ~/.cargo/share/man/man1, where man finds them for ~/.cargo/bin.
        #[arg(long, value_name = "DIR", conflicts_with = "command", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generated {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// Options shared by every command that analyzes traffic.
#[derive(Args, Debug, Clone)]
pub struct AnalysisArgs {
    /// Mail port to follow (repeatable); replaces the default set 25, 465, 587, 2525.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Seconds without a packet after which an open session is considered over.
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0, value_parser = positive_seconds)]
    pub idle: f64,
    /// Memory all tracked connections may hold together, whatever --threads: everything handling
    /// a connection allocated and kept (its state, buffered segments, kept packet events, the
    /// dialogue's strings and lists); over it the oldest idle ones are evicted.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub memcap: usize,
    /// Seconds after its last packet that a connection whose handshake never completed, and
    /// that carried no payload, is handed on (Zeek's tcp_SYN_timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub half_open: f64,
    /// Most connections tracked at once; the oldest idle one is closed when full.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_flows: usize,
    /// Out-of-order bytes one connection direction may buffer while waiting for a hole to fill.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_flow_buffer: usize,
    /// Out-of-order bytes all connections together may buffer.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub max_buffer: usize,
    /// Longest SMTP line kept; the rest of a longer line is counted, not stored.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_line: usize,
    /// Packet events kept per session for ladders and rules.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub max_events: usize,
    /// Seconds of silence that count as an idle timeout in the diagnosis.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = positive_seconds)]
    pub idle_threshold: f64,
    /// Also record each message's Subject, From and To headers (personal data; Message-ID and
    /// the Received: path are always recorded).
    #[arg(long)]
    pub headers: bool,
    /// Seconds of silence, when it was its turn, that count as CLIENT_STALLED or SERVER_SILENT.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = positive_seconds)]
    pub stall: f64,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); "-" reads standard input.
    #[arg(value_name = "FILE", required = true, value_hint = ValueHint::FilePath)]
    pub files: Vec<PathBuf>,
    /// One JSON object per session per line (NDJSON), then nothing else on stdout.
    #[arg(long)]
    pub json: bool,
    /// Add each verdict's longer explanation: what it means and what to check (in text and in
    /// JSON).
    #[arg(long)]
    pub explain: bool,
    /// With --json: add the evidence behind each record: the dialogue's transcript (smtp.events:
    /// every command, reply, body, TLS record and gap with its packets), the FINs and RSTs, TTL,
    /// IP-ID and MSS per side, the longest lines and the packet number of each SMTP fact.
    #[arg(long, requires = "json")]
    pub events: bool,
    /// Draw a ladder diagram under each session line.
    #[arg(long)]
    pub ladder: bool,
    /// Analysis threads, each reading the file (connections are sharded by address; the output is
    /// the same as with one). Input that cannot be mapped (stdin, gzip) is read with one.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    #[command(flatten)]
    pub select: Selection,
    #[command(flatten)]
    pub summary: SummaryArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub ladder_style: LadderStyle,
    #[command(flatten)]
    pub maillog: MaillogArgs,
}

#[derive(Args, Debug)]
pub struct LadderArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); "-" reads standard input.
    #[arg(value_name = "FILE", required = true, value_hint = ValueHint::FilePath)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub select: Selection,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LadderFormat::Text)]
    pub format: LadderFormat,
    /// Write to this file instead of stdout (for svg: with several sessions, one file each
    /// unless --single-file; the session id is added before the extension).
    #[arg(short, long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub output: Option<PathBuf>,
    /// With --format svg and several sessions: put them all in one file.
    #[arg(long)]
    pub single_file: bool,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub style: LadderStyle,
    #[command(flatten)]
    pub maillog: MaillogArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); "-" reads standard input.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Write the page to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw ladders and transcripts of at most this many flagged sessions (the others are listed).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_ladders: usize,
    #[command(flatten)]
    pub select: Selection,
    #[command(flatten)]
    pub maillog: MaillogArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// How terminal ladders look.
#[derive(Args, Debug, Clone)]
pub struct LadderStyle {
    /// Time column: relative to the session start, absolute, or since the previous row.
    #[arg(long, value_enum, default_value_t = TimeMode::Rel)]
    pub time: TimeMode,
    /// Show relative sequence and acknowledgment numbers.
    #[arg(long)]
    pub seq: bool,
    /// Show every packet, including pure ACKs that carry no news.
    #[arg(long)]
    pub all_packets: bool,
    /// Plain ASCII instead of Unicode box drawing and arrows.
    #[arg(long)]
    pub ascii: bool,
    /// Width in columns of ladders (default: the terminal's, or 100 when not a terminal) and of
    /// verdict lines in read/live text (default: the terminal's; not wrapped into a pipe or file).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
}

/// How the summary at the end groups sessions after grouping them by headline.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Summary")]
pub struct SummaryArgs {
    /// Second section of the summary: sessions by server (default), client, verdict or hour.
    #[arg(long, value_enum, value_name = "KEY", default_value_t = SummaryBy::Server)]
    pub by: SummaryBy,
    /// With --json: end with a totals record (schema smtpdiag.totals.v1) on stdout.
    #[arg(long, requires = "json")]
    pub totals: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeMode {
    Rel,
    Abs,
    Delta,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LadderFormat {
    Text,
    Mermaid,
    Svg,
    Json,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Capture taken on the device's outside (usually the client's side).
    #[arg(value_name = "OUTSIDE")]
    pub outside: PathBuf,
    /// Capture of the same traffic taken on the device's inside.
    #[arg(value_name = "INSIDE")]
    pub inside: PathBuf,
    /// One JSON object per pair and per unpaired session (NDJSON, schema smtpdiag.diff.v2).
    #[arg(long)]
    pub json: bool,
    /// With --json: add each verdict's explanation (what it means and what to check).
    #[arg(long, requires = "json")]
    pub explain: bool,
    /// Draw a three-column ladder (client | device | server) under each pair.
    #[arg(long)]
    pub ladder: bool,
    /// Ladder format: text under each pair, or only the ladders as Mermaid or SVG.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    pub format: DiffFormat,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only pairs whose outside session has this id (as `read` numbers them; repeatable).
    #[arg(long = "session", value_name = "ID")]
    pub sessions: Vec<u64>,
    /// Ladders show every packet, including pure ACKs seen on both sides.
    #[arg(long)]
    pub all_packets: bool,
    /// Plain ASCII instead of Unicode box drawing and arrows.
    #[arg(long)]
    pub ascii: bool,
    /// Width in columns (default: the terminal's, or 100 when not a terminal).
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Mermaid,
    Svg,
}

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to sniff ("any" for all).
    #[arg(short, long, value_name = "IFACE", required_unless_present = "list_interfaces")]
    pub interface: Option<String>,
    /// List the interfaces libpcap can open, then exit.
    #[arg(long)]
    pub list_interfaces: bool,
    /// BPF capture filter (default: tcp on the mail ports).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Do not put the interface in promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Kernel capture buffer in MiB: room for bursts while sessions are diagnosed and printed
    /// (at 500,000 packets/s of 900 bytes, 64 MiB is about 150 ms).
    #[arg(long = "buffer", value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=2047))]
    pub buffer_mib: u32,
    /// Also write every captured packet to this pcap file (created new: an existing file or
    /// symlink is refused unless --force).
    #[arg(short = 'w', long = "write", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub write: Option<PathBuf>,
    /// Replace an existing -w file.
    #[arg(long, requires = "write")]
    pub force: bool,
    /// Stop after this many packets.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub duration: Option<f64>,
    /// Stream one JSON object per finished session (NDJSON).
    #[arg(long)]
    pub json: bool,
    /// Print each finished session's ladder.
    #[arg(long)]
    pub ladder: bool,
    /// Add each verdict's longer explanation (in text and in JSON).
    #[arg(long)]
    pub explain: bool,
    /// With --json: add the transcript and packet evidence behind each record (as in read).
    #[arg(long, requires = "json")]
    pub events: bool,
    /// User to switch to after opening the capture (default: the sudo caller, else nobody).
    #[arg(long, value_name = "USER", value_hint = ValueHint::Username)]
    pub user: Option<String>,
    /// Keep running as root after opening the capture.
    #[arg(long)]
    pub keep_root: bool,
    #[command(flatten)]
    pub select: Selection,
    #[command(flatten)]
    pub summary: SummaryArgs,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
    #[command(flatten)]
    pub ladder_style: LadderStyle,
    #[command(flatten)]
    pub maillog: MaillogArgs,
}

/// The mail server's own log beside the packets.
#[derive(Args, Debug, Clone, Default)]
pub struct MaillogArgs {
    /// The mail server's log (AsyncOS mail_logs, Postfix, Exim mainlog; plain or gzip), repeatable:
    /// each session is shown with its log connection, and log connections without a session are listed.
    #[arg(long = "maillog", value_name = "FILE")]
    pub maillogs: Vec<PathBuf>,
    /// Format of the --maillog files (default: recognised in each file).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormatArg>,
    /// Time zone of log times written without one: UTC, an offset (+02:00), an IANA name
    /// (Europe/Berlin), or local.
    #[arg(long, value_name = "ZONE", default_value = "local")]
    pub log_tz: String,
    /// Seconds the log's clock may be off from the capture's.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0, value_parser = skew_seconds)]
    pub log_skew: f64,
    /// Show the --maillog lines that did not parse (otherwise only counted).
    #[arg(long)]
    pub verbose: bool,
}

/// `--log-skew`: finite, zero or more.
fn skew_seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("'{text}' is not a number of seconds of zero or more"));
    }
    Ok(value)
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormatArg {
    Asyncos,
    Postfix,
    Exim,
}

/// A number of seconds: finite and above zero. `--idle nan` or `--idle=-1` would make every
/// packet a session of its own; they are usage errors instead.
fn positive_seconds(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("\"{text}\" is not a number of seconds"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("{text}: the number of seconds must be finite and above 0"));
    }
    Ok(value)
}

#[cfg(test)]
mod seconds_tests {
    use super::positive_seconds;

    #[test]
    fn durations_are_finite_and_positive() {
        assert_eq!(positive_seconds("600"), Ok(600.0));
        assert_eq!(positive_seconds("0.5"), Ok(0.5));
        for bad in ["nan", "NaN", "inf", "-inf", "-1", "0", "-0", "", "1e999", "ten"] {
            assert!(positive_seconds(bad).is_err(), "{bad}");
        }
    }
}
