//! The flow-table bucket of a frame read straight from its header bytes, for `read --threads`:
//! every shard reads every frame, and most frames belong to another shard, which only needs
//! their time. Decoding them whole (and hashing the decoded packet) was most of what two
//! threads spent beyond one.
//!
//! Only the frames with the headers the decoder's fast path takes are read here (untagged
//! Ethernet, whole unfragmented IPv4, TCP), through the decoder's own header checks
//! (`decode::plain_ipv4_tcp_ends`), so such a frame decodes to a packet with these very
//! addresses and ports (tested on every capture in captures/). Anything else is left to the
//! decoder.

use smtpdiag::capture::Frame;

/// Reads buckets for one shard: the mail ports as a bit set, and the buckets of recent
/// connections by their raw ends (a connection's packets come in runs; hashing its key costs
/// more than the rest of the peek).
pub struct Peek {
    ports: Box<[u64; 1024]>,
    /// Direct-mapped: (source and destination address, both ports) → bucket.
    recent: Box<[([u32; 3], u8); RECENT]>,
}

/// Slots in `recent` (256 kB, well within a core's L2 cache): the generator's captures hold
/// about 6,000 connections open at once, and with 1,024 slots two thirds of their frames
/// missed (20 % with 16,384) and were hashed.
const RECENT: usize = 16384;
/// The bucket of a slot that holds no connection yet (buckets are fewer).
const EMPTY: u8 = u8::MAX;

impl Peek {
    pub fn new(ports: &[u16]) -> Peek {
        let mut set = Box::new([0u64; 1024]);
        for &p in ports {
            set[usize::from(p) / 64] |= 1 << (p % 64);
        }
        // Built on the heap: an array this large would pass through the stack first.
        let recent = vec![([0; 3], EMPTY); RECENT].into_boxed_slice().try_into().expect("RECENT slots");
        Peek { ports: set, recent }
    }

    fn mail_port(&self, port: u16) -> bool {
        self.ports[usize::from(port) / 64] & (1 << (port % 64)) != 0
    }

    /// The bucket (`tcp::flow::bucket_of`) of a plain Ethernet/IPv4/TCP frame to or from a mail
    /// port; None for any other frame.
    pub fn mail_bucket(&mut self, frame: &Frame<'_>) -> Option<usize> {
        let (src, dst, ports) = smtpdiag::decode::plain_ipv4_tcp_ends(frame)?;
        let (src_port, dst_port) = ((ports >> 16) as u16, ports as u16);
        if !self.mail_port(src_port) && !self.mail_port(dst_port) {
            return None;
        }
        let key = [src, dst, ports];
        let mix = (u64::from(src ^ dst.rotate_left(16)) << 32 | u64::from(ports)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &mut self.recent[(mix >> (64 - RECENT.ilog2())) as usize];
        if slot.0 != key || slot.1 == EMPTY {
            let bucket =
                smtpdiag::tcp::flow::bucket_of_v4((src.to_be_bytes(), src_port), (dst.to_be_bytes(), dst_port));
            *slot = (key, bucket as u8);
        }
        Some(usize::from(slot.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpdiag::capture::{self, CaptureWarning, FrameSink, LinkType};
    use smtpdiag::decode;
    use std::ops::ControlFlow;

    /// Checks every frame: where `mail_bucket` reads one, the decoder gives a packet with the
    /// same bucket on a mail port. Counts the frames read and those left to the decoder.
    struct Agree {
        peek: Peek,
        read: usize,
        left: usize,
    }

    const PORTS: [u16; 3] = [25, 465, 587];

    impl Default for Agree {
        fn default() -> Self {
            Agree { peek: Peek::new(&PORTS), read: 0, left: 0 }
        }
    }

    impl FrameSink for Agree {
        fn frame(&mut self, frame: &Frame<'_>) -> ControlFlow<()> {
            let Some(bucket) = self.peek.mail_bucket(frame) else {
                self.left += 1;
                return ControlFlow::Continue(());
            };
            let p =
                decode::decode(frame).unwrap_or_else(|e| panic!("frame {}: read here, skipped: {e:?}", frame.number));
            assert!(PORTS.contains(&p.src_port) || PORTS.contains(&p.dst_port), "frame {}", frame.number);
            assert_eq!(bucket, smtpdiag::tcp::flow::bucket_of(&p), "frame {}", frame.number);
            self.read += 1;
            ControlFlow::Continue(())
        }
        fn warning(&mut self, _: CaptureWarning) {}
    }

    /// Every capture in captures/ (real and crafted: VLAN, IPv6, fragments, cut frames, odd
    /// options), and each of their frames with its bytes cut or its option lengths changed.
    #[test]
    fn agrees_with_the_decoder_on_every_capture() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut total = Agree::default();
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("captures/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                let _ = capture::read_path(&path, &mut total);
                files += 1;
            }
        }
        assert!(files > 10 && total.read > 1000 && total.left > 0, "{files} files, {} read", total.read);
    }

    /// An Ethernet/IPv4/TCP frame from 192.0.2.1:40000 to 198.51.100.2:25 with `options`.
    fn frame_bytes(options: &[u8], payload: &[u8]) -> Vec<u8> {
        let tcp_len = 20 + options.len();
        let total = 20 + tcp_len + payload.len();
        let mut b = vec![0; 12];
        b.extend([0x08, 0x00]);
        b.extend([0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2]);
        b.extend([0x9c, 0x40, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, ((tcp_len / 4) << 4) as u8, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        b.extend(options);
        b.extend(payload);
        b
    }

    fn check(bytes: &[u8]) -> Option<usize> {
        let frame = Frame {
            number: 1,
            ts: capture::Timestamp(0),
            link_type: LinkType::ETHERNET,
            data: bytes,
            orig_len: bytes.len() as u32,
            offset: 0,
        };
        let mut agree = Agree::default();
        let _ = agree.frame(&frame);
        Peek::new(&PORTS).mail_bucket(&frame)
    }

    #[test]
    fn plain_frames_are_read_and_odd_ones_left_to_the_decoder() {
        assert!(check(&frame_bytes(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], b"EHLO x\r\n")).is_some());
        assert!(check(&frame_bytes(&[2, 4, 5, 0xb4], b"")).is_some(), "MSS");
        // Odd options send the frame down the decoder's general path, which gives it the same
        // ends (`check` has the decoder confirm it).
        assert!(check(&frame_bytes(&[2, 3, 5, 0], b"")).is_some(), "MSS of odd length");
        assert!(check(&frame_bytes(&[8, 1, 0, 0], b"")).is_some(), "option length below 2");
        assert!(check(&frame_bytes(&[1, 1, 8, 10], b"")).is_some(), "option past the header");
        let whole = frame_bytes(&[], b"QUIT\r\n");
        assert!(check(&whole[..whole.len() - 1]).is_none(), "cut by the snaplen");
        let mut fragment = whole.clone();
        fragment[14 + 6] = 0x20;
        assert!(check(&fragment).is_none(), "more fragments");
        let mut other_port = whole.clone();
        other_port[14 + 20 + 3] = 80;
        assert!(check(&other_port).is_none(), "not a mail port");
        for cut in 0..54 {
            assert!(check(&whole[..cut]).is_none(), "cut at {cut}");
        }
    }
}
