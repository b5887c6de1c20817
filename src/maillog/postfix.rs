//! Postfix, through syslog or its own `maillog_file`: "Dec  6 00:23:37 host postfix/smtpd[123]:
//! text" or with an RFC 3339 time ("2026-12-06T00:23:37.123456+00:00 host …"). An smtpd
//! process serves one connection at a time, so "smtpd[pid]" from "connect from" to
//! "disconnect from" is a connection; queue ids tie the later lines (cleanup, qmgr, delivery)
//! to it. Outbound, each `smtp` delivery line names its relay.

use super::time::Civil;
use super::{Ending, LogConnection, LogFile, LogFormat, Parsed, angle_after, bracketed_endpoint, reply_code};
use std::collections::HashMap;

/// A Postfix line's parts.
pub struct Line<'a> {
    pub at: Civil,
    /// "smtpd", "smtp", "cleanup", … (after "postfix/" or a multi-instance "postfix-out/").
    pub daemon: &'a str,
    pub pid: &'a str,
    pub text: &'a str,
}

/// None when the line is not a Postfix line (another program's line in a shared syslog file
/// gives Some with a daemon that is not Postfix's: see `program`).
pub fn split(line: &str) -> Option<(Civil, &str, &str)> {
    let mut w = line.split_whitespace();
    let first = w.next()?;
    let (at, rest) = if first.contains('T') {
        let at = Civil::rfc3339(first)?;
        (at, line[first.len()..].trim_start())
    } else {
        let (day, time) = (w.next()?, w.next()?);
        let at = Civil::syslog(first, day, time)?;
        let after_time = line.find(time)? + time.len();
        (at, line[after_time..].trim_start())
    };
    let (_host, rest) = rest.split_once(' ')?;
    let (program, text) = rest.split_once(": ")?;
    Some((at, program, text))
}

/// "postfix/smtpd[123]" → ("smtpd", "123").
pub fn program(program: &str) -> Option<(&str, &str)> {
    let (name, pid) = program.split_once('[')?;
    let (instance, daemon) = name.rsplit_once('/')?;
    instance.starts_with("postfix").then_some((daemon, pid.trim_end_matches(']')))
}

fn is_queue_id(word: &str) -> bool {
    (word.len() >= 8 && word.len() <= 20) && word.bytes().all(|b| b.is_ascii_alphanumeric())
}

struct Builder<'a> {
    file: &'a LogFile,
    out: Parsed,
    /// The connection an smtpd process is serving.
    open: HashMap<String, usize>,
    by_queue_id: HashMap<String, usize>,
}

impl Builder<'_> {
    fn smtpd(&mut self, number: u64, l: &Line<'_>) {
        let text = l.text;
        if let Some(rest) = text.strip_prefix("connect from ") {
            // An smtpd process serves one connection after another: its id with the client's.
            let client = bracketed_endpoint(rest);
            let id = match client {
                Some((ip, Some(port))) => format!("smtpd[{}] [{ip}]:{port}", l.pid),
                Some((ip, None)) => format!("smtpd[{}] [{ip}]", l.pid),
                None => format!("smtpd[{}]", l.pid),
            };
            let mut c = LogConnection::new(LogFormat::Postfix, &self.file.name, id, l.at);
            if let Some((ip, port)) = client {
                c.client = Some(ip);
                c.client_port = port;
            }
            c.lines.push(number);
            self.out.connections.push(c);
            self.open.insert(l.pid.to_string(), self.out.connections.len() - 1);
            return;
        }
        let Some(&i) = self.open.get(l.pid) else { return };
        let c = &mut self.out.connections[i];
        c.touch(l.at, number);
        if let Some(rest) = text.strip_prefix("disconnect from ") {
            let quit = rest.split_whitespace().any(|w| w.starts_with("quit="));
            c.end(
                if quit { Ending::Quit } else { Ending::Closed },
                if quit { "disconnect (quit)" } else { "disconnect" },
            );
            self.open.remove(l.pid);
            return;
        }
        if let Some(rest) = text.strip_prefix("lost connection after ") {
            let phase = rest.split(" from ").next().unwrap_or(rest);
            let in_data = phase.starts_with("DATA") || phase.starts_with("BDAT") || phase.starts_with("END-OF-MESSAGE");
            let ending = if in_data { Ending::LostInData } else { Ending::Lost };
            c.end(ending, &format!("lost connection after {phase}"));
            return;
        }
        if let Some(rest) = text.strip_prefix("timeout after ") {
            let phase = rest.split(" from ").next().unwrap_or(rest);
            c.end(Ending::Timeout, &format!("timeout after {phase}"));
            return;
        }
        if text.contains(": reject: ") {
            // "NOQUEUE: reject: RCPT from h[ip]: 550 5.1.1 <r>: …; from=<s> to=<r> proto=ESMTP helo=<h>"
            if let Some(code) = text.split(": ").skip(2).find_map(reply_code) {
                c.replies.push(code);
            }
            if let Some(from) = angle_after(text, "; from=") {
                LogConnection::add(&mut c.mail_from, from);
            }
            if let Some(to) = angle_after(text, " to=") {
                LogConnection::add(&mut c.rcpt_to, to);
            }
            if text.contains(": reject: CONNECT from") {
                c.end(Ending::Rejected, "reject: CONNECT");
            }
            return;
        }
        if let Some((qid, rest)) = text.split_once(": ")
            && is_queue_id(qid)
            && rest.starts_with("client=")
        {
            c.add_message_id(qid);
            self.by_queue_id.insert(qid.to_string(), i);
        }
    }

    /// cleanup, qmgr, local, smtp …: lines about a queued message.
    fn queued(&mut self, number: u64, l: &Line<'_>) {
        let Some((qid, rest)) = l.text.split_once(": ") else { return };
        if !is_queue_id(qid) {
            if l.daemon == "smtp"
                && let Some(after) = l.text.strip_prefix("connect to ")
            {
                self.outbound(number, l, "", after, Ending::ConnectError);
            }
            return;
        }
        if l.daemon == "smtp"
            && let Some(relay) = rest.split(", ").find_map(|f| f.strip_prefix("relay="))
            && relay.contains('[')
        {
            let ending = if rest.contains("status=sent") {
                Ending::Quit
            } else if rest.contains("status=bounced") {
                Ending::Rejected
            } else {
                Ending::ConnectError
            };
            return self.outbound(number, l, qid, relay, ending);
        }
        let Some(&i) = self.by_queue_id.get(qid) else { return };
        let c = &mut self.out.connections[i];
        c.touch(l.at, number);
        if l.daemon == "qmgr"
            && let Some(from) = angle_after(rest, "from=")
        {
            LogConnection::add(&mut c.mail_from, from);
            c.accepted = true;
        }
        if let Some(to) = angle_after(rest, "to=") {
            LogConnection::add(&mut c.rcpt_to, to);
        }
    }

    fn outbound(&mut self, number: u64, l: &Line<'_>, qid: &str, relay: &str, ending: Ending) {
        let Some((ip, port)) = bracketed_endpoint(relay) else { return };
        let mut c = LogConnection::new(LogFormat::Postfix, &self.file.name, format!("smtp[{}]", l.pid), l.at);
        c.outbound = true;
        c.server = Some(ip);
        c.server_port = port;
        c.lines.push(number);
        if !qid.is_empty() {
            c.add_message_id(qid);
        }
        if let Some(to) = angle_after(l.text, "to=") {
            LogConnection::add(&mut c.rcpt_to, to);
        }
        let status = l.text.split(", ").find(|f| f.starts_with("status=")).unwrap_or("");
        if let Some(code) = status.split(" (").nth(1).and_then(reply_code) {
            c.replies.push(code);
        }
        c.accepted = status.starts_with("status=sent");
        let words = if status.is_empty() {
            l.text.rsplit(": ").next().unwrap_or("").to_string()
        } else {
            status.split(" (").next().unwrap_or(status).to_string()
        };
        c.end(ending, &words);
        self.out.connections.push(c);
    }
}

pub fn parse(file: &LogFile) -> Parsed {
    let mut b = Builder { file, out: Parsed::default(), open: HashMap::new(), by_queue_id: HashMap::new() };
    for (number, text) in file.lines() {
        let Some((at, prog, text)) = split(text) else {
            b.out.unparsed.push((number, text.to_string()));
            continue;
        };
        // Other programs' lines in a shared syslog file are not Postfix's, and not errors.
        let Some((daemon, pid)) = program(prog) else { continue };
        let l = Line { at, daemon, pid, text };
        if daemon == "smtpd" || daemon.ends_with("/smtpd") {
            b.smtpd(number, &l);
        } else {
            b.queued(number, &l);
        }
    }
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> LogFile {
        LogFile::from_text("maillog", text.to_string())
    }

    const LOG: &str = "\
Dec  6 00:23:37 esa postfix/smtpd[3101]: connect from mta.example.net[203.0.113.5]:45558
Dec  6 00:23:37 esa postfix/smtpd[3101]: 4Q1xYz2abcz9: client=mta.example.net[203.0.113.5]:45558
Dec  6 00:23:37 esa postfix/cleanup[3105]: 4Q1xYz2abcz9: message-id=<1@mta.example.net>
Dec  6 00:23:37 esa postfix/qmgr[3000]: 4Q1xYz2abcz9: from=<sender@example.net>, size=476, nrcpt=1 (queue active)
Dec  6 00:23:37 esa postfix/smtpd[3101]: disconnect from mta.example.net[203.0.113.5]:45558 ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Dec  6 00:23:38 esa postfix/smtpd[3101]: connect from unknown[203.0.113.5]
Dec  6 00:23:38 esa postfix/smtpd[3101]: NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table; from=<sender@example.net> to=<nobody@example.com> proto=ESMTP helo=<mta.example.net>
Dec  6 00:23:39 esa postfix/smtpd[3101]: lost connection after DATA (0 bytes) from unknown[203.0.113.5]
Dec  6 00:23:39 esa postfix/smtpd[3101]: disconnect from unknown[203.0.113.5] ehlo=1 mail=1 rcpt=0/1 data=0/1 commands=2/4
Dec  6 00:23:40 esa kernel: [1.0] something else
2026-12-06T00:23:41.250000+00:00 esa postfix/smtp[3200]: 4Q1xYz2abcz9: to=<rcpt@example.org>, relay=mx.example.org[192.0.2.7]:25, delay=1.2, delays=0/0/0.5/0.7, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ABC)
Dec  6 00:23:42 esa postfix/smtp[3201]: connect to mx.example.org[192.0.2.8]:25: Connection refused
garbage
";

    #[test]
    fn smtpd_connections_queue_ids_and_deliveries() {
        let p = parse(&file(LOG));
        assert_eq!(p.unparsed, vec![(13, "garbage".to_string())]);
        let [ok, lost, sent, refused] = &p.connections[..] else { panic!("{:#?}", p.connections) };
        assert_eq!((ok.connection_id.as_str(), ok.client_port), ("smtpd[3101] [203.0.113.5]:45558", Some(45558)));
        assert_eq!(lost.connection_id, "smtpd[3101] [203.0.113.5]");
        assert_eq!(ok.message_ids, ["4Q1xYz2abcz9"]);
        assert_eq!(ok.mail_from, ["sender@example.net"]);
        assert_eq!((ok.ending, ok.accepted, ok.lines.as_slice()), (Ending::Quit, true, &[1, 2, 3, 4, 5][..]));
        assert_eq!(lost.replies, [550]);
        assert_eq!(lost.ending, Ending::LostInData);
        assert_eq!(lost.outcome.as_deref(), Some("lost connection after DATA (0 bytes)"));
        assert_eq!(lost.lines, [6, 7, 8, 9]);
        assert!(sent.outbound && sent.accepted);
        assert_eq!((sent.server_port, sent.replies.as_slice()), (Some(25), &[250][..]));
        assert_eq!(sent.first.offset, Some(0));
        assert_eq!(refused.ending, Ending::ConnectError);
        assert_eq!(refused.outcome.as_deref(), Some("Connection refused"));
    }
}
