//! Writes large hostile captures to stdout, for scripts/hostile-memory and scripts/scaling.
//!
//!   cargo run --release --example hostile_gen -- KIND N > file.pcap
//!
//! KIND: synflood (N SYNs of distinct flows), neverclose (one connection whose client sends N
//! out-of-order 1400-byte segments, every other one missing, and never closes), tiny (N one-byte
//! segments of one flow, in reversed blocks of 1000), longline (one command line of N bytes
//! without CRLF), sessions (N ordinary SMTP sessions, one after the other), open (N sessions
//! that open, greet and say EHLO, and never close), ooo (N flows, round robin, each sent 1,000
//! one-byte segments after a first byte that never arrives), mixed (N SYNs of distinct flows with
//! 1,000 ordinary sessions spread among them).

use etherparse::PacketBuilder;
use smtpdiag::capture::{LinkType, PcapWriter, Timestamp};
use std::io::{self, BufWriter, Write};

const C: [u8; 4] = [203, 0, 113, 5];
const S: [u8; 4] = [198, 51, 100, 25];

struct Out<W: Write> {
    w: PcapWriter<W>,
    ts: i64,
}

impl<W: Write> Out<W> {
    #[allow(clippy::too_many_arguments)]
    fn tcp(&mut self, src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, seq: u32, ack: u32, flags: &str, data: &[u8]) {
        let mut b =
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(src, dst, 64).tcp(sp, dp, seq, 64240);
        for f in flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(ack),
                'F' => b.fin(),
                'P' => b.psh(),
                _ => b,
            };
        }
        let mut frame = Vec::with_capacity(64 + data.len());
        b.write(&mut frame, data).expect("packet");
        self.raw(&frame);
    }

    fn raw(&mut self, frame: &[u8]) {
        self.ts += 1000;
        self.w.write_packet(Timestamp(self.ts), frame, frame.len() as u32).expect("write");
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (kind, n) = match args.as_slice() {
        [_, k, n] => (k.as_str(), n.parse::<u64>().expect("N is a number")),
        _ => {
            eprintln!("usage: hostile_gen synflood|neverclose|tiny|longline|sessions N");
            std::process::exit(2);
        }
    };
    let w = PcapWriter::new(BufWriter::with_capacity(1 << 20, io::stdout().lock()), LinkType::ETHERNET, 65535)?;
    let mut o = Out { w, ts: 1_700_000_000_000_000_000 };
    match kind {
        "synflood" => {
            for i in 0..n {
                let src = [10, (i >> 22) as u8, (i >> 14) as u8, (i >> 6) as u8];
                o.tcp(src, S, 1024 + (i & 63) as u16, 25, i as u32, 0, "S", b"");
            }
        }
        "neverclose" => {
            o.tcp(C, S, 40000, 25, 999, 0, "S", b"");
            o.tcp(S, C, 25, 40000, 4999, 1000, "SA", b"");
            o.tcp(S, C, 25, 40000, 5000, 1000, "AP", b"220 mx\r\n");
            let seg = [b'q'; 1400];
            for i in 0..n {
                // Every other segment never arrives: the rest waits for holes that never fill.
                o.tcp(C, S, 40000, 25, 1000 + (2 * i as u32 + 1) * 1400, 5008, "A", &seg);
            }
        }
        "tiny" => {
            o.tcp(C, S, 40000, 25, 0, 0, "S", b"");
            for block in 0..n.div_ceil(1000) {
                for i in (0..1000).rev() {
                    o.tcp(C, S, 40000, 25, (1 + block * 1000 + i) as u32, 0, "A", b"a");
                }
            }
        }
        "longline" => {
            o.tcp(C, S, 40000, 25, 999, 0, "S", b"");
            o.tcp(S, C, 25, 40000, 4999, 1000, "SA", b"");
            o.tcp(S, C, 25, 40000, 5000, 1000, "AP", b"220 mx\r\n");
            let seg = [b'x'; 1400];
            for i in 0..n.div_ceil(1400) {
                o.tcp(C, S, 40000, 25, 1000 + (i * 1400) as u32, 5008, "A", &seg);
            }
        }
        "open" => {
            for i in 0..n {
                let (src, port) = distinct(i);
                o.tcp(src, S, port, 25, 100, 0, "S", b"");
                o.tcp(S, src, 25, port, 500, 101, "SA", b"");
                o.tcp(src, S, port, 25, 101, 501, "A", b"");
                o.tcp(S, src, 25, port, 501, 101, "AP", b"220 mx\r\n");
                o.tcp(src, S, port, 25, 101, 509, "AP", b"EHLO c\r\n");
            }
        }
        "ooo" => {
            for i in 0..n {
                let (src, port) = distinct(i);
                o.tcp(src, S, port, 25, 100, 0, "S", b"");
                o.tcp(S, src, 25, port, 500, 101, "SA", b"");
                o.tcp(src, S, port, 25, 101, 501, "A", b"");
            }
            // Byte 101 never comes: segments 102.. wait behind it, newest first.
            for k in (0..1000u32).rev() {
                for i in 0..n {
                    let (src, port) = distinct(i);
                    o.tcp(src, S, port, 25, 102 + k, 501, "A", b"z");
                }
            }
        }
        "mixed" => {
            let every = (n / 1000).max(1);
            for i in 0..n {
                let src = [10, (i >> 22) as u8, (i >> 14) as u8, (i >> 6) as u8];
                o.tcp(src, S, 1024 + (i & 63) as u16, 25, i as u32, 0, "S", b"");
                if i % every == 0 && i / every < 1000 {
                    session(&mut o, [192, 0, 2, (i / every % 250) as u8], 2000 + (i / every) as u16);
                }
            }
        }
        "sessions" => {
            for i in 0..n {
                let port = 1024 + (i % 60000) as u16;
                o.ts += 10_000_000_000;
                o.tcp(C, S, port, 25, 100, 0, "S", b"");
                o.tcp(S, C, 25, port, 500, 101, "SA", b"");
                o.tcp(C, S, port, 25, 101, 501, "A", b"");
                o.tcp(S, C, 25, port, 501, 101, "AP", b"220 mx\r\n");
                o.tcp(C, S, port, 25, 101, 509, "AP", b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
                o.tcp(S, C, 25, port, 509, 151, "AP", b"250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n");
                o.tcp(C, S, port, 25, 151, 543, "AP", b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n");
                o.tcp(S, C, 25, port, 543, 183, "AP", b"250 queued as X\r\n221 bye\r\n");
                o.tcp(S, C, 25, port, 569, 183, "FA", b"");
                o.tcp(C, S, port, 25, 183, 570, "FA", b"");
                o.tcp(S, C, 25, port, 570, 184, "A", b"");
            }
        }
        other => {
            eprintln!("hostile_gen: unknown kind {other}");
            std::process::exit(2);
        }
    }
    o.w.flush()
}

/// Address and port of the i-th of many distinct clients.
fn distinct(i: u64) -> ([u8; 4], u16) {
    ([172, 16 + (i >> 22) as u8 % 16, (i >> 14) as u8, (i >> 6) as u8], 1024 + (i & 63) as u16)
}

/// One ordinary session, delivered and closed cleanly, its packets 1 µs apart.
fn session<W: Write>(o: &mut Out<W>, c: [u8; 4], port: u16) {
    o.tcp(c, S, port, 25, 100, 0, "S", b"");
    o.tcp(S, c, 25, port, 500, 101, "SA", b"");
    o.tcp(c, S, port, 25, 101, 501, "A", b"");
    o.tcp(S, c, 25, port, 501, 101, "AP", b"220 mx\r\n");
    o.tcp(c, S, port, 25, 101, 509, "AP", b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    o.tcp(S, c, 25, port, 509, 151, "AP", b"250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    o.tcp(c, S, port, 25, 151, 543, "AP", b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n");
    o.tcp(S, c, 25, port, 543, 183, "AP", b"250 queued as X\r\n221 bye\r\n");
    o.tcp(S, c, 25, port, 569, 183, "FA", b"");
    o.tcp(c, S, port, 25, 183, 570, "FA", b"");
    o.tcp(S, c, 25, port, 570, 184, "A", b"");
}
