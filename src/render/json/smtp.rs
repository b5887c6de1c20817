//! The record's `smtp` object, written from the SMTP stage's `SmtpRecord`: the record's field
//! names and shapes are decided here, not by the parser's structs.

use super::events;
use super::names;
use super::write::{self, Key, Obj, key};
use crate::render::options::JsonDetail;
use crate::smtp::headers::Identity;
use crate::smtp::{
    Anomaly, Attachment, BdatChunk, BodyStats, ClientHello, Extreme, Maxima, Rcpt, ReplyInfo, SmtpRecord, StartTls,
    TlsAlert, TlsInfo, Transaction, Verb,
};
use crate::tcp::PacketRef;

/// Nothing to say (no SMTP byte crossed): the record leaves `smtp` out.
pub(super) fn is_empty(r: &SmtpRecord, d: JsonDetail) -> bool {
    r.banner.is_none()
        && r.helo.is_none()
        && r.ehlo_keywords.is_empty()
        && r.mail_from.is_empty()
        && r.rcpt_to.is_empty()
        && r.transactions.is_empty()
        && r.starttls.is_none()
        && r.implicit_tls.is_none()
        && r.commands.is_empty()
        && r.replies.is_empty()
        && !r.client_spoke_first
        && !r.pipelining
        && !(d.events && has_maxima(&r.maxima))
        && r.anomalies.is_empty()
        && !(d.events && (!r.events.is_empty() || r.events_dropped != 0))
        && r.items_dropped == 0
}

/// The fields of the `smtp` object. With `--events`: the longest lines and largest counts with
/// where they were (`maxima`), the transcript (`events`) and the events the cap cut.
pub(super) fn smtp(o: &mut Obj<'_>, r: &SmtpRecord, d: JsonDetail) {
    if let Some(b) = &r.banner {
        o.obj(key!("banner"), |o| reply_fields(o, b.code, &b.text, at(d, &b.packet)));
    }
    o.some_str(key!("helo"), r.helo.as_deref());
    o.strs(key!("ehlo_keywords"), &r.ehlo_keywords);
    o.strs(key!("mail_from"), &r.mail_from);
    o.strs(key!("rcpt_to"), &r.rcpt_to);
    if !r.transactions.is_empty() {
        o.objs(key!("transactions"), &r.transactions, |o, t| transaction(o, t, d));
    }
    if let Some(s) = r.starttls.as_deref() {
        o.obj(key!("starttls"), |o| starttls(o, s, d));
    }
    if let Some(t) = r.implicit_tls.as_deref() {
        o.obj(key!("implicit_tls"), |o| tls(o, t, d));
    }
    // The dialogue once: verbs in order, reply codes in order (the transcript is `events`).
    if !r.commands.is_empty() {
        o.list(key!("commands"), &r.commands, verb);
    }
    o.nums(key!("replies"), &r.replies);
    o.flag(key!("client_spoke_first"), r.client_spoke_first);
    o.flag(key!("pipelining"), r.pipelining);
    if d.events {
        o.obj_unless_empty(key!("maxima"), |o| maxima(o, &r.maxima));
    }
    if !r.anomalies.is_empty() {
        o.objs(key!("anomalies"), &r.anomalies, |o, a| anomaly(o, a, d));
    }
    if d.events {
        o.list(key!("events"), &r.events, events::event);
        o.nonzero(key!("events_dropped"), r.events_dropped);
    }
    o.nonzero(key!("items_dropped"), r.items_dropped);
}

/// A verb as a JSON string: a known verb's quoted name, a literal here (every record lists its
/// commands, and `Verb::as_str` looks a known verb up in a table); one that arrived as something
/// else (binary garbage included) is escaped.
fn verb(out: &mut String, v: &Verb) {
    out.push_str(match v {
        Verb::Other(text) => return write::string(out, text),
        Verb::Helo => r#""HELO""#,
        Verb::Ehlo => r#""EHLO""#,
        Verb::Mail => r#""MAIL""#,
        Verb::Rcpt => r#""RCPT""#,
        Verb::Data => r#""DATA""#,
        Verb::Bdat => r#""BDAT""#,
        Verb::Rset => r#""RSET""#,
        Verb::Vrfy => r#""VRFY""#,
        Verb::Expn => r#""EXPN""#,
        Verb::Help => r#""HELP""#,
        Verb::Noop => r#""NOOP""#,
        Verb::Quit => r#""QUIT""#,
        Verb::StartTls => r#""STARTTLS""#,
        Verb::Auth => r#""AUTH""#,
        Verb::Etrn => r#""ETRN""#,
        Verb::Turn => r#""TURN""#,
        Verb::Atrn => r#""ATRN""#,
        Verb::Xclient => r#""XCLIENT""#,
        Verb::Xforward => r#""XFORWARD""#,
        Verb::Send => r#""SEND""#,
        Verb::Soml => r#""SOML""#,
        Verb::Saml => r#""SAML""#,
        Verb::Greeting => r#""<greeting>""#,
        Verb::DataEnd => r#""<data-end>""#,
        Verb::AuthData => r#""<AUTH-DATA>""#,
        Verb::Gap => r#""<gap>""#,
    });
}

/// A packet reference (the bare packet number, Wireshark's "Go to packet"), with `--events`.
fn at(d: JsonDetail, p: &PacketRef) -> Option<u64> {
    d.events.then_some(p.number)
}

/// A reply as the record shows it: the banner, and each reply.
fn reply_fields(o: &mut Obj<'_>, code: u16, text: &str, packet: Option<u64>) {
    o.num(key!("code"), code);
    o.str(key!("text"), text);
    o.some_num(key!("packet"), packet);
}

fn reply(o: &mut Obj<'_>, r: &ReplyInfo, d: JsonDetail) {
    reply_fields(o, r.code, &r.text, at(d, &r.packet));
}

fn rcpt(o: &mut Obj<'_>, r: &Rcpt, d: JsonDetail) {
    o.str(key!("address"), &r.address);
    o.some_num(key!("reply"), r.reply);
    o.some_num(key!("packet"), at(d, &r.packet));
}

fn bdat(o: &mut Obj<'_>, c: &BdatChunk, d: JsonDetail) {
    o.num(key!("size"), c.size);
    o.flag(key!("last"), c.last);
    o.nonzero(key!("seen"), c.seen);
    o.some_num(key!("reply"), c.reply);
    o.some_num(key!("first_packet"), at(d, &c.first_packet));
    o.some_num(key!("last_packet"), c.last_packet.as_ref().and_then(|p| at(d, p)));
}

fn transaction(o: &mut Obj<'_>, t: &Transaction, d: JsonDetail) {
    o.some_str(key!("mail_from"), t.mail_from.as_deref());
    o.some_num(key!("mail_reply"), t.mail_reply);
    o.some_num(key!("mail_packet"), t.mail_packet.as_ref().and_then(|p| at(d, p)));
    o.strs(key!("nested_mail_from"), &t.nested_mail_from);
    if !t.rcpts.is_empty() {
        o.objs(key!("rcpts"), &t.rcpts, |o, r| rcpt(o, r, d));
    }
    // RCPT commands of the transaction, when more were sent than `rcpts` keeps.
    if t.rcpt_count != t.rcpts.len() {
        o.num(key!("rcpt_count"), t.rcpt_count);
    }
    if let Some(v) = &t.data_verb {
        verb(o.key(key!("data_verb")), v);
    }
    o.some_num(key!("data_intermediate_reply"), t.data_intermediate_reply);
    if let Some(r) = &t.data_reply {
        o.obj(key!("data_reply"), |o| reply(o, r, d));
    }
    o.some_str(key!("queue_id"), t.queue_id.as_deref());
    if !t.bdat_chunks.is_empty() {
        o.objs(key!("bdat_chunks"), &t.bdat_chunks, |o, c| bdat(o, c, d));
    }
    if let Some(b) = t.body.as_ref().filter(|b| !body_is_empty(b, d)) {
        o.obj(key!("body"), |o| body(o, b, d));
    }
    if let Some(v) = &t.reset_by {
        verb(o.key(key!("reset_by")), v);
    }
}

/// A maximum and the packet that carried it.
fn extreme(o: &mut Obj<'_>, key: Key, e: &Option<Extreme>) {
    if let Some(e) = e {
        o.obj(key, |o| {
            o.num(key!("value"), e.value);
            o.num(key!("packet"), e.packet.number);
        });
    }
}

fn attachment(o: &mut Obj<'_>, a: &Attachment, d: JsonDetail) {
    o.str(key!("filename"), &a.filename);
    o.nonzero(key!("filename_len"), a.filename_len);
    o.some_num(key!("part_bytes"), a.part_bytes);
    o.some_num(key!("packet"), at(d, &a.packet));
}

/// A body begun but empty, with nothing to show (no bytes, no packet numbers asked for).
fn body_is_empty(b: &BodyStats, d: JsonDetail) -> bool {
    b.bytes == 0
        && !b.terminated
        && b.first_packet.as_ref().and_then(|p| at(d, p)).is_none()
        && b.identity.message_id.is_none()
}

fn body(o: &mut Obj<'_>, b: &BodyStats, d: JsonDetail) {
    let Identity { message_id, received_path, subject, from, to } = &b.identity;
    o.nonzero(key!("bytes"), b.bytes);
    o.nonzero(key!("lines"), b.lines);
    o.nonzero(key!("dot_stuffed_lines"), b.dot_stuffed_lines);
    o.nonzero(key!("bare_lf_lines"), b.bare_lf_lines);
    o.flag(key!("terminated"), b.terminated);
    if d.events {
        extreme(o, key!("longest_header_line"), &b.longest_header_line);
        extreme(o, key!("longest_body_line"), &b.longest_body_line);
    }
    o.nonzero(key!("lines_over_998"), b.lines_over_998);
    if !b.attachments.is_empty() {
        o.objs(key!("attachments"), &b.attachments, |o, a| attachment(o, a, d));
    }
    o.nonzero(key!("attachments_dropped"), b.attachments_dropped);
    o.some_str(key!("message_id"), message_id.as_deref());
    o.strs(key!("received_path"), received_path);
    // Subject, From and To are recorded only with `--headers` (personal data).
    o.some_str(key!("subject"), subject.as_deref());
    o.some_str(key!("from"), from.as_deref());
    o.some_str(key!("to"), to.as_deref());
    o.some_num(key!("first_packet"), b.first_packet.as_ref().and_then(|p| at(d, p)));
    o.some_num(key!("last_packet"), b.last_packet.as_ref().and_then(|p| at(d, p)));
}

fn has_maxima(m: &Maxima) -> bool {
    [
        &m.command_line,
        &m.reply_line,
        &m.rcpt_per_transaction,
        &m.header_line,
        &m.body_line,
        &m.sender_address,
        &m.mime_filename,
    ]
    .iter()
    .any(|e| e.is_some())
}

fn maxima(o: &mut Obj<'_>, m: &Maxima) {
    extreme(o, key!("command_line"), &m.command_line);
    extreme(o, key!("reply_line"), &m.reply_line);
    extreme(o, key!("rcpt_per_transaction"), &m.rcpt_per_transaction);
    extreme(o, key!("header_line"), &m.header_line);
    extreme(o, key!("body_line"), &m.body_line);
    extreme(o, key!("sender_address"), &m.sender_address);
    extreme(o, key!("mime_filename"), &m.mime_filename);
}

fn starttls(o: &mut Obj<'_>, s: &StartTls, d: JsonDetail) {
    o.bool(key!("requested"), s.requested);
    o.some_num(key!("reply"), s.reply);
    o.some_num(key!("packet"), at(d, &s.packet));
    if let Some(t) = &s.tls {
        // STARTTLS answered, but no TLS byte seen: every field of `tls` absent, and `tls` too.
        o.obj_unless_empty(key!("tls"), |o| tls(o, t, d));
    }
}

fn client_hello(o: &mut Obj<'_>, h: &ClientHello, d: JsonDetail) {
    o.str(key!("version"), &h.version);
    o.strs(key!("supported_versions"), &h.supported_versions);
    o.some_str(key!("sni"), h.sni.as_deref());
    o.some_num(key!("packet"), at(d, &h.packet));
}

fn alert(o: &mut Obj<'_>, a: &TlsAlert, d: JsonDetail) {
    o.str(key!("from"), &a.from);
    o.str(key!("level"), &a.level);
    o.str(key!("description"), &a.description);
    o.some_num(key!("packet"), at(d, &a.packet));
}

fn tls(o: &mut Obj<'_>, t: &TlsInfo, d: JsonDetail) {
    if let Some(h) = &t.client_hello {
        o.obj(key!("client_hello"), |o| client_hello(o, h, d));
    }
    if let Some(h) = &t.server_hello {
        o.obj(key!("server_hello"), |o| {
            o.str(key!("version"), &h.version);
            o.some_num(key!("packet"), at(d, &h.packet));
        });
    }
    if !t.alerts.is_empty() {
        o.objs(key!("alerts"), &t.alerts, |o, a| alert(o, a, d));
    }
    o.flag(key!("change_cipher_spec"), t.change_cipher_spec);
    o.flag(key!("encrypted"), t.encrypted);
    o.nonzero(key!("client_encrypted_records"), t.client_encrypted_records);
    o.nonzero(key!("server_encrypted_records"), t.server_encrypted_records);
    o.nonzero(key!("client_app_data_bytes"), t.client_app_data_bytes);
    o.nonzero(key!("server_app_data_bytes"), t.server_app_data_bytes);
    o.nonzero(key!("non_tls_bytes"), t.non_tls_bytes);
}

fn anomaly(o: &mut Obj<'_>, a: &Anomaly, d: JsonDetail) {
    o.name(key!("kind"), names::anomaly(a.kind));
    o.name(key!("from"), names::direction(a.from));
    o.num(key!("count"), a.count);
    o.str(key!("detail"), &a.detail);
    o.some_num(key!("first_packet"), at(d, &a.first_packet));
    o.some_num(key!("last_packet"), at(d, &a.last_packet));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each verb's literal is its name as `Verb::as_str` gives it, as a JSON string.
    #[test]
    fn verbs_are_written_by_their_names() {
        let names = "HELO EHLO MAIL RCPT DATA BDAT RSET VRFY EXPN HELP NOOP QUIT STARTTLS AUTH ETRN TURN \
                     ATRN XCLIENT XFORWARD SEND SOML SAML XEXCH50 XXXX";
        let parsed = names.split_whitespace().map(Verb::parse);
        let pseudo = [Verb::Greeting, Verb::DataEnd, Verb::AuthData, Verb::Gap, Verb::Other("a\"b".into())];
        for v in parsed.chain(pseudo) {
            let mut out = String::new();
            verb(&mut out, &v);
            assert_eq!(out, serde_json::to_string(v.as_str()).unwrap(), "{v:?}");
        }
    }
}
