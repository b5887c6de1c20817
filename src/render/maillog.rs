//! How the mail server's log appears beside the sessions: the lines under a session, the
//! `smtpdiag.log_connection.v1` records of log connections no session matched, and the closing
//! counts.

use super::sanitize::sanitize_lines;
use super::text::{TextStyle, utc};
use crate::capture::Timestamp;
use crate::maillog::pair::Unpaired;
use crate::maillog::{LogNote, LogSummary};
use owo_colors::OwoColorize;
use serde::Serialize;
use std::fmt::Write;
use std::net::IpAddr;

pub const SCHEMA: &str = "smtpdiag.log_connection.v1";

/// Log connections without a session listed in text; `--json` writes them all.
const LISTED: usize = 50;

/// "mainlog:3-5, 9": a file's line numbers with runs folded.
fn line_list(lines: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<(String, u64, u64)> = None;
    let push = |run: Option<(String, u64, u64)>, out: &mut Vec<String>| {
        if let Some((file, a, b)) = run {
            let same_file = out.last().is_some_and(|prev: &String| prev.starts_with(&format!("{file}:")));
            let range = if a == b { a.to_string() } else { format!("{a}-{b}") };
            if same_file {
                let prev = out.last_mut().expect("checked");
                prev.push_str(&format!(",{range}"));
            } else {
                out.push(format!("{file}:{range}"));
            }
        }
    };
    for l in lines {
        let Some((file, n)) = l.rsplit_once(':').and_then(|(f, n)| Some((f.to_string(), n.parse::<u64>().ok()?)))
        else {
            continue;
        };
        match &mut last {
            Some((f, _, b)) if *f == file && *b + 1 == n => *b = n,
            _ => push(last.replace((file, n, n)), &mut out),
        }
    }
    push(last, &mut out);
    out.join(" ")
}

/// The lines under a session: what the log says, and the explanation across the two. Log
/// text is shown with control characters escaped, like packet text.
pub fn note(n: &LogNote, style: TextStyle) -> String {
    let text = sanitize_lines(&note_raw(n)).into_owned();
    if style.color { text.replacen("      log  ", &format!("      {}  ", "log".cyan()), 1) } else { text }
}

fn note_raw(n: &LogNote) -> String {
    let label = "log";
    let mut out = String::new();
    if n.pairing == "ambiguous" {
        let _ = writeln!(
            out,
            "      {label}  ambiguous: {} connections fit equally well: {}  ({})",
            n.format.name(),
            n.candidates.join(", "),
            line_list(&n.lines)
        );
        return out;
    }
    let id = n.connection_id.as_deref().unwrap_or("?");
    let ids = if n.message_ids.is_empty() { String::new() } else { format!(", message {}", n.message_ids.join(" ")) };
    let outcome = n.outcome.as_deref().map(|o| format!(": '{o}'")).unwrap_or_default();
    let _ = writeln!(out, "      {label}  {} {id}{ids}{outcome}  ({})", n.format.name(), line_list(&n.lines));
    if let Some(e) = &n.explanation {
        for (i, line) in super::wrap(e, 100).iter().enumerate() {
            let _ = writeln!(out, "      {}{line}", if i == 0 { "     " } else { "       " });
        }
    }
    out
}

#[derive(Serialize)]
struct Peer {
    ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

#[derive(Serialize)]
struct Record<'a> {
    schema: &'static str,
    format: &'static str,
    file: &'a str,
    connection_id: &'a str,
    direction: &'static str,
    client: Peer,
    server: Peer,
    first_ts: f64,
    last_ts: f64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    message_ids: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
    lines: Vec<String>,
}

fn direction(u: &Unpaired<'_>) -> &'static str {
    if u.conn.outbound { "outbound" } else { "inbound" }
}

/// The NDJSON record of a log connection no session matched (no trailing newline).
pub fn connection_line(u: &Unpaired<'_>) -> String {
    let c = u.conn;
    let r = Record {
        schema: SCHEMA,
        format: c.format.name(),
        file: &c.file,
        connection_id: &c.connection_id,
        direction: direction(u),
        client: Peer { ip: c.client, port: c.client_port },
        server: Peer { ip: c.server, port: c.server_port },
        first_ts: u.first_ns as f64 / 1e9,
        last_ts: u.last_ns as f64 / 1e9,
        message_ids: &c.message_ids,
        outcome: c.outcome.as_deref(),
        lines: c.lines.iter().map(|n| format!("{}:{n}", c.file)).collect(),
    };
    serde_json::to_string(&r).unwrap_or_default()
}

fn peer(ip: Option<IpAddr>, port: Option<u16>) -> String {
    match (ip, port) {
        (Some(ip), Some(p)) => crate::tcp::conn::Endpoint { ip, port: p }.to_string(),
        (Some(ip), None) => ip.to_string(),
        (None, _) => "?".to_string(),
    }
}

/// After the totals: what the log and the captures share, and what only the log saw.
pub fn summary(s: &LogSummary<'_>) -> String {
    sanitize_lines(&summary_raw(s)).into_owned()
}

fn summary_raw(s: &LogSummary<'_>) -> String {
    let mut out = String::new();
    let files: Vec<String> = s.files.iter().map(|f| format!("{} ({})", f.name, f.format.name())).collect();
    let plural = |n: u64, word: &str| if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") };
    let _ = writeln!(
        out,
        "log {}: {}; {} paired, {} ambiguous, {} not in the log",
        files.join(", "),
        plural(s.connections as u64, "connection"),
        plural(s.sessions_paired, "session"),
        s.sessions_ambiguous,
        s.sessions_unknown
    );
    if s.outside_captures > 0 {
        let _ = writeln!(
            out,
            "  {} outside the captures' time (not listed)",
            plural(s.outside_captures as u64, "log connection")
        );
    }
    let unparsed: usize = s.files.iter().map(|f| f.unparsed.len()).sum();
    if unparsed > 0 {
        let _ = writeln!(out, "  {} did not parse (--verbose shows them)", plural(unparsed as u64, "log line"));
    }
    if !s.unpaired.is_empty() {
        let _ =
            writeln!(out, "  {} with no session in the captures:", plural(s.unpaired.len() as u64, "log connection"));
        for u in s.unpaired.iter().take(LISTED) {
            let c = u.conn;
            let outcome = c.outcome.as_deref().map(|o| format!(" '{o}'")).unwrap_or_default();
            let _ = writeln!(
                out,
                "    {} {} {}  {} → {}{outcome}  ({})",
                utc(Timestamp(u.first_ns)),
                c.format.name(),
                c.connection_id,
                peer(c.client, c.client_port),
                peer(c.server, c.server_port),
                line_list(&c.lines.iter().map(|n| format!("{}:{n}", c.file)).collect::<Vec<_>>()),
            );
        }
        if s.unpaired.len() > LISTED {
            let _ = writeln!(out, "    … and {} more (--json writes each as a record)", s.unpaired.len() - LISTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_lists_fold_runs_per_file() {
        let lines: Vec<String> = ["a:1", "a:2", "a:3", "a:7", "b:2"].iter().map(|s| s.to_string()).collect();
        assert_eq!(line_list(&lines), "a:1-3,7 b:2");
    }
}
