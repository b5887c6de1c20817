//! The NDJSON record of a session (schema "smtpdiag.session.v2", documented in README.md):
//! what is null, empty, zero or false is left out, and the transcript (`--events`) and the
//! verdicts' fixed explanations (`--explain`) come only when asked for.
//! The record's types live here and are filled from the stages' structs, which carry no serde:
//! `tcp` and `smtp` are built in the modules of those names, `events` the dialogue's transcript.

mod events;
mod names;
mod omit;
mod smtp;
mod tcp;

use crate::diagnose::{Severity, Verdict};
use crate::maillog::LogNote;
pub use crate::render::options::JsonDetail;
use crate::session::Session;
use serde::Serialize;
use serde_json::Value;
use std::io::{self, Write as _};

pub const SCHEMA: &str = "smtpdiag.session.v2";

/// How a record begins, up to and including its id: `{"schema":"smtpdiag.session.v2","id":"7"`.
/// The rest is the record's [body](write_session_body), which can be written before the
/// session's number is known (`read --threads`).
#[derive(Clone, Copy, Debug)]
pub struct Head(pub u64);

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The schema name and a number need no escaping.
        write!(f, r#"{{"schema":"{SCHEMA}","id":"{}""#, self.0)
    }
}

#[derive(Serialize)]
struct VerdictOut<'a> {
    code: &'static str,
    severity: Severity,
    /// The finding, and where the client failed over to.
    summary: std::borrow::Cow<'a, str>,
    /// The code's fixed text, with `--explain` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    packets: &'a [u64],
}

fn verdict(v: &Verdict, detail: JsonDetail) -> VerdictOut<'_> {
    VerdictOut {
        code: v.code.as_str(),
        severity: v.severity,
        summary: v.summary(),
        explanation: detail.explain.then_some(v.explanation.as_str()),
        packets: &v.packets,
    }
}

/// The record after its id (see [`Head`]), field for field in schema order; serialized straight
/// to text (building a `serde_json::Value` tree first cost an allocation per field).
#[derive(Serialize)]
struct Body<'a> {
    capture: &'a str,
    client: tcp::EndpointOut,
    server: tcp::EndpointOut,
    first_ts: f64,
    last_ts: f64,
    first_packet: u64,
    last_packet: u64,
    end: &'static str,
    tcp: tcp::Tcp<'a>,
    /// Absent when no SMTP byte crossed.
    #[serde(skip_serializing_if = "Option::is_none")]
    smtp: Option<smtp::Smtp<'a>>,
    /// The code on the text session line (`diagnose::headline`), absent without verdicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    headline: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    verdicts: Vec<VerdictOut<'a>>,
    /// The mail server's log about this session (`--maillog`); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<&'a LogNote>,
}

fn body<'a>(s: &'a Session, verdicts: &'a [Verdict], detail: JsonDetail) -> Body<'a> {
    let c = &s.conn;
    Body {
        capture: &s.capture,
        client: tcp::endpoint(&c.client),
        server: tcp::endpoint(&c.server),
        first_ts: c.first.ts.as_secs_f64(),
        last_ts: c.last.ts.as_secs_f64(),
        first_packet: c.first.number,
        last_packet: c.last.number,
        end: names::end(s.end),
        tcp: tcp::tcp(s, detail),
        smtp: Some(smtp::smtp(&s.smtp, detail)).filter(|x| !x.is_empty()),
        headline: crate::diagnose::headline(verdicts).map(|v| v.code.as_str()),
        verdicts: verdicts.iter().map(|v| verdict(v, detail)).collect(),
        log: None,
    }
}

/// A direction by name, for other outputs' serde derives (`#[serde(serialize_with)]`).
pub fn direction<S: serde::Serializer>(d: &crate::tcp::Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.name())
}

/// A dialogue's `smtp` object alone, everything included (the fuzz target serialises every
/// dialogue it builds, whatever bytes made it).
pub fn smtp_value(r: &crate::smtp::SmtpRecord) -> serde_json::Result<Value> {
    serde_json::to_value(smtp::smtp(r, JsonDetail { events: true, explain: true }))
}

/// The whole record as a JSON value.
pub fn session_value(s: &Session, verdicts: &[Verdict], detail: JsonDetail) -> Value {
    let mut v = serde_json::to_value(body(s, verdicts, detail)).unwrap_or(Value::Null);
    if let Some(fields) = v.as_object_mut() {
        fields.insert("schema".into(), SCHEMA.into());
        fields.insert("id".into(), s.id().into());
    }
    v
}

/// One NDJSON line (no trailing newline).
pub fn session_line(s: &Session, verdicts: &[Verdict], detail: JsonDetail) -> String {
    let mut out = Vec::new();
    write_session_line(&mut out, s, verdicts, None, detail);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends one NDJSON line (no trailing newline) to `out`, so a caller can reuse its buffer;
/// `log`: the session's `log` object (`--maillog`).
pub fn write_session_line(
    out: &mut Vec<u8>,
    s: &Session,
    verdicts: &[Verdict],
    log: Option<&LogNote>,
    detail: JsonDetail,
) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{}", Head(s.index));
    write_session_body(out, s, verdicts, log, detail);
}

/// Appends the record after its id (`,"capture":…}`, no trailing newline): what follows a
/// [`Head`], whichever number that head gives the session (its own `index` is not written).
pub fn write_session_body(
    out: &mut Vec<u8>,
    s: &Session,
    verdicts: &[Verdict],
    log: Option<&LogNote>,
    detail: JsonDetail,
) {
    let mut b = body(s, verdicts, detail);
    b.log = log;
    // Serializing plain structs, strings and numbers into a Vec cannot fail.
    let _ = b.serialize(&mut serde_json::Serializer::with_formatter(out, Continuation::default()));
}

/// Writes an object as the continuation of one a [`Head`] opened: without its opening brace and
/// with a comma before its first field; objects inside it are written as usual.
#[derive(Default)]
struct Continuation {
    /// Objects open: 1 inside the continued one.
    depth: usize,
}

impl serde_json::ser::Formatter for Continuation {
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        if self.depth == 1 { Ok(()) } else { w.write_all(b"{") }
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first && self.depth > 1 { Ok(()) } else { w.write_all(b",") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_of(server: &str, detail: JsonDetail) -> Value {
        let mut b = crate::synth::SessionBuilder::lab();
        b.handshake().server(server).close();
        let s = b.analyze().remove(0);
        let verdicts = crate::diagnose::diagnose(&s, &crate::diagnose::DiagnoseConfig::default());
        let line = session_line(&s, &verdicts, detail);
        assert!(line.starts_with(&Head(s.index).to_string()), "{line}");
        serde_json::from_str(&line).unwrap()
    }

    /// Every null, empty list or object, zero and false anywhere in `v`, by path.
    fn defaults(v: &Value, path: &str, found: &mut Vec<String>) {
        match v {
            Value::Null => found.push(path.to_string()),
            Value::Bool(false) => found.push(path.to_string()),
            Value::Number(n) if n.as_f64() == Some(0.0) => found.push(path.to_string()),
            Value::Array(a) if a.is_empty() => found.push(path.to_string()),
            Value::Object(o) if o.is_empty() => found.push(path.to_string()),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| defaults(x, &format!("{path}[{i}]"), found)),
            Value::Object(o) => o.iter().for_each(|(k, x)| defaults(x, &format!("{path}.{k}"), found)),
            _ => {}
        }
    }

    #[test]
    fn the_default_record_leaves_out_defaults_the_transcript_and_explanations() {
        let v = record_of("554 5.7.1 go away\r\n", JsonDetail::default());
        let mut found = Vec::new();
        defaults(&v, "", &mut found);
        // Packet and byte counts keep both sides (a side's zero included): the conformance
        // facts compare them whole.
        found.retain(|p| !p.starts_with(".tcp.packets.") && !p.starts_with(".tcp.payload_bytes."));
        assert!(found.is_empty(), "{found:?} in {v}");
        assert!(v["smtp"].get("events").is_none() && v["tcp"].get("events_kept").is_none(), "{v}");
        assert!(v["verdicts"].as_array().unwrap().iter().all(|x| x.get("explanation").is_none()), "{v}");
        assert_eq!(v["smtp"]["banner"]["code"], 554);
        assert_eq!(v["smtp"]["replies"], serde_json::json!([554]));
    }

    #[test]
    fn events_and_explain_add_the_transcript_and_the_explanations() {
        let v = record_of("554 5.7.1 go away\r\n", JsonDetail { events: true, explain: true });
        let events = v["smtp"]["events"].as_array().unwrap();
        assert_eq!(events[0]["type"], "reply");
        assert_eq!(events[0]["code"], 554);
        assert!(v["tcp"]["events_kept"].as_u64().unwrap() > 0, "{v}");
        let verdicts = v["verdicts"].as_array().unwrap();
        assert!(
            !verdicts.is_empty() && verdicts.iter().all(|x| x["explanation"].as_str().is_some_and(|e| !e.is_empty()))
        );
    }

    /// A body written before the number is known, behind any number's head, is the record of
    /// the session with that number, and valid JSON with that id.
    #[test]
    fn a_head_and_a_body_make_the_numbered_record() {
        let mut b = crate::synth::SessionBuilder::lab();
        b.handshake().server("250 mx\r\n").client("QUIT\r\n").server("221 bye\r\n").close();
        let mut s = b.analyze().remove(0);
        let verdicts = crate::diagnose::diagnose(&s, &crate::diagnose::DiagnoseConfig::default());
        let detail = JsonDetail { events: true, explain: true };
        let mut body = Vec::new();
        write_session_body(&mut body, &s, &verdicts, None, detail);
        for index in [0, 7, 98765] {
            s.index = index;
            let joined = format!("{}{}", Head(index), String::from_utf8(body.clone()).unwrap());
            assert_eq!(joined, session_line(&s, &verdicts, detail));
            let v: Value = serde_json::from_str(&joined).unwrap();
            assert_eq!(v["id"], index.to_string());
            assert_eq!(v["schema"], SCHEMA);
            assert_eq!(session_value(&s, &verdicts, detail)["id"], index.to_string());
        }
    }
}
