//! A pair laid out for a three-column ladder (client | device | server): one row per packet,
//! drawn on the side(s) where it was seen. Plain data: `render::ladder::three` draws it as
//! text, Mermaid or SVG.

use super::packets::{CaptureView, Conn, Pkt};
use super::{Diff, Side};
use crate::capture::Timestamp;
use crate::diagnose::Severity;
use crate::tcp::Direction;
use serde::Serialize;

/// What happened to a packet at the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossing {
    /// Seen on both sides, bytes unchanged.
    Passed,
    /// Seen on both sides with different bytes.
    Rewritten,
    /// Sent, never seen on the far side.
    Dropped,
    /// Seen on the far side only: the device made it.
    Injected,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Packet number in the client side's capture, and in the server side's.
    pub client_packet: Option<u64>,
    pub server_packet: Option<u64>,
    /// Seconds since the pair's first packet (outside clock).
    pub rel: f64,
    #[serde(serialize_with = "super::wire::direction")]
    pub dir: Direction,
    pub crossing: Crossing,
    /// The packet as seen between client and device, and between device and server.
    pub client_label: Option<String>,
    pub server_label: Option<String>,
    pub notes: Vec<Note>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Note {
    pub code: &'static str,
    pub severity: Severity,
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VerdictLine {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThreeLadder {
    pub pair: usize,
    #[serde(skip)]
    pub start: Timestamp,
    /// "outside" or "inside": the capture holding the client's side.
    pub client_side: Side,
    pub client_capture: String,
    pub server_capture: String,
    /// The client as its side sees it, the server as its side sees it.
    pub client: String,
    pub server: String,
    /// The device's two faces: the server as the client sees it, the client as the server sees it.
    pub device: String,
    pub rows: Vec<Row>,
    /// Pure ACKs seen on both sides, left out unless all packets are asked for.
    pub folded: usize,
    pub verdicts: Vec<VerdictLine>,
}

/// Most characters of a payload's first line in a label.
const LABEL_TEXT: usize = 72;

pub fn build(d: &Diff, pair: usize, all_packets: bool) -> ThreeLadder {
    let report = &d.pairs[pair];
    let (o, i, m) = &d.links[pair];
    let (oc, ic) = (&d.outside.conns[*o], &d.inside.conns[*i]);
    let client_side = report.translation.client_side;
    let skew_ns = (report.clock_skew_s * 1e9).round() as i64;
    let clock = |side: Side, ts: Timestamp| if side == Side::Inside { ts.0 - skew_ns } else { ts.0 };
    let start = oc.first_ts().0.min(clock(Side::Inside, ic.first_ts()));
    let near = |dir: Direction| if dir == Direction::ClientToServer { client_side } else { client_side.other() };
    let mut rows: Vec<(i64, u64, Row)> = Vec::new();
    let mut folded = 0;
    let label = |view: &CaptureView, p: &Pkt| label(view, p);
    let side_of = |side: Side| -> (&CaptureView, &Conn) {
        match side {
            Side::Outside => (&d.outside, oc),
            Side::Inside => (&d.inside, ic),
        }
    };
    for (ko, po) in oc.pkts.iter().enumerate() {
        let Some(ki) = m.outside[ko] else { continue };
        let pi = &ic.pkts[ki];
        if !all_packets && po.is_empty() && po.flags.0 == crate::decode::TcpFlags::ACK {
            folded += 1;
            continue;
        }
        let changed = d.outside.payload(po) != d.inside.payload(pi);
        let sender = near(po.dir);
        let t = if sender == Side::Outside { clock(Side::Outside, po.ts) } else { clock(Side::Inside, pi.ts) };
        let (lo, li) = (label(&d.outside, po), label(&d.inside, pi));
        let (cl, sl, cp, sp) =
            if client_side == Side::Outside { (lo, li, po.number, pi.number) } else { (li, lo, pi.number, po.number) };
        rows.push((
            t,
            cp,
            Row {
                client_packet: Some(cp),
                server_packet: Some(sp),
                rel: 0.0,
                dir: po.dir,
                crossing: if changed { Crossing::Rewritten } else { Crossing::Passed },
                client_label: Some(cl),
                server_label: Some(sl),
                notes: Vec::new(),
            },
        ));
    }
    for side in [Side::Outside, Side::Inside] {
        let (view, c) = side_of(side);
        let matched = match side {
            Side::Outside => &m.outside,
            Side::Inside => &m.inside,
        };
        for (k, p) in c.pkts.iter().enumerate() {
            if matched[k].is_some() {
                continue;
            }
            let crossing = if near(p.dir) == side { Crossing::Dropped } else { Crossing::Injected };
            let on_client_side = side == client_side;
            let l = Some(label(view, p));
            rows.push((
                clock(side, p.ts),
                p.number,
                Row {
                    client_packet: on_client_side.then_some(p.number),
                    server_packet: (!on_client_side).then_some(p.number),
                    rel: 0.0,
                    dir: p.dir,
                    crossing,
                    client_label: if on_client_side { l.clone() } else { None },
                    server_label: if on_client_side { None } else { l },
                    notes: Vec::new(),
                },
            ));
        }
    }
    rows.sort_by_key(|(t, n, _)| (*t, *n));
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|(t, _, mut r)| {
            r.rel = (t - start) as f64 / 1e9;
            r
        })
        .collect();
    // Each verdict annotates the first row showing one of its packets.
    for v in &report.verdicts {
        let packets_on = |side: Side| if side == Side::Outside { &v.packets.outside } else { &v.packets.inside };
        let hit = rows.iter_mut().find(|r| {
            r.client_packet.is_some_and(|n| packets_on(client_side).contains(&n))
                || r.server_packet.is_some_and(|n| packets_on(client_side.other()).contains(&n))
        });
        if let Some(r) = hit {
            r.notes.push(Note { code: v.code, severity: v.severity, text: note_text(v.code, &v.summary) });
        }
    }
    let (client_view, client_conn) = side_of(client_side);
    let (server_view, server_conn) = side_of(client_side.other());
    ThreeLadder {
        pair: report.pair,
        start: Timestamp(start),
        client_side,
        client_capture: client_view.name.clone(),
        server_capture: server_view.name.clone(),
        client: client_conn.client.to_string(),
        server: server_conn.server.to_string(),
        device: format!("{} / {}", client_conn.server, server_conn.client),
        rows,
        folded,
        verdicts: report
            .verdicts
            .iter()
            .map(|v| VerdictLine { code: v.code, severity: v.severity, summary: v.summary.clone() })
            .collect(),
    }
}

/// The short form of a verdict beside its row: the rule, not the whole summary.
fn note_text(code: &str, summary: &str) -> String {
    match code {
        "REWRITTEN_IN_PATH" => summary.split(':').next().unwrap_or(summary).to_string(),
        "INJECTED_RESET" => "forged reset".to_string(),
        "INJECTED_IN_PATH" => "forged".to_string(),
        "DROPPED_IN_PATH" => "dropped".to_string(),
        _ => summary.to_string(),
    }
}

/// "PSH/ACK  250-esa.example.com Hello … (+4 lines)".
fn label(view: &CaptureView, p: &Pkt) -> String {
    let mut s = p.flags.label().to_string();
    let data = view.payload(p);
    if data.is_empty() {
        return s;
    }
    let first_end = data.iter().position(|&b| b == b'\n').map_or(data.len(), |e| e + 1);
    let first = String::from_utf8_lossy(&data[..first_end]);
    let first: String =
        first.trim_end_matches(['\r', '\n']).chars().map(|c| if c.is_control() { '.' } else { c }).collect();
    s.push_str("  ");
    s.push_str(&crate::textfmt::shorten(&first, LABEL_TEXT, "…"));
    let more = data[first_end..].iter().filter(|&&b| b == b'\n').count();
    if more > 0 {
        s.push_str(&format!(" (+{more} line{})", if more == 1 { "" } else { "s" }));
    } else if !data.ends_with(b"\n") {
        s.push_str(&format!(" ({} bytes)", data.len()));
    }
    s
}
