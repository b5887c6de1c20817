//! What the command line chooses about rendering, as plain types the renderers take (the
//! command-line definition in `cli` names them; build.rs includes this file on its own).

/// The summary's second section: sessions grouped by server, client, verdict or hour (`--by`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummaryBy {
    Server,
    Client,
    Verdict,
    Hour,
}

/// What a session's JSON record carries beyond its default (`--events`, `--explain`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonDetail {
    /// The dialogue's transcript (`smtp.events`) and the packet-event counts.
    pub events: bool,
    /// Each verdict's fixed explanation text.
    pub explain: bool,
}
