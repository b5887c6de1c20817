//! Cisco AsyncOS mail_logs: "Thu Aug 14 11:04:31 2014 Info: New SMTP ICID 10293 interface
//! Management (192.168.0.199) address 192.168.0.200 reverse dns host …", or the same pushed
//! through syslog ("Aug 14 11:04:31 esa1 mail_logs: Info: …"). Inbound connections are ICIDs,
//! outbound DCIDs, messages MIDs. A line that does not begin with a timestamp continues the
//! one before: the gateway's documentation prints its examples wrapped, and admins paste them
//! so.

use super::time::Civil;
use super::{Ending, LogConnection, LogFile, LogFormat, Parsed, angle_after, reply_code};
use std::collections::HashMap;
use std::net::IpAddr;

const LEVELS: [&str; 5] = ["Info: ", "Warning: ", "Debug: ", "Trace: ", "Critical: "];

fn strip_level(text: &str) -> Option<&str> {
    LEVELS.iter().find_map(|l| text.strip_prefix(l))
}

/// The time and the message of a line, or None when it does not begin an AsyncOS entry.
pub fn split(line: &str) -> Option<(Civil, &str)> {
    if let Some(head) = line.get(..24)
        && let Some(at) = Civil::asyncos(head)
    {
        return Some((at, strip_level(line[24..].trim_start())?));
    }
    // Through syslog: "Aug 14 11:04:31 esa1 mail_logs: Info: …".
    let mut w = line.split_whitespace();
    let at = Civil::syslog(w.next()?, w.next()?, w.next()?)?;
    let (_, rest) = line.split_once(": ")?;
    Some((at, strip_level(rest)?))
}

/// The number after `key` ("ICID 10293 …" → 10293).
fn number_after(text: &str, key: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    words.find(|w| *w == key)?;
    words.next()?.trim_end_matches(',').parse().ok()
}

/// The word after `key`, parsed as an address.
fn ip_after(text: &str, key: &str) -> Option<IpAddr> {
    let mut words = text.split_whitespace();
    words.find(|w| *w == key)?;
    words.next()?.trim_matches(|c| c == '(' || c == ')' || c == ',').parse().ok()
}

/// "interface Management (192.168.0.199) address …", "interface Data 1 (10.0.0.1) address …" or
/// "interface 192.168.42.42 address …".
fn interface_ip(text: &str) -> Option<IpAddr> {
    let after = &text[text.find("interface ")? + "interface ".len()..];
    let named = after.split(" address ").next().unwrap_or(after);
    named.split_whitespace().find_map(|w| w.trim_matches(|c| c == '(' || c == ')').parse().ok())
}

struct Builder<'a> {
    file: &'a LogFile,
    out: Parsed,
    icid: HashMap<u64, usize>,
    dcid: HashMap<u64, usize>,
    /// A message belongs to the ICID it arrived on.
    mid: HashMap<u64, usize>,
}

impl Builder<'_> {
    fn conn(&mut self, table: bool, id: u64, at: Civil, line: u64) -> Option<&mut LogConnection> {
        let map = if table { &self.dcid } else { &self.icid };
        let &i = map.get(&id)?;
        let c = &mut self.out.connections[i];
        c.touch(at, line);
        Some(c)
    }

    fn line(&mut self, number: u64, at: Civil, text: &str) {
        let file = self.file.name.clone();
        let new = |id: String| {
            let mut c = LogConnection::new(LogFormat::Asyncos, &file, id, at);
            c.lines.push(number);
            c
        };
        if let Some(id) = text.strip_prefix("New SMTP ICID ").and_then(|_| number_after(text, "ICID")) {
            let mut c = new(format!("ICID {id}"));
            c.server = interface_ip(text);
            c.client = ip_after(text, "address");
            self.out.connections.push(c);
            self.icid.insert(id, self.out.connections.len() - 1);
            return;
        }
        if let Some(id) = text.strip_prefix("New SMTP DCID ").and_then(|_| number_after(text, "DCID")) {
            let mut c = new(format!("DCID {id}"));
            c.outbound = true;
            c.client = interface_ip(text);
            c.server = ip_after(text, "address");
            c.server_port = number_after(text, "port").and_then(|p| u16::try_from(p).ok());
            self.out.connections.push(c);
            self.dcid.insert(id, self.out.connections.len() - 1);
            return;
        }
        if let Some(mid) = text.strip_prefix("Start MID ").and_then(|_| number_after(text, "MID"))
            && let Some(icid) = number_after(text, "ICID")
            && let Some(&i) = self.icid.get(&icid)
        {
            self.mid.insert(mid, i);
            let c = &mut self.out.connections[i];
            c.touch(at, number);
            c.add_message_id(&mid.to_string());
            return;
        }
        if let Some(dcid) = number_after(text, "DCID") {
            return self.outbound(number, at, dcid, text);
        }
        if let Some(icid) = number_after(text, "ICID")
            && let Some(c) = self.conn(false, icid, at, number)
        {
            return inbound(c, text);
        }
        if let Some(mid) = number_after(text, "MID")
            && let Some(&i) = self.mid.get(&mid)
        {
            let c = &mut self.out.connections[i];
            c.touch(at, number);
            if text.starts_with("Message aborted ") {
                let why = text.split_once(&format!("MID {mid} ")).map_or("aborted", |(_, w)| w);
                // "by sender": the client ended the transaction itself (QUIT or RSET).
                c.end(if why.ends_with("by sender") { Ending::Quit } else { Ending::LostInData }, why);
            } else if text.contains(" ready ") && text.contains(" bytes from ") {
                c.accepted = true;
            }
        }
    }

    fn outbound(&mut self, number: u64, at: Civil, dcid: u64, text: &str) {
        let mid = number_after(text, "MID");
        let Some(c) = self.conn(true, dcid, at, number) else { return };
        if let Some(mid) = mid {
            c.add_message_id(&mid.to_string());
        }
        if text.starts_with("Connection Error: ") {
            let details = text.split_once("details: ").map_or("", |(_, d)| d);
            let details = details.split(" interface:").next().unwrap_or(details);
            c.replies.extend(reply_code(details));
            c.end(Ending::ConnectError, &format!("Connection Error: {details}"));
        } else if text.starts_with("Message done ") {
            c.accepted = true;
        } else if text.starts_with("Delayed: ") || text.starts_with("Bounced: ") {
            c.replies.extend(reply_code(text));
            c.outcome = Some(text.split(" - ").next().unwrap_or(text).trim_end_matches(':').to_string());
        } else if text.ends_with(" close") {
            c.end(Ending::Closed, "close");
        }
    }
}

/// A line about an ICID.
fn inbound(c: &mut LogConnection, text: &str) {
    let verdict = text.split_whitespace().nth(2).unwrap_or("");
    match verdict {
        "REJECT" => {
            c.end(Ending::Rejected, "REJECT");
            c.replies.push(554);
        }
        "TCPREFUSE" => c.end(Ending::Refused, "TCPREFUSE"),
        _ => {}
    }
    if text.contains(" From: ") {
        if let Some(from) = angle_after(text, "From: ") {
            LogConnection::add(&mut c.mail_from, from);
        }
    } else if text.contains(" To: ") {
        if let Some(to) = angle_after(text, "To: ") {
            LogConnection::add(&mut c.rcpt_to, to);
        }
        if text.contains("Rejected by") {
            c.replies.push(550);
        }
    } else if text.ends_with(" lost") {
        c.end(Ending::Lost, "lost");
    } else if text.ends_with(" close") {
        c.end(Ending::Closed, "close");
    } else if text.to_ascii_lowercase().contains("timeout") {
        let words = text.split_once(' ').and_then(|(_, r)| r.split_once(' ')).map_or(text, |(_, w)| w);
        c.end(Ending::Timeout, words);
    }
}

pub fn parse(file: &LogFile) -> Parsed {
    let mut b =
        Builder { file, out: Parsed::default(), icid: HashMap::new(), dcid: HashMap::new(), mid: HashMap::new() };
    // Wrapped entries are joined before they are read.
    let mut entry: Option<(u64, Civil, String)> = None;
    let flush = |b: &mut Builder<'_>, e: Option<(u64, Civil, String)>| {
        if let Some((n, at, text)) = e {
            b.line(n, at, &text);
        }
    };
    for (number, text) in file.lines() {
        match split(text) {
            Some((at, message)) => {
                flush(&mut b, entry.take());
                entry = Some((number, at, message.to_string()));
            }
            None if entry.is_some() => {
                let (_, _, joined) = entry.as_mut().expect("checked");
                joined.push(' ');
                joined.push_str(text.trim());
            }
            None => b.out.unparsed.push((number, text.to_string())),
        }
    }
    flush(&mut b, entry.take());
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> LogFile {
        LogFile::from_text("mail_logs", text.to_string())
    }

    /// As the documentation prints it: entries wrapped over several lines.
    const WRAPPED: &str = "\
Thu Aug 14 11:04:31 2014 Info: New SMTP ICID 10293 interface Management (192.168.0.199)
address 192.168.0.200 reverse dns host ns.example.com verified no
Thu Aug 14 11:04:31 2014 Info: ICID 10293 ACCEPT SG UNKNOWNLIST match sbrs[none] SBRS None
Thu Aug 14 11:04:31 2014 Info: Start MID 1404 ICID 10293
Thu Aug 14 11:04:31 2014 Info: MID 1404 ICID 10293 From: <sender@example.net>
Thu Aug 14 11:04:31 2014 Info: MID 1404 ICID 10293 RID 0 To:
<rcpt@example.com>
Thu Aug 14 11:04:33 2014 Info: ICID 10293 lost
Thu Aug 14 11:04:33 2014 Info: Message aborted MID 1404 Receiving aborted
Thu Aug 14 11:04:33 2014 Info: Message finished MID 1404 aborted
Thu Aug 14 11:04:33 2014 Info: ICID 10293 close
Thu Aug 14 11:05:00 2014 Info: New SMTP DCID 299 interface 192.168.0.199 address 10.5.3.25 port 25
Thu Aug 14 11:05:00 2014 Info: Delivery start DCID 299 MID 1404 to RID [0]
Thu Aug 14 11:05:01 2014 Info: Connection Error: DCID 299 domain: example.com IP: 10.5.3.25 port: 25
details: 421-4.3.2 Service not available interface: 192.168.0.199 reason: unexpected SMTP response
Thu Aug 14 11:05:01 2014 Info: DCID 299 close
";

    #[test]
    fn wrapped_entries_are_joined_and_read() {
        let p = parse(&file(WRAPPED));
        assert!(p.unparsed.is_empty(), "{:?}", p.unparsed);
        let [icid, dcid] = &p.connections[..] else { panic!("{:#?}", p.connections) };
        assert_eq!(icid.connection_id, "ICID 10293");
        assert_eq!(icid.client, Some("192.168.0.200".parse().unwrap()));
        assert_eq!(icid.server, Some("192.168.0.199".parse().unwrap()));
        assert_eq!(icid.message_ids, ["1404"]);
        assert_eq!(icid.rcpt_to, ["rcpt@example.com"]);
        assert_eq!(icid.ending, Ending::LostInData);
        assert_eq!(icid.outcome.as_deref(), Some("Receiving aborted"));
        assert_eq!(icid.lines, [1, 3, 4, 5, 6, 8, 9, 10, 11]);
        assert!(dcid.outbound);
        assert_eq!((dcid.server_port, dcid.replies.as_slice()), (Some(25), &[421][..]));
        assert_eq!(dcid.ending, Ending::ConnectError);
        assert_eq!(dcid.outcome.as_deref(), Some("Connection Error: 421-4.3.2 Service not available"));
    }

    #[test]
    fn syslog_pushed_lines_and_refusals() {
        let p = parse(&file(
            "Aug 14 11:04:31 esa1 mail_logs: Info: New SMTP ICID 7 interface Data 1 (10.0.0.1) address 10.0.0.9 reverse dns host unknown verified no\n\
             Aug 14 11:04:31 esa1 mail_logs: Info: ICID 7 TCPREFUSE SG BLOCKED match sbrs[-10.0:-3.0] SBRS -5.0\n\
             Aug 14 11:04:31 esa1 mail_logs: Info: ICID 7 close",
        ));
        assert_eq!(p.connections[0].server, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(p.connections[0].ending, Ending::Refused);
        assert_eq!(p.connections[0].first.year, None);
    }
}
