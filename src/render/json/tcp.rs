//! The record's `tcp` object, written from the TCP stage's `ConnRecord`.

use super::names;
use super::write::{Int, Key, Obj, int, key};
use crate::render::options::JsonDetail;
use crate::session::Session;
use crate::tcp::Direction;
use crate::tcp::conn::{CloseEvent, CloseKind, DirFacts, Endpoint, IpIdPattern, Role};
use std::net::IpAddr;

/// An address and port as `{"ip":…,"port":…}`.
pub(super) fn endpoint(o: &mut Obj<'_>, key: Key, e: &Endpoint) {
    o.obj(key, |o| {
        ip(o.key(key!("ip")), e.ip);
        o.num(key!("port"), e.port);
    });
}

/// An address as a JSON string, as `Display` writes it (no address needs escaping).
fn ip(out: &mut String, ip: IpAddr) {
    out.push('"');
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            // Each byte from the digit table, as any number below 1000.
            int(out, a.into());
            for o in [b, c, d] {
                out.push('.');
                int(out, o.into());
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            // Writing into a String cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
    out.push('"');
}

fn dirs(s: &Session) -> [&DirFacts; 2] {
    [s.conn.dir(Direction::ClientToServer), s.conn.dir(Direction::ServerToClient)]
}

/// A counter per direction, named by who sent it.
fn per_side<T: Int>(o: &mut Obj<'_>, key: Key, s: &Session, f: impl Fn(&DirFacts) -> T) {
    let [client, server] = dirs(s);
    o.obj(key, |o| {
        o.num(key!("client"), f(client));
        o.num(key!("server"), f(server));
    });
}

/// A counter per direction, absent when both are zero, both sides when either is not.
fn counter<T: Int>(o: &mut Obj<'_>, key: Key, s: &Session, f: impl Fn(&DirFacts) -> T) {
    let [client, server] = dirs(s);
    if f(client).wide() != 0 || f(server).wide() != 0 {
        per_side(o, key, s, f);
    }
}

/// An observation per direction, each side absent when that side gave none, the whole when both
/// gave none.
fn sides<T>(
    o: &mut Obj<'_>,
    key: Key,
    s: &Session,
    f: impl Fn(&DirFacts) -> Option<T>,
    mut value: impl FnMut(&mut Obj<'_>, Key, T),
) {
    let [client, server] = dirs(s);
    o.obj_unless_empty(key, |o| {
        if let Some(v) = f(client) {
            value(o, key!("client"), v);
        }
        if let Some(v) = f(server) {
            value(o, key!("server"), v);
        }
    });
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

fn close(o: &mut Obj<'_>, c: &CloseEvent) {
    o.num(key!("packet"), c.packet);
    o.float(key!("ts"), c.ts);
    o.name(key!("by"), c.by.name());
    o.name(key!("kind"), names::close_kind(c.kind));
    o.str(key!("flags"), &c.flags.to_string());
}

/// Milliseconds rounded to the microsecond, the resolution of most captures: 0.045, not the
/// 0.045000000000000005 a float subtraction leaves.
fn to_micros(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The `tcp` object. The packet evidence comes with `--events` only: per-direction TTL range,
/// IP-ID pattern, MSS and largest segment; the handshake's packets; each FIN and RST; and the
/// bookkeeping of packet events kept for the rules and ladders and those left out as ordinary
/// mid-transfer packets.
pub(super) fn tcp(o: &mut Obj<'_>, s: &Session, detail: JsonDetail) {
    let c = &s.conn;
    let events = detail.events;
    o.name(key!("handshake"), names::handshake(c.handshake));
    o.name(key!("conn_state"), c.zeek_conn_state);
    o.str(key!("history"), &c.zeek_history);
    o.name(key!("closed_by"), closed_by(s));
    o.name(key!("role_basis"), names::role_basis(c.role_basis));
    per_side(o, key!("packets"), s, |d| d.packets);
    per_side(o, key!("payload_bytes"), s, |d| d.payload_bytes);
    counter(o, key!("retransmissions"), s, |d| d.stream.retransmissions);
    counter(o, key!("retransmitted_bytes"), s, |d| d.stream.retransmitted_bytes);
    counter(o, key!("gaps"), s, |d| d.stream.gaps);
    counter(o, key!("gap_bytes"), s, |d| d.stream.gap_bytes);
    counter(o, key!("out_of_order"), s, |d| d.stream.out_of_order);
    counter(o, key!("zero_window"), s, |d| d.zero_window);
    counter(o, key!("duplicates"), s, |d| d.duplicates);
    if events {
        let ttl = |d: &DirFacts| Some((d.ttl_min?, d.ttl_max?));
        sides(o, key!("ttl"), s, ttl, |o, side, (min, max)| {
            o.obj(side, |o| {
                o.num(key!("min"), min);
                o.num(key!("max"), max);
            })
        });
        let ip_id = |d: &DirFacts| (d.ip_id != IpIdPattern::None).then(|| names::ip_id(d.ip_id));
        sides(o, key!("ip_id"), s, ip_id, |o, side, v| o.name(side, v));
        sides(o, key!("mss"), s, |d| d.mss, |o, side, v| o.num(side, v));
        counter(o, key!("max_segment"), s, |d| d.max_segment);
    }
    o.nonzero(key!("syn_count"), c.syn_count);
    // A single SYN spans nothing.
    o.some_float(key!("syn_span_s"), c.syn_span_s.filter(|_| c.syn_count > 1));
    o.nonzero(key!("synack_count"), c.synack_count);
    if events {
        o.obj_unless_empty(key!("handshake_packets"), |o| {
            o.some_num(key!("syn"), c.syn_packet);
            o.some_num(key!("synack"), c.synack_packet);
            o.some_num(key!("ack"), c.ack_packet);
        });
    }
    o.obj_unless_empty(key!("rtt_ms"), |o| {
        o.some_float(key!("syn_synack"), c.rtt_syn_synack_ms.map(to_micros));
        o.some_float(key!("synack_ack"), c.rtt_synack_ack_ms.map(to_micros));
    });
    if events && !c.closes.is_empty() {
        o.objs(key!("close"), &c.closes, close);
    }
    if c.rewrites().next().is_some() {
        o.objs(key!("rewrites"), c.rewrites(), |o, (d, r)| {
            o.name(key!("direction"), d.name());
            o.num(key!("original_packet"), r.original_packet);
            o.num(key!("packet"), r.packet);
            o.num(key!("offset"), r.offset);
            o.num(key!("len"), r.len);
            o.str(key!("original"), &r.original);
            o.str(key!("changed"), &r.changed);
        });
    }
    if events {
        o.num(key!("events_kept"), c.events.len());
        o.num(key!("events_elided"), c.events_elided);
    }
    o.nonzero(key!("events_dropped"), c.events_dropped);
}
