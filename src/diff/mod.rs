//! `smtpdiag diff OUTSIDE INSIDE`: two captures of the same traffic, one on each side of a
//! device (firewall, NAT), compared byte for byte to prove what the device changed.
//!
//! `packets` reads each capture with its payloads, `pair` finds which connection is which
//! (through NAT/PAT and sequence randomization), `matching` pairs their packets, `align` lays
//! the byte streams side by side, `findings` lists rewrites, injected and lost packets, delay
//! and re-segmentation, `verdicts` names what the device did. `ladder` lays a pair out for the
//! three-column drawings in `render::ladder::three`.

pub mod align;
pub mod findings;
pub mod ladder;
pub mod matching;
pub mod packets;
pub mod pair;
pub mod verdicts;
mod wire;

#[cfg(test)]
mod tests;

use crate::capture::{CaptureError, LinkType};
use crate::diagnose::Verdict;
use crate::tcp::Direction;
use crate::tcp::conn::Endpoint;
use findings::{Findings, PairView};
use matching::Matches;
use packets::CaptureView;
use pair::Certainty;
use serde::Serialize;
use verdicts::PairVerdict;

pub const SCHEMA: &str = "smtpdiag.diff.v2";

/// Clock differences below this are jitter, not a skew worth a word.
const SKEW_NOTE_S: f64 = 1.0;
/// A skew this close to a whole number of quarter hours looks like a time zone mistake.
const TZ_SLACK_S: f64 = 5.0;

/// Which capture: the one given first (outside) or second (inside).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Outside,
    Inside,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Outside => Side::Inside,
            Side::Inside => Side::Outside,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Side::Outside => "outside",
            Side::Inside => "inside",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Capture(CaptureError),
    #[error(
        "{capture}: more than {limit} bytes of mail-port payload; cut the capture to the sessions to compare first"
    )]
    TooLarge { capture: String, limit: usize },
    #[error("{outside} and {inside} are the same capture ({why}); diff needs one capture from each side of the device")]
    SameCapture { outside: String, inside: String, why: String },
    #[error("{capture}: no TCP session on the mail ports (--port) to compare")]
    NoSessions { capture: String },
    #[error("no session in common: {detail}")]
    NothingInCommon { detail: String },
}

/// What `read` said about a capture's sessions, to show beside the pair's verdicts.
#[derive(Clone, Debug)]
pub struct SessionVerdicts {
    pub id: u64,
    pub first_packet: u64,
    pub verdicts: Vec<Verdict>,
}

/// One side of a pair.
#[derive(Clone, Debug, Serialize)]
pub struct SideInfo {
    pub capture: String,
    pub session: Option<u64>,
    #[serde(serialize_with = "wire::endpoint")]
    pub client: Endpoint,
    #[serde(serialize_with = "wire::endpoint")]
    pub server: Endpoint,
    pub first_packet: u64,
    pub last_packet: u64,
    /// That capture's own verdicts for the session, as `read` gives them.
    pub verdicts: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Translated {
    #[serde(serialize_with = "wire::endpoint")]
    pub outside: Endpoint,
    #[serde(serialize_with = "wire::endpoint")]
    pub inside: Endpoint,
    pub address_translated: bool,
    pub port_translated: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeqOffset {
    /// Inside minus outside sequence number, as a signed 32-bit difference; null when no
    /// packet of that direction crossed.
    pub client_to_server: Option<i64>,
    pub server_to_client: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Translation {
    /// Which capture the client is on (its packets reach it first).
    pub client_side: Side,
    pub client: Translated,
    pub server: Translated,
    pub seq_offset: SeqOffset,
}

#[derive(Clone, Debug, Serialize)]
pub struct PairReport {
    pub schema: &'static str,
    pub kind: &'static str,
    pub pair: usize,
    pub paired_by: Vec<&'static str>,
    pub certainty: Certainty,
    /// With `ambiguous`: sessions of the other capture that fit as well.
    pub alternatives: Vec<u64>,
    pub outside: SideInfo,
    pub inside: SideInfo,
    pub translation: Translation,
    pub clock_skew_s: f64,
    /// Said when the clocks disagree by a second or more (the same for every pair).
    pub clock_note: Option<String>,
    #[serde(flatten)]
    pub findings: Findings,
    pub verdicts: Vec<PairVerdict>,
}

#[derive(Clone, Debug, Serialize)]
pub struct UnpairedReport {
    pub schema: &'static str,
    pub kind: &'static str,
    pub side: Side,
    pub capture: String,
    pub session: Option<u64>,
    #[serde(serialize_with = "wire::endpoint")]
    pub client: Endpoint,
    #[serde(serialize_with = "wire::endpoint")]
    pub server: Endpoint,
    pub first_packet: u64,
    pub last_packet: u64,
    pub reason: String,
}

/// What the two clocks say about each other.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Clocks {
    /// Inside clock minus outside clock, seconds (0 when the packets are consistent with equal
    /// clocks).
    pub skew_s: f64,
    pub note: Option<String>,
}

/// The whole comparison; the captures stay with it for the ladders.
pub struct Diff {
    pub outside: CaptureView,
    pub inside: CaptureView,
    pub pairs: Vec<PairReport>,
    /// Per pair: indices of its connections and the packet matches.
    pub links: Vec<(usize, usize, Matches)>,
    pub unpaired: Vec<UnpairedReport>,
    pub clocks: Clocks,
    /// Things worth a warning: different link types, ambiguous pairings.
    pub notes: Vec<String>,
}

/// Compares two captures. `verdicts_*` are `read`'s sessions of each (id, first packet, verdicts).
pub fn diff(
    mut outside: CaptureView,
    mut inside: CaptureView,
    verdicts_out: &[SessionVerdicts],
    verdicts_in: &[SessionVerdicts],
) -> Result<Diff, DiffError> {
    same_capture(&outside, &inside)?;
    // A side with no session at all is bad input, unless the other side holds only SYNs that
    // were never answered: then the device (or that capture's filter) dropped them, which is the
    // answer, reported as unpaired sessions.
    if outside.conns.is_empty() && inside.conns.is_empty() {
        return Err(DiffError::NoSessions { capture: outside.name.clone() });
    }
    for (v, other) in [(&outside, &inside), (&inside, &outside)] {
        if v.conns.is_empty() && !other.conns.iter().all(syns_only) {
            return Err(DiffError::NoSessions { capture: v.name.clone() });
        }
    }
    attach(&mut outside, verdicts_out);
    attach(&mut inside, verdicts_in);
    let mut notes = Vec::new();
    if outside.link_types != inside.link_types && outside.frames > 0 && inside.frames > 0 {
        notes.push(format!(
            "the captures have different link types ({} has {}, {} has {}): compared from the IP header up",
            outside.name,
            link_names(&outside.link_types),
            inside.name,
            link_names(&inside.link_types)
        ));
    }
    let pairing = pair::pair(&outside, &inside);
    let dropped_syns = outside.conns.iter().chain(&inside.conns).all(syns_only);
    if pairing.pairs.is_empty() && !dropped_syns {
        return Err(DiffError::NothingInCommon { detail: nothing_in_common(&outside, &inside) });
    }
    let mut links = Vec::new();
    let mut sides = Vec::new();
    for p in &pairing.pairs {
        let (o, i) = (&outside.conns[p.outside], &inside.conns[p.inside]);
        let delta = [p.delta[0].unwrap_or(0), p.delta[1].unwrap_or(0)];
        let m = matching::match_packets(o, i, delta);
        sides.push(client_side(o, i, &m));
        links.push((p.outside, p.inside, m));
    }
    let clocks = clocks(&outside, &inside, &links, &sides, pairing.coarse_skew_s);
    let skew_ns = (clocks.skew_s * 1e9).round() as i64;
    let mut pairs = Vec::new();
    for (n, (p, ((o, i, m), side))) in pairing.pairs.iter().zip(links.iter().zip(&sides)).enumerate() {
        let (oc, ic) = (&outside.conns[*o], &inside.conns[*i]);
        let delta = [p.delta[0].unwrap_or(0), p.delta[1].unwrap_or(0)];
        let view =
            PairView { out: &outside, ins: &inside, o: oc, i: ic, delta, matches: m, client_side: *side, skew_ns };
        let findings = findings::compare(&view);
        let verdicts = verdicts::verdicts(&findings, *side);
        if p.certainty == Certainty::Ambiguous {
            notes.push(format!(
                "pair {}: outside session {} could also be another connection of the other capture: the pairing is \
                 not certain",
                n + 1,
                oc.session.map_or("?".to_string(), |s| s.to_string())
            ));
        }
        let alternatives = p
            .alternatives
            .iter()
            .filter_map(|&k| if k == *i { None } else { inside.conns.get(k).and_then(|c| c.session) })
            .collect();
        pairs.push(PairReport {
            schema: SCHEMA,
            kind: "pair",
            pair: n + 1,
            paired_by: p.basis.clone(),
            certainty: p.certainty,
            alternatives,
            outside: side_info(&outside, oc, verdicts_out),
            inside: side_info(&inside, ic, verdicts_in),
            translation: translation(oc, ic, p.delta, *side),
            clock_skew_s: clocks.skew_s,
            clock_note: clocks.note.clone(),
            findings,
            verdicts,
        });
    }
    let mut unpaired = Vec::new();
    let majority = majority_side(&sides);
    for (side, view, list, other) in [
        (Side::Outside, &outside, &pairing.unpaired_outside, &inside),
        (Side::Inside, &inside, &pairing.unpaired_inside, &outside),
    ] {
        for &k in list {
            let c = &view.conns[k];
            unpaired.push(UnpairedReport {
                schema: SCHEMA,
                kind: "unpaired",
                side,
                capture: view.name.clone(),
                session: c.session,
                client: c.client,
                server: c.server,
                first_packet: c.first_packet(),
                last_packet: c.last_packet(),
                reason: unpaired_reason(c, side, other, majority, clocks.skew_s),
            });
        }
    }
    Ok(Diff { outside, inside, pairs, links, unpaired, clocks, notes })
}

fn link_names(l: &[LinkType]) -> String {
    let name = |t: &LinkType| match *t {
        LinkType::ETHERNET => "Ethernet".to_string(),
        LinkType::LINUX_SLL => "Linux cooked".to_string(),
        LinkType::LINUX_SLL2 => "Linux cooked v2".to_string(),
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => "raw IP".to_string(),
        LinkType::NULL | LinkType::LOOP => "BSD loopback".to_string(),
        LinkType(n) => format!("link type {n}"),
    };
    l.iter().map(name).collect::<Vec<_>>().join(" and ")
}

/// The same file twice, or two files with the same first packets at the same times.
fn same_capture(a: &CaptureView, b: &CaptureView) -> Result<(), DiffError> {
    let err = |why: &str| DiffError::SameCapture { outside: a.name.clone(), inside: b.name.clone(), why: why.into() };
    let canon = |n: &str| std::fs::canonicalize(n).ok();
    if a.name != "-" && canon(&a.name).is_some() && canon(&a.name) == canon(&b.name) {
        return Err(err("the same file"));
    }
    if !a.head.is_empty() && a.head == b.head && a.frames == b.frames {
        return Err(err("identical packets at identical times"));
    }
    Ok(())
}

fn attach(view: &mut CaptureView, sessions: &[SessionVerdicts]) {
    for c in &mut view.conns {
        c.session = sessions.iter().find(|s| s.first_packet == c.first_packet()).map(|s| s.id);
    }
}

fn side_info(view: &CaptureView, c: &packets::Conn, sessions: &[SessionVerdicts]) -> SideInfo {
    let verdicts = c
        .session
        .and_then(|id| sessions.iter().find(|s| s.id == id))
        .map(|s| s.verdicts.iter().map(|v| v.code.as_str()).collect())
        .unwrap_or_default();
    SideInfo {
        capture: view.name.clone(),
        session: c.session,
        client: c.client,
        server: c.server,
        first_packet: c.first_packet(),
        last_packet: c.last_packet(),
        verdicts,
    }
}

fn translation(o: &packets::Conn, i: &packets::Conn, delta: [Option<u32>; 2], client_side: Side) -> Translation {
    let t = |a: Endpoint, b: Endpoint| Translated {
        outside: a,
        inside: b,
        address_translated: a.ip != b.ip,
        port_translated: a.port != b.port,
    };
    Translation {
        client_side,
        client: t(o.client, i.client),
        server: t(o.server, i.server),
        seq_offset: SeqOffset {
            client_to_server: delta[0].map(|d| d as i32 as i64),
            server_to_client: delta[1].map(|d| d as i32 as i64),
        },
    }
}

/// The client's side: its packets reach its own side's capture first. Inside-minus-outside
/// times of client packets exceed those of server packets by twice the transit, whatever the
/// clocks' difference; without packets both ways, the device's TTL decrement tells.
fn client_side(o: &packets::Conn, i: &packets::Conn, m: &Matches) -> Side {
    let mut a: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for (ko, ki) in m.pairs() {
        let p = &o.pkts[ko];
        a[p.dir.index()].push(i.pkts[ki].ts.0 as f64 - p.ts.0 as f64);
    }
    let [c2s, s2c] = &mut a;
    if let (Some(c), Some(s)) = (pair::median(c2s), pair::median(s2c)) {
        return if c >= s { Side::Outside } else { Side::Inside };
    }
    let ttl = |c: &packets::Conn| c.pkts.iter().find(|p| p.dir == Direction::ClientToServer).map(|p| p.ttl);
    match (ttl(o), ttl(i)) {
        (Some(x), Some(y)) if y > x => Side::Inside,
        _ => Side::Outside,
    }
}

fn majority_side(sides: &[Side]) -> Side {
    let inside = sides.iter().filter(|&&s| s == Side::Inside).count();
    if inside * 2 > sides.len() { Side::Inside } else { Side::Outside }
}

/// The clocks' difference the matched packets allow. A packet reaches the far side after it
/// left the near one, so every client packet bounds the skew from above and every server packet
/// from below (when the client is outside). When equal clocks fit those bounds, the clocks are
/// taken as equal; otherwise the middle of the bounds is the skew.
fn clocks(
    out: &CaptureView,
    ins: &CaptureView,
    links: &[(usize, usize, Matches)],
    sides: &[Side],
    coarse: f64,
) -> Clocks {
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    for ((o, i, m), side) in links.iter().zip(sides) {
        let (oc, ic) = (&out.conns[*o], &ins.conns[*i]);
        for (ko, ki) in m.pairs() {
            let p = &oc.pkts[ko];
            let a = ic.pkts[ki].ts.secs_since(p.ts);
            let outside_first = (p.dir == Direction::ClientToServer) == (*side == Side::Outside);
            if outside_first { hi = hi.min(a) } else { lo = lo.max(a) }
        }
    }
    if lo <= 0.0 && 0.0 <= hi {
        return Clocks { skew_s: 0.0, note: None };
    }
    let skew = match (lo.is_finite(), hi.is_finite()) {
        (true, true) => (lo + hi) / 2.0,
        (true, false) => lo,
        (false, true) => hi,
        (false, false) => coarse,
    };
    let skew = (skew * 1e6).round() / 1e6;
    if skew.abs() < SKEW_NOTE_S {
        return Clocks { skew_s: skew, note: None };
    }
    let ahead = if skew > 0.0 { "inside" } else { "outside" };
    let mut note = format!(
        "the two clocks disagree: the {ahead} capture's clock is {:.3} s ahead ({}); times are compared corrected",
        skew.abs(),
        human_duration(skew.abs())
    );
    let quarter = 900.0;
    let q = (skew.abs() / quarter).round();
    if q >= 1.0 && (skew.abs() - q * quarter).abs() <= TZ_SLACK_S {
        note.push_str(
            ": almost exactly a whole number of quarter hours, which looks like a time zone difference (one \
             capture written in local time)",
        );
    }
    Clocks { skew_s: skew, note: Some(note) }
}

fn human_duration(s: f64) -> String {
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{sec} s"),
        (0, _) => format!("{m} min {sec} s"),
        _ => format!("{h} h {m} min {sec} s"),
    }
}

/// Only SYNs from the client, never answered.
fn syns_only(c: &packets::Conn) -> bool {
    c.pkts.iter().all(|p| p.flags.syn() && !p.flags.ack() && p.dir == Direction::ClientToServer)
}

fn unpaired_reason(c: &packets::Conn, side: Side, other: &CaptureView, client_side: Side, skew_s: f64) -> String {
    let to_other = |ts: crate::capture::Timestamp| {
        let shift = if side == Side::Outside { skew_s } else { -skew_s };
        ts.0 as f64 / 1e9 + shift
    };
    let (start, end) = (to_other(c.first_ts()), to_other(c.last_ts()));
    let (Some(of), Some(ol)) = (other.first_ts, other.last_ts) else {
        let why = if syns_only(c) { "the device dropped the SYNs, or " } else { "" };
        return format!("the {} capture holds no packet at all: {why}it was not recording then", side.other().name());
    };
    let other_name = side.other().name();
    if end < of.as_secs_f64() || start > ol.as_secs_f64() {
        let when = if end < of.as_secs_f64() { "before its first" } else { "after its last" };
        return format!(
            "no trace on the {other_name} side, {when} packet: that capture was not recording yet (or any more), \
             or the connection never crossed the device (opened by the device itself, or by a host on this side)"
        );
    }
    if syns_only(c) && side == client_side {
        return format!(
            "only SYNs, never answered, and none of them reached the {} side: the device dropped them (or that \
             capture's filter left them out)",
            side.other().name()
        );
    }
    format!(
        "no connection of the {} capture carries the same bytes at that time: the device did not pass it, or the \
         capture filters differ",
        side.other().name()
    )
}

fn nothing_in_common(a: &CaptureView, b: &CaptureView) -> String {
    let span = |v: &CaptureView| match (v.first_ts, v.last_ts) {
        (Some(f), Some(l)) => format!("{} to {} UTC", crate::textfmt::utc(f), crate::textfmt::utc(l)),
        _ => "no packets".to_string(),
    };
    format!(
        "none of the {} connection(s) of {} ({}) matches any of the {} of {} ({}) by bytes or by time; are they \
         captures of the same traffic on both sides of one device?",
        a.conns.len(),
        a.name,
        span(a),
        b.conns.len(),
        b.name,
        span(b)
    )
}
