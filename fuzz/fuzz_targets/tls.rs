//! The TLS record reader on arbitrary bytes cut at arbitrary points, with gaps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpdiag::smtp::tls::{Finding, Reader};
use smtpdiag::tcp::PacketRef;

fuzz_target!(|data: &[u8]| {
    let Some((&cuts, data)) = data.split_first() else { return };
    let mut reader = Reader::default();
    let mut out = Vec::new();
    let mut rest = data;
    let mut step = 1 + cuts as usize;
    let mut fed = 0usize;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        reader.feed(&rest[..n], PacketRef::default(), &mut out);
        fed += n;
        rest = &rest[n..];
        step = 1 + (step * 7 + 3) % 300;
        // A chunk starting with 0xff stands for bytes lost from the capture.
        if rest.first() == Some(&0xff) && cuts & 1 == 1 {
            reader.gap();
        }
    }
    // Every finding accounts for at least one byte fed (a handshake message has a 4-byte header).
    assert!(out.len() <= fed + 1, "{} findings from {fed} bytes", out.len());
    for (f, _) in &out {
        if let Finding::ClientHello { sni: Some(s), supported, .. } = f {
            assert!(s.len() <= 4 * 65_535 && supported.len() <= 128);
        }
    }
});
