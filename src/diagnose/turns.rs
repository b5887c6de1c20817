//! Whose turn it was when the session died: a client that stayed silent after the server had
//! answered (CLIENT_STALLED), a server that never greeted or answered (SERVER_SILENT).
//!
//! SMTP is strictly turn-based (RFC 5321 §4.3): after the greeting, after each reply and after
//! 354 the client must speak; after connecting and after each command the server must. Which
//! side let the silence run tells the admin whose log to read.

use super::facts::{Facts, ReplyLine};
use super::{DiagnoseConfig, Verdict, VerdictCode, verdict};
use crate::smtp::Verb;
use crate::tcp::Direction;
use crate::tcp::conn::{CloseEvent, CloseKind, Handshake, Role};
use crate::tcp::flow::EndReason;

/// How the silence ended; its sentence ("then sent QUIT", "until the capture ended") is built
/// by [`Ending::how`] only for a verdict that fires.
struct Ending<'f> {
    ts: f64,
    packet: u64,
    by: EndedBy<'f>,
}

enum EndedBy<'f> {
    Quit,
    ClientClose(&'f CloseEvent),
    ServerGaveUp(&'f ReplyLine<'f>),
    ServerClose(&'f CloseEvent),
    /// No side ended it: what did, as a sentence.
    Session(&'static str),
}

impl Ending<'_> {
    /// The packet is the client's own (QUIT or its close), not part of the silence.
    fn by_client(&self) -> bool {
        matches!(self.by, EndedBy::Quit | EndedBy::ClientClose(_))
    }

    fn how(&self) -> String {
        let closed = |kind: CloseKind| if kind == CloseKind::Rst { "reset" } else { "closed" };
        match self.by {
            EndedBy::Quit => "then sent QUIT".into(),
            EndedBy::ClientClose(c) => format!("then {} the connection ({})", closed(c.kind), c.flags),
            EndedBy::ServerGaveUp(r) => format!("until the server gave up (\"{} {}\")", r.code, r.first_line()),
            EndedBy::ServerClose(c) => format!("until the server {} the connection ({})", closed(c.kind), c.flags),
            EndedBy::Session(how) => how.into(),
        }
    }
}

/// The client's turn ends with its QUIT or close, the server giving up (421, close), or
/// whatever ended the session, whichever came first.
fn after_client_turn<'f>(f: &'f Facts, from_packet: u64) -> Ending<'f> {
    let quit = f.commands.iter().find(|c| c.packet > from_packet && *c.verb == Verb::Quit).map(|q| Ending {
        ts: q.ts,
        packet: q.packet,
        by: EndedBy::Quit,
    });
    let client_close = f.closes().iter().find(|c| c.by == Role::Client && c.packet > from_packet).map(|c| Ending {
        ts: c.ts,
        packet: c.packet,
        by: EndedBy::ClientClose(c),
    });
    let gave_up = f.replies.iter().find(|r| r.packet > from_packet && r.code == 421).map(|r| Ending {
        ts: r.ts,
        packet: r.packet,
        by: EndedBy::ServerGaveUp(r),
    });
    let server_close = f.closes().iter().find(|c| c.by == Role::Server && c.packet > from_packet).map(|c| Ending {
        ts: c.ts,
        packet: c.packet,
        by: EndedBy::ServerClose(c),
    });
    [quit, client_close, gave_up, server_close]
        .into_iter()
        .flatten()
        .min_by_key(|e| e.packet)
        .unwrap_or_else(|| session_end(f))
}

/// The end of a session no side ended: it went idle, or the capture ended.
fn session_end<'f>(f: &'f Facts) -> Ending<'f> {
    let last = &f.s.conn.last;
    let how = match f.s.end {
        EndReason::Idle => "until the session went idle (no close in the capture)",
        EndReason::Evicted => "until the session was dropped from the flow table",
        _ => "until the capture ended",
    };
    Ending { ts: last.ts.as_secs_f64(), packet: last.number, by: EndedBy::Session(how) }
}

/// A reply that a strict client never sees complete (BANNER_NEVER_COMPLETED's evidence): the
/// client waited for the server, not the other way round.
fn broken_replies(f: &Facts) -> bool {
    use crate::smtp::AnomalyKind::{NotSmtp, ReplyWithoutSeparator, UnterminatedMultilineReply};
    f.s.smtp.anomalies.iter().any(|a| {
        matches!(a.kind, ReplyWithoutSeparator | UnterminatedMultilineReply | NotSmtp)
            && a.from == Direction::ServerToClient
            || a.kind == NotSmtp
    })
}

/// TLS took over the stream: turns are no longer visible.
fn encrypted(f: &Facts) -> bool {
    let smtp = &f.s.smtp;
    smtp.implicit_tls.is_some()
        || smtp.starttls.as_ref().is_some_and(|s| {
            s.reply == Some(220) && s.tls.as_ref().is_some_and(|t| t.client_hello.is_some() || t.encrypted)
        })
}

/// The reply after which it was the client's turn for good: the last one that is not the
/// server's goodbye, with no command of the client left unanswered before it.
fn client_turn_reply<'a>(f: &'a Facts) -> Option<&'a ReplyLine<'a>> {
    let r = f.replies.iter().rev().find(|r| r.code != 421 && r.answers != Some(&Verb::Quit))?;
    let pending_before = f.commands.iter().any(|c| c.packet <= r.packet && c.reply.is_none());
    let continued = f.commands.iter().any(|c| c.packet > r.packet && *c.verb != Verb::Quit);
    let final_reply = matches!(r.code / 100, 4 | 5) && r.answers == Some(&Verb::Greeting);
    (!pending_before && !continued && !final_reply).then_some(r)
}

fn turn_name(r: &ReplyLine, body_sent: bool) -> String {
    match r.answers {
        Some(Verb::Greeting) => "after the greeting".to_string(),
        Some(v) if *v == Verb::Data && r.code == 354 && body_sent => {
            "in the middle of the message data (after 354 and part of the message)".to_string()
        }
        Some(v) if *v == Verb::Data && r.code == 354 => "after 354 (the message was due)".to_string(),
        Some(Verb::DataEnd) => format!("after the reply to the message ({})", r.code),
        Some(v) => format!("after the reply to {v} ({})", r.code),
        None => format!("after the server's {}", r.code),
    }
}

/// The client was silent for at least `client_stall_s` when it was its turn, then quit,
/// closed or was timed out.
pub fn client_stalled(f: &Facts, c: &DiagnoseConfig) -> Option<Verdict> {
    // The silence starts at a reply and ends by `latest_ts`: in most sessions it cannot be
    // long enough, whichever reply it starts at (the test below for the one it starts at).
    if f.latest_ts - f.earliest_reply_ts < c.client_stall_s {
        return None;
    }
    let greeting = f.greeting()?;
    if !(200..300).contains(&greeting.code) || encrypted(f) || broken_replies(f) {
        return None;
    }
    let r = client_turn_reply(f)?;
    // Nothing in the session ends later than `latest_ts`: too short from there, too short at all.
    if f.latest_ts - r.ts < c.client_stall_s {
        return None;
    }
    let end = after_client_turn(f, r.packet);
    // The silence starts at the reply or later: too short from there, too short at all.
    if end.ts - r.ts < c.client_stall_s {
        return None;
    }
    // Message data the client sent after 354 moves the start of its silence.
    let last_client_payload = f.s.conn.events.iter().rfind(|e| {
        e.dir == Direction::ClientToServer
            && e.len > 0
            && e.number > r.packet
            && (e.number < end.packet || (e.number == end.packet && !end.by_client()))
    });
    let start = last_client_payload.map_or(r.ts, |e| e.ts.as_secs_f64().max(r.ts));
    let silence = end.ts - start;
    if silence < c.client_stall_s {
        return None;
    }
    let turn = turn_name(r, last_client_payload.is_some());
    let mut summary = format!("the client was silent for {silence:.1} s {turn}, {}", end.how());
    let mut explanation = "It was the client's turn to speak (SMTP is turn-based: after the greeting, \
        after each reply and after 354 the server waits for the client), and the client said nothing. \
        The client was busy or stuck (a slow DNS or content check before its next command, a lost \
        packet it waited for), or it did not consider the server's last reply complete."
        .to_string();
    if r.answers == Some(&Verb::Greeting) {
        let lines = f.s.smtp.banner.as_ref().map_or(1, |b| b.text.lines().count().max(1));
        summary.push_str(&format!(
            "; the greeting here was complete ({} line{}), so a device in the path may have changed it: a capture on the client's side of the firewall will show it",
            lines,
            if lines == 1 { "" } else { "s" }
        ));
        explanation.push_str(
            " A client that waits after a complete greeting usually never saw it complete: a firewall with \
             ESMTP inspection (Cisco ASA `mask-banner`) masks a multi-line banner so that its final \"220 \" \
             line is lost. A capture on the client's side of the firewall will show it (see \
             BANNER_NEVER_COMPLETED there).",
        );
    }
    Some(verdict(VerdictCode::ClientStalled, summary, explanation, vec![r.packet, end.packet]))
}

/// No greeting after the handshake, or no reply to a command, for at least `client_stall_s`.
pub fn server_silent(f: &Facts, c: &DiagnoseConfig) -> Option<Verdict> {
    let conn = &f.s.conn;
    let handshake_done = matches!(conn.handshake, Handshake::Complete | Handshake::SynSynack);
    if f.server_bytes() == 0 && handshake_done {
        if f.first_close().is_some_and(|x| x.by == Role::Server && x.kind == CloseKind::Rst) {
            return None; // TCPREFUSE
        }
        let from = conn.ack_packet.or(conn.synack_packet)?;
        let from_ts = conn.events.iter().find(|e| e.number == from)?.ts.as_secs_f64();
        let end = after_client_turn(f, from);
        let silence = end.ts - from_ts;
        // A server that closes without a greeting (FIN, not TCPREFUSE's reset) is silent at once.
        if let Some(x) = f.first_close().filter(|x| x.by == Role::Server) {
            return Some(verdict(
                VerdictCode::ServerSilent,
                format!(
                    "the server closed the connection ({}) {silence:.1} s after the handshake without a greeting",
                    x.flags
                ),
                "The TCP handshake completed, then the server closed the connection without its 220 greeting: \
                 the MTA accepted and dropped it (connection or rate limits, a full process table, a \
                 wrapper such as tcpwrappers or a policy daemon refusing the client without a reply), or \
                 a load balancer closed it for a backend that is down. Check the server's log for the \
                 client's address at that time.",
                vec![from, x.packet],
            ));
        }
        if silence < c.client_stall_s {
            return None;
        }
        let end_how = end.how().replace("then sent QUIT", "then the client sent QUIT");
        let end_how = end_how.replacen("then ", "then the client ", usize::from(!end_how.contains("client")));
        return Some(verdict(
            VerdictCode::ServerSilent,
            format!("the server accepted the connection but sent no greeting in {silence:.1} s, {end_how}"),
            "The TCP handshake completed but the SMTP server never sent its 220 greeting. The MTA's process \
             is hung or overloaded (all its SMTP slots busy, a slow reverse-DNS or ident lookup before the \
             banner), a gateway delays the banner on purpose (tarpitting a suspicious sender), or a proxy \
             or load balancer accepts connections for a backend that is down. Check the server's process \
             and connection limits, and whether the handshake is answered by the MTA itself.",
            vec![from, end.packet],
        ));
    }
    // A command (or the end of the message) the server never answered.
    let pending = f.commands.iter().rev().find(|c| c.reply.is_none() && *c.verb != Verb::Quit);
    let data_end = f.s.smtp.transactions.last().filter(|t| {
        t.data_reply.is_none() && t.body.as_ref().is_some_and(|b| b.terminated) && t.bdat_chunks.is_empty()
    });
    let (what, packet, ts) = match (pending, data_end) {
        (Some(p), _) if f.replies.iter().all(|r| r.packet < p.packet) => (p.verb.to_string(), p.packet, p.ts),
        (_, Some(t)) => {
            let b = t.body.as_ref()?;
            let last = b.last_packet?;
            if f.replies.iter().any(|r| r.packet > last.number) {
                return None;
            }
            ("the end of the message".to_string(), last.number, last.ts.as_secs_f64())
        }
        _ => return None,
    };
    let end = after_client_turn(f, packet);
    let silence = end.ts - ts;
    if silence < c.client_stall_s {
        return None;
    }
    Some(verdict(
        VerdictCode::ServerSilent,
        format!(
            "the server did not answer {what} in {silence:.1} s; the client {}",
            end.how().trim_start_matches("then ")
        ),
        "It was the server's turn: the client had sent its command (or its whole message) and waited, and \
         no reply came. The server is stuck (a slow content scan, DNS or database lookup, a full disk), or \
         the command never reached it (a device in the path dropped or held it; compare with a capture \
         on the server's side).",
        vec![packet, end.packet],
    ))
}
