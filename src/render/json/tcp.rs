//! The record's `tcp` object, built from the TCP stage's `ConnRecord`.

use super::{names, omit};
use crate::render::options::JsonDetail;
use crate::session::Session;
use crate::tcp::Direction;
use crate::tcp::conn::{CloseEvent, CloseKind, DirFacts, Endpoint, IpIdPattern, Role};
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

/// A counter per direction, named by who sent it; absent when both are zero, both sides when
/// either is not (`packets` and `payload_bytes` always).
#[derive(Serialize)]
struct PerSide<T: Serialize> {
    client: T,
    server: T,
}

fn per_side<T: Serialize>(s: &Session, f: impl Fn(&DirFacts) -> T) -> PerSide<T> {
    PerSide { client: f(s.conn.dir(Direction::ClientToServer)), server: f(s.conn.dir(Direction::ServerToClient)) }
}

fn counter<T: Serialize + Default + PartialEq>(s: &Session, f: impl Fn(&DirFacts) -> T) -> Option<PerSide<T>> {
    let v = per_side(s, f);
    (!omit::zero(&v.client) || !omit::zero(&v.server)).then_some(v)
}

/// An observation per direction, each side absent when that side gave none.
#[derive(Serialize)]
struct Sides<T: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<T>,
}

fn sides<T: Serialize>(s: &Session, f: impl Fn(&DirFacts) -> Option<T>) -> Option<Sides<T>> {
    let v = per_side(s, f);
    (v.client.is_some() || v.server.is_some()).then_some(Sides { client: v.client, server: v.server })
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
    min: u8,
    max: u8,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    syn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    synack: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack: Option<u64>,
}

impl HandshakePackets {
    fn is_empty(&self) -> bool {
        self.syn.is_none() && self.synack.is_none() && self.ack.is_none()
    }
}

/// Milliseconds rounded to the microsecond, the resolution of most captures: 0.045, not the
/// 0.045000000000000005 a float subtraction leaves.
fn to_micros(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct Rtt {
    #[serde(skip_serializing_if = "Option::is_none")]
    syn_synack: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    synack_ack: Option<f64>,
}

impl Rtt {
    fn is_empty(&self) -> bool {
        self.syn_synack.is_none() && self.synack_ack.is_none()
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    retransmissions: Option<PerSide<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retransmitted_bytes: Option<PerSide<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gaps: Option<PerSide<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gap_bytes: Option<PerSide<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    out_of_order: Option<PerSide<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zero_window: Option<PerSide<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicates: Option<PerSide<u64>>,
    /// The packet evidence, with `--events`: per-direction TTL range, IP-ID pattern, MSS and
    /// largest segment; the handshake's packets; each FIN and RST.
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<Sides<MinMax>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_id: Option<Sides<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mss: Option<Sides<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_segment: Option<PerSide<u32>>,
    #[serde(skip_serializing_if = "omit::zero")]
    syn_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    syn_span_s: Option<f64>,
    #[serde(skip_serializing_if = "omit::zero")]
    synack_count: u32,
    #[serde(skip_serializing_if = "HandshakePackets::is_empty")]
    handshake_packets: HandshakePackets,
    #[serde(skip_serializing_if = "Rtt::is_empty")]
    rtt_ms: Rtt,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    close: Vec<CloseOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rewrites: Vec<RewriteOut<'a>>,
    /// Packet events kept for the rules and ladders, and those left out as ordinary
    /// mid-transfer packets: bookkeeping shown with `--events` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    events_kept: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events_elided: Option<u64>,
    /// Packet events cut by `--max-events`.
    #[serde(skip_serializing_if = "omit::zero")]
    events_dropped: u64,
}

pub(super) fn tcp(s: &Session, detail: JsonDetail) -> Tcp<'_> {
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
    let ttl = |d: &DirFacts| Some(MinMax { min: d.ttl_min?, max: d.ttl_max? });
    let ip_id = |d: &DirFacts| (d.ip_id != IpIdPattern::None).then(|| names::ip_id(d.ip_id));
    Tcp {
        handshake: names::handshake(c.handshake),
        conn_state: c.zeek_conn_state,
        history: &c.zeek_history,
        closed_by: closed_by(s),
        role_basis: names::role_basis(c.role_basis),
        packets: per_side(s, |d| d.packets),
        payload_bytes: per_side(s, |d| d.payload_bytes),
        retransmissions: counter(s, |d| d.stream.retransmissions),
        retransmitted_bytes: counter(s, |d| d.stream.retransmitted_bytes),
        gaps: counter(s, |d| d.stream.gaps),
        gap_bytes: counter(s, |d| d.stream.gap_bytes),
        out_of_order: counter(s, |d| d.stream.out_of_order),
        zero_window: counter(s, |d| d.zero_window),
        duplicates: counter(s, |d| d.duplicates),
        ttl: sides(s, ttl).filter(|_| detail.events),
        ip_id: sides(s, ip_id).filter(|_| detail.events),
        mss: sides(s, |d| d.mss).filter(|_| detail.events),
        max_segment: counter(s, |d| d.max_segment).filter(|_| detail.events),
        syn_count: c.syn_count,
        // A single SYN spans nothing.
        syn_span_s: c.syn_span_s.filter(|_| c.syn_count > 1),
        synack_count: c.synack_count,
        handshake_packets: match detail.events {
            true => HandshakePackets { syn: c.syn_packet, synack: c.synack_packet, ack: c.ack_packet },
            false => HandshakePackets { syn: None, synack: None, ack: None },
        },
        rtt_ms: Rtt { syn_synack: c.rtt_syn_synack_ms.map(to_micros), synack_ack: c.rtt_synack_ack_ms.map(to_micros) },
        close: c.closes.iter().filter(|_| detail.events).map(close).collect(),
        rewrites,
        events_kept: detail.events.then_some(c.events.len()),
        events_elided: detail.events.then_some(c.events_elided),
        events_dropped: c.events_dropped,
    }
}
