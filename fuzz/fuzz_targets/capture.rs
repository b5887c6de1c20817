//! The capture reader on arbitrary bytes (pcap, pcapng, gzip): no panic, every frame within
//! MAX_CAPLEN, and the in-memory and streamed paths report exactly the same frames and warnings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpdiag::capture::{self, CaptureWarning, Frame, FrameSink, MAX_CAPLEN};
use std::io::{self, Read};
use std::ops::ControlFlow;

#[derive(Default, PartialEq, Debug)]
struct Digest {
    frames: Vec<(u64, i64, u32, usize, u64)>,
    warnings: Vec<CaptureWarning>,
}

impl FrameSink for Digest {
    fn frame(&mut self, f: &Frame<'_>) -> ControlFlow<()> {
        assert!(f.data.len() <= MAX_CAPLEN as usize, "frame of {} bytes", f.data.len());
        let hash = f.data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        self.frames.push((f.number, f.ts.0, f.link_type.0, f.data.len(), hash));
        ControlFlow::Continue(())
    }
    fn warning(&mut self, w: CaptureWarning) {
        self.warnings.push(w);
    }
}

/// Hands out a few bytes per read, as a pipe does.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let k = self.0.len().min(out.len()).min(self.1);
        out[..k].copy_from_slice(&self.0[..k]);
        self.0 = &self.0[k..];
        Ok(k)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut mapped = Digest::default();
    let a = capture::read_bytes("fuzz", data, &mut mapped).map_err(|e| e.to_string());
    let mut streamed = Digest::default();
    let chunk = 1 + data.len() % 61;
    let b = capture::read_stream("fuzz", Trickle(data, chunk), &mut streamed).map_err(|e| e.to_string());
    if let Ok(stats) = &a {
        assert_eq!(stats.frames as usize, mapped.frames.len());
    }
    if data.starts_with(&[0x1f, 0x8b]) {
        // A damaged deflate stream fails at a point that depends on how the compressed bytes
        // arrive (flate2 drops the output of the read that hits the error): the frames before
        // it must agree, how many of them got out need not (nor whether the header did).
        let n = mapped.frames.len().min(streamed.frames.len());
        assert_eq!(mapped.frames[..n], streamed.frames[..n]);
        return;
    }
    assert_eq!(a, b);
    assert_eq!(mapped, streamed);
});
