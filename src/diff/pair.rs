//! Which connection of the outside capture is which of the inside capture. A device may
//! translate addresses and ports (NAT/PAT) and shift sequence numbers, so neither the 4-tuple
//! nor the sequence numbers can be compared directly. A pair is found by its bytes (each
//! direction's stream lined up by the SYNs' offset, or by the offset most payloads agree on),
//! and by the IP-IDs of the packets both sides saw (NAT leaves them alone), then by time once
//! the clocks' difference is known. Bytes that differ without a mask to explain them (another
//! session's dates and queue ids) only count at the same time; a pairing no evidence singles
//! out is said to be ambiguous, never certain.

use super::align::{self, Stream};
use super::packets::{CaptureView, Conn};
use crate::tcp::Direction;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// Stream bytes compared per direction when scoring a candidate pair.
const SCORE_BYTES: usize = 4096;
/// Packets of each side whose IP-IDs are compared when scoring a candidate pair.
const SCORE_PACKETS: usize = 64;
/// Bytes that must agree before content counts as evidence.
const CONTENT_MIN: usize = 8;
/// Bytes that must agree for content alone to single a pair out.
const CONTENT_CERTAIN: usize = 16;
/// Packets whose IP-ID must agree for the IP-IDs to count as evidence.
const IP_ID_MIN: usize = 3;
/// Seconds around the clocks' difference within which two connections count as simultaneous.
const TIME_WINDOW_S: f64 = 2.0;

const DIRS: [Direction; 2] = [Direction::ClientToServer, Direction::ServerToClient];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// The bytes (or the IP-IDs) line up and no other connection's do as well at that time.
    Certain,
    /// Time and handshake agree, but there is too little else to compare.
    Likely,
    /// Another connection fits as well: the pairing may be wrong.
    Ambiguous,
}

/// A candidate: outside connection `o` with inside connection `i`.
#[derive(Clone, Debug)]
struct Candidate {
    o: usize,
    i: usize,
    /// Inside sequence number minus outside, per direction (client→server first).
    delta: [Option<u32>; 2],
    /// Bytes compared; bytes that agree (a masked byte on either side counts as agreeing);
    /// bytes that differ with no mask to explain it.
    compared: usize,
    agreeing: usize,
    contradicting: usize,
    /// Packets seen on both sides with an IP-ID, and those whose IP-ID is the same (routers and
    /// most NATs leave it alone; two different connections rarely share it).
    ip_ids: usize,
    ip_ids_equal: usize,
    /// Inside start minus outside start, seconds.
    dt: f64,
    isn_both: bool,
}

impl Candidate {
    /// The bytes line up with no difference a mask does not explain.
    fn exact(&self) -> bool {
        self.agreeing >= CONTENT_MIN && self.contradicting == 0
    }
    /// Most bytes line up; some differ (another session like it, or a device writing freely).
    fn partial(&self) -> bool {
        self.agreeing >= CONTENT_MIN && self.agreeing * 2 >= self.compared
    }
    fn ip_id(&self) -> bool {
        self.ip_ids_equal >= IP_ID_MIN && self.ip_ids_equal * 5 >= self.ip_ids * 4
    }
    /// Evidence that holds whatever the clocks say.
    fn strong(&self) -> bool {
        self.exact() && self.agreeing >= CONTENT_CERTAIN || self.ip_id()
    }
}

#[derive(Clone, Debug)]
pub struct Paired {
    pub outside: usize,
    pub inside: usize,
    pub delta: [Option<u32>; 2],
    pub basis: Vec<&'static str>,
    pub certainty: Certainty,
    /// Other connections of the opposite capture that fit as well (for `Ambiguous`).
    pub alternatives: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct Pairing {
    pub pairs: Vec<Paired>,
    pub unpaired_outside: Vec<usize>,
    pub unpaired_inside: Vec<usize>,
    /// Inside clock minus outside clock as the connections' start times suggest (seconds).
    pub coarse_skew_s: f64,
}

pub fn pair(out: &CaptureView, ins: &CaptureView) -> Pairing {
    let (ho, hi) = (heads(out), heads(ins));
    let (so, si) = (Scored { view: out, heads: &ho }, Scored { view: ins, heads: &hi });
    let mut cands = Vec::new();
    let index = (out.conns.len() * ins.conns.len() > ALL_PAIRS_MAX).then(|| Index::of(ins));
    for (o, oc) in out.conns.iter().enumerate() {
        let others: Vec<usize> = match &index {
            Some(index) => index.lookup(out, oc),
            None => (0..ins.conns.len()).collect(),
        };
        for i in others {
            if let Some(c) = candidate(&so, &si, o, i) {
                cands.push(c);
            }
        }
    }
    let skew = coarse_skew(&cands, out.conns.len(), ins.conns.len());
    let near = |c: &Candidate| (c.dt - skew).abs() <= TIME_WINDOW_S;
    // Strong evidence holds at any time; weaker evidence only at the same time.
    let plausible = |c: &Candidate| c.strong() || near(c) && (c.partial() || c.compared == 0);
    let mut order: Vec<&Candidate> = cands.iter().filter(|c| plausible(c)).collect();
    order.sort_by(|a, b| {
        (b.strong(), b.exact(), b.agreeing)
            .cmp(&(a.strong(), a.exact(), a.agreeing))
            .then((a.dt - skew).abs().total_cmp(&(b.dt - skew).abs()))
    });
    let mut used_o = vec![false; out.conns.len()];
    let mut used_i = vec![false; ins.conns.len()];
    let mut pairs = Vec::new();
    for c in &order {
        if used_o[c.o] || used_i[c.i] {
            continue;
        }
        used_o[c.o] = true;
        used_i[c.i] = true;
        let mut basis = Vec::new();
        if near(c) {
            basis.push("time");
        }
        if c.isn_both {
            basis.push("isn");
        }
        if c.exact() || c.partial() {
            basis.push("content");
        }
        if c.ip_id() {
            basis.push("ip_id");
        }
        // Anything else that fits as well: evidence as strong, as many bytes, as close in time.
        let rival = |d: &&&Candidate| {
            (d.o == c.o) != (d.i == c.i)
                && (d.strong(), d.exact()) == (c.strong(), c.exact())
                && d.agreeing >= c.agreeing
                && (d.ip_id() || !c.ip_id())
                && ((d.dt - skew).abs() - (c.dt - skew).abs()).abs() < TIME_WINDOW_S / 2.0
        };
        let alternatives: Vec<usize> = order.iter().filter(rival).map(|d| if d.o == c.o { d.i } else { d.o }).collect();
        let certainty = if !alternatives.is_empty() {
            Certainty::Ambiguous
        } else if c.strong() {
            Certainty::Certain
        } else {
            Certainty::Likely
        };
        pairs.push(Paired { outside: c.o, inside: c.i, delta: c.delta, basis, certainty, alternatives });
    }
    pairs.sort_by_key(|p| p.outside);
    Pairing {
        pairs,
        unpaired_outside: (0..out.conns.len()).filter(|&o| !used_o[o]).collect(),
        unpaired_inside: (0..ins.conns.len()).filter(|&i| !used_i[i]).collect(),
        coarse_skew_s: skew,
    }
}

/// Candidate pairs scored one by one at most; with more connections, only those sharing a
/// fingerprint are (see [`Index`]).
const ALL_PAIRS_MAX: usize = 10_000;

/// Fingerprints of the inside connections that survive a device: the IP-ID of the client's SYN
/// and the first bytes each side sent (a masked banner still keeps its length and "220").
struct Index {
    by_key: HashMap<(u8, u32), Vec<usize>>,
}

impl Index {
    fn keys(view: &CaptureView, c: &Conn) -> Vec<(u8, u32)> {
        let mut keys = Vec::new();
        if let Some(id) = c.pkts.iter().find(|p| p.flags.syn() && !p.flags.ack()).and_then(|p| p.ip_id) {
            keys.push((0, id as u32));
        }
        for (tag, dir) in [(1u8, Direction::ClientToServer), (2, Direction::ServerToClient)] {
            if let Some(p) = c.pkts.iter().find(|p| p.dir == dir && !p.is_empty()) {
                let d = view.payload(p);
                // Length and the first three bytes: a reply code or a verb's start.
                let head = d.iter().take(3).fold(0u32, |h, &b| h << 8 | b as u32);
                keys.push((tag, (d.len() as u32) << 24 ^ head));
            }
        }
        keys
    }

    fn of(view: &CaptureView) -> Index {
        let mut by_key: HashMap<(u8, u32), Vec<usize>> = HashMap::new();
        for (i, c) in view.conns.iter().enumerate() {
            for k in Index::keys(view, c) {
                by_key.entry(k).or_default().push(i);
            }
        }
        Index { by_key }
    }

    fn lookup(&self, view: &CaptureView, c: &Conn) -> Vec<usize> {
        let mut found: Vec<usize> =
            Index::keys(view, c).iter().filter_map(|k| self.by_key.get(k)).flatten().copied().collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Each connection's first `SCORE_BYTES` per direction, from its own stream start.
type Heads = Vec<[Option<Stream>; 2]>;

fn heads(view: &CaptureView) -> Heads {
    view.conns
        .iter()
        .map(|c| DIRS.map(|dir| c.base(dir).map(|b| Stream::build(view, c, dir, b, SCORE_BYTES))))
        .collect()
}

/// One capture with the heads of its connections, as candidates are scored against it.
struct Scored<'a> {
    view: &'a CaptureView,
    heads: &'a Heads,
}

fn candidate<'a>(out: &Scored<'a>, ins: &Scored<'a>, o: usize, i: usize) -> Option<Candidate> {
    let (oc, ic) = (&out.view.conns[o], &ins.view.conns[i]);
    let mut delta = [None, None];
    let (mut compared, mut agreeing, mut contradicting) = (0, 0, 0);
    for dir in DIRS {
        let Some(d) = align::seq_delta((out.view, oc), (ins.view, ic), dir) else { continue };
        delta[dir.index()] = Some(d);
        let Some(bo) = oc.base(dir).or(ic.base(dir).map(|b| b.wrapping_sub(d))) else { continue };
        // Both streams start where the offset says they should (the usual case, SYNs on both
        // sides): the heads read once serve every candidate.
        let head = |side: &Scored<'a>, k: usize, base: u32| -> Cow<'a, Stream> {
            let c = &side.view.conns[k];
            match &side.heads[k][dir.index()] {
                Some(h) if c.base(dir) == Some(base) => Cow::Borrowed(h),
                _ => Cow::Owned(Stream::build(side.view, c, dir, base, SCORE_BYTES)),
            }
        };
        let so = head(out, o, bo);
        let si = head(ins, i, bo.wrapping_add(d));
        let n = so.data.len().min(si.data.len()).min(SCORE_BYTES);
        for k in 0..n {
            if so.has(k) && si.has(k) {
                compared += 1;
                let (a, b) = (so.data[k], si.data[k]);
                if a == b || matches!(b, b'*' | b'X') || matches!(a, b'*' | b'X') {
                    agreeing += 1;
                } else {
                    contradicting += 1;
                }
            }
        }
    }
    // Payload on both sides that nowhere lines up: not the same connection.
    let payload = |c: &Conn| c.pkts.iter().any(|p| !p.is_empty());
    if payload(oc) && payload(ic) && agreeing < CONTENT_MIN {
        return None;
    }
    let (no, ni) = (oc.pkts.len().min(SCORE_PACKETS), ic.pkts.len().min(SCORE_PACKETS));
    let m =
        super::matching::match_slices(&oc.pkts[..no], &ic.pkts[..ni], [delta[0].unwrap_or(0), delta[1].unwrap_or(0)]);
    let (mut ip_ids, mut ip_ids_equal) = (0, 0);
    for (ko, ki) in m.pairs() {
        if let (Some(a), Some(b)) = (oc.pkts[ko].ip_id, ic.pkts[ki].ip_id)
            && (a, b) != (0, 0)
        {
            ip_ids += 1;
            ip_ids_equal += usize::from(a == b);
        }
    }
    Some(Candidate {
        o,
        i,
        delta,
        compared,
        agreeing,
        contradicting,
        ip_ids,
        ip_ids_equal,
        dt: ic.first_ts().secs_since(oc.first_ts()),
        isn_both: oc.isn[0].is_some() && ic.isn[0].is_some(),
    })
}

/// The clocks' difference the connections' start times suggest: the median over candidates the
/// bytes single out; without any, over the only candidate of a connection.
fn coarse_skew(cands: &[Candidate], n_out: usize, n_in: usize) -> f64 {
    let unique = |pick: &dyn Fn(&Candidate) -> bool| -> Vec<f64> {
        let mut per_o = vec![0usize; n_out];
        let mut per_i = vec![0usize; n_in];
        for c in cands.iter().filter(|c| pick(c)) {
            per_o[c.o] += 1;
            per_i[c.i] += 1;
        }
        cands.iter().filter(|c| pick(c) && per_o[c.o] == 1 && per_i[c.i] == 1).map(|c| c.dt).collect()
    };
    let mut dts = unique(&|c| c.strong());
    if dts.is_empty() {
        dts = unique(&|_| true);
    }
    median(&mut dts).unwrap_or(0.0)
}

pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
