//! The dialogue state machine: both directions of one connection, fed in capture order.
//! Client-side handling lives in `client`, server-side in `server`, transactions in `txn`.

use super::SmtpConfig;
use super::body::Message;
use super::event::{AnomalyKind, EventLog};
use super::line::LineBuf;
use super::record::{SmtpRecord, TlsInfo};
use super::reply;
use super::tls;
use super::verb::Verb;
use crate::tcp::{Direction, PacketRef};
use std::collections::VecDeque;

const C2S: Direction = Direction::ClientToServer;

/// What the client stream currently carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ClientMode {
    /// An HTTP CONNECT request header before a tunnelled SMTP session.
    Connect,
    Commands,
    /// After DATA or STARTTLS, before the server said whether it accepted: bytes are held.
    Undecided(Decision),
    Body,
    Bdat {
        remaining: u64,
    },
    Tls,
    /// Neither SMTP nor TLS: counted, not parsed.
    Opaque,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    Data,
    StartTls,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ServerMode {
    /// The proxy's answer to an HTTP CONNECT.
    HttpHeader,
    Replies,
    Tls,
    /// Binary junk: nothing more is parsed from the server.
    Opaque,
}

/// Client bytes held while a DATA or STARTTLS reply is awaited.
#[derive(Clone, Debug)]
pub(super) enum Held {
    /// Bytes, how many of them were already used, and their packet.
    Data(Vec<u8>, usize, PacketRef),
    Gap(u64, PacketRef),
}

/// What a pending reply will answer.
#[derive(Clone, Debug)]
pub(super) enum Kind {
    Helo { ehlo: bool, reset: Option<usize> },
    Mail { nested: bool },
    Rcpt { index: usize },
    Data,
    DataEnd,
    Bdat { chunk: Option<usize>, last: bool },
    StartTls,
    Auth { seq: u64 },
    Rset,
    Other,
}

/// An entry of the reply FIFO (RFC 2920 §3: replies come in command order).
#[derive(Clone, Debug)]
pub(super) enum Pending {
    Command {
        verb: Verb,
        kind: Kind,
        event: Option<usize>,
        tx: Option<usize>,
    },
    /// Client bytes lost at a command boundary: takes the replies that arrive before the next
    /// command, since they answer what was lost.
    Gap,
}

pub struct Dialogue {
    pub(super) cfg: SmtpConfig,
    pub(super) rec: SmtpRecord,
    pub(super) log: EventLog,
    /// Expected replies, with the packet that carried what they answer.
    pub(super) fifo: VecDeque<(Pending, PacketRef)>,
    pub(super) first_dir: Option<Direction>,
    pub(super) bytes_seen: [u64; 2],
    /// Last packet seen per direction, to locate what `finish` finds.
    pub(super) last_at: [PacketRef; 2],
    pub(super) greeting_done: bool,
    pub(super) tunnel: bool,
    pub(super) client_lines: LineBuf,
    pub(super) client_mode: ClientMode,
    pub(super) held: VecDeque<Held>,
    pub(super) held_bytes: usize,
    pub(super) server_lines: LineBuf,
    pub(super) server_mode: ServerMode,
    pub(super) replies: reply::Assembler,
    pub(super) cur_tx: Option<usize>,
    /// The message being received, with its transaction. Boxed: it exists only during DATA or
    /// BDAT, and thousands of open sessions would otherwise each carry its size.
    pub(super) message: Option<Box<(Option<usize>, Message)>>,
    pub(super) bdat_chunk: Option<(usize, usize)>,
    /// Created when TLS starts. Boxed, as `tls`: thousands of open sessions without TLS would
    /// otherwise each carry their size.
    pub(super) tls_readers: Option<Box<[tls::Reader; 2]>>,
    /// Reused buffer for what the TLS readers find in one segment.
    pub(super) tls_found: Vec<(tls::Finding, PacketRef)>,
    pub(super) tls: Option<Box<TlsInfo>>,
    pub(super) implicit_tls: bool,
    pub(super) auth_ctx: bool,
    pub(super) auth_seq: u64,
    pub(super) auth_reply: Option<u16>,
    pub(super) last_command_packet: Option<u64>,
}

impl Dialogue {
    pub fn new(config: &SmtpConfig) -> Self {
        Dialogue {
            cfg: config.clone(),
            rec: SmtpRecord::default(),
            log: EventLog::new(config.max_events),
            fifo: VecDeque::new(),
            first_dir: None,
            bytes_seen: [0; 2],
            last_at: [PacketRef::default(); 2],
            greeting_done: false,
            tunnel: false,
            client_lines: LineBuf::new(config.max_line_len),
            client_mode: ClientMode::Commands,
            held: VecDeque::new(),
            held_bytes: 0,
            server_lines: LineBuf::new(config.max_line_len),
            server_mode: ServerMode::Replies,
            replies: reply::Assembler::default(),
            cur_tx: None,
            message: None,
            bdat_chunk: None,
            tls_readers: None,
            tls_found: Vec::new(),
            tls: None,
            implicit_tls: false,
            auth_ctx: false,
            auth_seq: 0,
            auth_reply: None,
            last_command_packet: None,
        }
    }

    /// In-order stream bytes of one packet, in capture order across both directions.
    pub fn on_data(&mut self, dir: Direction, data: &[u8], at: PacketRef) {
        if data.is_empty() {
            return;
        }
        self.first_dir.get_or_insert(dir);
        self.last_at[dir.index()] = at;
        if self.bytes_seen[dir.index()] == 0 {
            self.stream_start(dir, data, at);
        }
        self.bytes_seen[dir.index()] += data.len() as u64;
        match dir {
            Direction::ClientToServer => self.client_data(data, at),
            Direction::ServerToClient => self.server_data(data, at),
        }
    }

    /// `missing` bytes of `dir` are absent from the capture just before `at`.
    pub fn on_gap(&mut self, dir: Direction, missing: u64, at: PacketRef) {
        if missing == 0 {
            return;
        }
        self.first_dir.get_or_insert(dir);
        self.last_at[dir.index()] = at;
        self.bytes_seen[dir.index()] += missing;
        self.log.push(super::event::Event::Gap { from: dir, bytes: missing, packet: at });
        self.log.anomaly(dir, AnomalyKind::Gap, format!("{missing} bytes missing"), at);
        match dir {
            Direction::ClientToServer => self.client_gap(missing, at),
            Direction::ServerToClient => self.server_gap(at),
        }
    }

    /// The first bytes of a direction tell an HTTP CONNECT tunnel or implicit TLS (port 465).
    fn stream_start(&mut self, dir: Direction, data: &[u8], at: PacketRef) {
        match dir {
            Direction::ClientToServer if data.starts_with(b"CONNECT ") => {
                self.tunnel = true;
                self.client_mode = ClientMode::Connect;
                self.log.anomaly(dir, AnomalyKind::HttpConnectTunnel, "HTTP CONNECT before SMTP".into(), at);
            }
            Direction::ClientToServer if tls::starts_record(data) => {
                self.implicit_tls = true;
                self.client_mode = ClientMode::Tls;
                self.tls.get_or_insert_with(Default::default);
            }
            Direction::ServerToClient if data.starts_with(b"HTTP/1.") && self.tunnel => {
                self.server_mode = ServerMode::HttpHeader;
            }
            Direction::ClientToServer
                if tls::starts_binary(data) && !data[..data.len().min(2)].iter().all(u8::is_ascii_alphabetic) =>
            {
                self.client_mode = ClientMode::Opaque;
                self.not_smtp(dir, data, at);
            }
            // An SMTP server's first bytes are a reply code; text that is not ("SSH-2.0-…", an
            // HTTP request or response) is another protocol as surely as binary bytes are.
            Direction::ServerToClient if !tls::starts_record(data) && !data[0].is_ascii_digit() && !self.tunnel => {
                self.server_mode = ServerMode::Opaque;
                self.not_smtp(dir, data, at);
            }
            _ => {}
        }
    }

    /// Notes a stream that is not SMTP, with its first bytes in hex (a protocol's signature).
    fn not_smtp(&mut self, dir: Direction, data: &[u8], at: PacketRef) {
        let head: Vec<String> = data.iter().take(16).map(|b| format!("{b:02x}")).collect();
        self.log.anomaly(dir, AnomalyKind::NotSmtp, format!("first bytes {}", head.join(" ")), at);
    }

    /// After a 220 to STARTTLS, a side whose first bytes are plain SMTP instead of a TLS record
    /// (a capture decrypted by a proxy, or a client that ignored the reply) is parsed on as SMTP.
    pub(super) fn plaintext_after_starttls(&self, dir: Direction, rest: &[u8]) -> bool {
        let accepted = !self.implicit_tls && self.rec.starttls.as_ref().is_some_and(|s| s.reply == Some(220));
        let fresh = self.tls_readers.as_ref().is_none_or(|r| r[dir.index()].is_fresh());
        let plain = match dir {
            Direction::ClientToServer => tls::starts_command(rest),
            Direction::ServerToClient => tls::starts_reply(rest),
        };
        accepted && fresh && plain && !tls::starts_record(rest)
    }

    pub(super) fn note_plaintext_after_starttls(&mut self, dir: Direction, rest: &[u8], at: PacketRef) {
        let detail =
            String::from_utf8_lossy(&rest[..rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len()).min(40)]);
        self.log.anomaly(dir, AnomalyKind::PlaintextAfterStartTls, detail.into_owned(), at);
    }

    /// The connection ended: flush partial lines, close what is open.
    pub fn finish(mut self) -> SmtpRecord {
        // No reply to tell: a DATA body is assumed to follow (the server may be out of the
        // capture); a STARTTLS without its 220 leaves the client in plain text. Replaying the
        // held bytes may reach the next DATA, hence the loop.
        while let ClientMode::Undecided(d) = self.client_mode {
            self.decide(d, d == Decision::Data);
        }
        self.rec.client_spoke_first = self.first_dir == Some(C2S);
        self.client_finish();
        self.server_finish();
        self.unanswered();
        if let Some(tls) = self.tls.take() {
            match self.rec.starttls.as_mut() {
                Some(st) if !self.implicit_tls => st.tls = Some(*tls),
                _ => self.rec.implicit_tls = Some(tls),
            }
        }
        self.rec.events = std::mem::take(&mut self.log.events);
        self.rec.events_dropped = self.log.dropped;
        self.rec.anomalies = std::mem::take(&mut self.log.anomalies);
        self.rec
    }

    /// Commands left without a reply. A message whose end-of-data got no reply is the classic
    /// "sent but never confirmed" failure, so it has its own kind; SASL lines are left out, as
    /// in the reference.
    fn unanswered(&mut self) {
        if self.rec.replies.is_empty() {
            return;
        }
        for p in std::mem::take(&mut self.fifo) {
            let (Pending::Command { verb, kind, .. }, at) = p else {
                continue;
            };
            match kind {
                Kind::DataEnd => self.log.anomaly(C2S, AnomalyKind::NoFinalReply, verb.to_string(), at),
                Kind::Auth { .. } if verb == Verb::AuthData => {}
                _ => self.log.anomaly(C2S, AnomalyKind::UnansweredCommand, verb.to_string(), at),
            }
        }
    }

    /// Appends to one of the record's unbounded-looking lists, within `max_items`.
    /// `room`: how many items the list gets at its first (commands and replies number about
    /// ten a session: room for 16 at once saves growing 4, 8, 16).
    #[inline]
    pub(super) fn bounded<T>(max: usize, room: usize, dropped: &mut u64, list: &mut Vec<T>, item: T) {
        if list.len() < max {
            if list.capacity() == 0 {
                list.reserve_exact(room.min(max));
            }
            list.push(item);
        } else {
            *dropped += 1;
        }
    }

    /// Queues an expected reply, within `max_pending`.
    pub(super) fn expect(&mut self, p: Pending, at: PacketRef) {
        if self.fifo.len() >= self.cfg.max_pending {
            self.fifo.pop_front();
            self.log.anomaly(
                Direction::ClientToServer,
                AnomalyKind::PendingOverflow,
                "oldest unanswered command dropped".into(),
                at,
            );
        }
        self.fifo.push_back((p, at));
    }
}
