//! What the SMTP stage produces for one connection: the `smtp` object of the JSON output.
//! Plain data only; the parser lives in `dialogue` and its helpers.

use super::event::{Anomaly, Event};
use super::verb::Verb;
use crate::tcp::PacketRef;

/// The whole dialogue of one connection.
#[derive(Clone, Debug, Default)]
pub struct SmtpRecord {
    /// The greeting (first reply, RFC 5321 §4.3.1), text lines joined with "\n" and kept verbatim
    /// so a Cisco ASA masked banner ("220 ****2**0***") stays visible.
    pub banner: Option<Banner>,
    pub helo_verb: Option<Verb>,
    pub helo: Option<String>,
    /// Keyword lines of the first accepted EHLO reply, verbatim (ASA masks them as "XXXXXXXA").
    pub ehlo_keywords: Vec<String>,
    pub mail_from: Vec<String>,
    pub rcpt_to: Vec<String>,
    pub transactions: Vec<Transaction>,
    /// Boxed, as the TLS facts below: most sessions have none, and every open one carries the field.
    pub starttls: Option<Box<StartTls>>,
    /// TLS from the first client byte (port 465, RFC 8314) rather than after STARTTLS.
    pub implicit_tls: Option<Box<TlsInfo>>,
    /// Command verbs in order (alphabetic verbs upper-cased, anything else verbatim).
    pub commands: Vec<Verb>,
    /// Codes of every complete reply in server order, greeting first, multi-line replies once.
    pub replies: Vec<u16>,
    pub client_spoke_first: bool,
    /// Several commands seen in one packet (RFC 2920).
    pub pipelining: bool,
    pub maxima: Maxima,
    pub anomalies: Vec<Anomaly>,
    pub events: Vec<Event>,
    pub events_dropped: u64,
    /// Items not stored in `commands`/`replies`/address lists once `SmtpConfig::max_items` is hit.
    pub items_dropped: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Banner {
    pub code: u16,
    pub text: String,
    pub packet: PacketRef,
}

/// A final reply (code and its text lines joined with "\n").
#[derive(Clone, Debug, Default)]
pub struct ReplyInfo {
    pub code: u16,
    pub text: String,
    pub packet: PacketRef,
}

#[derive(Clone, Debug, Default)]
pub struct Rcpt {
    pub address: String,
    pub reply: Option<u16>,
    pub packet: PacketRef,
}

#[derive(Clone, Debug, Default)]
pub struct BdatChunk {
    pub size: u64,
    pub last: bool,
    /// Content bytes actually seen (less than `size` when the capture ends or has gaps).
    pub seen: u64,
    pub reply: Option<u16>,
    pub first_packet: PacketRef,
    pub last_packet: Option<PacketRef>,
}

/// One mail transaction (RFC 5321 §3.3): MAIL, RCPTs, then DATA or BDAT chunks.
#[derive(Clone, Debug, Default)]
pub struct Transaction {
    pub mail_from: Option<String>,
    pub mail_reply: Option<u16>,
    pub mail_packet: Option<PacketRef>,
    /// Further MAIL commands sent while this transaction was open (answered 503 by servers).
    pub nested_mail_from: Vec<String>,
    /// The recipients kept (up to `SmtpConfig::max_items`), each with its reply.
    pub rcpts: Vec<Rcpt>,
    pub rcpt_count: usize,
    /// "DATA" or "BDAT" once the client started sending the message.
    pub data_verb: Option<Verb>,
    /// Reply to DATA itself (354, or a rejection such as 503/554).
    pub data_intermediate_reply: Option<u16>,
    /// Reply after the end-of-data dot, or to BDAT … LAST.
    pub data_reply: Option<ReplyInfo>,
    pub queue_id: Option<String>,
    pub bdat_chunks: Vec<BdatChunk>,
    pub body: Option<BodyStats>,
    /// The command that ended the transaction before delivery (RSET, HELO, EHLO).
    pub reset_by: Option<Verb>,
}

/// Where a maximum was seen: its value and the packet carrying it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extreme {
    pub value: u64,
    pub packet: PacketRef,
}

impl Extreme {
    /// Keeps the first occurrence of the largest value.
    pub fn raise(slot: &mut Option<Extreme>, value: u64, packet: PacketRef) {
        if slot.as_ref().is_none_or(|e| value > e.value) {
            *slot = Some(Extreme { value, packet });
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Attachment {
    /// Decoded file name (RFC 2231 continuations joined, %XX decoded), lossy UTF-8.
    pub filename: String,
    /// Length in bytes of the decoded name (firewalls limit it, e.g. ASA at 255).
    pub filename_len: usize,
    /// Bytes of the MIME part (headers and content) when its closing boundary was seen.
    pub part_bytes: Option<u64>,
    pub packet: PacketRef,
}

/// Statistics of one message body (DATA or all BDAT chunks).
#[derive(Clone, Debug, Default)]
pub struct BodyStats {
    /// Wire bytes of the content, line endings included, end-of-data line excluded.
    pub bytes: u64,
    pub lines: u64,
    /// Lines that began with "." and were dot-stuffed (RFC 5321 §4.5.2).
    pub dot_stuffed_lines: u64,
    pub bare_lf_lines: u64,
    pub terminated: bool,
    pub longest_header_line: Option<Extreme>,
    pub longest_body_line: Option<Extreme>,
    /// Lines over 998 octets, the RFC 5322 §2.1.1 limit.
    pub lines_over_998: u64,
    pub attachments: Vec<Attachment>,
    pub attachments_dropped: u64,
    /// Message-ID and Received: path (Subject, From, To with `--headers`).
    pub identity: super::headers::Identity,
    pub first_packet: Option<PacketRef>,
    pub last_packet: Option<PacketRef>,
}

/// Largest values seen, for the firewall-inspection checks (ASA esmtp limits and RFC limits).
#[derive(Clone, Debug, Default)]
pub struct Maxima {
    /// Command line length without CRLF (RFC 5321 §4.5.3.1.4 allows 512 with it).
    pub command_line: Option<Extreme>,
    pub reply_line: Option<Extreme>,
    /// Recipients in one transaction (RFC 5321 §4.5.3.1.8: at least 100 must be accepted).
    pub rcpt_per_transaction: Option<Extreme>,
    pub header_line: Option<Extreme>,
    pub body_line: Option<Extreme>,
    /// Sender address length (ASA drops senders over 320 bytes).
    pub sender_address: Option<Extreme>,
    pub mime_filename: Option<Extreme>,
}

#[derive(Clone, Debug, Default)]
pub struct StartTls {
    pub requested: bool,
    pub reply: Option<u16>,
    pub packet: PacketRef,
    pub tls: Option<TlsInfo>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientHello {
    pub version: String,
    /// From the supported_versions extension (RFC 8446 §4.2.1), GREASE values left out.
    pub supported_versions: Vec<String>,
    pub sni: Option<String>,
    pub packet: PacketRef,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerHello {
    /// The negotiated version (supported_versions when present, else the legacy field).
    pub version: String,
    pub packet: PacketRef,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsAlert {
    pub from: String,
    pub level: String,
    pub description: String,
    pub packet: PacketRef,
}

#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    pub client_hello: Option<ClientHello>,
    pub server_hello: Option<ServerHello>,
    /// Alerts readable in clear (before ChangeCipherSpec / TLS 1.3 handshake keys).
    pub alerts: Vec<TlsAlert>,
    pub change_cipher_spec: bool,
    /// Application data or encrypted handshake was seen: the session got past the handshake.
    pub encrypted: bool,
    /// Records after ChangeCipherSpec or of type application data, per direction.
    pub client_encrypted_records: u64,
    pub server_encrypted_records: u64,
    pub client_app_data_bytes: u64,
    pub server_app_data_bytes: u64,
    /// Bytes that were not TLS records where TLS was expected.
    pub non_tls_bytes: u64,
}
