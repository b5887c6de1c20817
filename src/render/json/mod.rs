//! The NDJSON record of a session (schema "smtpdiag.session.v1", documented in README.md).
//! The record's types live here and are filled from the stages' structs, which carry no serde:
//! `tcp` and `smtp` are built in the modules of those names, `events` the dialogue's transcript.

mod events;
mod names;
mod smtp;
mod tcp;

use crate::diagnose::Verdict;
use crate::maillog::LogNote;
use crate::session::Session;
use serde::Serialize;
use serde_json::Value;

pub const SCHEMA: &str = "smtpdiag.session.v1";

/// The record, field for field in schema order; serialized straight to text (building a
/// `serde_json::Value` tree first cost an allocation per field).
#[derive(Serialize)]
struct Record<'a> {
    schema: &'static str,
    id: String,
    capture: &'a str,
    client: tcp::EndpointOut,
    server: tcp::EndpointOut,
    first_ts: f64,
    last_ts: f64,
    first_packet: u64,
    last_packet: u64,
    end: &'static str,
    tcp: tcp::Tcp<'a>,
    smtp: smtp::Smtp<'a>,
    /// The code on the text session line (`diagnose::headline`), null without verdicts.
    headline: Option<&'static str>,
    verdicts: &'a [Verdict],
    /// The mail server's log about this session (`--maillog`); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<&'a LogNote>,
}

fn record<'a>(s: &'a Session, verdicts: &'a [Verdict]) -> Record<'a> {
    let c = &s.conn;
    Record {
        schema: SCHEMA,
        id: s.id(),
        capture: &s.capture,
        client: tcp::endpoint(&c.client),
        server: tcp::endpoint(&c.server),
        first_ts: c.first.ts.as_secs_f64(),
        last_ts: c.last.ts.as_secs_f64(),
        first_packet: c.first.number,
        last_packet: c.last.number,
        end: names::end(s.end),
        tcp: tcp::tcp(s),
        smtp: smtp::smtp(&s.smtp),
        headline: crate::diagnose::headline(verdicts).map(|v| v.code.as_str()),
        verdicts,
        log: None,
    }
}

/// A direction by name, for other outputs' serde derives (`#[serde(serialize_with)]`).
pub fn direction<S: serde::Serializer>(d: &crate::tcp::Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.name())
}

/// The whole record as a JSON value.
pub fn session_value(s: &Session, verdicts: &[Verdict]) -> Value {
    serde_json::to_value(record(s, verdicts)).unwrap_or(Value::Null)
}

/// One NDJSON line (no trailing newline).
pub fn session_line(s: &Session, verdicts: &[Verdict]) -> String {
    let mut out = Vec::new();
    write_session_line(&mut out, s, verdicts);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends one NDJSON line (no trailing newline) to `out`, so a caller can reuse its buffer.
pub fn write_session_line(out: &mut Vec<u8>, s: &Session, verdicts: &[Verdict]) {
    write_session_line_with_log(out, s, verdicts, None);
}

/// `write_session_line` with the session's `log` object (`--maillog`).
pub fn write_session_line_with_log(out: &mut Vec<u8>, s: &Session, verdicts: &[Verdict], log: Option<&LogNote>) {
    let mut r = record(s, verdicts);
    r.log = log;
    // Serializing plain structs, strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &r);
}
