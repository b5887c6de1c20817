//! The per-event transcript of the SMTP dialogue (`smtp.events`): each command, reply, body,
//! BDAT chunk, TLS record, gap and anomaly with the packets that carried it.

use super::names::{self, number};
use crate::smtp::{Event, Verb};
use serde::Serialize;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum EventOut<'a> {
    Command {
        verb: &'a str,
        arg: Option<&'a str>,
        len: usize,
        first_packet: u64,
        last_packet: u64,
        reply: Option<u16>,
    },
    AuthData {
        len: usize,
        first_packet: u64,
        last_packet: u64,
        reply: Option<u16>,
    },
    Reply {
        code: u16,
        lines: &'a [String],
        line_count: usize,
        answers: Option<&'a str>,
        first_packet: u64,
        last_packet: u64,
    },
    Body {
        bytes: u64,
        lines: u64,
        dot_stuffed_lines: u64,
        terminated: bool,
        first_packet: Option<u64>,
        last_packet: Option<u64>,
    },
    BdatChunk {
        size: u64,
        last: bool,
        seen: u64,
        first_packet: u64,
        last_packet: Option<u64>,
    },
    Tls {
        from: &'static str,
        record: &'a str,
        detail: &'a str,
        len: usize,
        packet: u64,
    },
    Gap {
        from: &'static str,
        bytes: u64,
        packet: u64,
    },
    Anomaly {
        from: &'static str,
        kind: &'static str,
        detail: &'a str,
        packet: u64,
    },
}

pub(super) fn event(e: &Event) -> EventOut<'_> {
    match e {
        Event::Command { verb, arg, len, first_packet, last_packet, reply } => EventOut::Command {
            verb: verb.as_str(),
            arg: arg.as_deref(),
            len: *len,
            first_packet: number(first_packet),
            last_packet: number(last_packet),
            reply: *reply,
        },
        Event::AuthData { len, first_packet, last_packet, reply } => EventOut::AuthData {
            len: *len,
            first_packet: number(first_packet),
            last_packet: number(last_packet),
            reply: *reply,
        },
        Event::Reply { code, lines, line_count, answers, first_packet, last_packet } => EventOut::Reply {
            code: *code,
            lines,
            line_count: *line_count,
            answers: answers.as_ref().map(Verb::as_str),
            first_packet: number(first_packet),
            last_packet: number(last_packet),
        },
        Event::Body { bytes, lines, dot_stuffed_lines, terminated, first_packet, last_packet } => EventOut::Body {
            bytes: *bytes,
            lines: *lines,
            dot_stuffed_lines: *dot_stuffed_lines,
            terminated: *terminated,
            first_packet: first_packet.as_ref().map(number),
            last_packet: last_packet.as_ref().map(number),
        },
        Event::BdatChunk { size, last, seen, first_packet, last_packet } => EventOut::BdatChunk {
            size: *size,
            last: *last,
            seen: *seen,
            first_packet: number(first_packet),
            last_packet: last_packet.as_ref().map(number),
        },
        Event::Tls { from, record, detail, len, packet } => {
            EventOut::Tls { from: names::direction(*from), record, detail, len: *len, packet: number(packet) }
        }
        Event::Gap { from, bytes, packet } => {
            EventOut::Gap { from: names::direction(*from), bytes: *bytes, packet: number(packet) }
        }
        Event::Anomaly { from, kind, detail, packet } => EventOut::Anomaly {
            from: names::direction(*from),
            kind: names::anomaly(*kind),
            detail,
            packet: number(packet),
        },
    }
}
