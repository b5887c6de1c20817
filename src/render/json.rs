//! The NDJSON record of a session (schema "smtpdiag.session.v1", documented in README.md).

use crate::diagnose::Verdict;
use crate::session::Session;
use crate::tcp::Direction;
use crate::tcp::conn::{CloseKind, DirFacts, Handshake, Role};
use serde::Serialize;
use serde_json::{Value, json};

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

/// The whole record as a JSON value.
pub fn session_value(s: &Session, verdicts: &[Verdict]) -> Value {
    let c = &s.conn;
    let rewrites: Vec<Value> = c
        .rewrites()
        .map(|(d, r)| {
            json!({"direction": d, "original_packet": r.original_packet, "packet": r.packet, "offset": r.offset,
                   "len": r.len, "original": r.original, "changed": r.changed})
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "id": s.id(),
        "capture": &*s.capture,
        "client": c.client,
        "server": c.server,
        "first_ts": c.first.ts.as_secs_f64(),
        "last_ts": c.last.ts.as_secs_f64(),
        "first_packet": c.first.number,
        "last_packet": c.last.number,
        "end": s.end,
        "tcp": {
            "handshake": handshake(c.handshake),
            "conn_state": c.zeek_conn_state,
            "history": c.zeek_history,
            "closed_by": closed_by(s),
            "role_basis": c.role_basis,
            "packets": per_side(s, |d| d.packets),
            "payload_bytes": per_side(s, |d| d.payload_bytes),
            "retransmissions": per_side(s, |d| d.stream.retransmissions),
            "retransmitted_bytes": per_side(s, |d| d.stream.retransmitted_bytes),
            "gaps": per_side(s, |d| d.stream.gaps),
            "gap_bytes": per_side(s, |d| d.stream.gap_bytes),
            "out_of_order": per_side(s, |d| d.stream.out_of_order),
            "zero_window": per_side(s, |d| d.zero_window),
            "duplicates": per_side(s, |d| d.duplicates),
            "ttl": per_side(s, |d| json!({"min": d.ttl_min, "max": d.ttl_max})),
            "ip_id": per_side(s, |d| d.ip_id),
            "mss": per_side(s, |d| d.mss),
            "max_segment": per_side(s, |d| d.max_segment),
            "syn_count": c.syn_count,
            "syn_span_s": c.syn_span_s,
            "synack_count": c.synack_count,
            "handshake_packets": {"syn": c.syn_packet, "synack": c.synack_packet, "ack": c.ack_packet},
            "rtt_ms": {"syn_synack": c.rtt_syn_synack_ms, "synack_ack": c.rtt_synack_ack_ms},
            "close": c.closes,
            "rewrites": rewrites,
            "events_kept": c.events.len(),
            "events_dropped": c.events_dropped,
        },
        "smtp": s.smtp,
        "verdicts": verdicts,
    })
}

/// One NDJSON line (no trailing newline).
pub fn session_line(s: &Session, verdicts: &[Verdict]) -> String {
    session_value(s, verdicts).to_string()
}
