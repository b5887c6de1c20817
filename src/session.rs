//! Session stage: drives decode → TCP → SMTP for one capture and hands on one [`Session`] per
//! connection as soon as it ends.

use crate::capture::{CaptureWarning, Frame, FrameSink, LinkType};
use crate::decode::{self, Packet, Skip};
use crate::defrag::{Defragmenter, FragmentStats, Reassembled};
use crate::smtp::{AnomalyKind, Dialogue, SmtpConfig, SmtpRecord};
use crate::tcp::conn::{ConnRecord, Endpoint};
use crate::tcp::flow::{EndReason, Finished, FlowTable, HandOnOrder, StreamConsumer, TableStats, TcpConfig};
use crate::tcp::{Direction, PacketRef};
use serde::Serialize;
use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Everything smtpdiag learned about one TCP connection on a mail port.
#[derive(Clone, Debug)]
pub struct Session {
    /// 1-based index in the capture, in order of first packet.
    pub index: u64,
    /// Name of the capture it came from, as given on the command line.
    pub capture: Arc<str>,
    pub conn: ConnRecord,
    pub smtp: SmtpRecord,
    pub end: EndReason,
    /// Where the session goes in the output; see [`OutputKey`].
    pub key: OutputKey,
}

/// What a failover note needs of a session (the tracker sees every session, most of them only
/// as this when `read --threads` rendered them in their shard).
#[derive(Clone, Debug)]
pub struct Brief {
    pub index: u64,
    pub capture: Arc<str>,
    pub client: Endpoint,
    pub server: Endpoint,
    pub first: PacketRef,
    pub last: PacketRef,
}

impl Brief {
    pub fn of(s: &Session) -> Brief {
        let c = &s.conn;
        Brief {
            index: s.index,
            capture: s.capture.clone(),
            client: c.client,
            server: c.server,
            first: c.first,
            last: c.last,
        }
    }

    pub fn id(&self) -> String {
        self.index.to_string()
    }
}

/// The output order of sessions, a function of the capture alone: sessions come out in the
/// order their connections were handed on — by the packet whose handling ended them (`frame`;
/// `u64::MAX` at end of input), then the table's order among those (`HandOnOrder`: expired,
/// port reused, evicted, end; by deadline), then the connection's first packet. One thread emits them in this order as
/// it goes; `--threads N` sorts each batch's sessions from all shards by it, so both agree
/// (except for evictions, which depend on how full each shard's table is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputKey {
    pub frame: u64,
    pub order: HandOnOrder,
    pub first_packet: u64,
}

impl Session {
    /// The id users pass to `--session`: the index, prefixed by the capture when several are read.
    pub fn id(&self) -> String {
        self.index.to_string()
    }
}

#[derive(Clone, Debug, Default)]
pub struct AnalyzerConfig {
    pub tcp: TcpConfig,
    pub smtp: SmtpConfig,
}

/// A reply line starts with three digits and a space, hyphen or line end (RFC 5321 §4.2).
pub fn looks_like_smtp_reply(payload: &[u8]) -> bool {
    match payload {
        [a, b, c, rest @ ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            matches!(rest.first(), None | Some(b' ' | b'-' | b'\r' | b'\n'))
        }
        _ => false,
    }
}

/// Frames that decoded to nothing useful, and warnings worth showing once.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DecodeStats {
    pub frames: u64,
    pub not_tcp: u64,
    pub fragments: u64,
    pub malformed: u64,
    pub unknown_link_type: u64,
    /// What became of IP fragments carrying TCP.
    pub defrag: FragmentStats,
}

/// The warning for fragmented datagrams that never became packets, with why.
fn fragments_lost(f: &FragmentStats) -> Option<String> {
    let lost = f.lost();
    if lost == 0 {
        return None;
    }
    let reasons = [
        (f.timed_out, "still missing pieces 30 s after the first"),
        (f.over_cap, "given up to keep reassembly within 4 MiB"),
        (f.inconsistent, "with overlapping or inconsistent pieces (dropped, as Linux does)"),
        (f.incomplete_at_end, "incomplete when the capture ended"),
    ];
    let why: Vec<String> = reasons.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
    Some(format!(
        "{lost} fragmented IP datagram{} carrying TCP could not be reassembled ({}; {} reassembled from {} fragments)",
        if lost == 1 { "" } else { "s" },
        why.join(", "),
        f.reassembled,
        f.fragments
    ))
}

/// Adapts the SMTP dialogue to the TCP stage's consumer interface.
pub(crate) struct SmtpApp(Dialogue);

impl StreamConsumer for SmtpApp {
    /// Inlined where the reassembler's bytes are handed on: the adapter was a call of its own.
    #[inline]
    fn on_data(&mut self, dir: Direction, data: &[u8], at: PacketRef) {
        self.0.on_data(dir, data, at);
    }
    fn on_gap(&mut self, dir: Direction, len: u64, at: PacketRef) {
        self.0.on_gap(dir, len, at);
    }
}

/// Pushes frames through the stages; `on_session` receives each finished session and may ask to
/// stop (closed output, interrupt).
pub struct Analyzer<F: FnMut(Session) -> ControlFlow<()>> {
    table: FlowTable<SmtpApp>,
    hand: Hand<F>,
    pub decode_stats: DecodeStats,
    pub warnings: Vec<CaptureWarning>,
    /// IP fragments waiting for the rest of their datagram.
    defrag: Defragmenter,
    unknown_links: HashSet<u32>,
    malformed_warned: u32,
    /// Number of the frame being handled (for [`OutputKey`]).
    current: u64,
    /// First packet numbers of the connections opened, when a shard reports them.
    pub starts: Option<Vec<u64>>,
}

/// What handing connections on as sessions needs of the analyzer, besides its warnings: kept in
/// one struct so that the callback built for every packet holds one pointer, not one per field.
struct Hand<F> {
    capture: Arc<str>,
    config: AnalyzerConfig,
    caps_warned: CapsWarned,
    on_session: F,
    /// `on_session` asked to stop.
    stop: bool,
}

/// What a frame is to the analysis, for a reader that shards connections (`read --threads`).
pub enum Route<'a> {
    /// Counted and warned about; nothing to do.
    Skipped,
    /// TCP outside the mail ports: counted.
    OtherPort,
    Mail(Packet<'a>),
    /// The last piece of a fragmented mail-port datagram: its packet is `r.packet(frame)`.
    Reassembled(Reassembled),
}

const MALFORMED_WARNINGS: u32 = 5;

/// Which caps have bitten already: each is named once per capture, with the flag that raises it.
#[derive(Clone, Debug, Default)]
struct CapsWarned {
    /// Byte offset of the frame being handled: where a cap was found to bite.
    offset: u64,
    flows: bool,
    memcap: bool,
    buffer: bool,
    flow_buffer: bool,
    events: bool,
    line: bool,
}

impl CapsWarned {
    /// After a packet: the flow table's caps. Inlined for the packets where none has bitten
    /// (nearly all): two counters are read, nothing is called (a memcap eviction is counted
    /// in `flows_evicted` too).
    #[inline]
    fn table(&mut self, config: &TcpConfig, stats: &TableStats, number: u64, warnings: &mut Vec<CaptureWarning>) {
        if stats.flows_evicted | stats.global_cap_flushes == 0 {
            return;
        }
        self.table_bitten(config, stats, number, warnings);
    }

    #[cold]
    fn table_bitten(
        &mut self,
        config: &TcpConfig,
        stats: &TableStats,
        number: u64,
        warnings: &mut Vec<CaptureWarning>,
    ) {
        if stats.flows_evicted > stats.memcap_evictions && !std::mem::replace(&mut self.flows, true) {
            warnings.push(cap_warning(
                self.offset,
                format!(
                    "packet {number}: more than {} connections open at once (--max-flows): the oldest idle ones are \
                 closed early from here on, and counted in the totals",
                    config.max_flows
                ),
            ));
        }
        if stats.memcap_evictions > 0 && !std::mem::replace(&mut self.memcap, true) {
            warnings.push(cap_warning(
                self.offset,
                format!(
                    "packet {number}: connections hold more than {} bytes (--memcap): the oldest idle ones are \
                 closed early from here on, and counted in the totals",
                    config.memcap
                ),
            ));
        }
        if stats.global_cap_flushes > 0 && !std::mem::replace(&mut self.buffer, true) {
            warnings.push(cap_warning(
                self.offset,
                format!(
                    "packet {number}: more than {} out-of-order bytes buffered by all connections (--max-buffer): \
                 connections stop waiting for missing segments and report them as gaps",
                    config.max_buffered_total
                ),
            ));
        }
    }

    /// A finished session: the per-connection caps.
    fn session(&mut self, config: &AnalyzerConfig, s: &Session, warnings: &mut Vec<CaptureWarning>) {
        let id = s.id();
        if s.conn.dirs.iter().any(|d| d.stream.cap_flushes > 0) && !std::mem::replace(&mut self.flow_buffer, true) {
            let l = &config.tcp.limits;
            warnings.push(cap_warning(
                self.offset,
                format!(
                    "session {id}: more than {} out-of-order bytes or {} segments waiting in one direction \
                 (--max-flow-buffer): it stopped waiting for missing segments and reports them as gaps",
                    l.max_buffered_bytes, l.max_buffered_segments
                ),
            ));
        }
        if s.conn.events_dropped > 0 && !std::mem::replace(&mut self.events, true) {
            warnings.push(cap_warning(
                self.offset,
                format!(
                    "session {id}: more than {} packets (--max-events): the events of later packets were not kept \
                 for ladders and rules",
                    config.tcp.max_events
                ),
            ));
        }
        let max_line = config.smtp.max_line_len as u64;
        let maxima = &s.smtp.maxima;
        let longest = [&maxima.command_line, &maxima.reply_line].into_iter().flatten().map(|e| e.value).max();
        let cut = s.smtp.anomalies.iter().any(|a| a.kind == AnomalyKind::LineTooLong)
            || longest.is_some_and(|v| v > max_line);
        if cut && !std::mem::replace(&mut self.line, true) {
            warnings.push(cap_warning(
                self.offset,
                format!(
                    "session {id}: a line longer than {} bytes (--max-line) was cut; its full length is still reported",
                    config.smtp.max_line_len
                ),
            ));
        }
    }
}

fn cap_warning(offset: u64, message: String) -> CaptureWarning {
    CaptureWarning { offset, message }
}

impl<F: FnMut(Session) -> ControlFlow<()>> Analyzer<F> {
    pub fn new(capture: &str, mut config: AnalyzerConfig, on_session: F) -> Self {
        config.tcp.server_payload_hint = Some(looks_like_smtp_reply);
        Analyzer {
            table: FlowTable::new(config.tcp.clone(), {
                let smtp = config.smtp.clone();
                Box::new(move |_: &Endpoint, _: &Endpoint| SmtpApp(Dialogue::new(&smtp)))
            }),
            hand: Hand {
                capture: Arc::from(capture),
                config,
                caps_warned: CapsWarned::default(),
                on_session,
                stop: false,
            },
            decode_stats: DecodeStats::default(),
            warnings: Vec::new(),
            defrag: Defragmenter::default(),
            unknown_links: HashSet::new(),
            malformed_warned: 0,
            current: 0,
            starts: None,
        }
    }

    /// Decode a frame and say where it goes (the first half of [`FrameSink::frame`]; a shard
    /// then hands its own packets to `packet` and the others' times to `tick`).
    pub fn route<'a>(&mut self, frame: &Frame<'a>) -> Route<'a> {
        self.decode_stats.frames += 1;
        self.hand.caps_warned.offset = frame.offset;
        match decode::decode(frame) {
            Ok(p) if self.table.on_mail_port(&p) => Route::Mail(p),
            Err(Skip::Fragment) => {
                self.decode_stats.fragments += 1;
                let Some(r) = self.defrag.push(frame) else { return Route::Skipped };
                match r.packet(frame) {
                    Ok(p) if self.table.on_mail_port(&p) => Route::Reassembled(r),
                    Ok(_) => {
                        self.table.stats.tcp_packets += 1;
                        self.table.stats.other_port_packets += 1;
                        Route::OtherPort
                    }
                    Err(skip) => {
                        self.skipped(skip, frame);
                        Route::Skipped
                    }
                }
            }
            Ok(_) => {
                self.table.stats.tcp_packets += 1;
                self.table.stats.other_port_packets += 1;
                Route::OtherPort
            }
            Err(skip) => {
                self.skipped(skip, frame);
                Route::Skipped
            }
        }
    }

    /// A mail-port packet of this shard (the second half of [`FrameSink::frame`]).
    pub fn packet(&mut self, packet: &Packet<'_>) -> ControlFlow<()> {
        self.current = packet.number;
        let Self { table, hand, starts, current, warnings, .. } = self;
        let current = *current;
        let opened = table.stats.flows;
        let mut out = Emit { hand, warnings, frame: current };
        table.packet(packet, &mut |f| out.session(f));
        if table.stats.flows > opened
            && let Some(starts) = starts.as_mut()
        {
            starts.push(current);
        }
        hand.caps_warned.table(&hand.config.tcp, &table.stats, packet.number, warnings);
        if hand.stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    /// A mail-port packet of another shard: its time still expires this shard's connections,
    /// exactly as the packet would in a single table.
    pub fn tick(&mut self, number: u64, ts: crate::capture::Timestamp) {
        self.current = number;
        let Self { table, hand, warnings, .. } = self;
        let mut out = Emit { hand, warnings, frame: number };
        table.expire(ts, &mut |f| out.session(f));
    }

    /// A frame the caller read as another shard's mail-port packet without decoding it (it
    /// would route as `Route::Mail`): counted, and its time ticks as in `tick`.
    pub fn foreign(&mut self, frame: &Frame<'_>) {
        self.decode_stats.frames += 1;
        self.hand.caps_warned.offset = frame.offset;
        self.tick(frame.number, frame.ts);
    }

    pub fn table_stats(&self) -> &TableStats {
        &self.table.stats
    }

    pub fn open_flows(&self) -> usize {
        self.table.open_flows()
    }

    /// Bytes charged to the memory budget (`--memcap`) by the connections open now.
    pub fn memory_used(&self) -> usize {
        self.table.memory_used()
    }

    /// See [`FlowTable::tombstones`].
    pub fn tombstones(&self) -> usize {
        self.table.tombstones()
    }

    /// The analyzer was asked to stop by `on_session`.
    pub fn stopped(&self) -> bool {
        self.hand.stop
    }

    /// End of input: every open connection becomes a session.
    pub fn finish(&mut self) {
        self.defrag.finish();
        self.decode_stats.defrag = self.defrag.stats.clone();
        if let Some(message) = fragments_lost(&self.defrag.stats) {
            self.warnings.push(CaptureWarning { offset: self.hand.caps_warned.offset, message });
        }
        if self.decode_stats.unknown_link_type > 1 {
            let mut types: Vec<u32> = self.unknown_links.iter().copied().collect();
            types.sort_unstable();
            let types: Vec<String> = types.iter().map(u32::to_string).collect();
            let message = format!(
                "{} packets in all were skipped for their link type ({})",
                self.decode_stats.unknown_link_type,
                types.join(", ")
            );
            self.warnings.push(CaptureWarning { offset: self.hand.caps_warned.offset, message });
        }
        let unshown = self.decode_stats.malformed.saturating_sub(u64::from(self.malformed_warned));
        if unshown > 0 {
            let offset = self.hand.caps_warned.offset;
            let message = format!("{unshown} more packets with malformed headers were skipped (not shown)");
            self.warnings.push(CaptureWarning { offset, message });
        }
        let Self { table, hand, warnings, .. } = self;
        let mut out = Emit { hand, warnings, frame: u64::MAX };
        table.finish_all(&mut |f| out.session(f));
    }

    /// Hand on connections idle since before `now` (live capture calls this on a timer).
    pub fn expire(&mut self, now: crate::capture::Timestamp) {
        let Self { table, hand, warnings, current, .. } = self;
        let mut out = Emit { hand, warnings, frame: *current };
        table.expire(now, &mut |f| out.session(f));
    }

    fn skipped(&mut self, skip: Skip, frame: &Frame<'_>) {
        match skip {
            Skip::NotTcp => self.decode_stats.not_tcp += 1,
            Skip::Fragment => self.decode_stats.fragments += 1,
            Skip::UnknownLinkType(LinkType(lt)) => {
                self.decode_stats.unknown_link_type += 1;
                if self.unknown_links.insert(lt) {
                    self.warnings.push(CaptureWarning {
                        offset: frame.offset,
                        message: format!(
                            "packet {}: link type {lt}{} is not supported; its packets are skipped",
                            frame.number,
                            Some(LinkType(lt).name())
                                .filter(|n| !n.is_empty())
                                .map(|n| format!(" ({n})"))
                                .unwrap_or_default()
                        ),
                    });
                }
            }
            Skip::Malformed(why) => {
                self.decode_stats.malformed += 1;
                if self.malformed_warned < MALFORMED_WARNINGS {
                    self.malformed_warned += 1;
                    self.warnings.push(CaptureWarning {
                        offset: frame.offset,
                        message: format!("packet {}: malformed headers ({why}); skipped", frame.number),
                    });
                }
            }
        }
    }
}

/// Hands finished connections on as sessions; the parts of the analyzer that takes.
struct Emit<'a, F> {
    hand: &'a mut Hand<F>,
    warnings: &'a mut Vec<CaptureWarning>,
    /// The frame whose handling ends the connections (for [`OutputKey`]).
    frame: u64,
}

impl<F: FnMut(Session) -> ControlFlow<()>> Emit<'_, F> {
    fn session(&mut self, f: Finished<SmtpApp>) {
        let hand = &mut *self.hand;
        if hand.stop {
            return;
        }
        let key = OutputKey { frame: self.frame, order: f.order(), first_packet: f.conn.first.number };
        let (capture, smtp) = (hand.capture.clone(), f.app.0.finish());
        let session = Session { index: f.index, capture, conn: f.conn, smtp, end: f.end, key };
        hand.caps_warned.session(&hand.config, &session, self.warnings);
        if (hand.on_session)(session).is_break() {
            hand.stop = true;
        }
    }
}

impl<F: FnMut(Session) -> ControlFlow<()>> FrameSink for Analyzer<F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        self.decode_stats.frames += 1;
        self.hand.caps_warned.offset = frame.offset;
        match decode::decode(frame) {
            Ok(packet) => self.packet(&packet),
            Err(Skip::Fragment) => {
                self.decode_stats.fragments += 1;
                let Some(r) = self.defrag.push(frame) else { return ControlFlow::Continue(()) };
                match r.packet(frame) {
                    Ok(packet) => self.packet(&packet),
                    Err(skip) => {
                        self.skipped(skip, frame);
                        ControlFlow::Continue(())
                    }
                }
            }
            Err(skip) => {
                self.skipped(skip, frame);
                // Every packet's time moves the capture's clock.
                self.tick(frame.number, frame.ts);
                if self.hand.stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            }
        }
    }

    fn warning(&mut self, warning: CaptureWarning) {
        self.warnings.push(warning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Timestamp;

    #[test]
    fn reply_detection() {
        assert!(looks_like_smtp_reply(b"220 mx ESMTP\r\n"));
        assert!(looks_like_smtp_reply(b"250-PIPELINING\r\n"));
        assert!(looks_like_smtp_reply(b"250\r\n"));
        assert!(!looks_like_smtp_reply(b"EHLO x\r\n"));
        assert!(!looks_like_smtp_reply(b"2200"));
        assert!(!looks_like_smtp_reply(b"22"));
    }

    /// An Ethernet/IPv4/TCP frame between 10.0.0.1:40000 and 10.0.0.2:25.
    fn tcp_frame(to_server: bool, syn: bool, ack: bool, fin: bool) -> Vec<u8> {
        let (src, dst, sp, dp) = if to_server {
            ([10, 0, 0, 1], [10, 0, 0, 2], 40000, 25)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], 25, 40000)
        };
        let mut b = etherparse::PacketBuilder::ethernet2([0; 6], [0; 6]).ipv4(src, dst, 64).tcp(sp, dp, 0, 1000);
        if syn {
            b = b.syn();
        }
        if ack {
            b = b.ack(1);
        }
        if fin {
            b = b.fin();
        }
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    /// A closed connection is handed on once the linger passed, not after the idle timeout
    /// counted from its first packet: otherwise every connection of a capture shorter than the
    /// idle timeout would stay in memory until the end.
    #[test]
    fn closed_connection_leaves_after_the_linger() {
        let mut ended = Vec::new();
        let mut a = Analyzer::new("t", AnalyzerConfig::default(), |s| {
            ended.push(s.index);
            ControlFlow::Continue(())
        });
        let packets = [
            (true, true, false, false),
            (false, true, true, false),
            (true, false, true, true),
            (false, false, true, true),
        ];
        for (i, &(to_server, syn, ack, fin)) in packets.iter().enumerate() {
            let data = tcp_frame(to_server, syn, ack, fin);
            let frame = Frame {
                number: i as u64 + 1,
                ts: Timestamp(1_000_000_000),
                link_type: LinkType::ETHERNET,
                data: &data,
                orig_len: 0,
                offset: 0,
            };
            let _ = FrameSink::frame(&mut a, &frame);
        }
        assert_eq!(a.open_flows(), 1);
        // Ten seconds later (past the 5 s linger, far before the 600 s idle timeout), any
        // mail-port packet expires it.
        a.expire(Timestamp(11_000_000_000));
        assert_eq!(a.open_flows(), 0);
        drop(a);
        assert_eq!(ended, [1]);
    }
}
