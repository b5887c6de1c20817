//! How the session ended: one rule per outcome a gateway admin has to tell apart.

use super::facts::{Facts, ReplyLine, who};
use super::{DiagnoseConfig, Severity, Verdict, VerdictCode, verdict};
use crate::smtp::{AnomalyKind, Transaction, Verb};
use crate::tcp::conn::{CloseKind, Handshake, Role};
use crate::tcp::flow::EndReason;

fn is_2xx(code: Option<u16>) -> bool {
    matches!(code, Some(200..=299))
}

/// SYN answered by RST: nothing listens, or a firewall rejects with a reset.
pub fn port_closed(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let c = &f.s.conn;
    if c.handshake != Handshake::SynRst {
        return None;
    }
    let mut packets = f.packets_where(|e| e.flags.syn());
    packets.extend(f.first_rst().map(|r| r.packet));
    Some(verdict(
        VerdictCode::PortClosed,
        format!("connection refused: the SYN to {} was answered by a reset", c.server),
        format!(
            "No TCP connection was made: {} (or a device in front of it) answered the client's SYN with RST. \
             Nothing listens on port {}, or a firewall rejects this sender with a reset. Check that the MTA \
             runs and listens there (ss -ltn) and the firewall rules for {}. A gateway's TCPREFUSE policy \
             looks different: it completes the handshake first.",
            c.server, c.server.port, c.client.ip
        ),
        packets,
    ))
}

/// SYNs never answered (with a SYN/ACK or a reset).
pub fn no_answer(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let c = &f.s.conn;
    if c.handshake != Handshake::SynOnly || f.server_bytes() > 0 {
        return None;
    }
    if c.dir(crate::tcp::Direction::ServerToClient).packets > 0 {
        return syn_answered_by_ack(f);
    }
    let span = c.syn_span_s.unwrap_or(0.0);
    let retries = c.syn_count.saturating_sub(1);
    Some(verdict(
        VerdictCode::NoAnswer,
        format!(
            "no answer from {}: {} SYN{} ({} retr{}) over {:.1} s got no reply",
            c.server,
            c.syn_count,
            if c.syn_count == 1 { "" } else { "s" },
            retries,
            if retries == 1 { "y" } else { "ies" },
            span
        ),
        format!(
            "The client's SYNs got neither a SYN/ACK nor a reset: they are dropped on the path (a firewall \
             drop rule, a routing problem, an ACL) or {} is down. The sending MTA logs \"Connection timed \
             out\" / \"operation timed out\" and retries later or tries its next MX. Check reachability of \
             {} port {} from the sender's side and silent drop rules in between.",
            c.server.ip, c.server.ip, c.server.port
        ),
        f.packets_where(|e| e.flags.syn()),
    ))
}

/// The SYN got a bare ACK instead of a SYN/ACK: RFC 5961's challenge ACK, sent by a stack (or a
/// stateful device in front of it) that still holds an older connection on the same ports. The
/// client usually resets to clear that state and tries again; no SMTP connection was made.
fn syn_answered_by_ack(f: &Facts) -> Option<Verdict> {
    let c = &f.s.conn;
    let server_sent = |e: &crate::tcp::conn::PacketEvent| e.dir == crate::tcp::Direction::ServerToClient;
    let answers = f.packets_where(|e| server_sent(e) && e.flags.ack() && !e.flags.syn() && !e.flags.rst());
    let first_answer = *answers.first()?;
    if f.first_rst().is_some_and(|r| r.by == Role::Server) {
        return None;
    }
    let then = match f.first_rst() {
        Some(r) => format!("; the client reset it (packet {})", r.packet),
        None => String::new(),
    };
    let mut packets = f.packets_where(|e| e.flags.syn());
    packets.push(first_answer);
    packets.extend(f.first_rst().map(|r| r.packet));
    packets.sort_unstable();
    Some(verdict(
        VerdictCode::NoAnswer,
        format!("no SYN/ACK from {}: the SYN was answered by a bare ACK (packet {first_answer}){then}", c.server),
        format!(
            "The client's SYN got an ACK without SYN, a challenge ACK (RFC 5961): {} or a stateful firewall \
             in front of it still holds an older connection from {} on these ports, so no new connection \
             was made. Clients reset to clear it and retry; repeated, it means connections are not torn down \
             (a firewall's connection table, a NAT reusing ports too soon). Compare the firewall's \
             connection table for {}:{} with the server's (ss -tn).",
            c.server, c.client, c.client.ip, c.client.port
        ),
        packets,
    ))
}

/// Handshake completed, then the server reset before sending a byte.
pub fn tcprefuse(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let c = &f.s.conn;
    let first = f.first_close()?;
    let handshake_done = matches!(c.handshake, Handshake::Complete | Handshake::SynSynack);
    if !handshake_done || f.server_bytes() > 0 || first.kind != CloseKind::Rst || first.by != Role::Server {
        return None;
    }
    let mut packets: Vec<u64> = [c.syn_packet, c.synack_packet, c.ack_packet].into_iter().flatten().collect();
    packets.push(first.packet);
    Some(verdict(
        VerdictCode::TcpRefuse,
        format!("handshake completed, then the server reset the connection ({}) without a banner", first.flags),
        format!(
            "This is a gateway's TCPREFUSE policy (Cisco ESA: the sender group's mail-flow policy has \
             connection behavior TCPREFUSE): the TCP connection is accepted and reset at once, with no SMTP \
             greeting, so the sender gets no error text and simply retries later. Check which sender group \
             {} falls into (reputation score, DNS lists, rate limits). If the gateway has no such policy, \
             something in the path sent the reset (see FIREWALL_RESET if reported).",
            c.client.ip
        ),
        packets,
    ))
}

fn close_sequence(f: &Facts) -> String {
    let parts: Vec<String> =
        f.closes().iter().take(4).map(|c| format!("{} {} (packet {})", who(c.by), c.flags, c.packet)).collect();
    if parts.is_empty() { "no FIN or RST in the capture".to_string() } else { parts.join(", ") }
}

/// A 5xx greeting (or 5xx to the first command), then the server closes.
pub fn reject(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    // Both refusals below are 5xx replies: most sessions have none.
    if !f.has_5xx {
        return None;
    }
    let refused = match f.greeting() {
        Some(g) if (500..600).contains(&g.code) => g,
        Some(g) if (200..300).contains(&g.code) => {
            // 5xx to the very first command, then the server closes (some gateways reject at EHLO).
            // A 5xx to an informational command (VRFY, EXPN, NOOP, HELP) refuses that command,
            // not the connection.
            let first_reply = f.replies.iter().find(|r| r.answers.is_some_and(|a| *a != Verb::Greeting))?;
            if first_reply.answers.is_some_and(|a| INFORMATIONAL.contains(a)) {
                return None;
            }
            let server_closed =
                f.first_fin_by(Role::Server).is_some() || f.first_rst().is_some_and(|r| r.by == Role::Server);
            let only_command = f.commands.iter().filter(|c| *c.verb != Verb::Quit).count() <= 1;
            if !(500..600).contains(&first_reply.code) || !server_closed || !only_command {
                return None;
            }
            first_reply
        }
        _ => return None,
    };
    let mut packets = vec![refused.packet];
    packets.extend(f.closes().iter().map(|c| c.packet));
    let graceful = f.first_close().is_some_and(|c| c.by == Role::Server && c.kind == CloseKind::Fin);
    Some(verdict(
        VerdictCode::Reject,
        format!(
            "server refused with \"{} {}\" and {}; close: {}",
            refused.code,
            refused.first_line(),
            if graceful { "closed gracefully" } else { "the session ended" },
            close_sequence(f)
        ),
        format!(
            "The server answered with a permanent 5xx refusal before any mail transaction. This is a \
             gateway's REJECT policy (Cisco ESA: the sender group's policy is REJECT, typically \"554 … \
             Access denied\"): the sender gets a hard bounce with this text. Find out why {} lands in a \
             rejecting sender group (reputation, DNS block lists, a local block list) or fix the server's \
             access rules.",
            f.s.conn.client.ip
        ),
        packets,
    ))
}

/// Commands that ask the server something and change no state (RFC 5321 §4.1.1.6–10).
const INFORMATIONAL: [Verb; 5] = [Verb::Vrfy, Verb::Expn, Verb::Noop, Verb::Help, Verb::Rset];

/// A 421 that says the server timed the client out. The words are searched line by line, which
/// finds what a search of the joined text finds: none of them spans the " / " between lines.
fn is_timeout_reply(r: &ReplyLine) -> bool {
    const WORDS: [&str; 4] = ["timeout", "timed out", "idle", "too long"];
    r.code == 421 && r.lines.iter().any(|line| WORDS.iter().any(|w| contains_ignore_ascii_case(line, w)))
}

/// `hay` holds `needle` (lowercase ASCII), ignoring ASCII case, without a lowercased copy.
fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    hay.as_bytes().windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// What a reply answered, for sentences: "at greeting", "to RCPT", "after DATA".
fn stage(answers: Option<&Verb>) -> String {
    match answers {
        Some(Verb::Greeting) => "at greeting".to_string(),
        Some(Verb::DataEnd) => "after the message data".to_string(),
        Some(verb) => format!("to {verb}"),
        None => "unsolicited".to_string(),
    }
}

/// Any 4xx reply: the sender keeps the message and retries (or fails over).
pub fn tempfail(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    // A 421 sent after the client already closed (Exim: "421 Lost incoming connection") is the
    // server's epitaph for the session, not a failure the sender saw.
    if !f.has_4xx {
        return None;
    }
    let client_gone = f.client_closed_at().unwrap_or(f64::MAX);
    let temp: Vec<_> = f
        .replies
        .iter()
        .filter(|r| (400..500).contains(&r.code) && !is_timeout_reply(r) && r.ts <= client_gone)
        .collect();
    let first = temp.first()?;
    let more = if temp.len() > 1 { format!(" (and {} more 4xx)", temp.len() - 1) } else { String::new() };
    Some(verdict(
        VerdictCode::Tempfail,
        format!("temporary failure {}: \"{} {}\"{more}", stage(first.answers), first.code, first.first_line()),
        "A 4xx reply is a temporary failure: the sender keeps the message queued and retries later, or \
         tries its next MX or route host at once. 421 means the server is closing the channel (overload, \
         connection or rate limits, shutdown); 450/451 a transient local problem or greylisting; 452 4.3.1 \
         \"Insufficient system resources\" means the server is out of resources (disk, queue, or a \
         gateway's resource-conservation mode). Check the server's load, queue and per-sender limits.",
        temp.iter().map(|r| r.packet).collect(),
    ))
}

/// 5xx to MAIL, RCPT, DATA, BDAT or the end of the message.
pub fn transaction_rejected(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    const STAGES: [Verb; 4] = [Verb::Mail, Verb::Rcpt, Verb::Data, Verb::Bdat];
    if !f.has_5xx {
        return None;
    }
    // A DATA refused because no recipient was accepted repeats the RCPT failure (pipelining
    // clients send DATA before they know): it is a consequence, not a finding of its own.
    let no_rcpt_accepted = !f.s.smtp.transactions.iter().flat_map(|t| &t.rcpts).any(|r| is_2xx(r.reply));
    let consequence = |r: &&super::facts::ReplyLine| {
        no_rcpt_accepted && r.answers.is_some_and(|a| *a == Verb::Data || *a == Verb::Bdat)
    };
    let rejected: Vec<_> = f
        .replies
        .iter()
        .filter(|r| (500..600).contains(&r.code))
        .filter(|r| r.answers.is_some_and(|a| *a == Verb::DataEnd || STAGES.contains(a)))
        .filter(|r| !consequence(r) || f.commands.iter().all(|c| *c.verb != Verb::Rcpt))
        .collect();
    let first = rejected.first()?;
    let delivered = f.s.smtp.transactions.iter().any(|t| is_2xx(t.data_reply.as_ref().map(|r| r.code)));
    let parts: Vec<String> =
        rejected.iter().take(3).map(|r| format!("{}: \"{} {}\"", stage(r.answers), r.code, r.first_line())).collect();
    let more = if rejected.len() > 3 { format!(" and {} more", rejected.len() - 3) } else { String::new() };
    Some(verdict(
        VerdictCode::TransactionRejected,
        format!("rejected {}{more}", parts.join("; ")),
        "The server refused part of the mail transaction with a permanent 5xx reply: to MAIL (the sender \
         address or its domain), to RCPT (unknown or refused recipient, relaying denied), or after the \
         message data (content filter, size, policy). The sender bounces the affected recipients with this \
         text; the reply says which check fired.",
        vec![first.packet],
    ))
    .map(|mut v| {
        v.packets = rejected.iter().map(|r| r.packet).collect();
        // Another message of the session got through: the sender lost only part of it.
        if delivered {
            v.severity = Severity::Warning;
        }
        v
    })
}

/// 5xx to AUTH: the submission client could not log in.
pub fn auth_failed(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let auth = f.commands.iter().find(|c| *c.verb == Verb::Auth)?;
    let failed = f
        .replies
        .iter()
        .find(|r| {
            r.packet > auth.packet
                && (500..600).contains(&r.code)
                && r.answers.is_some_and(|a| *a == Verb::Auth || *a == Verb::AuthData)
        })
        .or_else(|| f.replies.iter().find(|r| r.packet > auth.packet && matches!(r.code, 530 | 534 | 535 | 538)))?;
    Some(verdict(
        VerdictCode::AuthFailed,
        format!("authentication failed ({}): \"{} {}\"", auth.arg.unwrap_or("AUTH"), failed.code, failed.first_line()),
        "The server refused the client's SMTP AUTH (RFC 4954): wrong credentials (535), a mechanism it \
         does not offer or only offers over TLS (504, 538), or a policy block (534). Nothing was sent. \
         Check the account, the mechanism, and whether the server requires STARTTLS before AUTH.",
        vec![auth.packet, failed.packet],
    ))
}

/// At least one message accepted.
pub fn delivered(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let accepted: Vec<&Transaction> =
        f.s.smtp.transactions.iter().filter(|t| is_2xx(t.data_reply.as_ref().map(|r| r.code))).collect();
    if accepted.is_empty() {
        return None;
    }
    let recipients: usize = accepted.iter().map(|t| t.rcpts.iter().filter(|r| is_2xx(r.reply)).count()).sum();
    let last = accepted.last()?;
    let reply = last.data_reply.as_ref()?;
    let n = accepted.len();
    // Pieces pushed in place, numbers by itoa: this verdict is in most sessions' output, and
    // format machinery costs more than the text it writes.
    let first_line = reply.text.lines().next().unwrap_or("");
    let queue = last.queue_id.as_deref();
    let plural = |k: usize| if k == 1 { "" } else { "s" };
    let mut summary = String::with_capacity(80 + first_line.len() + queue.map_or(0, str::len));
    for piece in [
        "delivered ",
        itoa::Buffer::new().format(n),
        " message",
        plural(n),
        " to ",
        itoa::Buffer::new().format(recipients),
        " recipient",
        plural(recipients),
        " (\"",
        itoa::Buffer::new().format(reply.code),
        " ",
        first_line,
        "\"",
    ] {
        summary.push_str(piece);
    }
    if let Some(q) = queue {
        summary.push_str(", queue id ");
        summary.push_str(q);
    }
    summary.push(')');
    Some(verdict(
        VerdictCode::Delivered,
        summary,
        "The server accepted the message(s) with a 2xx reply after the data: from here on the receiving \
         side is responsible for it. Search its log for the queue id.",
        accepted.iter().filter_map(|t| t.data_reply.as_ref().map(|r| r.packet.number)).collect(),
    ))
}

/// The open transaction: MAIL accepted, no final reply, not reset.
fn open_transaction<'a>(f: &'a Facts) -> Option<&'a Transaction> {
    let t = f.s.smtp.transactions.last()?;
    let open = t.mail_from.is_some()
        && !matches!(t.mail_reply, Some(400..=599))
        && t.data_reply.is_none()
        && t.reset_by.is_none();
    open.then_some(t)
}

fn transaction_stage(t: &Transaction) -> &'static str {
    match (&t.data_verb, t.rcpts.is_empty()) {
        (Some(_), _) if t.body.as_ref().is_some_and(|b| !b.terminated) || !t.bdat_chunks.is_empty() => {
            "during the message data"
        }
        (Some(_), _) => "after DATA",
        (None, false) => "after RCPT, before DATA",
        (None, true) => "after MAIL, before RCPT",
    }
}

/// QUIT while a transaction was open.
pub fn aborted_by_sender(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let t = open_transaction(f)?;
    let quit = f.quit()?;
    // Quitting after every recipient or the DATA was refused is the consequence of the refusal.
    let rcpt_ok = t.rcpts.is_empty() || t.rcpts.iter().any(|r| is_2xx(r.reply));
    if !rcpt_ok || matches!(t.data_intermediate_reply, Some(400..=599)) {
        return None;
    }
    if t.mail_packet.is_some_and(|m| m.number > quit.packet) {
        return None;
    }
    Some(verdict(
        VerdictCode::AbortedBySender,
        format!("the client sent QUIT {} (gateway logs \"Receiving aborted by sender\")", transaction_stage(t)),
        "The sending side gave up the transaction on its own: it opened it with MAIL, then said QUIT \
         before the message was complete. Nothing was delivered. Typical causes: the sender's own limits \
         or content checks, a test tool (swaks --quit-after), or a sender verification callout (an MTA \
         checking that an address exists: MAIL, RCPT, QUIT by design). Look at the sender's log for the \
         reason.",
        [t.mail_packet.map(|p| p.number), Some(quit.packet)].into_iter().flatten().collect(),
    ))
}

/// FIN or RST without QUIT in the middle of a transaction.
pub fn receiving_aborted(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let t = open_transaction(f)?;
    if f.quit().is_some() {
        return None;
    }
    let close = f.first_close()?;
    // Pieces pushed in place, as in `delivered`: a frequent verdict, and format machinery costs
    // more than the text it writes.
    let mut finding = String::with_capacity(128);
    if close.kind == CloseKind::Rst && f.rst_forged(close.packet) {
        finding.push_str("a reset forged in the name of the ");
        finding.push_str(who(close.by));
        finding.push_str(" (see FIREWALL_RESET) cut");
    } else {
        finding.push_str("the ");
        finding.push_str(who(close.by));
        finding.push_str(if close.kind == CloseKind::Rst { " reset (RST)" } else { " closed (FIN)" });
    }
    finding.push_str(" the connection ");
    finding.push_str(transaction_stage(t));
    finding.push_str(" without QUIT");
    if let Some(b) = &t.body {
        finding.push_str(", ");
        finding.push_str(itoa::Buffer::new().format(b.bytes));
        finding.push_str(" bytes of the message seen");
    }
    Some(verdict(
        VerdictCode::ReceivingAborted,
        finding,
        "The connection ended below SMTP in the middle of a mail transaction: no QUIT, no final reply. \
         Gateways log this as \"Receiving aborted\" or \"ICID lost\"; nothing was delivered and the sender \
         will retry. A client that resets usually crashed, timed out or was killed; a reset that did not \
         come from either host points to a firewall (see FIREWALL_RESET); a stall before it points to the \
         path (see MTU_BLACKHOLE, RETRANSMISSIONS).",
        [t.mail_packet.map(|p| p.number), Some(close.packet)].into_iter().flatten().collect(),
    ))
}

/// A long silence before the close, or a server's 421 timeout reply.
pub fn idle_timeout(f: &Facts, c: &DiagnoseConfig) -> Option<Verdict> {
    const EXPLANATION: &str = "One side waited for the other until a timer expired. A server closing with \"421 … \
                       timeout\" waited for the client's next command (client stuck, or its packets lost); \
                       a close after minutes of silence is an idle timer of an MTA, a load balancer or a \
                       firewall's connection table. Compare the silence with the timeouts configured on \
                       both MTAs and on stateful devices in between.";
    let explanation = || EXPLANATION;
    let timeout_reply = if f.has_421 { f.replies.iter().find(|r| is_timeout_reply(r)) } else { None };
    if let Some(r) = timeout_reply {
        let silence = f
            .replies
            .iter()
            .chain([].iter())
            .filter(|x| x.ts < r.ts)
            .map(|x| x.ts)
            .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.max(t))));
        let last_client = f.commands.iter().map(|c| c.ts).fold(silence, |a, t| Some(a.map_or(t, |a: f64| a.max(t))));
        let waited = last_client.map(|t| format!(" after {:.1} s of silence", r.ts - t)).unwrap_or_default();
        return Some(verdict(
            VerdictCode::IdleTimeout,
            format!("the server timed the session out{waited}: \"{} {}\"", r.code, r.first_line()),
            explanation(),
            vec![r.packet],
        ));
    }
    if f.s.end == EndReason::Idle {
        let secs = f.s.conn.last.ts.secs_since(f.s.conn.first.ts);
        return Some(verdict(
            VerdictCode::IdleTimeout,
            format!(
                "no packet after packet {} for longer than the idle limit; the capture shows no close",
                f.s.conn.last.number
            ),
            format!("{EXPLANATION} The session lasted {secs:.1} s before going silent."),
            vec![f.s.conn.last.number],
        ));
    }
    let close = f.first_close()?;
    let last = f.last_payload_ts?;
    let silence = close.ts - last;
    if silence < c.idle_timeout_s {
        return None;
    }
    Some(verdict(
        VerdictCode::IdleTimeout,
        format!("{:.0} s of silence, then the {} closed ({})", silence, who(close.by), close.flags),
        explanation(),
        [f.last_payload_packet, Some(close.packet)].into_iter().flatten().collect(),
    ))
}

/// STARTTLS accepted (or implicit TLS), and whether the handshake got through.
pub fn tls(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let smtp = &f.s.smtp;
    if let Some(v) = plaintext_after_starttls(f) {
        return Some(v);
    }
    if let Some(v) = implicit_tls_answered_in_clear(f) {
        return Some(v);
    }
    let (tls, start_packet) = match (&smtp.starttls, &smtp.implicit_tls) {
        (Some(st), _) if st.reply == Some(220) => (st.tls.as_ref(), st.packet.number),
        (_, Some(tls)) => (Some(&**tls), f.s.conn.first.number),
        _ => return None,
    };
    let alert = tls.and_then(|t| t.alerts.first());
    let encrypted = tls.is_some_and(|t| t.encrypted);
    let hello = tls.and_then(|t| t.client_hello.as_ref());
    let sni = hello.and_then(|h| h.sni.as_deref()).map(|s| format!(", SNI {s}")).unwrap_or_default();
    let version = tls.and_then(|t| t.server_hello.as_ref()).map(|h| format!(" ({})", h.version)).unwrap_or_default();
    if let Some(a) = alert {
        return Some(verdict(
            VerdictCode::TlsFailed,
            format!("TLS handshake failed: the {} sent alert {} ({}){sni}", a.from, a.description, a.level),
            "The TLS handshake after STARTTLS ended with an alert sent in clear: the two sides share no \
             protocol version or cipher suite, or one rejected the other's certificate. Senders that \
             require TLS defer the mail; opportunistic senders may retry in clear. Compare the TLS \
             versions and ciphers both MTAs allow (e.g. openssl s_client -starttls smtp) and check the \
             certificates.",
            vec![start_packet, a.packet.number],
        ));
    }
    if !encrypted && f.s.end != EndReason::CaptureEnd {
        return Some(verdict(
            VerdictCode::TlsFailed,
            "TLS handshake never completed: the connection closed before any encrypted data".to_string(),
            "STARTTLS was accepted but the TLS handshake did not get through: one side closed during it \
             (often a certificate the client would not accept, or an inspection device that cannot handle \
             TLS). Try openssl s_client -starttls smtp against the server from the sender's network.",
            [Some(start_packet), f.first_close().map(|c| c.packet)].into_iter().flatten().collect(),
        ));
    }
    Some(verdict(
        VerdictCode::TlsStarted,
        format!("TLS started{version}{sni}; the rest of the session is encrypted"),
        "The session switched to TLS (STARTTLS accepted, or implicit TLS on port 465). What follows is \
         encrypted: the dialogue after this point is not visible in the capture, so later verdicts rely on \
         TCP facts only.",
        vec![start_packet],
    ))
}

/// STARTTLS got its 220, and the dialogue went on in plain text: the rest is SMTP to read.
fn plaintext_after_starttls(f: &Facts) -> Option<Verdict> {
    let st = f.s.smtp.starttls.as_ref().filter(|st| st.reply == Some(220))?;
    let plain: Vec<_> = f.s.smtp.anomalies.iter().filter(|a| a.kind == AnomalyKind::PlaintextAfterStartTls).collect();
    let first = plain.first()?;
    let sides = if plain.len() > 1 { "both sides" } else { who(Role::of(first.from)) };
    Some(verdict(
        VerdictCode::PlaintextAfterStarttls,
        format!(
            "STARTTLS was accepted (220) but {sides} went on in plain text (\"{}\"); the dialogue is read as SMTP",
            first.detail
        ),
        "After \"220\" to STARTTLS both sides must start the TLS handshake (RFC 3207 §4.2). Here the next \
         bytes were SMTP in clear: the capture was exported decrypted (or taken behind a TLS-terminating \
         proxy), or the client ignored the 220 and carried on unencrypted. If this is a raw capture of the \
         wire, the mail travelled in clear although TLS was agreed: check the client's TLS settings.",
        vec![st.packet.number, first.first_packet.number],
    ))
}

/// The client opened with a TLS ClientHello (implicit TLS, RFC 8314) and the server answered
/// with a plain-text SMTP reply: the port speaks plain SMTP, not implicit TLS.
fn implicit_tls_answered_in_clear(f: &Facts) -> Option<Verdict> {
    let tls = f.s.smtp.implicit_tls.as_ref()?;
    if tls.server_hello.is_some() || tls.encrypted {
        return None;
    }
    // The server may have greeted in clear before or after the ClientHello.
    let reply = f.replies.first()?;
    let hello = tls.client_hello.as_ref().map(|h| h.packet.number);
    Some(verdict(
        VerdictCode::TlsFailed,
        format!(
            "the client opened with TLS (implicit TLS on port {}) but the server answered in plain text: \"{} {}\"",
            f.s.conn.server.port,
            reply.code,
            reply.first_line()
        ),
        "The client expected implicit TLS (RFC 8314, \"SMTPS\" on port 465) and sent a TLS ClientHello at \
         once, but the server speaks plain SMTP on this port and sent its greeting in clear, so no TLS \
         session could start and nothing was delivered. Either configure the server for TLS on connect \
         on this port (Exim: tls_on_connect_ports = 465; Postfix: smtpd_tls_wrappermode = yes), or point \
         the client at port 25/587 with STARTTLS.",
        [hello, Some(reply.packet)].into_iter().flatten().collect(),
    ))
}

/// The capture does not hold the whole session.
pub fn incomplete(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let c = &f.s.conn;
    let reason = if c.handshake == Handshake::Midstream {
        "the capture starts in the middle of the session (no SYN seen)"
    } else if f.s.end == EndReason::CaptureEnd && !(c.handshake == Handshake::SynOnly && c.syn_count > 1) {
        "the capture ends before the session did"
    } else if f.s.end == EndReason::Evicted {
        "the session was dropped from the flow table (too many open connections, see --max-flows)"
    } else if f.s.smtp.anomalies.iter().any(|a| a.kind == AnomalyKind::Gap) {
        "bytes are missing from the capture (packets not captured)"
    } else {
        return None;
    };
    Some(verdict(
        VerdictCode::Incomplete,
        reason.to_string(),
        "smtpdiag reports only what the capture shows and does not guess beyond it. Capture longer, or \
         on both sides, to see the whole session.",
        vec![if f.s.end == EndReason::CaptureEnd { c.last.number } else { c.first.number }],
    ))
}
