//! The record's `tcp` object, built from the TCP stage's `ConnRecord`.

use super::names;
use crate::session::Session;
use crate::tcp::Direction;
use crate::tcp::conn::{CloseEvent, CloseKind, DirFacts, Endpoint, Role};
use serde::Serialize;
use std::net::IpAddr;

/// An address and port as `{ip, port}`.
#[derive(Serialize)]
pub(super) struct EndpointOut {
    ip: IpAddr,
    port: u16,
}

pub(super) fn endpoint(e: &Endpoint) -> EndpointOut {
    EndpointOut { ip: e.ip, port: e.port }
}

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

#[derive(Serialize)]
struct MinMax {
    min: Option<u8>,
    max: Option<u8>,
}

#[derive(Serialize)]
struct RewriteOut<'a> {
    direction: &'static str,
    original_packet: u64,
    packet: u64,
    offset: u64,
    len: u32,
    original: &'a str,
    changed: &'a str,
}

#[derive(Serialize)]
struct CloseOut {
    packet: u64,
    ts: f64,
    by: &'static str,
    kind: &'static str,
    flags: String,
}

fn close(c: &CloseEvent) -> CloseOut {
    CloseOut {
        packet: c.packet,
        ts: c.ts,
        by: c.by.name(),
        kind: names::close_kind(c.kind),
        flags: c.flags.to_string(),
    }
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
pub(super) struct Tcp<'a> {
    handshake: &'static str,
    conn_state: &'static str,
    history: &'a str,
    closed_by: &'static str,
    role_basis: &'static str,
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
    ip_id: PerSide<&'static str>,
    mss: PerSide<Option<u16>>,
    max_segment: PerSide<u32>,
    syn_count: u32,
    syn_span_s: Option<f64>,
    synack_count: u32,
    handshake_packets: HandshakePackets,
    rtt_ms: Rtt,
    close: Vec<CloseOut>,
    rewrites: Vec<RewriteOut<'a>>,
    events_kept: usize,
    events_dropped: u64,
    events_elided: u64,
}

pub(super) fn tcp(s: &Session) -> Tcp<'_> {
    let c = &s.conn;
    let rewrites = c
        .rewrites()
        .map(|(d, r)| RewriteOut {
            direction: d.name(),
            original_packet: r.original_packet,
            packet: r.packet,
            offset: r.offset,
            len: r.len,
            original: &r.original,
            changed: &r.changed,
        })
        .collect();
    Tcp {
        handshake: names::handshake(c.handshake),
        conn_state: c.zeek_conn_state,
        history: &c.zeek_history,
        closed_by: closed_by(s),
        role_basis: names::role_basis(c.role_basis),
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
        ip_id: per_side(s, |d| names::ip_id(d.ip_id)),
        mss: per_side(s, |d| d.mss),
        max_segment: per_side(s, |d| d.max_segment),
        syn_count: c.syn_count,
        syn_span_s: c.syn_span_s,
        synack_count: c.synack_count,
        handshake_packets: HandshakePackets { syn: c.syn_packet, synack: c.synack_packet, ack: c.ack_packet },
        rtt_ms: Rtt { syn_synack: c.rtt_syn_synack_ms.map(to_micros), synack_ack: c.rtt_synack_ack_ms.map(to_micros) },
        close: c.closes.iter().map(close).collect(),
        rewrites,
        events_kept: c.events.len(),
        events_dropped: c.events_dropped,
        events_elided: c.events_elided,
    }
}
