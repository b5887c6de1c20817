//! Session stage: drives decode → TCP → SMTP for one capture and hands on one [`Session`] per
//! connection as soon as it ends.

use crate::capture::{CaptureWarning, Frame, FrameSink, LinkType};
use crate::decode::{self, Skip};
use crate::smtp::{Dialogue, SmtpConfig, SmtpRecord};
use crate::tcp::conn::{ConnRecord, Endpoint};
use crate::tcp::flow::{EndReason, Finished, FlowTable, StreamConsumer, TableStats, TcpConfig};
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
}

/// Adapts the SMTP dialogue to the TCP stage's consumer interface.
struct SmtpApp(Dialogue);

impl StreamConsumer for SmtpApp {
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
    capture: Arc<str>,
    config: AnalyzerConfig,
    table: FlowTable<SmtpApp>,
    pub decode_stats: DecodeStats,
    pub warnings: Vec<CaptureWarning>,
    unknown_links: HashSet<u32>,
    malformed_warned: u32,
    on_session: F,
    stop: bool,
}

const MALFORMED_WARNINGS: u32 = 5;

impl<F: FnMut(Session) -> ControlFlow<()>> Analyzer<F> {
    pub fn new(capture: &str, mut config: AnalyzerConfig, on_session: F) -> Self {
        config.tcp.server_payload_hint = Some(looks_like_smtp_reply);
        Analyzer {
            capture: Arc::from(capture),
            table: FlowTable::new(config.tcp.clone()),
            config,
            decode_stats: DecodeStats::default(),
            warnings: Vec::new(),
            unknown_links: HashSet::new(),
            malformed_warned: 0,
            on_session,
            stop: false,
        }
    }

    pub fn table_stats(&self) -> &TableStats {
        &self.table.stats
    }

    pub fn open_flows(&self) -> usize {
        self.table.open_flows()
    }

    /// The analyzer was asked to stop by `on_session`.
    pub fn stopped(&self) -> bool {
        self.stop
    }

    /// End of input: every open connection becomes a session.
    pub fn finish(&mut self) {
        let Self { table, capture, on_session, stop, .. } = self;
        table.finish_all(&mut |f| emit(capture, on_session, stop, f));
    }

    /// Hand on connections idle since before `now` (live capture calls this on a timer).
    pub fn expire(&mut self, now: crate::capture::Timestamp) {
        let Self { table, capture, on_session, stop, .. } = self;
        table.expire(now, &mut |f| emit(capture, on_session, stop, f));
    }

    fn skipped(&mut self, skip: Skip, frame: &Frame<'_>) {
        match skip {
            Skip::NotTcp => self.decode_stats.not_tcp += 1,
            Skip::Fragment => self.decode_stats.fragments += 1,
            Skip::UnknownLinkType(LinkType(lt)) => {
                self.decode_stats.unknown_link_type += 1;
                if self.unknown_links.insert(lt) {
                    self.warnings.push(CaptureWarning {
                        offset: 0,
                        message: format!(
                            "packet {}: link type {lt} is not supported; its packets are skipped",
                            frame.number
                        ),
                    });
                }
            }
            Skip::Malformed(why) => {
                self.decode_stats.malformed += 1;
                if self.malformed_warned < MALFORMED_WARNINGS {
                    self.malformed_warned += 1;
                    self.warnings.push(CaptureWarning {
                        offset: 0,
                        message: format!("packet {}: malformed headers ({why}); skipped", frame.number),
                    });
                }
            }
        }
    }
}

fn emit<F: FnMut(Session) -> ControlFlow<()>>(
    capture: &Arc<str>,
    on_session: &mut F,
    stop: &mut bool,
    f: Finished<SmtpApp>,
) {
    if *stop {
        return;
    }
    let session =
        Session { index: f.index, capture: capture.clone(), conn: f.conn, smtp: f.app.0.finish(), end: f.end };
    if on_session(session).is_break() {
        *stop = true;
    }
}

impl<F: FnMut(Session) -> ControlFlow<()>> FrameSink for Analyzer<F> {
    fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
        self.decode_stats.frames += 1;
        match decode::decode(frame) {
            Ok(packet) => {
                let smtp_config = &self.config.smtp;
                let Self { table, capture, on_session, stop, .. } = self;
                let mut make = |_: &Endpoint, _: &Endpoint| SmtpApp(Dialogue::new(smtp_config));
                table.packet(&packet, &mut make, &mut |f| emit(capture, on_session, stop, f));
            }
            Err(skip) => self.skipped(skip, frame),
        }
        if self.stop { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }

    fn warning(&mut self, warning: CaptureWarning) {
        self.warnings.push(warning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_detection() {
        assert!(looks_like_smtp_reply(b"220 mx ESMTP\r\n"));
        assert!(looks_like_smtp_reply(b"250-PIPELINING\r\n"));
        assert!(looks_like_smtp_reply(b"250\r\n"));
        assert!(!looks_like_smtp_reply(b"EHLO x\r\n"));
        assert!(!looks_like_smtp_reply(b"2200"));
        assert!(!looks_like_smtp_reply(b"22"));
    }
}
