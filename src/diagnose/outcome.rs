//! Endings no other rule names: a stream that is not SMTP at all (NOT_SMTP), and a client that
//! left without a message although it could have sent one (NO_MESSAGE).

use super::facts::Facts;
use super::{DiagnoseConfig, Verdict, VerdictCode, verdict};
use crate::smtp::{AnomalyKind, Verb};
use crate::tcp::Direction;
use crate::tcp::conn::{CloseKind, Handshake, Role};

fn side(dir: Direction) -> &'static str {
    match dir {
        Direction::ClientToServer => "the client",
        Direction::ServerToClient => "the server",
    }
}

/// Bytes on a mail port that are neither SMTP nor TLS.
pub fn not_smtp(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let smtp = &f.s.smtp;
    let found: Vec<_> = smtp.anomalies.iter().filter(|a| a.kind == AnomalyKind::NotSmtp).collect();
    let first = found.first()?;
    let (c, s) = (f.s.conn.dir(Direction::ClientToServer), f.s.conn.dir(Direction::ServerToClient));
    let who: Vec<&str> = found.iter().map(|a| side(a.from)).collect();
    Some(verdict(
        VerdictCode::NotSmtp,
        format!(
            "{} spoke neither SMTP nor TLS on port {} ({}); {} bytes from the client, {} from the server",
            who.join(" and "),
            f.s.conn.server.port,
            first.detail,
            c.payload_bytes,
            s.payload_bytes
        ),
        "The bytes on this mail port are not an SMTP dialogue and not a TLS handshake: another protocol \
         runs there (a VPN or SSH tunnel on 465 or 587 to get through firewalls, a misdirected client, a \
         scanner's probe). Nothing of it is parsed as SMTP. Find out which program listens on (or \
         connects to) this port; the first bytes are the protocol's signature.",
        found.iter().map(|a| a.first_packet.number).collect(),
    ))
}

/// The client ended the session without a message after the server let it send one: probes,
/// sender callout verification (MAIL, RCPT, then RSET or QUIT), monitoring checks. Runs after
/// the other rules and only when none of them said how the session ended (`Props::ends_session`).
pub fn no_message(f: &Facts, c: &DiagnoseConfig, found: &[Verdict]) -> Option<Verdict> {
    // A firewall that cut the session or refused a masked command explains it better.
    const EXPLAINED_BY: [VerdictCode; 3] =
        [VerdictCode::FirewallReset, VerdictCode::CommandMasked, VerdictCode::StarttlsStripped];
    if found.iter().any(|v| v.code.props().ends_session || EXPLAINED_BY.contains(&v.code)) {
        return None;
    }
    let conn = &f.s.conn;
    let quit = f.quit();
    let client_close = f.closes().iter().find(|x| x.by == Role::Client);
    let greeting = f.greeting().filter(|g| (200..300).contains(&g.code));
    let verbs: Vec<&Verb> = f.commands.iter().map(|c| c.verb).collect();
    let (summary, packets) = match (greeting, quit, client_close) {
        (Some(g), Some(q), _) => {
            let what = match () {
                _ if verbs.contains(&&Verb::Mail) && verbs.contains(&&Verb::Rcpt) => {
                    "MAIL and RCPT without DATA: a sender callout verification (checking that an address exists)"
                }
                _ if verbs.contains(&&Verb::Mail) => "MAIL without a recipient",
                _ if verbs.iter().any(|v| matches!(v, Verb::Vrfy | Verb::Expn)) => "address probes (VRFY/EXPN)",
                _ if verbs.len() <= 1 => "nothing but QUIT: a connection check",
                _ => "no transaction: a probe or monitoring check",
            };
            (format!("the client sent no message and said QUIT ({}; {what})", shown(&verbs)), vec![g.packet, q.packet])
        }
        (Some(g), None, Some(x)) => (
            format!(
                "the client sent no message and {} the connection ({}) without QUIT{}",
                if x.kind == CloseKind::Rst { "reset" } else { "closed" },
                x.flags,
                if verbs.is_empty() {
                    " right after the greeting".to_string()
                } else {
                    format!(" after {}", shown(&verbs))
                }
            ),
            vec![g.packet, x.packet],
        ),
        (None, _, Some(x))
            if f.server_bytes() == 0 && matches!(conn.handshake, Handshake::Complete | Handshake::SynSynack) =>
        {
            let after = x.ts - conn.first.ts.as_secs_f64();
            if after >= c.client_stall_s {
                return None; // SERVER_SILENT's case
            }
            (
                format!(
                    "the client {} the connection ({}) {after:.1} s after it opened, before any greeting: a port probe",
                    if x.kind == CloseKind::Rst { "reset" } else { "closed" },
                    x.flags
                ),
                vec![x.packet],
            )
        }
        _ => return None,
    };
    Some(verdict(
        VerdictCode::NoMessage,
        summary,
        "The client ended the session without sending a message, although the server let it: it only \
         checked something. Sender callout verification (an MTA checking that an address exists with \
         MAIL, RCPT, then RSET or QUIT), monitoring probes and scanners do this by design; refusals of \
         informational commands (VRFY, EXPN, NOOP, HELP) are not refusals of mail. Nothing to fix unless \
         a message was expected.",
        packets,
    ))
}

/// "EHLO, MAIL, RCPT, RSET, QUIT" (at most eight verbs).
fn shown(verbs: &[&Verb]) -> String {
    let mut out: Vec<&str> = verbs.iter().take(8).map(|v| v.as_str()).collect();
    if verbs.len() > 8 {
        out.push("…");
    }
    if out.is_empty() { "no command".to_string() } else { out.join(", ") }
}
