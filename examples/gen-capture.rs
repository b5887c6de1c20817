//! Benchmark capture generator: a pcap of a chosen size with thousands of SMTP sessions open at
//! once, interleaved in time, deterministically from a seed, in constant memory.
//!
//! `cargo run --release --example gen-capture -- --size 1G --seed 42 -o target/bench/1g.pcap`
//!
//! The mix: deliveries with bodies of 1 kB–1 MB (log-uniform), some pipelined, some by BDAT,
//! some after STARTTLS with fake TLS records; rejects (554 greeting, server FIN first);
//! TCPREFUSE (server RST right after the handshake); tempfails (421 greeting, 452 on RCPT);
//! 550 on RCPT. Data segments are now and then retransmitted, swapped (out of order) or left
//! out of the capture while the receiver acknowledges them (a capture gap).
//!
//! Packets are Ethernet/IPv4/TCP built by hand (IP checksum filled in, TCP checksum zero, as
//! captures with checksum offloading show) and written with `smtpdiag::capture::PcapWriter`.

use smtpdiag::capture::{LinkType, PcapWriter, Timestamp};
use std::collections::VecDeque;
use std::io::BufWriter;
use std::path::PathBuf;

const MSS: usize = 1460;
/// Line width of generated bodies, CRLF included; bodies are whole lines.
const LINE: usize = 78;
const C2S: usize = 0;
const S2C: usize = 1;

/// SplitMix64: tiny, fast and the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Log-uniform between `lo` and `hi`.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (lo * (hi / lo).powf(u)) as u64
    }
}

/// What a session does next. Bodies and TLS streams are produced segment by segment, so a
/// session holds a few short lines at most, never its body.
enum Step {
    Syn,
    SynAck,
    HandshakeAck,
    Send(usize, Vec<u8>),
    /// Message body lines (client to server), `left` bytes, whole lines.
    Body {
        left: usize,
        pos: usize,
    },
    /// TLS application-data records, `left` bytes in `dir`.
    Tls {
        dir: usize,
        left: usize,
    },
    Fin(usize),
    Rst(usize),
}

struct Session {
    ip: [[u8; 4]; 2],
    port: [u16; 2],
    seq: [u32; 2],
    ip_id: [u16; 2],
    steps: VecDeque<Step>,
    /// Bytes this session will still write, for stopping near the requested size.
    estimate: u64,
}

struct Gen {
    rng: Rng,
    out: PcapWriter<BufWriter<std::fs::File>>,
    clock: i64,
    written: u64,
    packets: u64,
    text: Vec<u8>,
    buf: Vec<u8>,
    next_client: u32,
    /// Inside an out-of-order swap: no second swap.
    in_swap: bool,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let file = std::fs::File::create(&args.output)?;
    let out = PcapWriter::new(BufWriter::with_capacity(1 << 20, file), LinkType::ETHERNET, 65535)?;
    let mut g = Gen {
        rng: Rng(args.seed),
        out,
        clock: 1_700_000_000_000_000_000,
        written: 24,
        packets: 0,
        text: body_text(),
        buf: Vec::with_capacity(2048),
        next_client: 0,
        in_swap: false,
    };
    // About one open session per 200 kB of capture, at least 50 and at most 5000.
    let pool = (args.size / 200_000).clamp(50, 5000) as usize;
    let mut open: Vec<Session> = Vec::with_capacity(pool);
    let mut pending: u64 = 0;
    let mut sessions = 0u64;
    loop {
        while open.len() < pool && g.written + pending < args.size {
            let s = g.new_session();
            pending += s.estimate;
            open.push(s);
            sessions += 1;
        }
        if open.is_empty() {
            break;
        }
        let i = g.rng.below(open.len() as u64) as usize;
        let before = g.written;
        let done = g.step(&mut open[i])?;
        let used = g.written - before;
        pending -= used.min(open[i].estimate);
        open[i].estimate = open[i].estimate.saturating_sub(used);
        if done {
            pending -= open[i].estimate;
            open.swap_remove(i);
        }
    }
    g.out.flush()?;
    eprintln!("{}: {} bytes, {} packets, {sessions} sessions", args.output.display(), g.written, g.packets);
    Ok(())
}

struct Args {
    size: u64,
    seed: u64,
    output: PathBuf,
}

impl Args {
    fn parse() -> Args {
        let usage = "usage: gen-capture --size SIZE[K|M|G] [--seed N] -o FILE";
        let mut args = Args { size: 100 << 20, seed: 42, output: PathBuf::new() };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| fail(usage));
            match a.as_str() {
                "--size" => args.size = parse_size(&value()).unwrap_or_else(|| fail(usage)),
                "--seed" => args.seed = value().parse().unwrap_or_else(|_| fail(usage)),
                "-o" | "--output" => args.output = PathBuf::from(value()),
                _ => fail(usage),
            }
        }
        if args.output.as_os_str().is_empty() {
            fail(usage);
        }
        args
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2)
}

/// "100M", "1G", "4G", "500000": binary multiples.
fn parse_size(s: &str) -> Option<u64> {
    let (num, shift) = match s.as_bytes().last()?.to_ascii_uppercase() {
        b'K' => (&s[..s.len() - 1], 10),
        b'M' => (&s[..s.len() - 1], 20),
        b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    num.parse::<u64>().ok().map(|n| n << shift)
}

/// 64 kB of printable body lines, LINE bytes each.
fn body_text() -> Vec<u8> {
    const WORDS: [&str; 12] =
        ["lorem", "ipsum", "dolor", "sit", "amet", "mail", "relay", "queue", "smtp", "body", "line", "text"];
    let mut rng = Rng(7);
    let mut text = Vec::new();
    for _ in 0..(65536 / LINE) {
        let mut line = String::new();
        while line.len() < LINE - 2 {
            line.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
            line.push(' ');
        }
        line.truncate(LINE - 2);
        text.extend_from_slice(line.as_bytes());
        text.extend_from_slice(b"\r\n");
    }
    text
}

impl Gen {
    fn new_session(&mut self) -> Session {
        let n = self.next_client;
        self.next_client = self.next_client.wrapping_add(1);
        let client = [10, 1 + (n >> 16) as u8 % 200, (n >> 8) as u8, n as u8];
        let server = [192, 0, 2, 10 + self.rng.below(8) as u8];
        let port = [1024 + (n % 60000) as u16, if self.rng.chance(0.1) { 587 } else { 25 }];
        let isn = [self.rng.next() as u32, self.rng.next() as u32];
        let mut s = Session {
            ip: [client, server],
            port,
            seq: isn,
            ip_id: [self.rng.next() as u16, self.rng.next() as u16],
            steps: VecDeque::new(),
            estimate: 0,
        };
        self.script(&mut s);
        s
    }

    /// Choose the scenario and lay out its steps.
    fn script(&mut self, s: &mut Session) {
        let st = &mut s.steps;
        st.extend([Step::Syn, Step::SynAck, Step::HandshakeAck]);
        let id = self.rng.next() % 1_000_000_000;
        let roll = self.rng.below(100);
        let send = |d: usize, t: &str| Step::Send(d, t.as_bytes().to_vec());
        match roll {
            // Reject: 554 greeting, the server closes first.
            0..=7 => {
                st.push_back(send(S2C, "554 5.7.1 mx.example.com no mail from your network\r\n"));
                st.extend([Step::Fin(S2C), send(C2S, "QUIT\r\n"), Step::Fin(C2S)]);
                s.estimate = 10 * 80;
                return;
            }
            // TCPREFUSE: handshake, then RST.
            8..=12 => {
                st.push_back(Step::Rst(S2C));
                s.estimate = 4 * 80;
                return;
            }
            // Tempfail at the greeting.
            13..=16 => {
                st.push_back(send(S2C, "421 4.3.2 mx.example.com too busy, try later\r\n"));
                st.extend([Step::Fin(S2C), Step::Fin(C2S)]);
                s.estimate = 8 * 80;
                return;
            }
            _ => {}
        }
        st.push_back(send(S2C, "220 mx.example.com ESMTP ready\r\n"));
        st.push_back(send(C2S, "EHLO client.example.net\r\n"));
        st.push_back(send(
            S2C,
            "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-CHUNKING\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
        ));
        let body = (self.rng.log_uniform(1000.0, 1_000_000.0) as usize).div_ceil(LINE) * LINE;
        s.estimate = 40 * 80 + body as u64 * 1550 / 1460 + (body / MSS) as u64 * 70;
        let from = format!("MAIL FROM:<s{id}@example.net>\r\n");
        let rcpt = format!("RCPT TO:<r{id}@example.com>\r\n");
        match roll {
            // STARTTLS, then the whole mail inside fake TLS records.
            17..=26 => {
                st.extend([send(C2S, "STARTTLS\r\n"), send(S2C, "220 2.0.0 go ahead\r\n")]);
                st.push_back(Step::Send(C2S, tls_record(0x16, 1, 517)));
                st.push_back(Step::Send(S2C, tls_record(0x16, 2, 2900)));
                st.push_back(Step::Send(C2S, tls_record(0x14, 1, 1)));
                st.push_back(Step::Tls { dir: C2S, left: body });
                st.push_back(Step::Tls { dir: S2C, left: 300 });
                st.extend([Step::Fin(C2S), Step::Fin(S2C)]);
            }
            // Tempfail on RCPT.
            27..=31 => {
                st.extend([send(C2S, &from), send(S2C, "250 2.1.0 ok\r\n"), send(C2S, &rcpt)]);
                st.push_back(send(S2C, "452 4.2.2 mailbox full\r\n"));
                self.quit(st);
            }
            // Recipient refused.
            32..=35 => {
                st.extend([send(C2S, &from), send(S2C, "250 2.1.0 ok\r\n"), send(C2S, &rcpt)]);
                st.push_back(send(S2C, "550 5.1.1 no such user\r\n"));
                self.quit(st);
            }
            // BDAT (RFC 3030): the body in one chunk, no dot stuffing.
            36..=45 => {
                st.push_back(Step::Send(C2S, format!("{from}{rcpt}").into_bytes()));
                st.push_back(send(S2C, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n"));
                st.push_back(Step::Send(C2S, format!("BDAT {body} LAST\r\n").into_bytes()));
                st.push_back(Step::Body { left: body, pos: self.rng.below(800) as usize * LINE });
                st.push_back(Step::Send(S2C, format!("250 2.0.0 Ok: queued as B{id:09}\r\n").into_bytes()));
                self.quit(st);
            }
            // Plain delivery, pipelined (RFC 2920) or one command at a time.
            _ => {
                if self.rng.chance(0.5) {
                    st.push_back(Step::Send(C2S, format!("{from}{rcpt}DATA\r\n").into_bytes()));
                    st.push_back(send(S2C, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"));
                } else {
                    st.extend([send(C2S, &from), send(S2C, "250 2.1.0 ok\r\n"), send(C2S, &rcpt)]);
                    st.extend([send(S2C, "250 2.1.5 ok\r\n"), send(C2S, "DATA\r\n"), send(S2C, "354 go ahead\r\n")]);
                }
                let headers =
                    format!("From: <s{id}@example.net>\r\nTo: <r{id}@example.com>\r\nSubject: test {id}\r\n\r\n");
                st.push_back(Step::Send(C2S, headers.into_bytes()));
                st.push_back(Step::Body { left: body, pos: self.rng.below(800) as usize * LINE });
                st.push_back(send(C2S, ".\r\n"));
                st.push_back(Step::Send(S2C, format!("250 2.0.0 Ok: queued as Q{id:09}\r\n").into_bytes()));
                self.quit(st);
            }
        }
    }

    fn quit(&mut self, st: &mut VecDeque<Step>) {
        st.push_back(Step::Send(C2S, b"QUIT\r\n".to_vec()));
        st.push_back(Step::Send(S2C, b"221 2.0.0 bye\r\n".to_vec()));
        st.extend([Step::Fin(S2C), Step::Fin(C2S)]);
    }

    /// Emit the next packet(s) of a session; true when it has nothing left.
    fn step(&mut self, s: &mut Session) -> std::io::Result<bool> {
        let Some(step) = s.steps.pop_front() else { return Ok(true) };
        match step {
            Step::Syn => self.packet(s, C2S, 0x02, &[], true)?,
            Step::SynAck => self.packet(s, S2C, 0x12, &[], true)?,
            Step::HandshakeAck => self.packet(s, C2S, 0x10, &[], false)?,
            Step::Send(dir, bytes) => {
                let n = bytes.len().min(MSS);
                self.data(s, dir, &bytes[..n], true)?;
                if n < bytes.len() {
                    s.steps.push_front(Step::Send(dir, bytes[n..].to_vec()));
                }
            }
            Step::Body { left, pos } => {
                let n = left.min(MSS);
                let chunk = self.body_chunk(pos, n);
                if n < left {
                    s.steps.push_front(Step::Body { left: left - n, pos: (pos + n) % self.text.len() });
                }
                self.data(s, C2S, &chunk, n == left)?;
            }
            Step::Tls { dir, left } => {
                let n = left.min(MSS);
                let mut chunk = Vec::with_capacity(n + 5);
                chunk.extend_from_slice(&[0x17, 3, 3]);
                chunk.extend_from_slice(&((n as u16).saturating_sub(5)).to_be_bytes());
                chunk.extend((0..n.saturating_sub(5)).map(|i| (i as u8).wrapping_mul(31) ^ 0x5a));
                chunk.truncate(n.max(5));
                if n < left {
                    s.steps.push_front(Step::Tls { dir, left: left - n });
                }
                self.data(s, dir, &chunk, n == left)?;
            }
            Step::Fin(dir) => {
                self.packet(s, dir, 0x11, &[], true)?;
                self.packet(s, 1 - dir, 0x10, &[], false)?;
            }
            Step::Rst(dir) => self.packet(s, dir, 0x14, &[], true)?,
        }
        Ok(s.steps.is_empty())
    }

    fn body_chunk(&self, pos: usize, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        let mut p = pos;
        while v.len() < n {
            let take = (n - v.len()).min(self.text.len() - p);
            v.extend_from_slice(&self.text[p..p + take]);
            p = (p + take) % self.text.len();
        }
        v
    }

    /// A data segment and the peer's ACK, now and then retransmitted, held back behind the
    /// next segment (out of order) or missing from the capture (a gap the peer ACKs).
    fn data(&mut self, s: &mut Session, dir: usize, payload: &[u8], last: bool) -> std::io::Result<()> {
        let roll = self.rng.below(10_000);
        if roll < 5 && !last {
            // Lost by the capture only: the receiver's ACK covers it.
            s.seq[dir] = s.seq[dir].wrapping_add(payload.len() as u32);
            return Ok(());
        }
        let body_next = dir == C2S && matches!(s.steps.front(), Some(Step::Body { .. }));
        if roll < 25 && !last && body_next && !self.in_swap {
            // Out of order: the next segment is sent first, then this one.
            let seq = s.seq[dir];
            s.seq[dir] = seq.wrapping_add(payload.len() as u32);
            if let Some(next) = s.steps.pop_front() {
                self.step_one(s, next)?;
            }
            let after = s.seq[dir];
            s.seq[dir] = seq;
            self.packet(s, dir, 0x18, payload, false)?;
            s.seq[dir] = after;
            return self.packet(s, 1 - dir, 0x10, &[], false);
        }
        self.packet(s, dir, 0x18, payload, false)?;
        if roll < 45 {
            // Retransmission of the same bytes.
            s.seq[dir] = s.seq[dir].wrapping_sub(payload.len() as u32);
            self.packet(s, dir, 0x18, payload, false)?;
        }
        if last || roll.is_multiple_of(2) {
            self.packet(s, 1 - dir, 0x10, &[], false)?;
        }
        Ok(())
    }

    /// Run one step out of turn (for the out-of-order swap); it may not be a data step that
    /// swaps again, so it runs with no impairment.
    fn step_one(&mut self, s: &mut Session, step: Step) -> std::io::Result<()> {
        s.steps.push_front(step);
        self.in_swap = true;
        let r = self.step(s).map(|_| ());
        self.in_swap = false;
        r
    }

    /// Write one Ethernet/IPv4/TCP packet and advance the sender's sequence number.
    fn packet(
        &mut self,
        s: &mut Session,
        dir: usize,
        flags: u8,
        payload: &[u8],
        takes_seq: bool,
    ) -> std::io::Result<()> {
        let syn = flags & 0x02 != 0;
        let opt_len = if syn { 4 } else { 0 };
        let ip_len = 20 + 20 + opt_len + payload.len();
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(&[0, 0x16, 0x3e, 1, 2, (dir + 1) as u8, 0, 0x16, 0x3e, 3, 4, (2 - dir) as u8, 0x08, 0]);
        let ip_start = b.len();
        b.extend_from_slice(&[0x45, 0]);
        b.extend_from_slice(&(ip_len as u16).to_be_bytes());
        b.extend_from_slice(&s.ip_id[dir].to_be_bytes());
        b.extend_from_slice(&[0x40, 0, if dir == C2S { 64 } else { 57 }, 6, 0, 0]);
        b.extend_from_slice(&s.ip[dir]);
        b.extend_from_slice(&s.ip[1 - dir]);
        let sum = ip_checksum(&b[ip_start..ip_start + 20]);
        b[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
        b.extend_from_slice(&s.port[dir].to_be_bytes());
        b.extend_from_slice(&s.port[1 - dir].to_be_bytes());
        b.extend_from_slice(&s.seq[dir].to_be_bytes());
        let ack = if flags & 0x10 != 0 { s.seq[1 - dir] } else { 0 };
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[((5 + opt_len / 4) as u8) << 4, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
        if syn {
            b.extend_from_slice(&[2, 4, (MSS >> 8) as u8, MSS as u8]);
        }
        b.extend_from_slice(payload);
        s.ip_id[dir] = s.ip_id[dir].wrapping_add(1);
        s.seq[dir] = s.seq[dir].wrapping_add(payload.len() as u32 + takes_seq as u32);
        self.clock += 1 + self.rng.below(40_000) as i64;
        self.out.write_packet(Timestamp(self.clock), &self.buf, self.buf.len() as u32)?;
        self.written += 16 + self.buf.len() as u64;
        self.packets += 1;
        Ok(())
    }
}

/// A TLS record of `content_type` carrying a handshake message of type `hs_type`.
fn tls_record(content_type: u8, hs_type: u8, len: usize) -> Vec<u8> {
    let mut v = vec![content_type, 3, if hs_type == 1 { 1 } else { 3 }];
    v.extend_from_slice(&(len as u16).to_be_bytes());
    if content_type == 0x16 {
        v.push(hs_type);
        v.extend_from_slice(&((len - 4) as u32).to_be_bytes()[1..]);
        v.extend_from_slice(&[3, 3]);
        v.extend((0..len - 6).map(|i| (i * 7) as u8));
    } else {
        v.extend(std::iter::repeat_n(1u8, len));
    }
    v
}

fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
