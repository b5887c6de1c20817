//! Micro-benchmarks of the hot stages: header decoding, in-order reassembly, and the SMTP
//! dialogue over a message body (line splitting and per-line accounting).
//!
//! `cargo bench --bench stages`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtpdiag::capture::{Frame, LinkType, Timestamp};
use smtpdiag::decode;
use smtpdiag::smtp::{Dialogue, SmtpConfig};
use smtpdiag::tcp::reassembly::{Chunk, Reassembler, ReassemblyLimits, Segment};
use smtpdiag::tcp::seq::SeqNumber;
use smtpdiag::tcp::{Direction, PacketRef};
use std::hint::black_box;

/// An Ethernet/IPv4/TCP frame with `payload`, as the generator writes them.
fn frame_bytes(payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
        .ipv4([10, 1, 2, 3], [192, 0, 2, 10], 64)
        .tcp(40000, 25, 1000, 64240)
        .ack(5000)
        .psh();
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn body(len: usize) -> Vec<u8> {
    let line = b"lorem ipsum dolor sit amet mail relay queue smtp body line text lorem ipsum do\r\n";
    line.iter().copied().cycle().take(len).collect()
}

fn decode_bench(c: &mut Criterion) {
    let data = frame_bytes(&body(1460));
    let frame =
        Frame { number: 1, ts: Timestamp(0), link_type: LinkType::ETHERNET, data: &data, orig_len: 0, offset: 0 };
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ethernet_ipv4_tcp_1460", |b| b.iter(|| black_box(decode::decode(black_box(&frame)))));
    g.finish();
}

fn reassembly_bench(c: &mut Criterion) {
    let seg = body(1460);
    let limits = ReassemblyLimits::default();
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(seg.len() as u64 * 1000));
    g.bench_function("in_order_1000x1460", |b| {
        b.iter(|| {
            let mut r = Reassembler::new();
            r.syn(SeqNumber(0));
            let mut delivered = 0usize;
            let mut sink = |c: Chunk<'_>, _| {
                if let Chunk::Data(d) = c {
                    delivered += d.len();
                }
            };
            for i in 0..1000u32 {
                let at = PacketRef { number: i as u64, ts: Timestamp(0) };
                r.segment(Segment::new(SeqNumber(1 + i * 1460), &seg, at), &limits, &mut sink);
            }
            black_box(delivered)
        })
    });
    g.finish();
}

fn smtp_bench(c: &mut Criterion) {
    let config = SmtpConfig::default();
    // A message as mail carries it: a header block, a blank line, then the body lines.
    let mut text = b"From: <a@b>\r\nTo: <c@d>\r\nSubject: bench\r\n\r\n".to_vec();
    text.extend(body(1460 * 700));
    let at = PacketRef::default();
    let mut g = c.benchmark_group("smtp");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("data_body_1mb", |b| {
        b.iter(|| {
            let mut d = Dialogue::new(&config);
            d.on_data(Direction::ServerToClient, b"220 mx ESMTP\r\n", at);
            d.on_data(Direction::ClientToServer, b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", at);
            d.on_data(Direction::ServerToClient, b"250 mx\r\n250 ok\r\n250 ok\r\n354 go\r\n", at);
            for seg in text.chunks(1460) {
                d.on_data(Direction::ClientToServer, seg, at);
            }
            d.on_data(Direction::ClientToServer, b"\r\n.\r\n", at);
            black_box(d.finish())
        })
    });
    g.finish();
}

criterion_group!(stages, decode_bench, reassembly_bench, smtp_bench);
criterion_main!(stages);
