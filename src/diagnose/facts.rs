//! Facts derived once from a session record, shared by the rules: the dialogue as a list of
//! commands and replies with packet numbers, the close sequence, per-side TTL baselines.

use crate::session::Session;
use crate::smtp::event::ReplyLines;
use crate::smtp::{Event, Verb};
use crate::tcp::Direction;
use crate::tcp::conn::{CloseEvent, CloseKind, Role};
use crate::tcp::reassembly::SegmentClass;

/// A command or reply with where it was seen.
#[derive(Clone, Debug)]
pub struct Line<'a> {
    pub verb: &'a Verb,
    pub arg: Option<&'a str>,
    pub len: usize,
    pub packet: u64,
    pub ts: f64,
    pub reply: Option<u16>,
}

#[derive(Clone, Debug)]
pub struct ReplyLine<'a> {
    pub code: u16,
    pub lines: &'a ReplyLines,
    /// The command (or pseudo-command: the greeting, the end of data) it answers, if known.
    pub answers: Option<&'a Verb>,
    pub packet: u64,
    pub ts: f64,
}

impl ReplyLine<'_> {
    pub fn first_line(&self) -> &str {
        self.lines.first().unwrap_or("")
    }
}

pub struct Facts<'a> {
    pub s: &'a Session,
    pub commands: Vec<Line<'a>>,
    pub replies: Vec<ReplyLine<'a>>,
    /// Timestamp (seconds) of the last packet carrying payload, if any.
    pub last_payload_ts: Option<f64>,
    pub last_payload_packet: Option<u64>,
    /// A reset that is not a duplicate of another packet was seen.
    pub has_reset: bool,
    /// Some reply was a 421 / a 4xx / a 5xx: rules about those look no further without one.
    pub has_421: bool,
    pub has_4xx: bool,
    pub has_5xx: bool,
    /// Some reply code is 500 or more (odd codes above 599 included).
    pub has_500_up: bool,
    /// Some command's verb is none SMTP knows (`Verb::Other`: a typo, garbage, a masked verb).
    pub has_other_verb: bool,
    /// Some command was answered 500 or 502 (unrecognised, not implemented).
    pub has_unknown_command_reply: bool,
    /// The latest timestamp of a command, reply, close or the session's last packet: no
    /// silence inside the session ends later.
    pub latest_ts: f64,
    /// The earliest timestamp of a reply (+inf without one): no silence after a reply starts
    /// earlier.
    pub earliest_reply_ts: f64,
    /// By [`Direction`] as index.
    full_size_retransmissions: [usize; 2],
}

/// Segments at least this large count as "full-size" for the path-MTU check (Ethernet MSS is
/// 1460, tunnels and PPPoE lower it; small SMTP commands are far below).
pub const FULL_SIZE_MIN: u32 = 1000;

/// What the rules ask of the dialogue as a whole, gathered in the walk that lists its commands
/// and replies (separate walks over the lists cost more than the tests).
struct Seen {
    has_421: bool,
    has_4xx: bool,
    has_5xx: bool,
    has_500_up: bool,
    has_other_verb: bool,
    has_unknown_command_reply: bool,
    earliest_reply_ts: f64,
    /// Of the commands and replies.
    latest_ts: f64,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            has_421: false,
            has_4xx: false,
            has_5xx: false,
            has_500_up: false,
            has_other_verb: false,
            has_unknown_command_reply: false,
            earliest_reply_ts: f64::INFINITY,
            latest_ts: f64::NEG_INFINITY,
        }
    }

    fn command(&mut self, c: &Line) {
        self.has_other_verb |= matches!(c.verb, Verb::Other(_));
        self.has_unknown_command_reply |= matches!(c.reply, Some(500 | 502));
        self.later(c.ts);
    }

    fn reply(&mut self, r: &ReplyLine) {
        self.has_421 |= r.code == 421;
        self.has_4xx |= r.code / 100 == 4;
        self.has_5xx |= r.code / 100 == 5;
        self.has_500_up |= r.code >= 500;
        if r.ts < self.earliest_reply_ts {
            self.earliest_reply_ts = r.ts;
        }
        self.later(r.ts);
    }

    /// A compare, not `f64::max`, whose care for NaN costs more here (a NaN compares false and
    /// is left out, as `max` leaves it out).
    fn later(&mut self, ts: f64) {
        if ts > self.latest_ts {
            self.latest_ts = ts;
        }
    }
}

impl<'a> Facts<'a> {
    pub fn new(s: &'a Session) -> Facts<'a> {
        // Sized once: most events are commands or replies, and growing by pushes costs more.
        let mut commands = Vec::with_capacity(s.smtp.events.len());
        let mut replies = Vec::with_capacity(s.smtp.events.len());
        let mut seen = Seen::new();
        for e in &s.smtp.events {
            match e {
                Event::Command { verb, arg, len, first_packet, reply, .. } => {
                    let c = Line {
                        verb,
                        arg: arg.as_deref(),
                        len: *len,
                        packet: first_packet.number,
                        ts: first_packet.ts.as_secs_f64(),
                        reply: *reply,
                    };
                    seen.command(&c);
                    commands.push(c);
                }
                Event::Reply { code, lines, answers, last_packet, .. } => {
                    let r = ReplyLine {
                        code: *code,
                        lines,
                        answers: answers.as_ref(),
                        packet: last_packet.number,
                        ts: last_packet.ts.as_secs_f64(),
                    };
                    seen.reply(&r);
                    replies.push(r);
                }
                _ => {}
            }
        }
        // One walk over the packets for what several rules would each walk them for.
        let mut last_payload = None;
        let mut has_reset = false;
        let mut full_size_retransmissions = [0; 2];
        for e in &s.conn.events {
            if e.len > 0 {
                last_payload = Some(e);
            }
            has_reset |= e.flags.rst() && e.class != SegmentClass::Duplicate;
            if e.len >= FULL_SIZE_MIN && e.class == SegmentClass::Retransmission {
                full_size_retransmissions[e.dir.index()] += 1;
            }
        }
        let latest_ts =
            s.conn.closes.iter().map(|c| c.ts).fold(s.conn.last.ts.as_secs_f64().max(seen.latest_ts), f64::max);
        Facts {
            s,
            commands,
            replies,
            has_421: seen.has_421,
            has_4xx: seen.has_4xx,
            has_5xx: seen.has_5xx,
            has_500_up: seen.has_500_up,
            has_other_verb: seen.has_other_verb,
            has_unknown_command_reply: seen.has_unknown_command_reply,
            latest_ts,
            earliest_reply_ts: seen.earliest_reply_ts,
            last_payload_ts: last_payload.map(|e| e.ts.as_secs_f64()),
            last_payload_packet: last_payload.map(|e| e.number),
            has_reset,
            full_size_retransmissions,
        }
    }

    /// Retransmitted full-size segments (see [`FULL_SIZE_MIN`]) sent in `dir`.
    pub fn full_size_retransmissions(&self, dir: Direction) -> usize {
        self.full_size_retransmissions[dir.index()]
    }

    pub fn server_bytes(&self) -> u64 {
        self.s.conn.dir(Direction::ServerToClient).payload_bytes
    }

    pub fn closes(&self) -> &[CloseEvent] {
        &self.s.conn.closes
    }

    pub fn first_close(&self) -> Option<&CloseEvent> {
        self.s.conn.closes.first()
    }

    pub fn first_rst(&self) -> Option<&CloseEvent> {
        self.s.conn.closes.iter().find(|c| c.kind == CloseKind::Rst)
    }

    pub fn first_fin_by(&self, role: Role) -> Option<&CloseEvent> {
        self.s.conn.closes.iter().find(|c| c.kind == CloseKind::Fin && c.by == role)
    }

    /// The session ended below SMTP (FIN or RST) before the client said QUIT.
    pub fn quit(&self) -> Option<&Line<'a>> {
        self.commands.iter().find(|c| *c.verb == Verb::Quit)
    }

    /// The greeting reply (first reply of the server, answering no command).
    pub fn greeting(&self) -> Option<&ReplyLine<'a>> {
        self.replies.iter().find(|r| r.answers == Some(&Verb::Greeting))
    }

    /// Packet numbers of the TCP packets (by flags) of one side, in order.
    pub fn packets_where(&self, pred: impl Fn(&crate::tcp::conn::PacketEvent) -> bool) -> Vec<u64> {
        self.s.conn.events.iter().filter(|e| pred(e)).map(|e| e.number).collect()
    }

    /// A reset whose TTL differs from every other packet of the side it claims to come from.
    pub fn rst_forged(&self, packet: u64) -> bool {
        let Some(rst) = self.s.conn.events.iter().find(|e| e.number == packet && e.flags.rst()) else { return false };
        self.ttl_baseline(rst.dir).is_some_and(|(lo, hi)| rst.ttl < lo || rst.ttl > hi)
    }

    /// Timestamp of the client's first FIN or RST.
    pub fn client_closed_at(&self) -> Option<f64> {
        self.s.conn.closes.iter().find(|c| c.by == Role::Client).map(|c| c.ts)
    }

    /// TTL values of one side's packets that are not resets (the endpoint's own stack).
    pub fn ttl_baseline(&self, dir: Direction) -> Option<(u8, u8)> {
        let own =
            |e: &&crate::tcp::conn::PacketEvent| e.dir == dir && !e.flags.rst() && e.class != SegmentClass::Duplicate;
        let mut ttls = self.s.conn.events.iter().filter(own).map(|e| e.ttl);
        let first = ttls.next()?;
        Some(ttls.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }
}

/// How a role is named in a sentence.
pub fn who(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Server => "server",
    }
}
