//! The per-event transcript of the SMTP dialogue (`smtp.events`): each command, reply, body,
//! BDAT chunk, TLS record, gap and anomaly with the packets that carried it. Every event has all
//! its variant's fields, null when unknown, after its `type`.

use super::names::{self, number};
use super::write::{self, Int, Key, Obj, key};
use crate::smtp::{Event, Verb};

fn null_or_str(o: &mut Obj<'_>, key: Key, v: Option<&str>) {
    match v {
        Some(v) => o.str(key, v),
        None => o.key(key).push_str("null"),
    }
}

fn null_or_num(o: &mut Obj<'_>, key: Key, v: Option<impl Int>) {
    match v {
        Some(v) => o.num(key, v),
        None => o.key(key).push_str("null"),
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
            o.str(key!("type"), "command");
            o.str(key!("verb"), verb.as_str());
            null_or_str(o, key!("arg"), arg.as_deref());
            o.num(key!("len"), *len);
            o.num(key!("first_packet"), number(first_packet));
            o.num(key!("last_packet"), number(last_packet));
            null_or_num(o, key!("reply"), *reply);
        }
        Event::AuthData { len, first_packet, last_packet, reply } => {
            o.str(key!("type"), "auth_data");
            o.num(key!("len"), *len);
            o.num(key!("first_packet"), number(first_packet));
            o.num(key!("last_packet"), number(last_packet));
            null_or_num(o, key!("reply"), *reply);
        }
        Event::Reply { code, lines, line_count, answers, first_packet, last_packet } => {
            o.str(key!("type"), "reply");
            o.num(key!("code"), *code);
            o.list(key!("lines"), lines, write::string);
            o.num(key!("line_count"), *line_count);
            null_or_str(o, key!("answers"), answers.as_ref().map(Verb::as_str));
            o.num(key!("first_packet"), number(first_packet));
            o.num(key!("last_packet"), number(last_packet));
        }
        Event::Body { bytes, lines, dot_stuffed_lines, terminated, first_packet, last_packet } => {
            o.str(key!("type"), "body");
            o.num(key!("bytes"), *bytes);
            o.num(key!("lines"), *lines);
            o.num(key!("dot_stuffed_lines"), *dot_stuffed_lines);
            o.bool(key!("terminated"), *terminated);
            null_or_num(o, key!("first_packet"), first_packet.as_ref().map(number));
            null_or_num(o, key!("last_packet"), last_packet.as_ref().map(number));
        }
        Event::BdatChunk { size, last, seen, first_packet, last_packet } => {
            o.str(key!("type"), "bdat_chunk");
            o.num(key!("size"), *size);
            o.bool(key!("last"), *last);
            o.num(key!("seen"), *seen);
            o.num(key!("first_packet"), number(first_packet));
            null_or_num(o, key!("last_packet"), last_packet.as_ref().map(number));
        }
        Event::Tls { from, record, detail, len, packet } => {
            o.str(key!("type"), "tls");
            o.str(key!("from"), names::direction(*from));
            o.str(key!("record"), record);
            o.str(key!("detail"), detail);
            o.num(key!("len"), *len);
            o.num(key!("packet"), number(packet));
        }
        Event::Gap { from, bytes, packet } => {
            o.str(key!("type"), "gap");
            o.str(key!("from"), names::direction(*from));
            o.num(key!("bytes"), *bytes);
            o.num(key!("packet"), number(packet));
        }
        Event::Anomaly { from, kind, detail, packet } => {
            o.str(key!("type"), "anomaly");
            o.str(key!("from"), names::direction(*from));
            o.str(key!("kind"), names::anomaly(*kind));
            o.str(key!("detail"), detail);
            o.num(key!("packet"), number(packet));
        }
    }
}
