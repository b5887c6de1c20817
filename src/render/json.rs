//! The NDJSON record of a session (schema "smtpdiag.session.v1", documented in README.md).

use crate::diagnose::Verdict;
use crate::maillog::LogNote;
use crate::session::Session;
use crate::smtp::SmtpRecord;
use crate::tcp::Direction;
use crate::tcp::conn::{CloseEvent, CloseKind, DirFacts, Endpoint, Handshake, IpIdPattern, Role, RoleBasis};
use crate::tcp::flow::EndReason;
use serde::Serialize;
use serde_json::Value;

pub const SCHEMA: &str = "smtpdiag.session.v1";

/// A value per direction, named by who sent it.
#[derive(Serialize)]
struct PerSide<T: Serialize> {
    client: T,
    server: T,
}

fn per_side<T: Serialize>(s: &Session, f: impl Fn(&DirFacts) -> T) -> PerSide<T> {
    PerSide { client: f(s.conn.dir(Direction::ClientToServer)), server: f(s.conn.dir(Direction::ServerToClient)) }
}

fn closed_by(s: &Session) -> &'static str {
    match s.conn.closed_by {
        None => "none",
        Some((Role::Client, CloseKind::Fin)) => "client_fin",
        Some((Role::Server, CloseKind::Fin)) => "server_fin",
        Some((Role::Client, CloseKind::Rst)) => "client_rst",
        Some((Role::Server, CloseKind::Rst)) => "server_rst",
    }
}

fn handshake(h: Handshake) -> &'static str {
    match h {
        Handshake::Complete => "complete",
        Handshake::SynSynack => "syn_synack",
        Handshake::SynOnly => "syn_only",
        Handshake::SynRst => "syn_rst",
        Handshake::Midstream => "midstream",
    }
}

#[derive(Serialize)]
struct MinMax {
    min: Option<u8>,
    max: Option<u8>,
}

#[derive(Serialize)]
struct RewriteOut<'a> {
    direction: Direction,
    original_packet: u64,
    packet: u64,
    offset: u64,
    len: u32,
    original: &'a str,
    changed: &'a str,
}

#[derive(Serialize)]
struct HandshakePackets {
    syn: Option<u64>,
    synack: Option<u64>,
    ack: Option<u64>,
}

/// Milliseconds rounded to the microsecond, the resolution of most captures: 0.045, not the
/// 0.045000000000000005 a float subtraction leaves.
fn to_micros(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct Rtt {
    syn_synack: Option<f64>,
    synack_ack: Option<f64>,
}

#[derive(Serialize)]
struct Tcp<'a> {
    handshake: &'static str,
    conn_state: &'static str,
    history: &'a str,
    closed_by: &'static str,
    role_basis: RoleBasis,
    packets: PerSide<u64>,
    payload_bytes: PerSide<u64>,
    retransmissions: PerSide<u64>,
    retransmitted_bytes: PerSide<u64>,
    gaps: PerSide<u64>,
    gap_bytes: PerSide<u64>,
    out_of_order: PerSide<u64>,
    zero_window: PerSide<u64>,
    duplicates: PerSide<u64>,
    ttl: PerSide<MinMax>,
    ip_id: PerSide<IpIdPattern>,
    mss: PerSide<Option<u16>>,
    max_segment: PerSide<u32>,
    syn_count: u32,
    syn_span_s: Option<f64>,
    synack_count: u32,
    handshake_packets: HandshakePackets,
    rtt_ms: Rtt,
    close: &'a [CloseEvent],
    rewrites: Vec<RewriteOut<'a>>,
    events_kept: usize,
    events_dropped: u64,
    events_elided: u64,
}

/// The record, field for field in schema order; serialized straight to text (building a
/// `serde_json::Value` tree first cost an allocation per field).
#[derive(Serialize)]
struct Record<'a> {
    schema: &'static str,
    id: String,
    capture: &'a str,
    client: Endpoint,
    server: Endpoint,
    first_ts: f64,
    last_ts: f64,
    first_packet: u64,
    last_packet: u64,
    end: EndReason,
    tcp: Tcp<'a>,
    smtp: &'a SmtpRecord,
    /// The code on the text session line (`diagnose::headline`), null without verdicts.
    headline: Option<&'static str>,
    verdicts: &'a [Verdict],
    /// The mail server's log about this session (`--maillog`); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<&'a LogNote>,
}

fn record<'a>(s: &'a Session, verdicts: &'a [Verdict]) -> Record<'a> {
    let c = &s.conn;
    let rewrites = c
        .rewrites()
        .map(|(d, r)| RewriteOut {
            direction: d,
            original_packet: r.original_packet,
            packet: r.packet,
            offset: r.offset,
            len: r.len,
            original: &r.original,
            changed: &r.changed,
        })
        .collect();
    Record {
        schema: SCHEMA,
        id: s.id(),
        capture: &s.capture,
        client: c.client,
        server: c.server,
        first_ts: c.first.ts.as_secs_f64(),
        last_ts: c.last.ts.as_secs_f64(),
        first_packet: c.first.number,
        last_packet: c.last.number,
        end: s.end,
        tcp: Tcp {
            handshake: handshake(c.handshake),
            conn_state: c.zeek_conn_state,
            history: &c.zeek_history,
            closed_by: closed_by(s),
            role_basis: c.role_basis,
            packets: per_side(s, |d| d.packets),
            payload_bytes: per_side(s, |d| d.payload_bytes),
            retransmissions: per_side(s, |d| d.stream.retransmissions),
            retransmitted_bytes: per_side(s, |d| d.stream.retransmitted_bytes),
            gaps: per_side(s, |d| d.stream.gaps),
            gap_bytes: per_side(s, |d| d.stream.gap_bytes),
            out_of_order: per_side(s, |d| d.stream.out_of_order),
            zero_window: per_side(s, |d| d.zero_window),
            duplicates: per_side(s, |d| d.duplicates),
            ttl: per_side(s, |d| MinMax { min: d.ttl_min, max: d.ttl_max }),
            ip_id: per_side(s, |d| d.ip_id),
            mss: per_side(s, |d| d.mss),
            max_segment: per_side(s, |d| d.max_segment),
            syn_count: c.syn_count,
            syn_span_s: c.syn_span_s,
            synack_count: c.synack_count,
            handshake_packets: HandshakePackets { syn: c.syn_packet, synack: c.synack_packet, ack: c.ack_packet },
            rtt_ms: Rtt {
                syn_synack: c.rtt_syn_synack_ms.map(to_micros),
                synack_ack: c.rtt_synack_ack_ms.map(to_micros),
            },
            close: &c.closes,
            rewrites,
            events_kept: c.events.len(),
            events_dropped: c.events_dropped,
            events_elided: c.events_elided,
        },
        smtp: &s.smtp,
        headline: crate::diagnose::headline(verdicts).map(|v| v.code.as_str()),
        verdicts,
        log: None,
    }
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
