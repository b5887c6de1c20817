//! The NDJSON record of a session (schema "smtpdiag.session.v2", documented in README.md):
//! what is null, empty, zero or false is left out, and the transcript (`--events`) and the
//! verdicts' fixed explanations (`--explain`) come only when asked for.
//! The record is written here field by field from the stages' structs, which carry no serde
//! (`write` holds the JSON primitives): `tcp` and `smtp` are written by the modules of those
//! names, `events` the dialogue's transcript.

mod events;
mod names;
mod smtp;
mod tcp;
mod write;

use crate::diagnose::Verdict;
use crate::maillog::LogNote;
pub use crate::render::options::JsonDetail;
use crate::session::Session;
use serde_json::Value;
use write::{Obj, key};

pub const SCHEMA: &str = "smtpdiag.session.v2";

/// How a record begins, up to and including its id: `{"schema":"smtpdiag.session.v2","id":"7"`.
/// The rest is the record's [body](write_session_body), which can be written before the
/// session's number is known (`read --threads`).
#[derive(Clone, Copy, Debug)]
pub struct Head(pub u64);

impl Head {
    /// Appends the head to `out` (without `core::fmt`, which costs more than the rest of it).
    pub fn write(self, out: &mut String) {
        // The schema name and a number need no escaping.
        out.push_str(concat!(r#"{"schema":""#, "smtpdiag.session.v2", r#"","id":""#));
        write::int(out, self.0);
        out.push('"');
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut head = String::new();
        self.write(&mut head);
        f.write_str(&head)
    }
}

/// A verdict: the finding (and where the client failed over to), the code's fixed text with
/// `--explain` only, and its evidence packets.
fn verdict(o: &mut Obj<'_>, v: &Verdict, detail: JsonDetail) {
    o.name(key!("code"), v.code.as_str());
    o.name(key!("severity"), v.severity.as_str());
    o.str(key!("summary"), &v.summary());
    if detail.explain {
        o.str(key!("explanation"), &v.explanation);
    }
    o.nums(key!("packets"), &v.packets);
}

/// The record's fields after its id, in schema order.
fn body(o: &mut Obj<'_>, s: &Session, verdicts: &[Verdict], log: Option<&LogNote>, detail: JsonDetail) {
    let c = &s.conn;
    o.str(key!("capture"), &s.capture);
    tcp::endpoint(o, key!("client"), &c.client);
    tcp::endpoint(o, key!("server"), &c.server);
    o.float(key!("first_ts"), c.first.ts.as_secs_f64());
    o.float(key!("last_ts"), c.last.ts.as_secs_f64());
    o.num(key!("first_packet"), c.first.number);
    o.num(key!("last_packet"), c.last.number);
    o.name(key!("end"), names::end(s.end));
    o.obj(key!("tcp"), |o| tcp::tcp(o, s, detail));
    // Absent when no SMTP byte crossed.
    if !smtp::is_empty(&s.smtp, detail) {
        o.obj(key!("smtp"), |o| smtp::smtp(o, &s.smtp, detail));
    }
    // The code on the text session line (`diagnose::headline`), absent without verdicts.
    o.some_name(key!("headline"), crate::diagnose::headline(verdicts).map(|v| v.code.as_str()));
    if !verdicts.is_empty() {
        o.objs(key!("verdicts"), verdicts, |o, v| verdict(o, v, detail));
    }
    // The mail server's log about this session (`--maillog`); absent without one. Rare, and
    // shaped by the log's own module: serde writes it.
    if let Some(log) = log {
        o.key(key!("log")).push_str(&serde_json::to_string(log).unwrap_or_default());
    }
}

/// A direction by name, for other outputs' serde derives (`#[serde(serialize_with)]`).
pub fn direction<S: serde::Serializer>(d: &crate::tcp::Direction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.name())
}

/// A dialogue's `smtp` object alone, everything included (the fuzz target serialises every
/// dialogue it builds, whatever bytes made it).
pub fn smtp_value(r: &crate::smtp::SmtpRecord) -> serde_json::Result<Value> {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    smtp::smtp(&mut o, r, JsonDetail { events: true, explain: true });
    o.end();
    serde_json::from_str(&out)
}

/// The whole record as a JSON value.
pub fn session_value(s: &Session, verdicts: &[Verdict], detail: JsonDetail) -> Value {
    serde_json::from_str(&session_line(s, verdicts, detail)).unwrap_or(Value::Null)
}

/// One NDJSON line (no trailing newline).
pub fn session_line(s: &Session, verdicts: &[Verdict], detail: JsonDetail) -> String {
    let mut out = String::new();
    write_session_line(&mut out, s, verdicts, None, detail);
    out
}

/// Appends one NDJSON line (no trailing newline) to `out`, so a caller can reuse its buffer;
/// `log`: the session's `log` object (`--maillog`).
pub fn write_session_line(
    out: &mut String,
    s: &Session,
    verdicts: &[Verdict],
    log: Option<&LogNote>,
    detail: JsonDetail,
) {
    Head(s.index).write(out);
    write_session_body(out, s, verdicts, log, detail);
}

/// Room for a typical record after its head (the median is about 1.5 kB on the real mix).
pub const RECORD_ROOM: usize = 2048;

/// Room for a head: the schema and the longest id.
pub const HEAD_ROOM: usize = 64;

/// Appends the record after its id (`,"capture":…}`, no trailing newline): what follows a
/// [`Head`], whichever number that head gives the session (its own `index` is not written).
pub fn write_session_body(
    out: &mut String,
    s: &Session,
    verdicts: &[Verdict],
    log: Option<&LogNote>,
    detail: JsonDetail,
) {
    // Room for a typical record at once: a fresh buffer (`read --threads` renders each session
    // into a new one) would otherwise be grown and copied eight times.
    out.reserve(RECORD_ROOM);
    let mut o = Obj::continued(out);
    body(&mut o, s, verdicts, log, detail);
    o.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head spells the schema constant (it is written as a literal, to be one piece).
    #[test]
    fn the_head_names_the_schema() {
        assert_eq!(Head(7).to_string(), format!(r#"{{"schema":"{SCHEMA}","id":"7""#));
    }

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
        let mut body = String::new();
        write_session_body(&mut body, &s, &verdicts, None, detail);
        for index in [0, 7, 98765] {
            s.index = index;
            let joined = format!("{}{body}", Head(index));
            assert_eq!(joined, session_line(&s, &verdicts, detail));
            let v: Value = serde_json::from_str(&joined).unwrap();
            assert_eq!(v["id"], index.to_string());
            assert_eq!(v["schema"], SCHEMA);
            assert_eq!(session_value(&s, &verdicts, detail)["id"], index.to_string());
        }
    }
}
