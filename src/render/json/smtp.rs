//! The record's `smtp` object, built from the SMTP stage's `SmtpRecord`: the record's field
//! names and shapes are decided here, not by the parser's structs.

use super::events::{self, EventOut};
use super::names;
use super::omit;
use crate::render::options::JsonDetail;
use crate::smtp::headers::Identity;
use crate::smtp::{
    Anomaly, Attachment, Banner, BdatChunk, BodyStats, ClientHello, Extreme, Maxima, Rcpt, ReplyInfo, ServerHello,
    SmtpRecord, StartTls, TlsAlert, TlsInfo, Transaction, Verb,
};
use crate::tcp::PacketRef;
use serde::Serialize;

#[derive(Serialize)]
pub(super) struct Smtp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    banner: Option<ReplyOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    helo: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    ehlo_keywords: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    mail_from: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    rcpt_to: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    transactions: Vec<TransactionOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    starttls: Option<StartTlsOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    implicit_tls: Option<TlsOut<'a>>,
    /// The dialogue once: verbs in order, reply codes in order (the transcript is `events`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    commands: Vec<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    replies: &'a [u16],
    #[serde(skip_serializing_if = "omit::not")]
    client_spoke_first: bool,
    #[serde(skip_serializing_if = "omit::not")]
    pipelining: bool,
    /// The longest lines and largest counts with where they were, with `--events`.
    #[serde(skip_serializing_if = "Option::is_none")]
    maxima: Option<MaximaOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    anomalies: Vec<AnomalyOut<'a>>,
    /// The transcript, with `--events` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<EventOut<'a>>>,
    /// Transcript events cut by the cap, with `--events` only.
    #[serde(skip_serializing_if = "omit::zero")]
    events_dropped: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    items_dropped: u64,
}

impl Smtp<'_> {
    /// Nothing to say (no SMTP byte crossed): the record leaves `smtp` out.
    pub(super) fn is_empty(&self) -> bool {
        self.banner.is_none()
            && self.helo.is_none()
            && self.ehlo_keywords.is_empty()
            && self.mail_from.is_empty()
            && self.rcpt_to.is_empty()
            && self.transactions.is_empty()
            && self.starttls.is_none()
            && self.implicit_tls.is_none()
            && self.commands.is_empty()
            && self.replies.is_empty()
            && !self.client_spoke_first
            && !self.pipelining
            && self.maxima.is_none()
            && self.anomalies.is_empty()
            && self.events.as_ref().is_none_or(Vec::is_empty)
            && self.events_dropped == 0
            && self.items_dropped == 0
    }
}

pub(super) fn smtp(r: &SmtpRecord, d: JsonDetail) -> Smtp<'_> {
    Smtp {
        banner: r.banner.as_ref().map(|x| banner(x, d)),
        helo: r.helo.as_deref(),
        ehlo_keywords: &r.ehlo_keywords,
        mail_from: &r.mail_from,
        rcpt_to: &r.rcpt_to,
        transactions: r.transactions.iter().map(|x| transaction(x, d)).collect(),
        starttls: r.starttls.as_deref().map(|x| starttls(x, d)),
        implicit_tls: r.implicit_tls.as_deref().map(|x| tls(x, d)),
        commands: r.commands.iter().map(Verb::as_str).collect(),
        replies: &r.replies,
        client_spoke_first: r.client_spoke_first,
        pipelining: r.pipelining,
        maxima: Some(maxima(&r.maxima)).filter(|m| d.events && !m.is_empty()),
        anomalies: r.anomalies.iter().map(|x| anomaly(x, d)).collect(),
        events: d.events.then(|| r.events.iter().map(events::event).collect()),
        events_dropped: if d.events { r.events_dropped } else { 0 },
        items_dropped: r.items_dropped,
    }
}

/// A packet reference (the bare packet number, Wireshark's "Go to packet"), with `--events`.
fn at(d: JsonDetail, p: &PacketRef) -> Option<u64> {
    d.events.then_some(p.number)
}

fn banner(b: &Banner, d: JsonDetail) -> ReplyOut<'_> {
    ReplyOut { code: b.code, text: &b.text, packet: at(d, &b.packet) }
}

/// A reply as the record shows it: the banner, and each reply.
#[derive(Serialize)]
struct ReplyOut<'a> {
    code: u16,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<u64>,
}

fn reply(r: &ReplyInfo, d: JsonDetail) -> ReplyOut<'_> {
    ReplyOut { code: r.code, text: &r.text, packet: at(d, &r.packet) }
}

#[derive(Serialize)]
struct RcptOut<'a> {
    address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<u64>,
}

#[derive(Serialize)]
struct BdatOut {
    size: u64,
    #[serde(skip_serializing_if = "omit::not")]
    last: bool,
    #[serde(skip_serializing_if = "omit::zero")]
    seen: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_packet: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_packet: Option<u64>,
}

fn bdat(c: &BdatChunk, d: JsonDetail) -> BdatOut {
    BdatOut {
        size: c.size,
        last: c.last,
        seen: c.seen,
        reply: c.reply,
        first_packet: at(d, &c.first_packet),
        last_packet: c.last_packet.as_ref().and_then(|p| at(d, p)),
    }
}

#[derive(Serialize)]
struct TransactionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    mail_from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mail_reply: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mail_packet: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    nested_mail_from: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rcpts: Vec<RcptOut<'a>>,
    /// RCPT commands of the transaction, when more were sent than `rcpts` keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    rcpt_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_verb: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_intermediate_reply: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_reply: Option<ReplyOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bdat_chunks: Vec<BdatOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<BodyOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reset_by: Option<&'a str>,
}

fn rcpt(r: &Rcpt, d: JsonDetail) -> RcptOut<'_> {
    RcptOut { address: &r.address, reply: r.reply, packet: at(d, &r.packet) }
}

fn transaction(t: &Transaction, d: JsonDetail) -> TransactionOut<'_> {
    TransactionOut {
        mail_from: t.mail_from.as_deref(),
        mail_reply: t.mail_reply,
        mail_packet: t.mail_packet.as_ref().and_then(|p| at(d, p)),
        nested_mail_from: &t.nested_mail_from,
        rcpts: t.rcpts.iter().map(|x| rcpt(x, d)).collect(),
        rcpt_count: (t.rcpt_count != t.rcpts.len()).then_some(t.rcpt_count),
        data_verb: t.data_verb.as_ref().map(Verb::as_str),
        data_intermediate_reply: t.data_intermediate_reply,
        data_reply: t.data_reply.as_ref().map(|x| reply(x, d)),
        queue_id: t.queue_id.as_deref(),
        bdat_chunks: t.bdat_chunks.iter().map(|x| bdat(x, d)).collect(),
        body: t.body.as_ref().map(|x| body(x, d)).filter(|b| !b.is_empty()),
        reset_by: t.reset_by.as_ref().map(Verb::as_str),
    }
}

/// A maximum and the packet that carried it.
#[derive(Serialize)]
struct ExtremeOut {
    value: u64,
    packet: u64,
}

fn extreme(e: &Option<Extreme>) -> Option<ExtremeOut> {
    e.as_ref().map(|e| ExtremeOut { value: e.value, packet: e.packet.number })
}

#[derive(Serialize)]
struct AttachmentOut<'a> {
    filename: &'a str,
    #[serde(skip_serializing_if = "omit::zero")]
    filename_len: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    part_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<u64>,
}

fn attachment(a: &Attachment, d: JsonDetail) -> AttachmentOut<'_> {
    AttachmentOut {
        filename: &a.filename,
        filename_len: a.filename_len,
        part_bytes: a.part_bytes,
        packet: at(d, &a.packet),
    }
}

#[derive(Serialize)]
struct BodyOut<'a> {
    #[serde(skip_serializing_if = "omit::zero")]
    bytes: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    lines: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    dot_stuffed_lines: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    bare_lf_lines: u64,
    #[serde(skip_serializing_if = "omit::not")]
    terminated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    longest_header_line: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    longest_body_line: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "omit::zero")]
    lines_over_998: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<AttachmentOut<'a>>,
    #[serde(skip_serializing_if = "omit::zero")]
    attachments_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    received_path: &'a [String],
    /// Subject, From and To are recorded only with `--headers` (personal data).
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_packet: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_packet: Option<u64>,
}

impl BodyOut<'_> {
    /// A body begun but empty, with nothing to show (no bytes, no packet numbers asked for).
    fn is_empty(&self) -> bool {
        self.bytes == 0 && !self.terminated && self.first_packet.is_none() && self.message_id.is_none()
    }
}

fn body(b: &BodyStats, d: JsonDetail) -> BodyOut<'_> {
    let Identity { message_id, received_path, subject, from, to } = &b.identity;
    BodyOut {
        bytes: b.bytes,
        lines: b.lines,
        dot_stuffed_lines: b.dot_stuffed_lines,
        bare_lf_lines: b.bare_lf_lines,
        terminated: b.terminated,
        longest_header_line: extreme(&b.longest_header_line).filter(|_| d.events),
        longest_body_line: extreme(&b.longest_body_line).filter(|_| d.events),
        lines_over_998: b.lines_over_998,
        attachments: b.attachments.iter().map(|x| attachment(x, d)).collect(),
        attachments_dropped: b.attachments_dropped,
        message_id: message_id.as_deref(),
        received_path,
        subject: subject.as_deref(),
        from: from.as_deref(),
        to: to.as_deref(),
        first_packet: b.first_packet.as_ref().and_then(|p| at(d, p)),
        last_packet: b.last_packet.as_ref().and_then(|p| at(d, p)),
    }
}

#[derive(Serialize)]
struct MaximaOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    command_line: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_line: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rcpt_per_transaction: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    header_line: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_line: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_address: Option<ExtremeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_filename: Option<ExtremeOut>,
}

impl MaximaOut {
    fn is_empty(&self) -> bool {
        [
            &self.command_line,
            &self.reply_line,
            &self.rcpt_per_transaction,
            &self.header_line,
            &self.body_line,
            &self.sender_address,
            &self.mime_filename,
        ]
        .iter()
        .all(|e| e.is_none())
    }
}

fn maxima(m: &Maxima) -> MaximaOut {
    MaximaOut {
        command_line: extreme(&m.command_line),
        reply_line: extreme(&m.reply_line),
        rcpt_per_transaction: extreme(&m.rcpt_per_transaction),
        header_line: extreme(&m.header_line),
        body_line: extreme(&m.body_line),
        sender_address: extreme(&m.sender_address),
        mime_filename: extreme(&m.mime_filename),
    }
}

#[derive(Serialize)]
struct StartTlsOut<'a> {
    requested: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<TlsOut<'a>>,
}

fn starttls(s: &StartTls, d: JsonDetail) -> StartTlsOut<'_> {
    StartTlsOut {
        requested: s.requested,
        reply: s.reply,
        packet: at(d, &s.packet),
        tls: s.tls.as_ref().map(|x| tls(x, d)).filter(|t| !t.is_empty()),
    }
}

#[derive(Serialize)]
struct ClientHelloOut<'a> {
    version: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    supported_versions: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<u64>,
}

#[derive(Serialize)]
struct ServerHelloOut<'a> {
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<u64>,
}

#[derive(Serialize)]
struct AlertOut<'a> {
    from: &'a str,
    level: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    packet: Option<u64>,
}

#[derive(Serialize)]
struct TlsOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_hello: Option<ClientHelloOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_hello: Option<ServerHelloOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    alerts: Vec<AlertOut<'a>>,
    #[serde(skip_serializing_if = "omit::not")]
    change_cipher_spec: bool,
    #[serde(skip_serializing_if = "omit::not")]
    encrypted: bool,
    #[serde(skip_serializing_if = "omit::zero")]
    client_encrypted_records: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    server_encrypted_records: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    client_app_data_bytes: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    server_app_data_bytes: u64,
    #[serde(skip_serializing_if = "omit::zero")]
    non_tls_bytes: u64,
}

fn client_hello(h: &ClientHello, d: JsonDetail) -> ClientHelloOut<'_> {
    ClientHelloOut {
        version: &h.version,
        supported_versions: &h.supported_versions,
        sni: h.sni.as_deref(),
        packet: at(d, &h.packet),
    }
}

fn server_hello(h: &ServerHello, d: JsonDetail) -> ServerHelloOut<'_> {
    ServerHelloOut { version: &h.version, packet: at(d, &h.packet) }
}

fn alert(a: &TlsAlert, d: JsonDetail) -> AlertOut<'_> {
    AlertOut { from: &a.from, level: &a.level, description: &a.description, packet: at(d, &a.packet) }
}

impl TlsOut<'_> {
    /// STARTTLS answered, but no TLS byte seen.
    fn is_empty(&self) -> bool {
        self.client_hello.is_none()
            && self.server_hello.is_none()
            && self.alerts.is_empty()
            && !self.change_cipher_spec
            && !self.encrypted
            && self.client_encrypted_records == 0
            && self.server_encrypted_records == 0
            && self.client_app_data_bytes == 0
            && self.server_app_data_bytes == 0
            && self.non_tls_bytes == 0
    }
}

fn tls(t: &TlsInfo, d: JsonDetail) -> TlsOut<'_> {
    TlsOut {
        client_hello: t.client_hello.as_ref().map(|x| client_hello(x, d)),
        server_hello: t.server_hello.as_ref().map(|x| server_hello(x, d)),
        alerts: t.alerts.iter().map(|x| alert(x, d)).collect(),
        change_cipher_spec: t.change_cipher_spec,
        encrypted: t.encrypted,
        client_encrypted_records: t.client_encrypted_records,
        server_encrypted_records: t.server_encrypted_records,
        client_app_data_bytes: t.client_app_data_bytes,
        server_app_data_bytes: t.server_app_data_bytes,
        non_tls_bytes: t.non_tls_bytes,
    }
}

#[derive(Serialize)]
struct AnomalyOut<'a> {
    kind: &'static str,
    from: &'static str,
    count: u64,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_packet: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_packet: Option<u64>,
}

fn anomaly(a: &Anomaly, d: JsonDetail) -> AnomalyOut<'_> {
    AnomalyOut {
        kind: names::anomaly(a.kind),
        from: names::direction(a.from),
        count: a.count,
        detail: &a.detail,
        first_packet: at(d, &a.first_packet),
        last_packet: at(d, &a.last_packet),
    }
}
