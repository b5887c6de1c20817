//! Client side of the dialogue: command lines, the DATA body, BDAT chunks, and the hold on bytes
//! sent before the server answered DATA or STARTTLS.

use super::body::Message;
use super::command::{self, Bdat};
use super::dialogue::{ClientMode, Decision, Dialogue, Held, Kind, Pending};
use super::event::{AnomalyKind, Event, clip};
use super::line::{Ending, Line, LineBuf, LineRef};
use super::record::BdatChunk;
use super::tls;
use super::tls_info;
use super::verb::Verb;
use crate::tcp::{Direction, PacketRef};

const C2S: Direction = Direction::ClientToServer;

impl Dialogue {
    pub(super) fn client_data(&mut self, data: &[u8], at: PacketRef) {
        let used = self.client_bytes(data, at);
        if used < data.len() {
            self.hold(Held::Data(data[used..].to_vec(), 0, at), data.len() - used, at);
        }
    }

    /// Parses client bytes until they run out or a DATA/STARTTLS reply must be awaited;
    /// returns how many were used.
    fn client_bytes(&mut self, data: &[u8], at: PacketRef) -> usize {
        let mut pos = 0;
        while pos < data.len() {
            let rest = &data[pos..];
            match self.client_mode {
                ClientMode::Undecided(_) => return pos,
                ClientMode::Opaque => return data.len(),
                ClientMode::Tls if self.plaintext_after_starttls(C2S, rest) => {
                    self.note_plaintext_after_starttls(C2S, rest, at);
                    self.client_mode = ClientMode::Commands;
                }
                ClientMode::Tls => {
                    self.tls_data(C2S, rest, at);
                    return data.len();
                }
                ClientMode::Bdat { remaining } => pos += self.bdat_data(rest, remaining, at),
                ClientMode::Body => {
                    // The hot path: body lines are borrowed, never copied into a fresh Vec. The
                    // splitter is moved out while its line is lent (moving a Vec is free).
                    let mut lines = std::mem::replace(&mut self.client_lines, LineBuf::new(0));
                    while pos < data.len() && self.client_mode == ClientMode::Body {
                        if lines.is_idle()
                            && let Some((_, m)) = self.message.as_deref_mut()
                        {
                            pos += m.plain_lines(&data[pos..], at);
                            if pos == data.len() {
                                break;
                            }
                        }
                        let (n, line) = lines.feed_ref(&data[pos..], at);
                        pos += n;
                        if let Some(line) = line {
                            self.body_line(line);
                        }
                    }
                    self.client_lines = lines;
                }
                ClientMode::Commands if self.client_tls_starts(rest) => {
                    self.client_turns_tls(rest, at);
                    return data.len();
                }
                _ => {
                    // Command lines are borrowed too (nothing a command does reads the splitter).
                    let mut lines = std::mem::replace(&mut self.client_lines, LineBuf::new(0));
                    let (n, line) = lines.feed_ref(rest, at);
                    pos += n;
                    if let Some(line) = line {
                        self.client_line(line);
                    }
                    self.client_lines = lines;
                }
            }
        }
        pos
    }

    fn client_turns_tls(&mut self, rest: &[u8], at: PacketRef) {
        let partial = self.client_lines.take_partial(at);
        let mut bytes = partial.map(|l| l.bytes).unwrap_or_default();
        bytes.extend_from_slice(rest);
        let detail = "TLS record where a command was expected".to_string();
        self.log.anomaly(C2S, AnomalyKind::TlsBytes, detail, at);
        self.client_mode = ClientMode::Tls;
        self.tls.get_or_insert_with(Default::default);
        self.tls_data(C2S, &bytes, at);
    }

    /// A TLS record header at a command line start (RFC 8314 implicit TLS, or a client that
    /// did not wait for the STARTTLS reply).
    fn client_tls_starts(&self, rest: &[u8]) -> bool {
        let head = self.client_lines.head();
        if head.len() >= 3 || !self.client_lines.untainted() {
            return false;
        }
        tls::starts_record(&tls::probe(head, rest))
    }

    pub(super) fn tls_data(&mut self, from: Direction, data: &[u8], at: PacketRef) {
        // The findings buffer is reused: nearly every encrypted segment yields one.
        let mut found = std::mem::take(&mut self.tls_found);
        self.tls_readers.get_or_insert_with(Default::default)[from.index()].feed(data, at, &mut found);
        let info = self.tls.get_or_insert_with(Default::default);
        for (f, p) in found.drain(..) {
            if let Some(e) = tls_info::apply(info, from, f, p) {
                self.log.push(e);
            }
        }
        self.tls_found = found;
    }

    fn hold(&mut self, item: Held, len: usize, at: PacketRef) {
        self.held.push_back(item);
        self.held_bytes += len;
        while self.held_bytes > self.cfg.max_undecided_bytes
            && let ClientMode::Undecided(d) = self.client_mode
        {
            // The server is slow or absent; the client's own view (it kept sending) wins.
            let detail = "no reply before the hold limit".to_string();
            self.log.anomaly(C2S, AnomalyKind::UndecidedOverflow, detail, at);
            self.decide(d, true);
        }
    }

    /// The server answered DATA or STARTTLS (or never will): replay the held client bytes.
    pub(super) fn decide(&mut self, d: Decision, accepted: bool) {
        self.client_mode = match (d, accepted) {
            (Decision::Data, true) => {
                self.message =
                    Some(Box::new((self.cur_tx, Message::new(self.cfg.max_line_len, self.cfg.personal_headers))));
                ClientMode::Body
            }
            (Decision::StartTls, true) => {
                self.tls.get_or_insert_with(Default::default);
                ClientMode::Tls
            }
            _ => ClientMode::Commands,
        };
        self.replay();
    }

    /// Feeds held bytes until they run out or the next DATA/STARTTLS needs its reply. Bytes
    /// are consumed in place (an offset moves), so replaying is linear in what was held.
    fn replay(&mut self) {
        while !matches!(self.client_mode, ClientMode::Undecided(_)) {
            let Some(item) = self.held.pop_front() else {
                break;
            };
            match item {
                Held::Data(bytes, off, p) => {
                    self.held_bytes -= bytes.len() - off;
                    let used = self.client_bytes(&bytes[off..], p);
                    if off + used < bytes.len() {
                        self.held_bytes += bytes.len() - off - used;
                        self.held.push_front(Held::Data(bytes, off + used, p));
                    }
                }
                Held::Gap(n, p) => self.client_gap(n, p),
            }
        }
    }

    pub(super) fn client_gap(&mut self, missing: u64, at: PacketRef) {
        match self.client_mode {
            ClientMode::Undecided(_) => self.hold(Held::Gap(missing, at), 0, at),
            ClientMode::Tls => self.tls_readers.get_or_insert_with(Default::default)[C2S.index()].gap(),
            ClientMode::Opaque => {}
            ClientMode::Bdat { remaining } => {
                let n = missing.min(remaining);
                if let Some((_, m)) = self.message.as_deref_mut() {
                    m.gap();
                }
                self.client_mode = ClientMode::Bdat { remaining: remaining - n };
                if remaining == n {
                    self.end_bdat_chunk(at);
                }
                if missing > n {
                    self.client_gap(missing - n, at);
                }
            }
            ClientMode::Body => {
                self.client_lines.gap();
                if let Some((_, m)) = self.message.as_deref_mut() {
                    m.gap();
                }
            }
            ClientMode::Connect => {
                self.client_lines.gap();
            }
            ClientMode::Commands => {
                self.client_lines.gap();
                if !matches!(self.fifo.back(), Some((Pending::Gap, _))) {
                    self.expect(Pending::Gap, at);
                }
            }
        }
    }

    fn client_line(&mut self, line: LineRef<'_>) {
        match self.client_mode {
            ClientMode::Connect if line.len == 0 => self.client_mode = ClientMode::Commands,
            ClientMode::Connect => {}
            ClientMode::Body => self.body_line(line),
            _ => self.command_line(line),
        }
    }

    /// Notes what is wrong with a line's framing or content. Inlined into every command and
    /// reply line's path, where a call per line cost more than the tests; the rare line with
    /// something to note goes out of line.
    #[inline(always)]
    pub(super) fn line_anomalies(&mut self, from: Direction, line: LineRef<'_>) {
        let nul = super::line::has_nul(line.bytes);
        if nul || line.ending == Ending::BareLf || line.truncated() {
            self.note_line_anomalies(from, line, nul);
        }
    }

    #[cold]
    fn note_line_anomalies(&mut self, from: Direction, line: LineRef<'_>, nul: bool) {
        if line.ending == Ending::BareLf {
            self.log.anomaly(from, AnomalyKind::BareLf, "line ended by LF without CR".into(), line.first);
        }
        if line.truncated() {
            let detail = format!("{} bytes, {} kept", line.len, line.bytes.len());
            self.log.anomaly(from, AnomalyKind::LineTooLong, detail, line.first);
        }
        if nul {
            self.log.anomaly(from, AnomalyKind::NulByte, "NUL byte in line".into(), line.first);
        }
    }

    fn command_line(&mut self, line: LineRef<'_>) {
        if line.tainted {
            let detail = format!("{} bytes after a gap dropped", line.len);
            return self.log.anomaly(C2S, AnomalyKind::Gap, detail, line.first);
        }
        self.line_anomalies(C2S, line);
        super::record::Extreme::raise(&mut self.rec.maxima.command_line, line.len as u64, line.first);
        if self.last_command_packet == Some(line.first.number) {
            self.rec.pipelining = true;
        }
        self.last_command_packet = Some(line.last.number);
        let cmd = command::parse(line.bytes);
        if self.is_sasl_response(&cmd) {
            return self.auth_data(line);
        }
        self.auth_ctx = cmd.verb == Verb::Auth;
        let max = self.cfg.max_items;
        Self::bounded(max, 16, &mut self.rec.items_dropped, &mut self.rec.commands, cmd.verb.clone());
        let event = self.command_event(&cmd, line);
        let (kind, tx) = self.command_effect(&cmd, line);
        self.expect(Pending::Command { verb: cmd.verb, kind, event, tx }, line.first);
    }

    /// The command's event; AUTH keeps only its mechanism (credentials are never stored).
    fn command_event(&mut self, cmd: &command::Command, line: LineRef<'_>) -> Option<usize> {
        let shown = if cmd.verb == Verb::Auth { command::auth_mechanism(&cmd.arg) } else { clip(&cmd.arg) };
        self.log.push(Event::Command {
            verb: cmd.verb.clone(),
            arg: (!shown.is_empty()).then_some(shown),
            len: line.len,
            first_packet: line.first,
            last_packet: line.last,
            reply: None,
        })
    }

    /// RFC 4954 §4: after AUTH (and each 334 challenge) the client sends SASL responses, not
    /// commands. Like the reference, a line after an AUTH exchange step is a response when the
    /// step got 334, or when its first word is no known verb (reply not yet seen).
    fn is_sasl_response(&self, cmd: &command::Command) -> bool {
        self.auth_ctx && (self.auth_reply == Some(334) || !cmd.verb.is_known())
    }

    fn auth_data(&mut self, line: LineRef<'_>) {
        self.auth_seq += 1;
        self.auth_reply = None;
        let event = self.log.push(Event::AuthData {
            len: line.len,
            first_packet: line.first,
            last_packet: line.last,
            reply: None,
        });
        let kind = Kind::Auth { seq: self.auth_seq };
        self.expect(Pending::Command { verb: Verb::AuthData, kind, event, tx: self.cur_tx }, line.first);
    }

    /// What a command does to the dialogue state; returns what its reply will answer.
    fn command_effect(&mut self, cmd: &command::Command, line: LineRef<'_>) -> (Kind, Option<usize>) {
        let at = line.first;
        match cmd.verb {
            Verb::Helo | Verb::Ehlo => self.helo(cmd),
            Verb::Mail => self.mail(cmd, at),
            Verb::Rcpt => self.rcpt(cmd, at),
            Verb::Data => {
                let tx = self.tx_for_data(Verb::Data);
                self.client_mode = ClientMode::Undecided(Decision::Data);
                (Kind::Data, tx)
            }
            Verb::Bdat => self.bdat(cmd, at),
            Verb::StartTls => {
                self.rec.starttls.get_or_insert_with(|| {
                    Box::new(super::record::StartTls { requested: true, reply: None, packet: at, tls: None })
                });
                self.client_mode = ClientMode::Undecided(Decision::StartTls);
                (Kind::StartTls, None)
            }
            Verb::Auth => {
                self.auth_seq += 1;
                self.auth_reply = None;
                (Kind::Auth { seq: self.auth_seq }, self.cur_tx)
            }
            Verb::Rset => (Kind::Rset, self.reset_tx(Verb::Rset)),
            _ => (Kind::Other, self.cur_tx),
        }
    }

    fn bdat(&mut self, cmd: &command::Command, at: PacketRef) -> (Kind, Option<usize>) {
        let tx = self.tx_for_data(Verb::Bdat);
        match command::bdat(&cmd.arg) {
            Bdat::Valid { size, last } => {
                let chunk = BdatChunk { size, last, seen: 0, reply: None, first_packet: at, last_packet: None };
                let max = self.cfg.max_items;
                let index = tx.and_then(|t| {
                    let chunks = &mut self.rec.transactions[t].bdat_chunks;
                    if chunks.len() >= max {
                        self.rec.items_dropped += 1;
                        return None;
                    }
                    chunks.push(chunk);
                    Some(chunks.len() - 1)
                });
                if self.message.is_none() {
                    self.message = Some(Box::new((tx, Message::new(self.cfg.max_line_len, self.cfg.personal_headers))));
                }
                self.bdat_chunk = tx.zip(index);
                self.client_mode = ClientMode::Bdat { remaining: size };
                if size == 0 {
                    self.end_bdat_chunk(at);
                }
                (Kind::Bdat { chunk: index, last }, tx)
            }
            Bdat::Invalid { last } => {
                let detail = format!("BDAT {}", clip(&cmd.arg));
                self.log.anomaly(C2S, AnomalyKind::BdatInvalidSize, detail, at);
                if last {
                    self.close_tx(None);
                }
                (Kind::Bdat { chunk: None, last }, tx)
            }
        }
    }

    /// Consumes BDAT content (RFC 3030 §2: exactly the announced octets, CRLF included).
    fn bdat_data(&mut self, rest: &[u8], remaining: u64, at: PacketRef) -> usize {
        let n = (remaining.min(rest.len() as u64)) as usize;
        if let Some((_, m)) = self.message.as_deref_mut() {
            m.feed_bytes(&rest[..n], at);
        }
        if let Some((t, c)) = self.bdat_chunk {
            let chunk = &mut self.rec.transactions[t].bdat_chunks[c];
            chunk.seen += n as u64;
            chunk.last_packet = Some(at);
        }
        self.client_mode = ClientMode::Bdat { remaining: remaining - n as u64 };
        if remaining == n as u64 {
            self.end_bdat_chunk(at);
        }
        n
    }

    pub(super) fn end_bdat_chunk(&mut self, at: PacketRef) {
        self.client_mode = ClientMode::Commands;
        let Some((t, c)) = self.bdat_chunk.take() else {
            return;
        };
        let chunk = self.rec.transactions[t].bdat_chunks[c].clone();
        self.log.push(Event::BdatChunk {
            size: chunk.size,
            last: chunk.last,
            seen: chunk.seen,
            first_packet: chunk.first_packet,
            last_packet: chunk.last_packet,
        });
        if chunk.last {
            self.end_message(true, at);
            self.close_tx(None);
        }
    }

    /// A line of the DATA body; "." alone ends it (RFC 5321 §4.1.1.4), a leading "." of any
    /// other line is dot-stuffing (§4.5.2).
    fn body_line(&mut self, line: LineRef<'_>) {
        if !line.tainted && line.bytes == b"." {
            if line.ending != Ending::CrLf {
                self.log.anomaly(C2S, AnomalyKind::BareLf, "end of data not CRLF.CRLF".into(), line.first);
            }
            self.end_message(true, line.last);
            let tx = self.close_tx(None);
            self.client_mode = ClientMode::Commands;
            let kind = Kind::DataEnd;
            self.expect(Pending::Command { verb: Verb::DataEnd, kind, event: None, tx }, line.first);
            return;
        }
        let wire = line.len as u64 + if line.ending == Ending::CrLf { 2 } else { 1 };
        let Some((_, m)) = self.message.as_deref_mut() else {
            return;
        };
        let stuffed = line.bytes.first() == Some(&b'.');
        m.stats.dot_stuffed_lines += u64::from(stuffed);
        let first_bare_lf = line.ending == Ending::BareLf && m.stats.bare_lf_lines == 0;
        m.on_line(line, &line.bytes[usize::from(stuffed)..], wire);
        if first_bare_lf {
            self.log.anomaly(C2S, AnomalyKind::BareLf, "bare LF in message body".into(), line.first);
        }
    }

    pub(super) fn client_finish(&mut self) {
        let at = self.last_at[C2S.index()];
        let partial = self.client_lines.take_partial(at);
        match (self.client_mode, partial) {
            (ClientMode::Commands, Some(l)) if !l.tainted => self.partial_command(&l),
            (ClientMode::Body, Some(l)) => {
                let wire = l.len as u64;
                if let Some((_, m)) = self.message.as_deref_mut() {
                    m.on_line(l.as_ref(), &l.bytes, wire);
                }
            }
            _ => {}
        }
        match self.client_mode {
            ClientMode::Body => {
                self.log.anomaly(C2S, AnomalyKind::DataBodyUnterminated, "no end-of-data line".into(), at);
                self.end_message(false, at);
            }
            ClientMode::Bdat { remaining } => {
                let detail = format!("{remaining} chunk bytes missing at end");
                self.log.anomaly(C2S, AnomalyKind::BdatTruncated, detail, at);
                self.bdat_chunk = None;
                self.end_message(false, at);
            }
            _ => self.end_message(false, at),
        }
    }

    /// A command cut off by the end of the capture: the reference still lists its verb.
    fn partial_command(&mut self, l: &Line) {
        let head = String::from_utf8_lossy(&l.bytes[..l.bytes.len().min(64)]).to_uppercase();
        // Upper-cased whole, not parsed: the reference lists the cut-off word as it reads it.
        let verb = Verb::named(head.split(' ').next().unwrap_or("").to_string());
        let detail = format!("{} bytes without line end", l.len);
        self.log.anomaly(C2S, AnomalyKind::PartialLineAtEnd, detail, l.first);
        if l.truncated() {
            let detail = format!("{} bytes, {} kept", l.len, l.bytes.len());
            self.log.anomaly(C2S, AnomalyKind::LineTooLong, detail, l.first);
        }
        let max = self.cfg.max_items;
        Self::bounded(max, 16, &mut self.rec.items_dropped, &mut self.rec.commands, verb);
    }
}
