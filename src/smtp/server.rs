//! Server side of the dialogue: reply lines, the greeting, and matching replies to commands in
//! order (RFC 5321 §4.2, RFC 2920 §3).

use super::dialogue::{ClientMode, Decision, Dialogue, Kind, Pending, ServerMode};
use super::event::{AnomalyKind, EVENT_TEXT_MAX, Event, clip};
use super::line::{LineBuf, LineRef};
use super::record::{Banner, Extreme, ReplyInfo};
use super::reply::{self, Reply, ReplyLines};
use super::tls;
use super::verb::Verb;
use crate::tcp::{Direction, PacketRef};

const S2C: Direction = Direction::ServerToClient;
/// Lines of a reply kept in its event (the whole reply is only kept for the banner and EHLO).
const EVENT_REPLY_LINES: usize = 16;
/// Codes a server may open with (RFC 5321 §3.1, §4.3.1).
const GREETING_CODES: [u16; 3] = [220, 421, 554];

impl Dialogue {
    pub(super) fn server_data(&mut self, data: &[u8], at: PacketRef) {
        // Reply lines are borrowed, not copied into a Vec each: the splitter is moved out while
        // its line is lent (as on the client side; moving a Vec is free).
        let mut lines = std::mem::replace(&mut self.server_lines, LineBuf::new(0));
        self.server_bytes(&mut lines, data, at);
        self.server_lines = lines;
    }

    fn server_bytes(&mut self, lines: &mut LineBuf, data: &[u8], at: PacketRef) {
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            match self.server_mode {
                ServerMode::Opaque => return,
                ServerMode::Tls if self.plaintext_after_starttls(S2C, rest) => {
                    self.note_plaintext_after_starttls(S2C, rest, at);
                    self.server_mode = ServerMode::Replies;
                }
                ServerMode::Tls => return self.tls_data(S2C, rest, at),
                ServerMode::Replies if Self::server_tls_starts(lines, rest) => {
                    let mut bytes = lines.take_partial(at).map(|l| l.bytes).unwrap_or_default();
                    bytes.extend_from_slice(rest);
                    self.server_mode = ServerMode::Tls;
                    return self.tls_data(S2C, &bytes, at);
                }
                _ => {
                    let (n, line) = lines.feed_ref(rest, at);
                    pos += n;
                    if let Some(line) = line {
                        self.server_line(line);
                    }
                }
            }
        }
    }

    fn server_tls_starts(lines: &LineBuf, rest: &[u8]) -> bool {
        let head = lines.head();
        if head.len() >= 3 || !lines.untainted() {
            return false;
        }
        tls::starts_record(&tls::probe(head, rest))
    }

    pub(super) fn server_gap(&mut self, at: PacketRef) {
        match self.server_mode {
            ServerMode::Tls => self.tls_readers.get_or_insert_with(Default::default)[S2C.index()].gap(),
            _ => {
                self.server_lines.gap();
                if let Some(r) = self.replies.abandon() {
                    let detail = format!("reply {} lost its end in a gap", r.code);
                    self.log.anomaly(S2C, AnomalyKind::Gap, detail, at);
                }
            }
        }
    }

    fn server_line(&mut self, line: LineRef<'_>) {
        if self.server_mode == ServerMode::HttpHeader {
            if line.len == 0 {
                self.server_mode = ServerMode::Replies;
            }
            return;
        }
        if line.tainted {
            let detail = format!("{} bytes after a gap dropped", line.len);
            return self.log.anomaly(S2C, AnomalyKind::Gap, detail, line.first);
        }
        self.line_anomalies(S2C, line);
        let Some(rl) = reply::parse_line(line.bytes) else {
            return self.non_reply_line(line);
        };
        Extreme::raise(&mut self.rec.maxima.reply_line, line.len as u64, line.first);
        // "220text": no space or hyphen after the code. Lenient here (the reference ends the reply),
        // but a strict client never sees a final line: an ASA masking a multi-line banner does this.
        if line.bytes.len() > 3 && !matches!(line.bytes[3], b' ' | b'-') {
            let detail = clip(&String::from_utf8_lossy(line.bytes));
            self.log.anomaly(S2C, AnomalyKind::ReplyWithoutSeparator, detail, line.first);
        }
        if let Some(r) = self.replies.push(rl, line) {
            self.on_reply(r);
        }
    }

    fn non_reply_line(&mut self, line: LineRef<'_>) {
        if reply::looks_binary(line.bytes) {
            self.log.anomaly(S2C, AnomalyKind::BinaryJunk, "binary data from the server".into(), line.first);
            self.server_mode = ServerMode::Opaque;
            return;
        }
        let detail = clip(&String::from_utf8_lossy(line.bytes));
        self.log.anomaly(S2C, AnomalyKind::NonReplyLine, detail, line.first);
    }

    fn on_reply(&mut self, mut r: Reply) {
        if r.code_changed {
            self.log.anomaly(S2C, AnomalyKind::MultilineCodeChange, format!("reply {}", r.code), r.last);
        }
        let max = self.cfg.max_items;
        Self::bounded(max, 16, &mut self.rec.items_dropped, &mut self.rec.replies, r.code);
        if !self.greeting_done {
            self.greeting_done = true;
            if self.is_greeting(r.code, r.first) {
                return self.greeting(r);
            }
        }
        let target = self.reply_target();
        let answers = match &target {
            Some(Pending::Command { verb, .. }) => Some(verb.clone()),
            Some(Pending::Gap) => Some(Verb::Gap),
            None => None,
        };
        // The event takes the reply's lines. A reply whose lines the dialogue reads too (EHLO
        // keywords, the final reply's text) is applied first: applying one of those logs
        // nothing, so the event keeps its place in the log.
        let reads_lines = matches!(
            &target,
            Some(Pending::Command {
                kind: Kind::Helo { ehlo: true, .. } | Kind::DataEnd | Kind::Bdat { last: true, .. },
                ..
            })
        );
        if reads_lines && let Some(Pending::Command { kind, tx, .. }) = &target {
            self.apply_reply(kind.clone(), *tx, &r);
        }
        let lines = event_lines(std::mem::take(&mut r.lines));
        self.reply_event(&r, lines, answers);
        match target {
            Some(Pending::Command { kind, event, tx, .. }) => {
                self.log.set_reply(event, r.code);
                if !reads_lines {
                    self.apply_reply(kind, tx, &r);
                }
            }
            Some(Pending::Gap) => {}
            None => {
                let detail = format!("reply {} answers no command seen", r.code);
                self.log.anomaly(S2C, AnomalyKind::UnmatchedReply, detail, r.last);
            }
        }
    }

    /// The first reply greets when the server spoke first, or when it carries a greeting code
    /// although the client spoke early (or speaks TLS, or went through a proxy).
    fn is_greeting(&mut self, code: u16, at: PacketRef) -> bool {
        let server_first = self.first_dir == Some(S2C);
        let greeting = server_first || GREETING_CODES.contains(&code) || self.tunnel || self.implicit_tls;
        if greeting && !server_first && !self.tunnel && !self.implicit_tls {
            self.log.anomaly(Direction::ClientToServer, AnomalyKind::ClientSpokeBeforeGreeting, String::new(), at);
        }
        if self.implicit_tls {
            let detail = format!("plain-text reply {code} to a TLS client");
            self.log.anomaly(S2C, AnomalyKind::PlaintextReplyToTls, detail, at);
        }
        greeting
    }

    fn greeting(&mut self, mut r: Reply) {
        self.rec.banner = Some(Banner { code: r.code, text: r.text(), packet: r.first });
        let lines = event_lines(std::mem::take(&mut r.lines));
        self.reply_event(&r, lines, Some(Verb::Greeting));
    }

    /// The pending entry this reply answers. A gap at the head keeps the replies that come
    /// before the client's next command (they answer the lost bytes).
    fn reply_target(&mut self) -> Option<Pending> {
        while let Some((Pending::Gap, _)) = self.fifo.front() {
            if self.fifo.len() == 1 {
                return Some(Pending::Gap);
            }
            self.fifo.pop_front();
        }
        self.fifo.pop_front().map(|(p, _)| p)
    }

    fn reply_event(&mut self, r: &Reply, lines: ReplyLines, answers: Option<Verb>) {
        self.log.push(Event::Reply {
            code: r.code,
            lines,
            line_count: r.line_count,
            answers,
            first_packet: r.first,
            last_packet: r.last,
        });
    }

    fn apply_reply(&mut self, kind: Kind, tx: Option<usize>, r: &Reply) {
        let ok = r.code / 100 == 2;
        let info = || ReplyInfo { code: r.code, text: r.text(), packet: r.first };
        match kind {
            Kind::Helo { ehlo, reset } => {
                if ok && ehlo && self.rec.ehlo_keywords.is_empty() {
                    self.rec.ehlo_keywords = r.lines.iter().skip(1).map(str::to_string).collect();
                }
                if let (false, Some(t)) = (ok, reset) {
                    self.undo_reset(t);
                }
            }
            Kind::Mail { nested: false } => self.with_tx(tx, |t| t.mail_reply = Some(r.code)),
            Kind::Rcpt { index } => self.with_tx(tx, |t| {
                if let Some(rc) = t.rcpts.get_mut(index) {
                    rc.reply = Some(r.code);
                }
            }),
            Kind::Data => {
                self.with_tx(tx, |t| t.data_intermediate_reply = Some(r.code));
                if self.client_mode == ClientMode::Undecided(Decision::Data) {
                    self.decide(Decision::Data, r.code == 354);
                }
            }
            Kind::DataEnd => self.final_reply(tx, info()),
            Kind::Bdat { chunk, last } => {
                self.with_tx(tx, |t| {
                    if let Some(c) = chunk.and_then(|c| t.bdat_chunks.get_mut(c)) {
                        c.reply = Some(r.code);
                    }
                });
                if last {
                    self.final_reply(tx, info());
                }
            }
            Kind::StartTls => self.starttls_reply(r),
            Kind::Auth { seq } if seq == self.auth_seq => self.auth_reply = Some(r.code),
            _ => {}
        }
    }

    fn with_tx(&mut self, tx: Option<usize>, f: impl FnOnce(&mut super::record::Transaction)) {
        if let Some(t) = tx.and_then(|t| self.rec.transactions.get_mut(t)) {
            f(t);
        }
    }

    fn final_reply(&mut self, tx: Option<usize>, info: ReplyInfo) {
        let queue_id = (info.code / 100 == 2).then(|| reply::queue_id(&info.text)).flatten();
        self.with_tx(tx, |t| {
            t.queue_id = queue_id;
            t.data_reply = Some(info);
        });
    }

    /// RFC 3207 §4.2: after "220" both sides start the TLS handshake with the next byte.
    fn starttls_reply(&mut self, r: &Reply) {
        if let Some(st) = self.rec.starttls.as_mut() {
            st.reply.get_or_insert(r.code);
        }
        if r.code == 220 {
            self.server_mode = ServerMode::Tls;
            self.tls.get_or_insert_with(Default::default);
        }
        if self.client_mode == ClientMode::Undecided(Decision::StartTls) {
            self.decide(Decision::StartTls, r.code == 220);
        }
    }

    pub(super) fn server_finish(&mut self) {
        let at = self.last_at[S2C.index()];
        if let Some(l) = self.server_lines.take_partial(at)
            && self.server_mode == ServerMode::Replies
            && !l.tainted
        {
            // Like the reference, a reply line without its CRLF is not counted.
            let text = String::from_utf8_lossy(&l.bytes[..l.bytes.len().min(200)]).into_owned();
            let detail = format!("{} bytes without line end: {text}", l.len);
            self.log.anomaly(S2C, AnomalyKind::PartialLineAtEnd, detail, l.first);
        }
        if let Some(r) = self.replies.abandon() {
            let detail = format!("reply {} without its last line", r.code);
            self.log.anomaly(S2C, AnomalyKind::UnterminatedMultilineReply, detail, r.last);
        }
    }
}

/// The lines a reply event keeps: the reply's own when they are few and short enough (nearly
/// always; no copy), else the first ones, each clipped.
fn event_lines(lines: ReplyLines) -> ReplyLines {
    if lines.len() <= EVENT_REPLY_LINES && lines.longest() <= EVENT_TEXT_MAX {
        return lines;
    }
    let mut kept = ReplyLines::default();
    for l in lines.iter().take(EVENT_REPLY_LINES) {
        kept.push(&clip(l));
    }
    kept
}
