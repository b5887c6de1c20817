//! Maillog stage: the mail gateway's own log beside the packets. Log files (AsyncOS mail_logs,
//! Postfix, Exim mainlog) are read and indexed up front — they are small next to captures —
//! and each session, once diagnosed, is paired with the log connection that tells the server's
//! side of it. This stage sits beside `diagnose`: it reads sessions and verdicts and knows
//! nothing of how they are shown.

mod asyncos;
mod detect;
mod exim;
mod follow;
pub mod pair;
mod postfix;
pub mod time;

pub use follow::Follow;
pub use pair::{Annotation, LogIndex, LogNote, LogSummary};

use serde::Serialize;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;
use time::Civil;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Asyncos,
    Postfix,
    Exim,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Asyncos => "asyncos",
            LogFormat::Postfix => "postfix",
            LogFormat::Exim => "exim",
        }
    }
}

/// How the log says a connection ended, as far as the packets can confirm or contradict it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Not said (the log ends, or the lines that would say it are missing).
    #[default]
    Unknown,
    /// The client said QUIT (Exim "closed by QUIT", Postfix `quit=1`).
    Quit,
    /// An orderly close without more detail (AsyncOS "ICID … close").
    Closed,
    /// The connection went away (AsyncOS "lost", Postfix "lost connection after X", Exim "lost").
    Lost,
    /// It went away while the message was being received ("Receiving aborted", "lost while
    /// reading message data").
    LostInData,
    Timeout,
    /// Refused without a greeting (AsyncOS TCPREFUSE).
    Refused,
    /// Rejected by policy (AsyncOS REJECT, a 5xx greeting).
    Rejected,
    /// An outbound connection that failed (AsyncOS "Connection Error", Postfix "connect to … refused").
    ConnectError,
}

impl Ending {
    /// The log names no cause: the packets may.
    pub fn is_generic_loss(self) -> bool {
        matches!(self, Ending::Lost | Ending::LostInData | Ending::Timeout | Ending::ConnectError)
    }
}

/// One connection as the log tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConnection {
    pub format: LogFormat,
    pub file: Arc<str>,
    /// ICID/DCID, Postfix's smtpd process, or Exim's client address and port.
    pub connection_id: String,
    /// The logging host was the client (AsyncOS DCID, Postfix smtp, Exim remote delivery).
    pub outbound: bool,
    pub client: Option<IpAddr>,
    pub client_port: Option<u16>,
    pub server: Option<IpAddr>,
    pub server_port: Option<u16>,
    pub first: Civil,
    pub last: Civil,
    /// MIDs, Postfix queue ids, Exim message ids.
    pub message_ids: Vec<String>,
    pub mail_from: Vec<String>,
    pub rcpt_to: Vec<String>,
    /// Reply codes the log quotes (rejections, a delivery's answer).
    pub replies: Vec<u16>,
    /// The log's own words for how it ended ("Receiving aborted", "lost connection after DATA").
    pub outcome: Option<String>,
    pub ending: Ending,
    /// A message was received whole (Exim `<=`, Postfix queued, AsyncOS "ready").
    pub accepted: bool,
    /// Line numbers in `file`.
    pub lines: Vec<u64>,
}

impl LogConnection {
    fn new(format: LogFormat, file: &Arc<str>, connection_id: String, at: Civil) -> Self {
        LogConnection {
            format,
            file: file.clone(),
            connection_id,
            outbound: false,
            client: None,
            client_port: None,
            server: None,
            server_port: None,
            first: at,
            last: at,
            message_ids: Vec::new(),
            mail_from: Vec::new(),
            rcpt_to: Vec::new(),
            replies: Vec::new(),
            outcome: None,
            ending: Ending::Unknown,
            accepted: false,
            lines: Vec::new(),
        }
    }

    /// A further line of this connection.
    fn touch(&mut self, at: Civil, line: u64) {
        self.last = at;
        if self.lines.last() != Some(&line) {
            self.lines.push(line);
        }
    }

    fn add_message_id(&mut self, id: &str) {
        if !self.message_ids.iter().any(|m| m == id) {
            self.message_ids.push(id.to_string());
        }
    }

    fn add(list: &mut Vec<String>, value: &str) {
        if !value.is_empty() && !list.iter().any(|v| v == value) {
            list.push(value.to_string());
        }
    }

    /// Sets how it ended unless a more telling ending was logged already (a "lost" line is
    /// followed by AsyncOS's "close", a Postfix "lost connection" by "disconnect").
    fn end(&mut self, ending: Ending, outcome: &str) {
        let rank = |e: Ending| match e {
            Ending::Unknown => 0,
            Ending::Closed => 1,
            Ending::Quit => 2,
            Ending::LostInData => 4,
            _ => 3,
        };
        if rank(ending) < rank(self.ending) {
            return;
        }
        self.ending = ending;
        self.outcome = Some(outcome.trim().to_string());
    }
}

/// A log file, read whole: its text once, and where each non-empty line is in it (a copy per
/// line doubled the memory of a large log).
pub struct LogFile {
    pub name: Arc<str>,
    text: String,
    /// (1-based line number, byte range in `text`).
    spans: Vec<(u64, std::ops::Range<usize>)>,
}

impl LogFile {
    pub fn from_text(name: &str, text: String) -> LogFile {
        Self::from_text_at(name, text, 1)
    }

    /// A part of a file whose first line is number `first_line` (`live` reads a growing log).
    pub fn from_text_at(name: &str, text: String, first_line: u64) -> LogFile {
        let mut spans = Vec::new();
        let mut at = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            let content = line.trim_end_matches(['\n', '\r']);
            if !content.trim().is_empty() {
                spans.push((i as u64 + first_line, at..at + content.len()));
            }
            at += line.len();
        }
        LogFile { name: Arc::from(name), text, spans }
    }

    /// Byte offset of line `number` in the text.
    fn offset_of(&self, number: u64) -> Option<usize> {
        let i = self.spans.partition_point(|(n, _)| *n < number);
        self.spans.get(i).filter(|(n, _)| *n == number).map(|(_, r)| r.start)
    }

    /// (1-based line number, text) of each non-empty line.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.spans.iter().map(|(n, r)| (*n, &self.text[r.clone()]))
    }
}

/// What parsing one file gave.
#[derive(Debug, Default)]
pub struct Parsed {
    pub connections: Vec<LogConnection>,
    /// Lines of the format that could not be read: (line number, text).
    pub unparsed: Vec<(u64, String)>,
}

#[derive(Debug, Error)]
pub enum MaillogError {
    #[error("{file}: cannot read the log: {source}")]
    Io { file: String, source: std::io::Error },
    #[error(
        "{file}: not a mail log smtpdiag knows (AsyncOS mail_logs, Postfix, Exim mainlog); line {line} did not parse: {text:?} (--log-format names the format)"
    )]
    UnknownFormat { file: String, line: u64, text: String },
    #[error("{file}: the log is empty")]
    Empty { file: String },
    #[error("--log-tz: {0}")]
    Zone(String),
}

/// Reads a log file, plain or gzip-compressed.
pub fn read_file(path: &Path) -> Result<LogFile, MaillogError> {
    let name = path.display().to_string();
    let io = |source| MaillogError::Io { file: name.clone(), source };
    let raw = std::fs::read(path).map_err(io)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(io)?;
        out
    } else {
        raw
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Ok(LogFile::from_text(&name, text))
}

/// Parses a log in the given format, or the one its lines show.
pub fn parse(file: &LogFile, format: Option<LogFormat>) -> Result<(LogFormat, Parsed), MaillogError> {
    let format = match format {
        Some(f) => f,
        None => detect::detect(file)?,
    };
    let parsed = match format {
        LogFormat::Asyncos => asyncos::parse(file),
        LogFormat::Postfix => postfix::parse(file),
        LogFormat::Exim => exim::parse(file),
    };
    Ok((format, parsed))
}

/// "[203.0.113.5]:41234" or "[203.0.113.5]" or "name[203.0.113.5]:25" → address and port.
fn bracketed_endpoint(word: &str) -> Option<(IpAddr, Option<u16>)> {
    let open = word.find('[')?;
    let close = open + word[open..].find(']')?;
    let ip = word[open + 1..close].parse().ok()?;
    let rest = &word[close + 1..];
    let port = rest.strip_prefix([':', '.']).and_then(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    Some((ip, port))
}

/// The first three-digit SMTP reply code in `text` that stands alone ("550", "421-4.3.2").
fn reply_code(text: &str) -> Option<u16> {
    text.split(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == '(').find_map(|w| {
        let code = w.get(..3)?;
        let rest = &w[3..];
        let ok = code.bytes().all(|b| b.is_ascii_digit())
            && matches!(code.as_bytes()[0], b'2'..=b'5')
            && (rest.is_empty() || rest.starts_with(['-', ' ', ',', ')', '\'']));
        ok.then(|| code.parse().ok()).flatten()
    })
}

/// The address between the first "<" and ">" after `key` (e.g. "from=<", "To: <").
fn angle_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let open = rest.find('<')?;
    let close = rest[open..].find('>')? + open;
    Some(&rest[open + 1..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_codes_and_addresses_are_found_in_log_words() {
        assert_eq!(bracketed_endpoint("[203.0.113.5]:41234"), Some(("203.0.113.5".parse().unwrap(), Some(41234))));
        assert_eq!(bracketed_endpoint("unknown[203.0.113.5]"), Some(("203.0.113.5".parse().unwrap(), None)));
        assert_eq!(bracketed_endpoint("[2001:db8::1]:25"), Some(("2001:db8::1".parse().unwrap(), Some(25))));
        assert_eq!(reply_code("details: 421-4.3.2 Service not available"), Some(421));
        assert_eq!(reply_code("size=1234, 5500 bytes"), None);
        assert_eq!(angle_after("from=<a@b> to=<c@d>", "to="), Some("c@d"));
    }

    #[test]
    fn gzip_logs_read_like_plain_ones() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("mainlog");
        let text = "2026-12-06 00:20:10 SMTP connection from [203.0.113.5]:41234\n\n";
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("mainlog.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let (a, b) = (read_file(&plain).unwrap(), read_file(&gz).unwrap());
        assert!(a.lines().eq(b.lines()));
        assert_eq!(a.lines().collect::<Vec<_>>(), [(1, text.lines().next().unwrap())]);
    }
}
