//! What crossed the device and what changed, per direction, for one pair: rewritten bytes
//! (reported per SMTP line), packets one side saw that the other end never sent (injected),
//! bytes and control packets that never arrived (lost), transit delay, and segments the device
//! cut or joined differently (not a rewrite).

use super::Side;
use super::align::Stream;
use super::matching::Matches;
use super::packets::{CaptureView, Conn, Pkt};
use crate::capture::Timestamp;
use crate::tcp::Direction;
use crate::tcp::conn::{Endpoint, Role};
use serde::Serialize;

/// Longest line shown whole in a rewrite; a longer one is cut around the change.
const MAX_LINE: usize = 1000;

const DIRS: [Direction; 2] = [Direction::ClientToServer, Direction::ServerToClient];

/// Packet numbers on each side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SidePackets {
    pub outside: Vec<u64>,
    pub inside: Vec<u64>,
}

impl SidePackets {
    pub fn side_mut(&mut self, side: Side) -> &mut Vec<u64> {
        match side {
            Side::Outside => &mut self.outside,
            Side::Inside => &mut self.inside,
        }
    }
    fn push(&mut self, side: Side, n: u64) {
        let v = self.side_mut(side);
        if !v.contains(&n) {
            v.push(n);
        }
    }
}

/// Which ESMTP-inspection rule a rewrite matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RewriteRule {
    /// Banner text turned into `*`s, only `2` and `0` left (ASA `mask-banner`).
    MaskedBanner,
    /// An EHLO keyword turned into `X`s with a marker letter (`250-XXXXXXXA` for STARTTLS).
    MaskedEhloKeyword,
    /// A command the inspection does not know, turned into `X`s.
    MaskedCommand,
    /// Some other change.
    Other,
}

impl RewriteRule {
    pub fn describe(self) -> &'static str {
        match self {
            RewriteRule::MaskedBanner => "masked banner",
            RewriteRule::MaskedEhloKeyword => "masked EHLO keyword",
            RewriteRule::MaskedCommand => "masked command",
            RewriteRule::Other => "bytes rewritten",
        }
    }
}

/// One SMTP line whose bytes differ between sender and receiver.
#[derive(Clone, Debug, Serialize)]
pub struct Rewrite {
    #[serde(serialize_with = "super::wire::direction")]
    pub direction: Direction,
    /// Stream offset of the line's first byte (0 = the first byte after the SYN).
    pub offset: u64,
    /// Bytes of the line that differ.
    pub changed_bytes: u64,
    pub rule: RewriteRule,
    /// The keyword or command that was masked, when the rule names one.
    pub word: Option<String>,
    /// The line as the sender sent it and as the receiver got it (without CR LF).
    pub sent: String,
    pub received: String,
    pub packets: SidePackets,
}

/// A packet seen on one side only that claims to come from the other end.
#[derive(Clone, Debug, Serialize)]
pub struct Injected {
    pub side: Side,
    pub packet: u64,
    pub flags: String,
    #[serde(serialize_with = "super::wire::direction")]
    pub direction: Direction,
    /// The end it claims to be.
    #[serde(serialize_with = "super::wire::role")]
    pub claims: Role,
    #[serde(serialize_with = "super::wire::endpoint")]
    pub claims_endpoint: Endpoint,
    pub offset: Option<u64>,
    pub len: u64,
    pub ttl: u8,
    /// TTL of the claimed end's own packets on that side (the most common one).
    pub usual_ttl: Option<u8>,
    pub ip_id: Option<u16>,
    /// IP-ID of the claimed end's packet just before it on that side.
    pub previous_ip_id: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LostKind {
    Bytes,
    Syn,
    Fin,
    Rst,
}

/// Bytes or a control packet one side sent that the other side never got.
#[derive(Clone, Debug, Serialize)]
pub struct Lost {
    #[serde(serialize_with = "super::wire::direction")]
    pub direction: Direction,
    pub kind: LostKind,
    pub offset: Option<u64>,
    pub len: u64,
    /// The first line of the lost bytes.
    pub text: Option<String>,
    pub packets: SidePackets,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Delay {
    pub median: f64,
    pub max: f64,
    /// Packets seen on both sides the figures come from.
    pub packets: u64,
}

/// Bytes that crossed intact but in segments cut differently on each side.
#[derive(Clone, Debug, Serialize)]
pub struct Resegmented {
    #[serde(serialize_with = "super::wire::direction")]
    pub direction: Direction,
    pub offset: u64,
    pub len: u64,
    pub packets: SidePackets,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Findings {
    pub rewrites: Vec<Rewrite>,
    pub injected: Vec<Injected>,
    pub lost: Vec<Lost>,
    pub delay_ms: DelayByDir,
    pub resegmented: Vec<Resegmented>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DelayByDir {
    pub client_to_server: Option<Delay>,
    pub server_to_client: Option<Delay>,
}

/// A pair as the comparison needs it.
pub struct PairView<'a> {
    pub out: &'a CaptureView,
    pub ins: &'a CaptureView,
    pub o: &'a Conn,
    pub i: &'a Conn,
    /// Inside minus outside sequence numbers per direction.
    pub delta: [u32; 2],
    pub matches: &'a Matches,
    /// Where the client is.
    pub client_side: Side,
    /// Inside clock minus outside clock, nanoseconds.
    pub skew_ns: i64,
}

impl PairView<'_> {
    fn conn(&self, side: Side) -> &Conn {
        match side {
            Side::Outside => self.o,
            Side::Inside => self.i,
        }
    }
    fn view(&self, side: Side) -> &CaptureView {
        match side {
            Side::Outside => self.out,
            Side::Inside => self.ins,
        }
    }
    /// The side the sender of `dir` is on.
    pub fn near(&self, dir: Direction) -> Side {
        if dir == Direction::ClientToServer { self.client_side } else { self.client_side.other() }
    }
    fn matched(&self, side: Side, k: usize) -> bool {
        match side {
            Side::Outside => self.matches.outside[k].is_some(),
            Side::Inside => self.matches.inside[k].is_some(),
        }
    }
    /// A time on `side` in the outside capture's clock.
    fn outside_clock(&self, side: Side, ts: Timestamp) -> i64 {
        if side == Side::Inside { ts.0 - self.skew_ns } else { ts.0 }
    }
    /// Whether the capture on `side` was still recording at `ts` (outside clock).
    fn recording(&self, side: Side, ts: i64) -> bool {
        self.view(side).last_ts.is_some_and(|last| self.outside_clock(side, last) >= ts)
    }
    fn base(&self, dir: Direction) -> Option<u32> {
        let d = self.delta[dir.index()];
        self.o.base(dir).or_else(|| self.i.base(dir).map(|b| b.wrapping_sub(d)))
    }
}

pub fn compare(v: &PairView<'_>) -> Findings {
    let mut f = Findings::default();
    for dir in DIRS {
        if let Some(base) = v.base(dir) {
            let so = Stream::build(v.out, v.o, dir, base, usize::MAX);
            let si = Stream::build(v.ins, v.i, dir, base.wrapping_add(v.delta[dir.index()]), usize::MAX);
            bytes(v, dir, &so, &si, &mut f);
        }
        control(v, dir, &mut f);
        let delay = delay(v, dir);
        match dir {
            Direction::ClientToServer => f.delay_ms.client_to_server = delay,
            Direction::ServerToClient => f.delay_ms.server_to_client = delay,
        }
        resegmented(v, dir, &mut f);
    }
    f
}

/// Rewrites, lost bytes and injected bytes of one direction.
fn bytes(v: &PairView<'_>, dir: Direction, so: &Stream, si: &Stream, f: &mut Findings) {
    let near = v.near(dir);
    let (sn, sf) = if near == Side::Outside { (so, si) } else { (si, so) };
    let n = sn.data.len().max(sf.data.len());
    let mut diffs = Vec::new();
    let mut lost: Vec<(usize, usize)> = Vec::new();
    let mut extra: Vec<(usize, usize)> = Vec::new();
    let grow = |runs: &mut Vec<(usize, usize)>, at: usize| match runs.last_mut() {
        Some((_, end)) if *end == at => *end += 1,
        _ => runs.push((at, at + 1)),
    };
    for at in 0..n {
        match (sn.has(at), sf.has(at)) {
            (true, true) if sn.data[at] != sf.data[at] => diffs.push(at),
            (true, false) => grow(&mut lost, at),
            (false, true) => grow(&mut extra, at),
            _ => {}
        }
    }
    f.rewrites.extend(rewrites(v, dir, sn, sf, &diffs));
    for (start, end) in lost {
        let mut packets = SidePackets::default();
        let mut recorded = false;
        for at in start..end {
            if let Some(k) = sn.packet(at) {
                let p = &v.conn(near).pkts[k];
                packets.push(near, p.number);
                recorded |= v.recording(near.other(), v.outside_clock(near, p.ts));
            }
        }
        // The far capture had stopped: not a loss, only the end of the recording.
        if !recorded {
            continue;
        }
        let text = first_line(&sn.data[start..end]);
        f.lost.push(Lost {
            direction: dir,
            kind: LostKind::Bytes,
            offset: Some(start as u64),
            len: (end - start) as u64,
            text: Some(text),
            packets,
        });
    }
    for (start, end) in extra {
        // Bytes the far side got that the sender never sent: a device wrote them.
        for k in (start..end).filter_map(|at| sf.packet(at)).collect::<std::collections::BTreeSet<_>>() {
            f.injected.push(injected(v, near.other(), k, Some(start as u64)));
        }
    }
}

/// Differing bytes grouped by the SMTP line (of the sender's stream) they fall in.
fn rewrites(v: &PairView<'_>, dir: Direction, sn: &Stream, sf: &Stream, diffs: &[usize]) -> Vec<Rewrite> {
    let near = v.near(dir);
    let mut out: Vec<Rewrite> = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for &at in diffs {
        let (start, end) = match current {
            Some((s, e)) if at < e => (s, e),
            _ => line_bounds(&sn.data, at),
        };
        if current != Some((start, end)) {
            current = Some((start, end));
            let sent = line_text(&sn.data[start..end]);
            let received = line_text(&sf.data[start..end.min(sf.data.len())]);
            let (rule, word) = classify(dir, &sent, &received);
            out.push(Rewrite {
                direction: dir,
                offset: start as u64,
                changed_bytes: 0,
                rule,
                word,
                sent,
                received,
                packets: SidePackets::default(),
            });
        }
        let r = out.last_mut().expect("pushed above");
        r.changed_bytes += 1;
        if let Some(k) = sn.packet(at) {
            r.packets.push(near, v.conn(near).pkts[k].number);
        }
        if let Some(k) = sf.packet(at) {
            r.packets.push(near.other(), v.conn(near.other()).pkts[k].number);
        }
    }
    out
}

/// The line holding byte `at`: from after the previous LF to its own LF (included).
fn line_bounds(data: &[u8], at: usize) -> (usize, usize) {
    let floor = at.saturating_sub(MAX_LINE);
    let start = data[floor..at].iter().rposition(|&b| b == b'\n').map_or(floor, |p| floor + p + 1);
    let ceil = (at + MAX_LINE).min(data.len());
    let end = data[at..ceil].iter().position(|&b| b == b'\n').map_or(ceil, |p| at + p + 1);
    (start, end)
}

/// Printable text of a line: CR LF dropped, other control bytes as '.'.
fn line_text(b: &[u8]) -> String {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    let b = b.strip_suffix(b"\r").unwrap_or(b);
    String::from_utf8_lossy(b).chars().map(|c| if c.is_control() { '.' } else { c }).collect()
}

fn first_line(b: &[u8]) -> String {
    let end = b.iter().position(|&b| b == b'\n').map_or(b.len(), |p| p + 1);
    crate::textfmt::shorten(&line_text(&b[..end.min(MAX_LINE)]), 120, "…")
}

/// Which inspection rule turned `sent` into `received`.
fn classify(dir: Direction, sent: &str, received: &str) -> (RewriteRule, Option<String>) {
    match dir {
        Direction::ServerToClient => {
            // Only '*', '2' and '0' left after the reply code (a continuation line's code too).
            let body = received.get(3..).unwrap_or("");
            if received.contains('*') && body.bytes().all(|b| b"*20 -".contains(&b)) {
                return (RewriteRule::MaskedBanner, None);
            }
            let keyword = |s: &str| s.get(4..).map(|k| k.split(' ').next().unwrap_or("").to_string());
            let (Some(kr), Some(ks)) = (keyword(received), keyword(sent)) else { return (RewriteRule::Other, None) };
            let xs = kr.len() >= 2
                && kr[..kr.len() - 1].bytes().all(|b| b == b'X')
                && kr.as_bytes()[kr.len() - 1].is_ascii_uppercase();
            if xs && ks != kr && received.get(..4) == sent.get(..4) {
                return (RewriteRule::MaskedEhloKeyword, Some(ks));
            }
            (RewriteRule::Other, None)
        }
        Direction::ClientToServer => {
            if !received.is_empty() && received.bytes().all(|b| b == b'X') {
                let verb = sent.split(' ').next().unwrap_or("").to_ascii_uppercase();
                return (RewriteRule::MaskedCommand, Some(verb));
            }
            (RewriteRule::Other, None)
        }
    }
}

/// Control packets (SYN, FIN, RST) seen on one side only.
fn control(v: &PairView<'_>, dir: Direction, f: &mut Findings) {
    let near = v.near(dir);
    for side in [near, near.other()] {
        for (k, p) in v.conn(side).pkts.iter().enumerate() {
            if p.dir != dir || !p.is_control() || v.matched(side, k) {
                continue;
            }
            if side == near {
                // Sent, never received (while the far side was still recording).
                if !v.recording(near.other(), v.outside_clock(near, p.ts)) {
                    continue;
                }
                let kind = if p.flags.syn() {
                    LostKind::Syn
                } else if p.flags.rst() {
                    LostKind::Rst
                } else {
                    LostKind::Fin
                };
                let mut packets = SidePackets::default();
                packets.push(near, p.number);
                // Payload of the packet is reported with the bytes; here the flag.
                f.lost.push(Lost { direction: dir, kind, offset: None, len: 0, text: None, packets });
            } else if !f.injected.iter().any(|x| x.side == side && x.packet == p.number) {
                f.injected.push(injected(v, side, k, None));
            }
        }
    }
}

fn injected(v: &PairView<'_>, side: Side, k: usize, offset: Option<u64>) -> Injected {
    let c = v.conn(side);
    let p = &c.pkts[k];
    let own = |q: &&Pkt| q.dir == p.dir && !q.flags.rst();
    let mut ttls: Vec<u8> = c.pkts.iter().filter(own).map(|q| q.ttl).collect();
    ttls.sort_unstable();
    let usual_ttl = ttls.chunk_by(|a, b| a == b).max_by_key(|run| run.len()).map(|run| run[0]);
    let previous_ip_id = c.pkts[..k].iter().rev().find(own).and_then(|q| q.ip_id);
    let (claims, claims_endpoint) = match p.dir {
        Direction::ClientToServer => (Role::Client, c.client),
        Direction::ServerToClient => (Role::Server, c.server),
    };
    let offset = offset.or_else(|| {
        let base = c.base(p.dir)?;
        super::align::offset(p.seq, base).map(|o| o as u64)
    });
    Injected {
        side,
        packet: p.number,
        flags: p.flags.label().to_string(),
        direction: p.dir,
        claims,
        claims_endpoint,
        offset,
        len: p.len() as u64,
        ttl: p.ttl,
        usual_ttl,
        ip_id: p.ip_id,
        previous_ip_id,
    }
}

/// Transit time through the device of the packets seen on both sides.
fn delay(v: &PairView<'_>, dir: Direction) -> Option<Delay> {
    let near = v.near(dir);
    let mut ms: Vec<f64> = v
        .matches
        .pairs()
        .filter(|&(o, _)| v.o.pkts[o].dir == dir)
        .map(|(o, i)| {
            let a = v.i.pkts[i].ts.0 - v.skew_ns - v.o.pkts[o].ts.0;
            let transit = if near == Side::Outside { a } else { -a };
            transit as f64 / 1e6
        })
        .collect();
    let max = ms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let median = super::pair::median(&mut ms)?;
    Some(Delay { median: round3(median), max: round3(max), packets: ms.len() as u64 })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Payload packets without a copy on the other side whose bytes nonetheless crossed: the
/// device cut or joined segments differently. Grouped by overlapping byte ranges.
fn resegmented(v: &PairView<'_>, dir: Direction, f: &mut Findings) {
    let Some(base) = v.base(dir) else { return };
    let mut spans: Vec<(u64, u64, Side, u64)> = Vec::new();
    for side in [Side::Outside, Side::Inside] {
        let shift = if side == Side::Inside { v.delta[dir.index()] } else { 0 };
        for (k, p) in v.conn(side).pkts.iter().enumerate() {
            if p.dir != dir || p.is_empty() || v.matched(side, k) {
                continue;
            }
            let Some(at) = super::align::offset(p.seq.wrapping_sub(shift), base) else { continue };
            spans.push((at as u64, (at + p.len()) as u64, side, p.number));
        }
    }
    spans.sort_by_key(|s| (s.0, s.1));
    let mut groups: Vec<Resegmented> = Vec::new();
    let mut end = 0;
    for (s, e, side, n) in spans {
        match groups.last_mut() {
            Some(g) if s < end => {
                g.packets.push(side, n);
                end = end.max(e);
                g.len = end - g.offset;
            }
            _ => {
                let mut packets = SidePackets::default();
                packets.push(side, n);
                groups.push(Resegmented { direction: dir, offset: s, len: e - s, packets });
                end = e;
            }
        }
    }
    // Only what crossed in different pieces: both sides hold the range, and it is neither a
    // rewrite nor a loss (those are reported as such).
    groups.retain(|g| !g.packets.outside.is_empty() && !g.packets.inside.is_empty());
    let reported = |g: &Resegmented| {
        f.lost.iter().any(|l| l.direction == dir && l.offset.is_some_and(|o| o >= g.offset && o < g.offset + g.len))
    };
    let keep: Vec<Resegmented> = groups.into_iter().filter(|g| !reported(g)).collect();
    f.resegmented.extend(keep);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_recognised() {
        let s2c = Direction::ServerToClient;
        assert_eq!(
            classify(s2c, "220 esa.example.com ESMTP Exim 4.96", "220 *******************************0****").0,
            RewriteRule::MaskedBanner
        );
        assert_eq!(classify(s2c, "220-Authorized use only", "220*********************").0, RewriteRule::MaskedBanner);
        assert_eq!(
            classify(s2c, "250-STARTTLS", "250-XXXXXXXA"),
            (RewriteRule::MaskedEhloKeyword, Some("STARTTLS".to_string()))
        );
        assert_eq!(
            classify(Direction::ClientToServer, "STARTTLS", "XXXXXXXX"),
            (RewriteRule::MaskedCommand, Some("STARTTLS".to_string()))
        );
        assert_eq!(classify(s2c, "250 OK", "250 NO").0, RewriteRule::Other);
    }

    #[test]
    fn lines_are_cut_at_line_feeds() {
        let data = b"220 a\r\n250-STARTTLS\r\n250 HELP\r\n";
        assert_eq!(line_bounds(data, 10), (7, 21));
        assert_eq!(line_text(&data[7..21]), "250-STARTTLS");
    }
}
