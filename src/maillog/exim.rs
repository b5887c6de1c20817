//! Exim mainlog: "2026-12-06 00:23:37[.123] [+0000] [pid] text". Exim has no connection id: a
//! connection is known by its client address and port (`log_selector = +incoming_port`), and
//! `+smtp_connection` logs its opening and closing. A line that begins with white space
//! continues the one before ("Warning: purging the environment.\n Suggested action: …").

use super::time::Civil;
use super::{Ending, LogConnection, LogFile, LogFormat, Parsed, angle_after, bracketed_endpoint, reply_code};
use std::collections::HashMap;
use std::net::IpAddr;

/// The time and the rest of a line; None when it does not start with an Exim timestamp.
pub fn split(line: &str) -> Option<(Civil, &str)> {
    let mut words = line.splitn(3, ' ');
    let (date, time, mut rest) = (words.next()?, words.next()?, words.next().unwrap_or(""));
    let zone = rest.split(' ').next().filter(|w| w.starts_with(['+', '-']) && w.len() == 5);
    if let Some(z) = zone {
        rest = rest[z.len()..].trim_start();
    }
    let at = Civil::iso(date, time, zone)?;
    Some((at, rest))
}

/// "[26507] text" → text (the process id of `+pid` is not a connection id: the daemon logs the
/// connection, its child the rest).
fn strip_pid(rest: &str) -> &str {
    if let Some(after) = rest.strip_prefix('[')
        && let Some(close) = after.find("] ")
        && after[..close].bytes().all(|b| b.is_ascii_digit())
    {
        return &after[close + 2..];
    }
    rest
}

/// Exim message ids: "1xa02T-0006tX-1V" (6-6-2 up to 4.96), "1rBQGa-00000000bRn-0OZs"
/// (6-11-4 from 4.97).
fn is_message_id(word: &str) -> bool {
    let parts: Vec<&str> = word.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 6
        && matches!((parts[1].len(), parts[2].len()), (6, 2) | (11, 4))
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The client's address in a line: the bracketed address that is not the interface (`I=`).
fn client_of(text: &str) -> Option<(IpAddr, Option<u16>)> {
    text.split_whitespace().filter(|w| !w.starts_with("I=") && w.starts_with('[')).find_map(bracketed_endpoint)
}

fn interface_of(text: &str) -> Option<(IpAddr, Option<u16>)> {
    text.split_whitespace().find_map(|w| w.strip_prefix("I=").and_then(bracketed_endpoint))
}

/// The remote host of a delivery line: "H=mx.example.com [192.0.2.1]:25".
fn delivery_host(text: &str) -> Option<(IpAddr, Option<u16>)> {
    let at = text.find(" H=")?;
    text[at..].split_whitespace().skip(1).take(2).find_map(bracketed_endpoint)
}

struct Builder<'a> {
    file: &'a LogFile,
    out: Parsed,
    /// Open connection per client "ip:port" (or "ip" without `+incoming_port`).
    open: HashMap<String, usize>,
    by_message: HashMap<String, usize>,
}

fn key(ip: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("[{ip}]:{p}"),
        None => format!("[{ip}]"),
    }
}

impl Builder<'_> {
    /// The connection this client endpoint has open, or a new one.
    fn connection(&mut self, ip: IpAddr, port: Option<u16>, at: Civil, line: u64, fresh: bool) -> usize {
        let k = key(ip, port);
        if !fresh && let Some(&i) = self.open.get(&k) {
            self.out.connections[i].touch(at, line);
            return i;
        }
        let mut c = LogConnection::new(LogFormat::Exim, &self.file.name, k.clone(), at);
        c.client = Some(ip);
        c.client_port = port;
        c.lines.push(line);
        self.out.connections.push(c);
        let i = self.out.connections.len() - 1;
        self.open.insert(k, i);
        i
    }

    fn line(&mut self, number: u64, at: Civil, text: &str) {
        let first = text.split(' ').next().unwrap_or("");
        if is_message_id(first) {
            return self.message_line(number, at, first, &text[first.len()..]);
        }
        // Lines about a connection name its host ("H=") or where it came from; the daemon's own
        // lines ("listening for SMTP on [198.51.100.25]:25") do neither.
        if !text.contains("H=") && !text.contains(" from ") {
            return;
        }
        let Some((ip, port)) = client_of(text) else { return };
        let opening = text.starts_with("SMTP connection from") && text.contains("(TCP/IP connection count");
        let i = self.connection(ip, port, at, number, opening);
        let c = &mut self.out.connections[i];
        if let Some((server, server_port)) = interface_of(text) {
            c.server = Some(server);
            c.server_port = server_port.or(c.server_port);
        }
        if let Some(from) = angle_after(text, "F=") {
            LogConnection::add(&mut c.mail_from, from);
        }
        let closing = if text.contains(" closed by QUIT") {
            Some((Ending::Quit, "closed by QUIT"))
        } else if let Some(at) = text.find(" lost while reading message data") {
            Some((Ending::LostInData, &text[at + 1..]))
        } else if text.contains("unexpected disconnection while reading SMTP command") {
            Some((Ending::Lost, "unexpected disconnection while reading SMTP command"))
        } else if text.starts_with("SMTP connection from") && text.ends_with(" lost") || text.contains(" lost D=") {
            Some((Ending::Lost, "lost"))
        } else if text.starts_with("SMTP command timeout") {
            Some((Ending::Timeout, "SMTP command timeout"))
        } else if text.starts_with("SMTP data timeout") {
            Some((Ending::Timeout, "SMTP data timeout (message abandoned)"))
        } else if text.contains("rejected connection in \"connect\" ACL") {
            Some((Ending::Rejected, "rejected connection in \"connect\" ACL"))
        } else if text.contains("SMTP protocol synchronization error") {
            Some((Ending::Rejected, "SMTP protocol synchronization error"))
        } else if text.starts_with("TLS error on connection") {
            Some((Ending::Lost, text.split(" (").next().unwrap_or("TLS error")))
        } else {
            None
        };
        if let Some(rcpt) = text.split(" rejected RCPT ").nth(1)
            && let Some(r) = angle_after(rcpt, "")
        {
            LogConnection::add(&mut c.rcpt_to, r);
        }
        if text.contains("rejected ") || text.contains("temporarily rejected") {
            if let Some(code) = text.split(": ").skip(1).find_map(reply_code) {
                c.replies.push(code);
            } else if text.contains("temporarily rejected") {
                c.replies.push(450);
            }
        }
        if let Some((ending, outcome)) = closing {
            c.end(ending, outcome);
            self.open.remove(&key(ip, port));
        }
    }

    fn message_line(&mut self, number: u64, at: Civil, id: &str, rest: &str) {
        let rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("<= ") {
            // A message received: it names the connection it came on.
            let Some((ip, port)) = client_of(after) else { return };
            let i = self.connection(ip, port, at, number, false);
            let c = &mut self.out.connections[i];
            c.add_message_id(id);
            c.accepted = true;
            LogConnection::add(&mut c.mail_from, after.split(' ').next().unwrap_or(""));
            if let Some(list) = after.split(" for ").nth(1) {
                for r in list.split_whitespace() {
                    LogConnection::add(&mut c.rcpt_to, r);
                }
            }
            if let Some((server, server_port)) = interface_of(after) {
                c.server = Some(server);
                c.server_port = server_port;
            }
            self.by_message.insert(id.to_string(), i);
            return;
        }
        let delivery = ["=> ", "-> ", "** ", "== "].iter().find(|p| rest.starts_with(**p));
        if let Some(prefix) = delivery
            && let Some((ip, port)) = delivery_host(rest)
        {
            // A remote delivery: this host was the client.
            let mut c = LogConnection::new(LogFormat::Exim, &self.file.name, key(ip, port), at);
            c.outbound = true;
            c.server = Some(ip);
            c.server_port = port;
            c.lines.push(number);
            c.add_message_id(id);
            if let Some((client, client_port)) = interface_of(rest) {
                c.client = Some(client);
                c.client_port = client_port;
            }
            LogConnection::add(&mut c.rcpt_to, rest[3..].split(' ').next().unwrap_or(""));
            if let Some(code) = rest.split(" C=\"").nth(1).and_then(reply_code).or_else(|| reply_code(rest)) {
                c.replies.push(code);
            }
            match *prefix {
                "=> " | "-> " => {
                    c.accepted = true;
                    c.end(Ending::Quit, "delivered");
                }
                "** " => c.end(Ending::Rejected, "bounced"),
                _ => c.end(Ending::ConnectError, "deferred"),
            }
            self.out.connections.push(c);
            return;
        }
        if let Some(&i) = self.by_message.get(id) {
            self.out.connections[i].touch(at, number);
        }
    }
}

pub fn parse(file: &LogFile) -> Parsed {
    let mut b = Builder { file, out: Parsed::default(), open: HashMap::new(), by_message: HashMap::new() };
    for (number, text) in file.lines() {
        if text.starts_with([' ', '\t']) {
            continue; // continues the line before
        }
        match split(text) {
            Some((at, rest)) => b.line(number, at, strip_pid(rest)),
            None => b.out.unparsed.push((number, text.to_string())),
        }
    }
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn file(text: &str) -> LogFile {
        LogFile::from_text("mainlog", text.to_string())
    }

    const LAB: &str = "\
2026-12-06 00:23:36 Warning: purging the environment.
 Suggested action: use keep_environment.
2026-12-06 00:23:36 [26447] exim 4.96 daemon started: pid=26447, no queue runs, listening for SMTP on [198.51.100.25]:25
2026-12-06 00:23:37 [26447] SMTP connection from [203.0.113.5]:45558 I=[198.51.100.25]:25 (TCP/IP connection count = 1)
2026-12-06 00:23:37 [26507] 1xa02T-0006tX-1V <= sender@example.net H=(mta.example.net) [203.0.113.5]:45558 I=[198.51.100.25]:25 P=esmtp S=476 id=2@vm for rcpt@example.com
2026-12-06 00:23:37 [26507] SMTP connection from (mta.example.net) [203.0.113.5]:45558 I=[198.51.100.25]:25 closed by QUIT
2026-12-06 00:23:38 [26447] SMTP connection from [203.0.113.5]:45572 I=[198.51.100.25]:25 (TCP/IP connection count = 2)
2026-12-06 00:23:38 [26550] H=(mta.example.net) [203.0.113.5]:45572 I=[198.51.100.25]:25 F=<sender@example.net> rejected RCPT <nobody@example.com>: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown
2026-12-06 00:23:38 [26605] SMTP connection from (mta.example.net) [203.0.113.5]:45572 I=[198.51.100.25]:25 lost while reading message data (header)
2026-12-06 00:23:39 1xa02T-0006tX-1V => rcpt@example.com R=dnslookup T=remote_smtp H=mx.example.org [192.0.2.7]:25 I=[198.51.100.25]:40100 C=\"250 2.0.0 Ok: queued as 4Q1\"
not a log line
";

    #[test]
    fn lab_lines_become_connections_with_ids_envelopes_and_endings() {
        let p = parse(&file(LAB));
        assert_eq!(p.unparsed, vec![(11, "not a log line".to_string())]);
        let [delivered, rejected, out] = &p.connections[..] else { panic!("{:#?}", p.connections) };
        assert_eq!(delivered.connection_id, "[203.0.113.5]:45558");
        assert_eq!(delivered.server, Some("198.51.100.25".parse().unwrap()));
        assert_eq!(delivered.message_ids, ["1xa02T-0006tX-1V"]);
        assert_eq!((delivered.ending, delivered.accepted), (Ending::Quit, true));
        assert_eq!(delivered.lines, [4, 5, 6]);
        assert_eq!(delivered.rcpt_to, ["rcpt@example.com"]);
        assert_eq!(rejected.replies, [550]);
        assert_eq!(rejected.rcpt_to, ["nobody@example.com"]);
        assert_eq!(rejected.ending, Ending::LostInData);
        assert_eq!(rejected.outcome.as_deref(), Some("lost while reading message data (header)"));
        assert!(out.outbound);
        assert_eq!((out.server_port, out.client_port, out.replies.as_slice()), (Some(25), Some(40100), &[250][..]));
    }

    #[test]
    fn message_ids_of_old_and_new_exim() {
        assert!(is_message_id("1xa02T-0006tX-1V"));
        assert!(is_message_id("1rBQGa-00000000bRn-0OZs"));
        assert!(!is_message_id("SMTP"));
        assert!(!is_message_id("1xa02T-0006tX-1"));
    }

    #[test]
    fn a_line_with_a_zone_keeps_it() {
        let (at, rest) = split("2026-12-06 01:23:37 +0100 [1] SMTP connection from [203.0.113.5]:1 lost").unwrap();
        assert_eq!(at.offset, Some(3600));
        assert_eq!(strip_pid(rest), "SMTP connection from [203.0.113.5]:1 lost");
        let p = parse(&file("2026-12-06 01:23:37 +0100 SMTP connection from [203.0.113.5]:1 lost"));
        assert_eq!(p.connections[0].ending, Ending::Lost);
    }
}
