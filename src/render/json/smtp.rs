//! The record's `smtp` object, built from the SMTP stage's `SmtpRecord`: the record's field
//! names and shapes are decided here, not by the parser's structs.

use super::events::{self, EventOut};
use super::names::{self, number};
use crate::smtp::headers::Identity;
use crate::smtp::{
    Anomaly, Attachment, Banner, BdatChunk, BodyStats, ClientHello, Extreme, Maxima, Rcpt, ReplyInfo, ServerHello,
    SmtpRecord, StartTls, TlsAlert, TlsInfo, Transaction, Verb,
};
use serde::Serialize;

#[derive(Serialize)]
pub(super) struct Smtp<'a> {
    banner: Option<BannerOut<'a>>,
    helo_verb: Option<&'a str>,
    helo: Option<&'a str>,
    ehlo_keywords: &'a [String],
    mail_from: &'a [String],
    rcpt_to: &'a [String],
    transactions: Vec<TransactionOut<'a>>,
    starttls: Option<StartTlsOut<'a>>,
    implicit_tls: Option<TlsOut<'a>>,
    commands: Vec<&'a str>,
    replies: &'a [u16],
    client_spoke_first: bool,
    pipelining: bool,
    maxima: MaximaOut,
    anomalies: Vec<AnomalyOut<'a>>,
    events: Vec<EventOut<'a>>,
    events_dropped: u64,
    items_dropped: u64,
}

pub(super) fn smtp(r: &SmtpRecord) -> Smtp<'_> {
    Smtp {
        banner: r.banner.as_ref().map(banner),
        helo_verb: r.helo_verb.as_ref().map(Verb::as_str),
        helo: r.helo.as_deref(),
        ehlo_keywords: &r.ehlo_keywords,
        mail_from: &r.mail_from,
        rcpt_to: &r.rcpt_to,
        transactions: r.transactions.iter().map(transaction).collect(),
        starttls: r.starttls.as_deref().map(starttls),
        implicit_tls: r.implicit_tls.as_deref().map(tls),
        commands: r.commands.iter().map(Verb::as_str).collect(),
        replies: &r.replies,
        client_spoke_first: r.client_spoke_first,
        pipelining: r.pipelining,
        maxima: maxima(&r.maxima),
        anomalies: r.anomalies.iter().map(anomaly).collect(),
        events: r.events.iter().map(events::event).collect(),
        events_dropped: r.events_dropped,
        items_dropped: r.items_dropped,
    }
}

#[derive(Serialize)]
struct BannerOut<'a> {
    code: u16,
    text: &'a str,
    packet: u64,
}

fn banner(b: &Banner) -> BannerOut<'_> {
    BannerOut { code: b.code, text: &b.text, packet: number(&b.packet) }
}

#[derive(Serialize)]
struct ReplyOut<'a> {
    code: u16,
    text: &'a str,
    packet: u64,
}

fn reply(r: &ReplyInfo) -> ReplyOut<'_> {
    ReplyOut { code: r.code, text: &r.text, packet: number(&r.packet) }
}

#[derive(Serialize)]
struct RcptOut<'a> {
    address: &'a str,
    reply: Option<u16>,
    packet: u64,
}

#[derive(Serialize)]
struct BdatOut {
    size: u64,
    last: bool,
    seen: u64,
    reply: Option<u16>,
    first_packet: u64,
    last_packet: Option<u64>,
}

fn bdat(c: &BdatChunk) -> BdatOut {
    BdatOut {
        size: c.size,
        last: c.last,
        seen: c.seen,
        reply: c.reply,
        first_packet: number(&c.first_packet),
        last_packet: c.last_packet.as_ref().map(number),
    }
}

#[derive(Serialize)]
struct TransactionOut<'a> {
    mail_from: Option<&'a str>,
    mail_reply: Option<u16>,
    mail_packet: Option<u64>,
    nested_mail_from: &'a [String],
    rcpt_to: &'a [String],
    rcpts: Vec<RcptOut<'a>>,
    rcpt_count: usize,
    data_verb: Option<&'a str>,
    data_intermediate_reply: Option<u16>,
    data_reply: Option<ReplyOut<'a>>,
    queue_id: Option<&'a str>,
    bdat_chunks: Vec<BdatOut>,
    body: Option<BodyOut<'a>>,
    reset_by: Option<&'a str>,
}

fn rcpt(r: &Rcpt) -> RcptOut<'_> {
    RcptOut { address: &r.address, reply: r.reply, packet: number(&r.packet) }
}

fn transaction(t: &Transaction) -> TransactionOut<'_> {
    TransactionOut {
        mail_from: t.mail_from.as_deref(),
        mail_reply: t.mail_reply,
        mail_packet: t.mail_packet.as_ref().map(number),
        nested_mail_from: &t.nested_mail_from,
        rcpt_to: &t.rcpt_to,
        rcpts: t.rcpts.iter().map(rcpt).collect(),
        rcpt_count: t.rcpt_count,
        data_verb: t.data_verb.as_ref().map(Verb::as_str),
        data_intermediate_reply: t.data_intermediate_reply,
        data_reply: t.data_reply.as_ref().map(reply),
        queue_id: t.queue_id.as_deref(),
        bdat_chunks: t.bdat_chunks.iter().map(bdat).collect(),
        body: t.body.as_ref().map(body),
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
    e.as_ref().map(|e| ExtremeOut { value: e.value, packet: number(&e.packet) })
}

#[derive(Serialize)]
struct AttachmentOut<'a> {
    filename: &'a str,
    filename_len: usize,
    part_bytes: Option<u64>,
    packet: u64,
}

fn attachment(a: &Attachment) -> AttachmentOut<'_> {
    AttachmentOut {
        filename: &a.filename,
        filename_len: a.filename_len,
        part_bytes: a.part_bytes,
        packet: number(&a.packet),
    }
}

#[derive(Serialize)]
struct BodyOut<'a> {
    bytes: u64,
    lines: u64,
    dot_stuffed_lines: u64,
    bare_lf_lines: u64,
    terminated: bool,
    longest_header_line: Option<ExtremeOut>,
    longest_body_line: Option<ExtremeOut>,
    lines_over_998: u64,
    attachments: Vec<AttachmentOut<'a>>,
    attachments_dropped: u64,
    message_id: Option<&'a str>,
    received_path: &'a [String],
    /// Subject, From and To are recorded only with `--headers` (personal data).
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    first_packet: Option<u64>,
    last_packet: Option<u64>,
}

fn body(b: &BodyStats) -> BodyOut<'_> {
    let Identity { message_id, received_path, subject, from, to } = &b.identity;
    BodyOut {
        bytes: b.bytes,
        lines: b.lines,
        dot_stuffed_lines: b.dot_stuffed_lines,
        bare_lf_lines: b.bare_lf_lines,
        terminated: b.terminated,
        longest_header_line: extreme(&b.longest_header_line),
        longest_body_line: extreme(&b.longest_body_line),
        lines_over_998: b.lines_over_998,
        attachments: b.attachments.iter().map(attachment).collect(),
        attachments_dropped: b.attachments_dropped,
        message_id: message_id.as_deref(),
        received_path,
        subject: subject.as_deref(),
        from: from.as_deref(),
        to: to.as_deref(),
        first_packet: b.first_packet.as_ref().map(number),
        last_packet: b.last_packet.as_ref().map(number),
    }
}

#[derive(Serialize)]
struct MaximaOut {
    command_line: Option<ExtremeOut>,
    reply_line: Option<ExtremeOut>,
    rcpt_per_transaction: Option<ExtremeOut>,
    header_line: Option<ExtremeOut>,
    body_line: Option<ExtremeOut>,
    sender_address: Option<ExtremeOut>,
    mime_filename: Option<ExtremeOut>,
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
    reply: Option<u16>,
    packet: u64,
    tls: Option<TlsOut<'a>>,
}

fn starttls(s: &StartTls) -> StartTlsOut<'_> {
    StartTlsOut { requested: s.requested, reply: s.reply, packet: number(&s.packet), tls: s.tls.as_ref().map(tls) }
}

#[derive(Serialize)]
struct ClientHelloOut<'a> {
    version: &'a str,
    supported_versions: &'a [String],
    sni: Option<&'a str>,
    packet: u64,
}

#[derive(Serialize)]
struct ServerHelloOut<'a> {
    version: &'a str,
    packet: u64,
}

#[derive(Serialize)]
struct AlertOut<'a> {
    from: &'a str,
    level: &'a str,
    description: &'a str,
    packet: u64,
}

#[derive(Serialize)]
struct TlsOut<'a> {
    client_hello: Option<ClientHelloOut<'a>>,
    server_hello: Option<ServerHelloOut<'a>>,
    alerts: Vec<AlertOut<'a>>,
    change_cipher_spec: bool,
    encrypted: bool,
    client_encrypted_records: u64,
    server_encrypted_records: u64,
    client_app_data_bytes: u64,
    server_app_data_bytes: u64,
    non_tls_bytes: u64,
}

fn client_hello(h: &ClientHello) -> ClientHelloOut<'_> {
    ClientHelloOut {
        version: &h.version,
        supported_versions: &h.supported_versions,
        sni: h.sni.as_deref(),
        packet: number(&h.packet),
    }
}

fn server_hello(h: &ServerHello) -> ServerHelloOut<'_> {
    ServerHelloOut { version: &h.version, packet: number(&h.packet) }
}

fn alert(a: &TlsAlert) -> AlertOut<'_> {
    AlertOut { from: &a.from, level: &a.level, description: &a.description, packet: number(&a.packet) }
}

fn tls(t: &TlsInfo) -> TlsOut<'_> {
    TlsOut {
        client_hello: t.client_hello.as_ref().map(client_hello),
        server_hello: t.server_hello.as_ref().map(server_hello),
        alerts: t.alerts.iter().map(alert).collect(),
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
    first_packet: u64,
    last_packet: u64,
}

fn anomaly(a: &Anomaly) -> AnomalyOut<'_> {
    AnomalyOut {
        kind: names::anomaly(a.kind),
        from: names::direction(a.from),
        count: a.count,
        detail: &a.detail,
        first_packet: number(&a.first_packet),
        last_packet: number(&a.last_packet),
    }
}
