//! Traces of a firewall doing SMTP inspection (Cisco ASA/PIX `inspect esmtp`, formerly "fixup
//! smtp" / mailguard) or otherwise editing or cutting the stream.
//!
//! The ASA rewrites bytes in place, keeping lengths: the banner text becomes '*' except the
//! characters '2' and '0'; EHLO keywords it does not know become 'X's (STARTTLS → "XXXXXXXA");
//! commands outside its list become 'X's (the server answers 500); and it resets both sides when a
//! line exceeds one of its limits.

use super::facts::{Facts, who};
use super::{DiagnoseConfig, Verdict, VerdictCode, verdict};
use crate::smtp::{AnomalyKind, Event, Verb};
use crate::tcp::Direction;
use crate::tcp::conn::{IpIdPattern, Role};
use crate::tcp::reassembly::SegmentClass;

/// ASA esmtp inspection defaults (Cisco: "match cmd line length gt 512", "match cmd RCPT count gt
/// 100", "match header line length gt 998", "match sender-address length gt 320", "match MIME
/// filename length gt 255").
pub const ASA_MAX_COMMAND_LINE: u64 = 512;
pub const ASA_MAX_RCPT: u64 = 100;
pub const ASA_MAX_HEADER_LINE: u64 = 998;
pub const ASA_MAX_SENDER: u64 = 320;
pub const ASA_MAX_MIME_FILENAME: u64 = 255;
/// A reset this soon after the offending line counts as caused by it.
const LIMIT_RESET_WITHIN_S: f64 = 5.0;

/// Text made only of '*' with surviving '2'/'0' (and perhaps separators the firewall also masked).
/// (The character test first: an ordinary banner fails it at its first letter.)
fn is_masked_text(text: &str) -> bool {
    if !text.bytes().all(|c| matches!(c, b'*' | b'2' | b'0' | b'\n' | b' ')) {
        return false;
    }
    // Only ASCII is left: bytes are characters.
    let stars = text.bytes().filter(|&c| c == b'*').count();
    stars >= 4 && stars * 2 >= text.bytes().filter(|c| !c.is_ascii_whitespace()).count()
}

/// An EHLO keyword replaced by X's, the ASA's marker letter possibly kept at the end.
/// (Inlined where keywords are walked: most start with another letter, and that test is all
/// they need.)
#[inline(always)]
fn is_masked_keyword(keyword: &str) -> bool {
    match keyword.as_bytes().first() {
        Some(&b) if b.is_ascii_alphanumeric() => b == b'X' && masked_word(keyword),
        _ => keyword.trim_start().starts_with('X') && masked_word(keyword),
    }
}

/// The first word of a keyword that starts with 'X' is X's, perhaps with one letter or digit
/// after them, and at least four long.
#[inline(never)]
fn masked_word(keyword: &str) -> bool {
    let word = keyword.split_whitespace().next().unwrap_or("");
    let xs = word.chars().take_while(|&c| c == 'X').count();
    word.len() >= 4
        && (xs == word.len()
            || (xs == word.len() - 1 && word.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())))
}

/// The line holds "XXXX" (a masked command echoed in a reply). A run count: a substring
/// search sets up more than the short reply line costs to walk.
fn has_run_of_four_x(line: &str) -> bool {
    let mut run = 0;
    line.bytes().any(|b| {
        run = if b == b'X' { run + 1 } else { 0 };
        run == 4
    })
}

/// "XXXX…" in place of a command verb (no verb is made of X's only).
fn is_masked_verb(verb: &Verb) -> bool {
    matches!(verb, Verb::Other(text) if text.len() >= 4 && text.chars().all(|c| c == 'X' || c == 'x'))
}

pub fn masked_banner(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let banner = f.s.smtp.banner.as_ref()?;
    if !is_masked_text(&banner.text) {
        return None;
    }
    let line = banner.text.lines().next().unwrap_or("");
    let shown = &line[..line.char_indices().nth(40).map_or(line.len(), |(i, _)| i)];
    Some(verdict(
        VerdictCode::MaskedBanner,
        format!("banner masked by a firewall: \"{} {shown}…\" (only the characters 2 and 0 survive)", banner.code),
        concat!(
            "A firewall with ESMTP inspection (Cisco ASA/PIX `inspect esmtp`, the old \"fixup smtp\" / \
             mailguard) replaced the server's greeting text with asterisks. Mail can still flow, but the same \
             inspection masks EHLO keywords (STARTTLS), rewrites commands it does not know and resets \
             sessions over its limits. ",
            mask_banner_fix!()
        ),
        vec![banner.packet.number],
    ))
}

/// A greeting whose final "220 " line never arrived, so the client waited and gave up.
pub fn banner_never_completed(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let smtp = &f.s.smtp;
    // Positive evidence only: a masked greeting whose lines lost their separator, or a 220-
    // continuation that never got its final line. Other protocols on the port stay silent here.
    let unterminated_220 = smtp.anomalies.iter().any(|a| {
        a.kind == AnomalyKind::UnterminatedMultilineReply
            && a.from == Direction::ServerToClient
            && a.detail.contains("220")
    });
    let greeting_packet = smtp.banner.as_ref().map_or(u64::MAX, |b| b.packet.number);
    let no_final_line = smtp.anomalies.iter().any(|a| {
        a.kind == AnomalyKind::ReplyWithoutSeparator
            && a.from == Direction::ServerToClient
            && a.first_packet.number <= greeting_packet
    });
    let masked_and_broken = (smtp.banner.is_none() || no_final_line) && f.masked_greeting_bytes();
    if !(unterminated_220 || masked_and_broken) || f.server_bytes() == 0 {
        return None;
    }
    let first_server = f.s.conn.events.iter().find(|e| e.dir == Direction::ServerToClient && e.len > 0)?;
    let next_client = f.s.conn.events.iter().find(|e| {
        e.dir == Direction::ClientToServer
            && e.number > first_server.number
            && (e.len > 0 || e.flags.fin() || e.flags.rst())
    });
    let waited = next_client
        .map(|e| format!("; the client gave up after {:.1} s", e.ts.secs_since(first_server.ts)))
        .unwrap_or_default();
    Some(verdict(
        VerdictCode::BannerNeverCompleted,
        format!("the greeting never completed: no valid final \"220 \" line arrived{waited}"),
        concat!(
            "The server sent a multi-line greeting (220-…) but the client never received its final \"220 \" \
             line, so it waited for the banner until its timeout. An ESMTP-inspecting firewall masks a \
             multi-line banner through its continuation lines, which breaks exactly this. ",
            mask_banner_fix!(),
            " Or configure the server with a single-line banner."
        ),
        [Some(first_server.number), next_client.map(|e| e.number)].into_iter().flatten().collect(),
    ))
}

impl Facts<'_> {
    /// The server's first lines look masked ("220****", "2**0***").
    fn masked_greeting_bytes(&self) -> bool {
        self.s.smtp.banner.as_ref().is_some_and(|b| is_masked_text(&b.text))
            || self.s.smtp.events.iter().any(|e| matches!(e, Event::Anomaly { kind: AnomalyKind::NonReplyLine, detail, .. } if is_masked_text(detail.trim_start_matches(|c: char| c.is_ascii_digit()))))
    }
}

pub fn ehlo_keywords_masked(f: &Facts, _: &DiagnoseConfig) -> Vec<Verdict> {
    let smtp = &f.s.smtp;
    let masked: Vec<&String> = smtp.ehlo_keywords.iter().filter(|k| is_masked_keyword(k)).collect();
    if masked.is_empty() {
        return Vec::new();
    }
    let packet = f.replies.iter().find(|r| r.answers.is_some_and(|a| *a == Verb::Ehlo)).map(|r| r.packet);
    let packets: Vec<u64> = packet.into_iter().collect();
    let tls_started = smtp.starttls.as_ref().is_some_and(|s| s.reply == Some(220));
    let mut out = Vec::new();
    // STARTTLS has 8 letters; so has CHUNKING, which ASAs also mask, hence "most likely".
    // CHUNKING (RFC 3030) is announced next to BINARYMIME, which needs it; STARTTLS is not.
    let beside_binarymime = |k: &String| {
        let i = smtp.ehlo_keywords.iter().position(|x| std::ptr::eq(x, k)).unwrap_or(0);
        let near = |j: usize| smtp.ehlo_keywords.get(j).is_some_and(|x| x.eq_ignore_ascii_case("BINARYMIME"));
        near(i + 1) || (i > 0 && near(i - 1))
    };
    let (starttls_like, others): (Vec<&String>, Vec<&String>) =
        masked.into_iter().partition(|k| k.len() == 8 && !beside_binarymime(k));
    let requested = smtp.starttls.as_ref().is_some_and(|s| s.requested);
    let outcome = if requested {
        "the client sent STARTTLS anyway and it was refused"
    } else {
        "the client did not upgrade and the session stayed unencrypted"
    };
    if let Some(k) = starttls_like.first().filter(|_| !tls_started) {
        out.push(verdict(
            VerdictCode::StarttlsStripped,
            format!("EHLO keyword masked as \"{k}\" (most likely STARTTLS): {outcome}"),
            concat!(
                "A firewall with ESMTP inspection replaced an EHLO keyword it does not know with X's. An \
                 8-letter keyword is most likely STARTTLS (CHUNKING has the same length), so the client never \
                 saw the offer and sent the mail in clear — or, if it requires TLS, deferred it. ",
                ehlo_mask_fix!()
            ),
            packets.clone(),
        ));
    }
    let rest: Vec<&String> = others
        .into_iter()
        .chain(if tls_started { starttls_like } else { starttls_like.into_iter().skip(1).collect() })
        .collect();
    if !rest.is_empty() {
        let list: Vec<&str> = rest.iter().map(|k| k.as_str()).collect();
        out.push(verdict(
            VerdictCode::EhloKeywordMasked,
            format!("EHLO keyword{} masked by a firewall: {}", if list.len() == 1 { "" } else { "s" }, list.join(", ")),
            concat!(
                "A firewall with ESMTP inspection masked EHLO extensions it does not know, so the client \
                 cannot use them (e.g. CHUNKING, SMTPUTF8, DSN on some versions). ",
                ehlo_mask_fix!()
            ),
            packets,
        ));
    }
    out
}

/// Commands an ASA's ESMTP inspection lets through; it masks every other verb.
const ASA_ALLOWED_VERBS: [Verb; 15] = [
    Verb::Helo,
    Verb::Ehlo,
    Verb::Mail,
    Verb::Rcpt,
    Verb::Data,
    Verb::Rset,
    Verb::Noop,
    Verb::Quit,
    Verb::Auth,
    Verb::Etrn,
    Verb::Help,
    Verb::Saml,
    Verb::Send,
    Verb::Soml,
    Verb::Vrfy,
];

/// Seen from the client side, the mask is invisible: the client sends STARTTLS and the server
/// answers 500. With other inspection traces in the same session, that is the masked command.
fn refused_outside_allowed_list<'a>(f: &'a Facts) -> Option<&'a super::facts::Line<'a>> {
    let inspected = f.s.smtp.banner.as_ref().is_some_and(|b| is_masked_text(&b.text))
        || f.s.smtp.ehlo_keywords.iter().any(|k| is_masked_keyword(k));
    if !inspected {
        return None;
    }
    f.commands.iter().find(|c| !ASA_ALLOWED_VERBS.contains(c.verb) && matches!(c.reply, Some(500 | 502)))
}

pub fn command_masked(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    // Each trace below needs one of these; most sessions have none, and the walks cost more.
    if !(f.has_other_verb || f.has_500_up || f.has_unknown_command_reply) {
        return None;
    }
    let masked = f.commands.iter().find(|c| is_masked_verb(c.verb));
    // Line by line: "XXXX" cannot span the " / " that joins them.
    let reply = f.replies.iter().find(|r| r.code >= 500 && r.lines.iter().any(has_run_of_four_x));
    let refused = if masked.is_none() && reply.is_none() { refused_outside_allowed_list(f) } else { None };
    if let Some(c) = refused {
        return Some(verdict(
            VerdictCode::CommandMasked,
            format!(
                "the client's {} was refused with {}: an inspecting firewall (see the other masks in this session) turns commands outside its list into X's",
                c.verb,
                c.reply.unwrap_or(500)
            ),
            format!(
                "A firewall with ESMTP inspection replaces commands outside its allowed list (HELO, EHLO, MAIL, \
                 RCPT, DATA, RSET, NOOP, QUIT, AUTH, ETRN, HELP, SAML, SEND, SOML, VRFY) with X's of the same \
                 length, so the server sees \"{}\" and refuses it. {}",
                "X".repeat(c.verb.as_str().len()),
                command_mask_fix!()
            ),
            [Some(c.packet), f.replies.iter().find(|r| r.packet > c.packet).map(|r| r.packet)]
                .into_iter()
                .flatten()
                .collect(),
        ));
    }
    let cmd = masked;
    if cmd.is_none() && reply.is_none() {
        return None;
    }
    let guess = match cmd.map(|c| c.verb.as_str().len()) {
        Some(8) => " (8 letters: most likely STARTTLS)",
        Some(4) => " (4 letters: e.g. BDAT, EXPN, TURN)",
        _ => "",
    };
    let what = match (cmd, reply) {
        (Some(c), Some(r)) => format!(
            "the client's command arrived as \"{}\"{guess}; the server answered \"{} {}\"",
            c.verb,
            r.code,
            r.first_line()
        ),
        (Some(c), None) => format!("the client's command arrived as \"{}\"{guess}", c.verb),
        (None, Some(r)) => format!("the server answered \"{} {}\" to a masked command", r.code, r.first_line()),
        (None, None) => unreachable!("checked above"),
    };
    Some(verdict(
        VerdictCode::CommandMasked,
        format!("command masked by a firewall: {what}"),
        concat!(
            "A firewall with ESMTP inspection replaced a command outside its allowed list (HELO, EHLO, MAIL, \
             RCPT, DATA, RSET, NOOP, QUIT, AUTH, ETRN, HELP, SAML, SEND, SOML, VRFY) with X's of the same \
             length, so the server saw garbage and refused it. ",
            command_mask_fix!()
        ),
        [cmd.map(|c| c.packet), reply.map(|r| r.packet)].into_iter().flatten().collect(),
    ))
}

pub fn ehlo_refused(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let ehlo = f.commands.iter().find(|c| *c.verb == Verb::Ehlo && c.reply.is_some_and(|r| r >= 500))?;
    let helo = f.commands.iter().find(|c| *c.verb == Verb::Helo && c.packet > ehlo.packet)?;
    Some(verdict(
        VerdictCode::EhloRefused,
        format!(
            "EHLO was refused ({}) and the client fell back to HELO: no ESMTP extensions (no STARTTLS, SIZE, PIPELINING)",
            ehlo.reply.unwrap_or(0)
        ),
        "The server (or a firewall in front of it) answered EHLO with 500/502, so the client used plain \
         HELO. Classic PIX/ASA mailguard (\"fixup smtp\") does this; so do very old servers. Without ESMTP the \
         session cannot use TLS, size declarations or 8BITMIME.",
        vec![ehlo.packet, helo.packet],
    ))
}

/// A reset that did not come from the endpoint it claims to come from.
pub fn firewall_reset(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let events = &f.s.conn.events;
    if !f.has_reset {
        return None; // most sessions: no reset to judge
    }
    let resets = || events.iter().filter(|e| e.flags.rst() && e.class != SegmentClass::Duplicate);
    let mut clues: Vec<String> = Vec::new();
    let mut packets = Vec::new();
    for rst in resets() {
        let Some((lo, hi)) = f.ttl_baseline(rst.dir) else { continue };
        if rst.ttl >= lo && rst.ttl <= hi {
            continue;
        }
        let sender = who(crate::tcp::conn::Role::of(rst.dir));
        // Pushed piece by piece: format machinery costs more than the text it writes.
        let mut clue = String::with_capacity(128);
        let mut num = itoa::Buffer::new();
        clue.push_str("the RST \"from\" the ");
        clue.push_str(sender);
        clue.push_str(" (packet ");
        clue.push_str(num.format(rst.number));
        clue.push_str(") has TTL ");
        clue.push_str(num.format(rst.ttl));
        clue.push_str(" where the ");
        clue.push_str(sender);
        clue.push_str("'s other packets have ");
        clue.push_str(num.format(lo));
        if lo != hi {
            clue.push('-');
            clue.push_str(num.format(hi));
        }
        if let Some(id) = rst.ip_id.filter(|_| f.s.conn.dir(rst.dir).ip_id == IpIdPattern::Incrementing) {
            let prev = events
                .iter()
                .rev()
                .find(|e| e.dir == rst.dir && e.number < rst.number && !e.flags.rst())
                .and_then(|e| e.ip_id);
            if let Some(p) = prev.filter(|p| id.wrapping_sub(*p) > 1024 && p.wrapping_sub(id) > 1024) {
                clue.push_str(&format!(", and IP-ID {id:#06x} far from its previous {p:#06x}"));
            }
        }
        clues.push(clue);
        packets.push(rst.number);
    }
    // Resets in both directions within a millisecond while neither side had closed.
    let rsts: Vec<_> = resets().collect();
    let fin_before = |n: u64| events.iter().any(|e| e.flags.fin() && e.number < n);
    for pair in rsts.windows(2) {
        if pair[0].dir != pair[1].dir && pair[1].ts.secs_since(pair[0].ts).abs() < 0.001 && !fin_before(pair[0].number)
        {
            clues.push(format!(
                "resets hit both sides at the same instant (packets {} and {}) while neither side had closed",
                pair[0].number, pair[1].number
            ));
            packets.extend([pair[0].number, pair[1].number]);
        }
    }
    if clues.is_empty() {
        return None;
    }
    packets.sort_unstable();
    packets.dedup();
    Some(verdict(
        VerdictCode::FirewallReset,
        ["reset sent by a device in the path, not by the endpoint: ", &clues.join("; ")].concat(),
        "Every host's own packets in one session carry the same TTL (the same number of hops) and usually a \
         steadily increasing IP-ID. A reset that differs was injected by something in between — typically a \
         firewall or IPS dropping the connection (an ASA with ESMTP inspection resets both sides when a line \
         exceeds its limits; see INSPECTION_LIMIT). Check that device's logs and connection drop reasons \
         (ASA: `show service-policy inspect esmtp`, `show asp drop`, syslog 108003/108007).",
        packets,
    ))
}

/// A line that broke one of the inspection's rules: what it was, the packet that carried it,
/// and the fix naming the ASA setting.
type Offence = (String, u64, &'static str);

/// The session was cut right after a line over one of the ESMTP-inspection default limits, or
/// one that broke its built-in checks (a pipe in an address, no CRLF, a command under four
/// characters).
pub fn inspection_limit(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let rst = f.first_rst()?;
    let cut = Cut { packet: rst.packet, ts: rst.ts };
    let checks: [fn(&Facts, &Cut) -> Option<Offence>; 8] = [
        long_command_line,
        pipe_in_address,
        too_many_rcpt,
        long_sender,
        long_header_line,
        long_mime_filename,
        not_crlf_terminated,
        short_command,
    ];
    let (what, packet, fix) = checks.iter().find_map(|check| check(f, &cut))?;
    Some(verdict(
        VerdictCode::InspectionLimit,
        format!("session reset (RST \"from\" the {}, packet {}) right after a {what}", who(rst.by), rst.packet),
        format!(
            "Cisco ASA ESMTP inspection drops the connection and resets both sides when a line exceeds its \
             defaults (command line > 512 bytes, more than 100 RCPT, header line > 998, sender address > 320, \
             MIME filename > 255) or breaks its protocol checks (a pipe character in a MAIL FROM or RCPT TO \
             parameter, a command not terminated by CRLF, a command shorter than four characters). The \
             reset came right after such a line and the server never answered it. {fix}"
        ),
        vec![packet, rst.packet],
    ))
}

/// The reset that ended the session.
struct Cut {
    packet: u64,
    ts: f64,
}

impl Cut {
    /// The offending packet came shortly before the reset.
    fn right_after(&self, packet: u64, ts: f64) -> bool {
        packet <= self.packet && self.ts - ts <= LIMIT_RESET_WITHIN_S
    }
}

fn unanswered_after(f: &Facts, packet: u64) -> bool {
    !f.replies.iter().any(|r| r.packet > packet)
}

/// Command line length includes CRLF (RFC 5321 §4.5.3.1.4 counts it in the 512).
fn long_command_line(f: &Facts, cut: &Cut) -> Option<Offence> {
    let c = f
        .commands
        .iter()
        .filter(|c| c.len as u64 + 2 > ASA_MAX_COMMAND_LINE)
        .find(|c| cut.right_after(c.packet, c.ts) && unanswered_after(f, c.packet))?;
    let arg: String = c.arg.unwrap_or("").chars().take(30).collect();
    Some((
        // The line's length as the JSON records it, without CRLF; the limit counts the CRLF.
        format!(
            "command line of {} bytes + CRLF (limit {ASA_MAX_COMMAND_LINE} with CRLF): \"{} {arg}…\"",
            c.len, c.verb
        ),
        c.packet,
        limit_fix!("match cmd line length gt 512", "e.g. `match cmd line length gt 1024`"),
    ))
}

/// MAIL FROM or RCPT TO with a `|` in its parameter (mail to a pipe is an old sendmail attack).
fn pipe_in_address(f: &Facts, cut: &Cut) -> Option<Offence> {
    // The text search last: most commands fail the cheap tests.
    let c = f.commands.iter().find(|c| {
        (*c.verb == Verb::Mail || *c.verb == Verb::Rcpt)
            && c.reply.is_none()
            && cut.right_after(c.packet, c.ts)
            && c.arg.is_some_and(|a| a.contains('|'))
    })?;
    let arg: String = c.arg.unwrap_or("").chars().take(60).collect();
    Some((
        format!("{} whose parameter holds a pipe character '|': \"{} {arg}\"", c.verb, c.verb),
        c.packet,
        builtin_check_fix!("a `|` in a MAIL FROM or RCPT TO parameter closes the connection"),
    ))
}

/// The last command line ended without CRLF (bare LF, or no line end before the reset).
fn not_crlf_terminated(f: &Facts, cut: &Cut) -> Option<Offence> {
    let a = f.s.smtp.anomalies.iter().find(|a| {
        a.from == Direction::ClientToServer
            && matches!(a.kind, AnomalyKind::BareLf | AnomalyKind::PartialLineAtEnd)
            && cut.right_after(a.last_packet.number, a.last_packet.ts.as_secs_f64())
            && unanswered_after(f, a.last_packet.number)
    })?;
    let how = if a.kind == AnomalyKind::BareLf { "ended by a bare LF" } else { "with no line end at all" };
    Some((
        format!("command line not terminated by CRLF ({how})"),
        a.last_packet.number,
        builtin_check_fix!("a command not terminated by <CR><LF> closes the connection"),
    ))
}

/// A command line shorter than four characters (no SMTP verb is).
fn short_command(f: &Facts, cut: &Cut) -> Option<Offence> {
    let c = f.commands.iter().find(|c| c.len < 4 && cut.right_after(c.packet, c.ts) && c.reply.is_none())?;
    Some((
        format!(
            "command of {} character{} (\"{}\"; every SMTP verb has four)",
            c.len,
            if c.len == 1 { "" } else { "s" },
            c.verb
        ),
        c.packet,
        builtin_check_fix!("a command shorter than four characters closes the connection"),
    ))
}

fn too_many_rcpt(f: &Facts, cut: &Cut) -> Option<Offence> {
    // Counted, not collected: every reset session comes here, few with more than 100 RCPT.
    let rcpts = || f.commands.iter().filter(|c| *c.verb == Verb::Rcpt);
    let over = rcpts().nth(ASA_MAX_RCPT as usize)?;
    let (count, last) = rcpts().fold((0, over), |(n, _), c| (n + 1, c));
    let cut_there =
        cut.right_after(over.packet, over.ts) || (cut.right_after(last.packet, last.ts) && last.reply.is_none());
    cut_there.then(|| {
        let what = format!(
            "{} RCPT commands (limit {ASA_MAX_RCPT}); the reset came after RCPT number {}",
            count,
            ASA_MAX_RCPT + 1
        );
        (what, over.packet, limit_fix!("match cmd RCPT count gt 100", "e.g. `match cmd RCPT count gt 1000`"))
    })
}

fn long_sender(f: &Facts, cut: &Cut) -> Option<Offence> {
    // The address's length last: most commands fail the cheap tests.
    let m = f.commands.iter().find(|c| {
        *c.verb == Verb::Mail
            && c.reply.is_none()
            && cut.right_after(c.packet, c.ts)
            && sender_len(c.arg) > ASA_MAX_SENDER
    })?;
    Some((
        format!("sender address of {} bytes (limit {ASA_MAX_SENDER})", sender_len(m.arg)),
        m.packet,
        limit_fix!("match sender-address length gt 320", "e.g. `match sender-address length gt 512`"),
    ))
}

/// A message line limit only matters while the message was still in flight.
fn unfinished_message(f: &Facts) -> bool {
    f.s.smtp.transactions.last().is_some_and(|t| t.data_reply.is_none())
}

fn long_header_line(f: &Facts, cut: &Cut) -> Option<Offence> {
    let h = f.s.smtp.maxima.header_line.as_ref()?;
    let hit = h.value > ASA_MAX_HEADER_LINE
        && unfinished_message(f)
        && cut.right_after(h.packet.number, h.packet.ts.as_secs_f64());
    hit.then(|| {
        (
            format!("message header line of {} bytes (limit {ASA_MAX_HEADER_LINE})", h.value),
            h.packet.number,
            limit_fix!("match header line length gt 998", "e.g. `match header line length gt 4096`"),
        )
    })
}

fn long_mime_filename(f: &Facts, cut: &Cut) -> Option<Offence> {
    let m = f.s.smtp.maxima.mime_filename.as_ref()?;
    let hit = m.value > ASA_MAX_MIME_FILENAME
        && unfinished_message(f)
        && cut.right_after(m.packet.number, m.packet.ts.as_secs_f64());
    hit.then(|| {
        (
            format!("MIME attachment filename of {} bytes (limit {ASA_MAX_MIME_FILENAME})", m.value),
            m.packet.number,
            limit_fix!("match MIME filename length gt 255", "e.g. `match MIME filename length gt 1024`"),
        )
    })
}

/// Length of the address in "FROM:<addr> PARAMS".
fn sender_len(arg: Option<&str>) -> u64 {
    let arg = arg.unwrap_or("");
    let addr = match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if b > a => &arg[a + 1..b],
        (Some(a), None) => &arg[a + 1..],
        _ => arg.trim_start_matches(|c: char| c != ':').trim_start_matches(':'),
    };
    addr.len() as u64
}

pub fn stream_rewritten(f: &Facts, _: &DiagnoseConfig) -> Option<Verdict> {
    let rewrites: Vec<_> = f.s.conn.rewrites().collect();
    let (dir, _) = rewrites.first()?;
    let sender = who(Role::of(*dir));
    let ttl = |n: u64| {
        f.s.conn.events.iter().find(|e| e.number == n).map(|e| format!(" (TTL {})", e.ttl)).unwrap_or_default()
    };
    let vantage = f.s.conn.dirs.iter().any(|d| d.duplicates > 0);
    let how = if vantage {
        "the capture saw the same packets on both sides of a device, and that device changed them"
    } else {
        "a retransmission carried different bytes than the first copy"
    };
    Some(verdict(
        VerdictCode::StreamRewritten,
        {
            let changes: Vec<String> = rewrites
                .iter()
                .take(3)
                .map(|(_, r)| {
                    let (a, b) = (r.original_packet, r.packet);
                    format!(
                        "\"{}\" in packet {a}{} became \"{}\" in packet {b}{}",
                        r.original,
                        ttl(a),
                        r.changed,
                        ttl(b)
                    )
                })
                .collect();
            let more = if rewrites.len() > 3 { format!(" and {} more", rewrites.len() - 3) } else { String::new() };
            format!("the {sender}'s bytes were changed in transit: {}{more} ({how})", changes.join("; "))
        },
        "The same TCP sequence range was seen twice with different content. An endpoint retransmits the \
         bytes it sent before, and a packet forwarded by a router keeps its bytes; different bytes mean \
         something in the path edits the stream — an inspecting firewall (Cisco ASA `inspect esmtp` masks \
         banners, EHLO keywords and commands in place), a proxy or an IPS.",
        rewrites.iter().flat_map(|(_, r)| [r.original_packet, r.packet]).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_text_is_stars_with_2_and_0() {
        assert!(is_masked_text("*************************************2******202**0*********0000"));
        assert!(!is_masked_text("esa.example.com ESMTP"));
        assert!(!is_masked_text("2020"));
        assert!(!is_masked_text(""));
    }

    #[test]
    fn masked_keywords_and_verbs() {
        assert!(is_masked_keyword("XXXXXXXA"));
        assert!(is_masked_keyword("XXXXXXXX"));
        assert!(!is_masked_keyword("XCLIENT NAME ADDR"));
        assert!(!is_masked_keyword("XEXCH50"));
        assert!(!is_masked_keyword("PIPELINING"));
        assert!(is_masked_verb(&Verb::parse("XXXXXXXX")));
        assert!(!is_masked_verb(&Verb::parse("XXX")));
        assert!(!is_masked_verb(&Verb::Expn));
    }

    #[test]
    fn a_run_of_four_xs() {
        assert!(has_run_of_four_x("500 5.5.2 Error: command XXXXXXXX not recognized"));
        assert!(has_run_of_four_x("XXXX"));
        assert!(!has_run_of_four_x("500 XXX X XXX"));
        assert!(!has_run_of_four_x(""));
    }

    #[test]
    fn sender_address_length() {
        assert_eq!(sender_len(Some("FROM:<a@b.c> SIZE=10")), 5);
        assert_eq!(sender_len(Some("FROM:<>")), 0);
        assert_eq!(sender_len(Some("FROM:a@b.c")), 5);
    }
}
