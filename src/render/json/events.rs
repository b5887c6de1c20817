//! The per-event transcript of the SMTP dialogue (`smtp.events`): each command, reply, body,
//! BDAT chunk, TLS record, gap and anomaly with the packets that carried it. Every event has all
//! its variant's fields, null when unknown, after its `type`.

use super::names::{self, number};
use super::write::{self, Obj};
use crate::smtp::{Event, Verb};

fn null_or_str(o: &mut Obj<'_>, name: &str, v: Option<&str>) {
    match v {
        Some(v) => o.str(name, v),
        None => o.key(name).push_str("null"),
    }
}

fn null_or_num(o: &mut Obj<'_>, name: &str, v: Option<impl itoa::Integer>) {
    match v {
        Some(v) => o.num(name, v),
        None => o.key(name).push_str("null"),
    }
}

pub(super) fn event(out: &mut String, e: &Event) {
    let mut o = Obj::open(out);
    fields(&mut o, e);
    o.end();
}

fn fields(o: &mut Obj<'_>, e: &Event) {
    match e {
        Event::Command { verb, arg, len, first_packet, last_packet, reply } => {
            o.str("type", "command");
            o.str("verb", verb.as_str());
            null_or_str(o, "arg", arg.as_deref());
            o.num("len", *len);
            o.num("first_packet", number(first_packet));
            o.num("last_packet", number(last_packet));
            null_or_num(o, "reply", *reply);
        }
        Event::AuthData { len, first_packet, last_packet, reply } => {
            o.str("type", "auth_data");
            o.num("len", *len);
            o.num("first_packet", number(first_packet));
            o.num("last_packet", number(last_packet));
            null_or_num(o, "reply", *reply);
        }
        Event::Reply { code, lines, line_count, answers, first_packet, last_packet } => {
            o.str("type", "reply");
            o.num("code", *code);
            o.list("lines", lines, write::string);
            o.num("line_count", *line_count);
            null_or_str(o, "answers", answers.as_ref().map(Verb::as_str));
            o.num("first_packet", number(first_packet));
            o.num("last_packet", number(last_packet));
        }
        Event::Body { bytes, lines, dot_stuffed_lines, terminated, first_packet, last_packet } => {
            o.str("type", "body");
            o.num("bytes", *bytes);
            o.num("lines", *lines);
            o.num("dot_stuffed_lines", *dot_stuffed_lines);
            o.bool("terminated", *terminated);
            null_or_num(o, "first_packet", first_packet.as_ref().map(number));
            null_or_num(o, "last_packet", last_packet.as_ref().map(number));
        }
        Event::BdatChunk { size, last, seen, first_packet, last_packet } => {
            o.str("type", "bdat_chunk");
            o.num("size", *size);
            o.bool("last", *last);
            o.num("seen", *seen);
            o.num("first_packet", number(first_packet));
            null_or_num(o, "last_packet", last_packet.as_ref().map(number));
        }
        Event::Tls { from, record, detail, len, packet } => {
            o.str("type", "tls");
            o.str("from", names::direction(*from));
            o.str("record", record);
            o.str("detail", detail);
            o.num("len", *len);
            o.num("packet", number(packet));
        }
        Event::Gap { from, bytes, packet } => {
            o.str("type", "gap");
            o.str("from", names::direction(*from));
            o.num("bytes", *bytes);
            o.num("packet", number(packet));
        }
        Event::Anomaly { from, kind, detail, packet } => {
            o.str("type", "anomaly");
            o.str("from", names::direction(*from));
            o.str("kind", names::anomaly(*kind));
            o.str("detail", detail);
            o.num("packet", number(packet));
        }
    }
}
