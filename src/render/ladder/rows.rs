//! The renderer-independent ladder of one session: one row per packet worth showing, each with
//! its direction, TCP flags, what the payload meant in SMTP terms, transport marks and the
//! verdicts that happened there. `text`, `mermaid` and `svg` only draw this; `--format json`
//! writes it as is (one object per session and line, schema [`SCHEMA`]).

use crate::capture::Timestamp;
use crate::diagnose::codes::Anchor;
use crate::diagnose::{Severity, Verdict};
use crate::session::Session;
use crate::smtp::event::{Event, ReplyLines};
use crate::tcp::Direction;
use crate::tcp::conn::PacketEvent;
use crate::tcp::reassembly::SegmentClass;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub const SCHEMA: &str = "smtpdiag.ladder.v1";

/// One session's ladder.
#[derive(Clone, Debug, Serialize)]
pub struct Ladder {
    pub schema: &'static str,
    pub header: Header,
    pub rows: Vec<Row>,
    /// Pure ACKs left out because they told nothing new (0 with `--all-packets`).
    pub folded: u64,
    /// Packet events the capture stage did not keep (`--max-events`): the ladder stops early.
    pub events_dropped: u64,
    /// The session's verdicts, in diagnosis order: the ladder's closing lines.
    pub verdict_notes: Vec<VerdictNote>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Header {
    pub id: String,
    pub capture: String,
    /// "203.0.113.5:49152"
    pub client: String,
    pub server: String,
    /// Capture time of the first packet, seconds since the Unix epoch.
    pub start_ts: f64,
    #[serde(skip)]
    pub start: Timestamp,
}

/// One arrow.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub packet: u64,
    /// With a folded message body: the last packet the row stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through: Option<u64>,
    pub ts: f64,
    /// Seconds since the session's first packet.
    pub rel: f64,
    /// Seconds since the previous row.
    pub delta: f64,
    #[serde(skip)]
    pub at: Timestamp,
    #[serde(serialize_with = "crate::render::json::direction")]
    pub dir: Direction,
    /// Wireshark-style: "SYN", "SYN/ACK", "PSH/ACK", "RST/ACK" …
    pub flags: String,
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    pub window: u16,
    /// What the payload meant, in order (several with pipelining).
    pub items: Vec<Item>,
    /// Transport facts about this packet: "retransmission", "missing 1448 bytes", …
    pub marks: Vec<String>,
    /// Verdicts that happened at this packet.
    pub notes: Vec<Note>,
    /// How the row is colored.
    pub tone: Tone,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub text: String,
    pub tone: Tone,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Command,
    AuthData,
    Reply,
    Body,
    Bdat,
    Tls,
    /// Payload with no SMTP or TLS event of its own (continuation, encrypted data).
    Data,
}

/// Color classes; renderers pick the actual colors.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord, Default)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    #[default]
    Normal,
    /// Bytes a middlebox masked or rewrote.
    Masked,
    Temporary,
    Permanent,
    Reset,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Note {
    pub code: &'static str,
    pub severity: Severity,
    /// Short phrase for the row: "RST after handshake".
    pub text: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct VerdictNote {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: String,
    pub packets: Vec<u64>,
}

/// What to keep.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep pure ACKs that carry no news.
    pub all_packets: bool,
}

/// Builds the ladder of a finished session and its verdicts.
pub fn build(s: &Session, verdicts: &[Verdict], opts: Options) -> Ladder {
    let c = &s.conn;
    let numbers: BTreeSet<u64> = c.events.iter().map(|e| e.number).collect();
    let masked = masked_packets(s, verdicts);
    let mut payload = payload_items(s, &masked);
    let notes = notes_by_packet(verdicts, &numbers);
    let mut news = NewsTracker::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut folded = 0;
    let mut tls_seen = [false; 2];
    let rewritten: BTreeSet<u64> = c.rewrites().map(|(_, r)| r.packet).collect();
    for e in &c.events {
        // A second copy of a packet (recorded at another capture point) says nothing new unless
        // its bytes differ from the first.
        if e.class == SegmentClass::Duplicate && !opts.all_packets && !rewritten.contains(&e.number) {
            folded += 1;
            continue;
        }
        let mut items = payload.items.remove(&e.number).unwrap_or_default();
        if let Some((_, r)) = c.rewrites().find(|(_, r)| r.packet == e.number) {
            items.push(Item { kind: ItemKind::Data, text: format!("rewritten: {}", r.changed), tone: Tone::Masked });
        }
        let marks = marks(e, &payload.gaps, &masked, &mut news);
        let row_notes = notes.get(&e.number).cloned().unwrap_or_default();
        let in_body = payload.body_cont.contains(&e.number);
        tls_seen[e.dir.index()] |= items.iter().any(|i| i.kind == ItemKind::Tls);
        // Only a direction's first encrypted record is an event: a packet that holds just that
        // one item is better told by its own size.
        if let [item] = items.as_mut_slice()
            && item.kind == ItemKind::Tls
            && item.text.starts_with("TLS data ")
        {
            item.text = format!("TLS data {}", size(e.len.into()));
        }
        let is_news = news.is_news(e);
        // Message data after the body's first packet folds into the body's row unless it has
        // something of its own to say.
        let quiet = items.is_empty() && marks.is_empty() && row_notes.is_empty() && !e.flags.fin() && !e.flags.rst();
        let fold_into_body = in_body && quiet;
        if items.is_empty() && e.len > 0 {
            let text = payload.continued.get(&e.number).map(|what| format!("{what}, {}", size(e.len.into())));
            items.push(match text {
                Some(text) => Item { kind: ItemKind::Data, text, tone: Tone::Normal },
                None => unlabelled(e.len, tls_seen[e.dir.index()], in_body),
            });
        }
        let keep = opts.all_packets || (!fold_into_body && (!items.is_empty() || !quiet || is_news));
        if !keep {
            if in_body {
                if let Some(r) = rows.iter_mut().rev().find(|r| r.items.iter().any(|i| i.kind == ItemKind::Body)) {
                    r.through = Some(e.number);
                }
            } else {
                folded += 1;
            }
            continue;
        }
        rows.push(row(s, e, items, marks, row_notes));
    }
    set_deltas(&mut rows);
    Ladder {
        schema: SCHEMA,
        header: Header {
            id: s.id(),
            capture: s.capture.to_string(),
            client: c.client.to_string(),
            server: c.server.to_string(),
            start_ts: c.first.ts.as_secs_f64(),
            start: c.first.ts,
        },
        rows,
        folded,
        events_dropped: c.events_dropped,
        verdict_notes: verdicts
            .iter()
            .map(|v| VerdictNote {
                code: v.code.as_str(),
                severity: v.severity,
                summary: v.summary().into_owned(),
                packets: v.packets.clone(),
            })
            .collect(),
    }
}

fn row(s: &Session, e: &PacketEvent, items: Vec<Item>, marks: Vec<String>, notes: Vec<Note>) -> Row {
    let tone = if e.flags.rst() { Tone::Reset } else { items.iter().map(|i| i.tone).max().unwrap_or_default() };
    Row {
        packet: e.number,
        through: None,
        ts: e.ts.as_secs_f64(),
        rel: e.ts.secs_since(s.conn.first.ts),
        delta: 0.0,
        at: e.ts,
        dir: e.dir,
        flags: e.flags.label().to_string(),
        seq: e.rel_seq,
        ack: e.rel_ack,
        len: e.len,
        window: e.window,
        items,
        marks,
        notes,
        tone,
    }
}

fn set_deltas(rows: &mut [Row]) {
    let mut prev = None;
    for r in rows {
        r.delta = prev.map_or(0.0, |p: Timestamp| r.at.secs_since(p));
        prev = Some(r.at);
    }
}

/// Packets carrying bytes a middlebox masked or rewrote: those a masking verdict names whose
/// bytes show the mask. (Seen from the client's side, the STARTTLS a firewall masks on its way
/// in, and the server's 500 to it, cross the wire intact.)
fn masked_packets(s: &Session, verdicts: &[Verdict]) -> BTreeSet<u64> {
    let showing = packets_showing_masks(s);
    let mut out: BTreeSet<u64> = verdicts
        .iter()
        .filter(|v| v.code.props().masks)
        .flat_map(|v| v.packets.iter().copied())
        .filter(|p| showing.contains(p))
        .collect();
    out.extend(s.conn.rewrites().map(|(_, r)| r.packet));
    out
}

/// Packets whose SMTP text carries a firewall's mask: "XXXX" in a command or reply, or a run
/// of '*' in a reply (a masked banner).
fn packets_showing_masks(s: &Session) -> BTreeSet<u64> {
    let masked = |t: &str| t.contains("XXXX") || t.contains("****");
    let mut out = BTreeSet::new();
    for ev in &s.smtp.events {
        match ev {
            Event::Command { verb, first_packet, last_packet, .. } if verb.as_str().contains("XXXX") => {
                out.extend([first_packet.number, last_packet.number]);
            }
            Event::Reply { lines, first_packet, last_packet, .. } if lines.iter().any(&masked) => {
                out.extend([first_packet.number, last_packet.number]);
            }
            Event::Anomaly { detail, packet, .. } if masked(detail) => {
                out.insert(packet.number);
            }
            _ => {}
        }
    }
    out
}

/// Each verdict, shortened, at the packet where it happened (if that packet is in this session).
fn notes_by_packet(verdicts: &[Verdict], numbers: &BTreeSet<u64>) -> BTreeMap<u64, Vec<Note>> {
    let mut out: BTreeMap<u64, Vec<Note>> = BTreeMap::new();
    for v in verdicts {
        let mut inside = v.packets.iter().copied().filter(|p| numbers.contains(p));
        let props = v.code.props();
        let at = match props.anchor {
            Anchor::First => inside.next(),
            Anchor::Last => inside.next_back(),
        };
        if let Some(at) = at {
            let text = props.phrase.unwrap_or(props.name).to_string();
            out.entry(at).or_default().push(Note { code: props.name, severity: v.severity, text });
        }
    }
    out
}

/// SMTP and TLS meaning of the payload, keyed by the packet where each item starts.
#[derive(Default)]
struct Payload {
    items: BTreeMap<u64, Vec<Item>>,
    /// Client packets inside a message body after its first: folded into the body's row.
    body_cont: BTreeSet<u64>,
    /// Later packets of a command or reply that spans several: what they continue.
    continued: BTreeMap<u64, String>,
    /// Gaps the SMTP stage saw, by packet (bytes).
    gaps: BTreeMap<u64, u64>,
}

fn payload_items(s: &Session, masked: &BTreeSet<u64>) -> Payload {
    let mut p = Payload::default();
    for ev in &s.smtp.events {
        let Some((at, item)) = describe(ev) else {
            if let Event::Gap { bytes, packet, .. } = ev {
                *p.gaps.entry(packet.number).or_default() += bytes;
            }
            continue;
        };
        continuation(s, ev, &mut p.continued);
        if let Event::Body { first_packet: Some(a), last_packet: Some(b), .. } = ev {
            let client = Direction::ClientToServer;
            let inner = s.conn.events.iter().filter(|e| e.dir == client && e.len > 0 && e.number > a.number);
            p.body_cont.extend(inner.filter(|e| e.number <= b.number).map(|e| e.number));
        }
        let mut item = item;
        if masked.contains(&at) && matches!(item.kind, ItemKind::Command | ItemKind::Reply) {
            item.tone = item.tone.max(Tone::Masked);
        }
        p.items.entry(at).or_default().push(item);
    }
    p
}

/// Marks the packets after the first of a multi-packet command or reply ("250 continued").
fn continuation(s: &Session, ev: &Event, out: &mut BTreeMap<u64, String>) {
    let (what, dir, first, last) = match ev {
        Event::Command { verb, first_packet, last_packet, .. } => {
            (verb.to_string(), Direction::ClientToServer, first_packet, last_packet)
        }
        Event::Reply { code, first_packet, last_packet, .. } => {
            (code.to_string(), Direction::ServerToClient, first_packet, last_packet)
        }
        _ => return,
    };
    let inner = s.conn.events.iter().filter(|e| e.dir == dir && e.len > 0);
    for e in inner.filter(|e| e.number > first.number && e.number <= last.number) {
        out.entry(e.number).or_insert_with(|| format!("{what} continued"));
    }
}

/// One SMTP event as a row item, with the packet it starts in. Anomalies and gaps are left to
/// the verdicts and the transport marks.
fn describe(ev: &Event) -> Option<(u64, Item)> {
    let item = |kind, text: String, tone| Item { kind, text, tone };
    Some(match ev {
        Event::Command { verb, arg, first_packet, .. } => {
            let text = match arg {
                Some(a) => format!("{verb} {a}"),
                None => verb.to_string(),
            };
            (first_packet.number, item(ItemKind::Command, text, Tone::Normal))
        }
        Event::AuthData { len, first_packet, .. } => {
            (first_packet.number, item(ItemKind::AuthData, format!("AUTH data ({len} bytes)"), Tone::Normal))
        }
        Event::Reply { code, lines, line_count, first_packet, .. } => {
            (first_packet.number, item(ItemKind::Reply, reply_text(*code, lines, *line_count), reply_tone(*code)))
        }
        Event::Body { bytes, lines, terminated, first_packet: Some(first), .. } => {
            let end = if *terminated { "" } else { ", no end-of-data dot" };
            let text = format!("message body: {lines} lines, {}{end}", size(*bytes));
            (first.number, item(ItemKind::Body, text, Tone::Normal))
        }
        Event::BdatChunk { size: n, last, first_packet, .. } => {
            let last = if *last { " LAST" } else { "" };
            (first_packet.number, item(ItemKind::Bdat, format!("BDAT chunk {}{last}", size(*n)), Tone::Normal))
        }
        Event::Tls { record, detail, len, packet, .. } => {
            let tone = if record == "alert" && detail.starts_with("fatal") { Tone::Permanent } else { Tone::Normal };
            (packet.number, item(ItemKind::Tls, tls_text(record, detail, *len), tone))
        }
        Event::Body { first_packet: None, .. } | Event::Gap { .. } | Event::Anomaly { .. } => return None,
    })
}

/// "250 esa.example.com Hello … (+4 lines)": the first line stands for a multi-line reply.
fn reply_text(code: u16, lines: &ReplyLines, line_count: u32) -> String {
    let first = lines.first().unwrap_or("");
    let more = match line_count {
        0 | 1 => String::new(),
        2 => " (+1 line)".to_string(),
        n => format!(" (+{} lines)", n - 1),
    };
    let sep = if first.is_empty() { "" } else { " " };
    format!("{code}{sep}{first}{more}")
}

fn reply_tone(code: u16) -> Tone {
    match code / 100 {
        5 => Tone::Permanent,
        4 => Tone::Temporary,
        _ => Tone::Normal,
    }
}

fn tls_text(record: &str, detail: &str, len: usize) -> String {
    match record {
        // detail is "TLS 1.2 sni=mx.example.com"
        "client_hello" => format!("TLS ClientHello {}", detail.trim_start_matches("TLS ")),
        "server_hello" => format!("TLS ServerHello {detail}"),
        "alert" => match detail.split_once(' ') {
            Some((level, name)) => format!("TLS alert {name} ({level})"),
            None => format!("TLS alert {detail}"),
        },
        "change_cipher_spec" => "TLS ChangeCipherSpec".to_string(),
        "handshake" => format!("TLS handshake {}", size(len as u64)),
        "encrypted" => format!("TLS data {}", size(len as u64)),
        "not_tls" => format!("not TLS: {}", size(len as u64)),
        other => format!("TLS {other} {detail}"),
    }
}

/// Payload with no event of its own: after TLS started it is encrypted records.
fn unlabelled(len: u32, tls: bool, body: bool) -> Item {
    let what = match (body, tls) {
        (true, _) => "message data",
        (false, true) => "TLS data",
        (false, false) => "data",
    };
    let text = format!("{what} {}", size(len.into()));
    Item { kind: ItemKind::Data, text, tone: Tone::Normal }
}

/// "812 B", "3.1 kB", "67.2 kB", "1.4 MB" (decimal units, as mail logs use).
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1000 => format!("{b} B"),
        b if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{:.1} MB", b as f64 / 1e6),
    }
}

fn marks(e: &PacketEvent, gaps: &BTreeMap<u64, u64>, masked: &BTreeSet<u64>, news: &mut NewsTracker) -> Vec<String> {
    let mut out = Vec::new();
    match e.class {
        SegmentClass::Retransmission => out.push("retransmission".to_string()),
        SegmentClass::PartialRetransmission => out.push("partial retransmission".to_string()),
        SegmentClass::OutOfOrder => out.push("out of order".to_string()),
        SegmentClass::Duplicate => out.push("2nd copy".to_string()),
        SegmentClass::Empty | SegmentClass::InOrder => {}
    }
    if e.flags.syn() && e.class != SegmentClass::Duplicate && news.repeated_syn(e) {
        out.push("retransmission".to_string());
    }
    let gap = if e.gap_bytes > 0 { e.gap_bytes } else { gaps.get(&e.number).copied().unwrap_or(0) };
    if gap > 0 {
        out.push(format!("missing {gap} bytes"));
    }
    // A reset's window means nothing (RFC 9293 §3.10.7).
    if e.window == 0 && !e.flags.rst() && !e.flags.syn() {
        out.push("zero window".to_string());
    }
    if news.window_reopened(e) {
        out.push("window open".to_string());
    }
    if masked.contains(&e.number) && e.len > 0 {
        out.push("masked".to_string());
    }
    out
}

/// Decides which pure ACKs carry news: the handshake's last step, the acknowledgment of a FIN,
/// window changes to and from zero. The others are the bulk of a capture and say nothing.
#[derive(Default)]
struct NewsTracker {
    synack_seen: bool,
    handshake_acked: bool,
    /// Relative sequence number just past each direction's FIN, until it is acknowledged.
    fin_end: [Option<u32>; 2],
    zero_window: [bool; 2],
    syn_seq: [Option<u32>; 2],
}

impl NewsTracker {
    fn is_news(&mut self, e: &PacketEvent) -> bool {
        let f = e.flags;
        if f.syn() && f.ack() {
            self.synack_seen = true;
        }
        if f.fin() {
            self.fin_end[e.dir.index()] = Some(e.rel_seq.wrapping_add(e.len).wrapping_add(1));
        }
        let other = e.dir.reverse().index();
        let acks_fin = f.ack() && self.fin_end[other].is_some_and(|end| e.rel_ack.wrapping_sub(end) as i32 >= 0);
        if acks_fin {
            self.fin_end[other] = None;
        }
        let handshake = e.dir == Direction::ClientToServer && self.synack_seen && !self.handshake_acked && f.ack();
        if handshake {
            self.handshake_acked = true;
        }
        let pure_ack = f.0 & !crate::decode::TcpFlags::ACK == 0 && e.len == 0;
        !pure_ack || handshake || acks_fin || e.window == 0
    }

    fn repeated_syn(&mut self, e: &PacketEvent) -> bool {
        let slot = &mut self.syn_seq[e.dir.index()];
        let again = slot.is_some_and(|s| s == e.rel_seq);
        *slot = Some(e.rel_seq);
        again
    }

    /// The first packet after a zero window that opens it again.
    fn window_reopened(&mut self, e: &PacketEvent) -> bool {
        let slot = &mut self.zero_window[e.dir.index()];
        if e.flags.rst() {
            return false;
        }
        let reopened = *slot && e.window > 0;
        *slot = e.window == 0;
        reopened
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;

    fn ev(number: u64, dir: Direction, flags: u8, seq: u32, ack: u32, len: u32) -> PacketEvent {
        PacketEvent {
            number,
            ts: Timestamp(number as i64 * 1_000_000),
            dir,
            flags: TcpFlags(flags),
            rel_seq: seq,
            rel_ack: ack,
            len,
            window: 512,
            ttl: 64,
            ip_id: None,
            class: if len > 0 { SegmentClass::InOrder } else { SegmentClass::Empty },
            gap_bytes: 0,
        }
    }

    const C: Direction = Direction::ClientToServer;
    const S: Direction = Direction::ServerToClient;
    const A: u8 = TcpFlags::ACK;

    #[test]
    fn pure_acks_with_news_are_kept() {
        let mut n = NewsTracker::default();
        assert!(n.is_news(&ev(1, C, TcpFlags::SYN, 0, 0, 0)));
        assert!(n.is_news(&ev(2, S, TcpFlags::SYN | A, 0, 1, 0)));
        assert!(n.is_news(&ev(3, C, A, 1, 1, 0)), "handshake ACK");
        assert!(n.is_news(&ev(4, S, TcpFlags::PSH | A, 1, 1, 20)));
        assert!(!n.is_news(&ev(5, C, A, 1, 21, 0)), "ACK of data");
        assert!(n.is_news(&ev(6, S, TcpFlags::FIN | A, 21, 1, 0)));
        assert!(n.is_news(&ev(7, C, A, 1, 22, 0)), "ACK of a FIN");
        assert!(!n.is_news(&ev(8, C, A, 1, 22, 0)), "duplicate");
    }

    #[test]
    fn sizes_and_replies_read_naturally() {
        assert_eq!(size(42), "42 B");
        assert_eq!(size(3140), "3.1 kB");
        assert_eq!(size(67_241), "67.2 kB");
        let lines: ReplyLines = ["esa Hello", "SIZE 1"].into_iter().collect();
        assert_eq!(reply_text(250, &lines, 2), "250 esa Hello (+1 line)");
        assert_eq!(reply_text(250, &lines, 3), "250 esa Hello (+2 lines)");
        assert_eq!(reply_text(221, &ReplyLines::default(), 1), "221");
        assert_eq!(reply_tone(554), Tone::Permanent);
        assert_eq!(reply_tone(421), Tone::Temporary);
    }

    #[test]
    fn tls_records_are_named() {
        assert_eq!(tls_text("client_hello", "TLS 1.2 sni=mx.example.com", 0), "TLS ClientHello 1.2 sni=mx.example.com");
        assert_eq!(tls_text("alert", "fatal handshake_failure", 2), "TLS alert handshake_failure (fatal)");
        assert_eq!(tls_text("encrypted", "content type 23", 1200), "TLS data 1.2 kB");
    }

    #[test]
    fn verdicts_land_on_the_packet_where_they_happen() {
        let numbers: BTreeSet<u64> = [1, 2, 3, 4].into();
        use crate::diagnose::VerdictCode::{TcpRefuse, Tempfail};
        let v = |code, packets: Vec<u64>| Verdict {
            code,
            severity: Severity::Error,
            finding: String::new(),
            explanation: "".into(),
            packets,
            failover: None,
        };
        let notes = notes_by_packet(&[v(TcpRefuse, vec![1, 2, 3, 4]), v(Tempfail, vec![2, 9])], &numbers);
        assert_eq!(notes[&4][0].text, "RST after handshake");
        assert_eq!(notes[&2][0].code, "TEMPFAIL");
    }

    #[test]
    fn zero_window_and_reopening_are_marked() {
        let mut n = NewsTracker::default();
        let mut e = ev(10, S, A, 1, 1, 0);
        e.window = 0;
        assert_eq!(marks(&e, &BTreeMap::new(), &BTreeSet::new(), &mut n), ["zero window"]);
        e.window = 1000;
        assert_eq!(marks(&e, &BTreeMap::new(), &BTreeSet::new(), &mut n), ["window open"]);
    }
}
