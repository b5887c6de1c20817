//! Just enough of the TLS record layer (RFC 8446 §5, RFC 5246 §6.2) to tell what happened after
//! STARTTLS or on an implicit-TLS port: hellos (version, SNI), alerts sent in clear, and how much
//! encrypted data followed. Nothing is decrypted; record bodies are kept only for the hellos.

use crate::tcp::PacketRef;

/// Largest handshake record body kept for parsing (RFC 8446 §5.1 caps plaintext at 2^14).
const HANDSHAKE_KEEP: usize = (1 << 14) + 2048;

const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
pub const APPLICATION_DATA: u8 = 23;

/// Bytes that open an SMTP command line ("EHLO", "MAIL", "QUIT"): letters, up to four.
pub fn starts_command(b: &[u8]) -> bool {
    let head = &b[..b.len().min(4)];
    !head.is_empty() && head.iter().all(u8::is_ascii_alphabetic)
}

/// Bytes that open an SMTP reply line: three digits.
pub fn starts_reply(b: &[u8]) -> bool {
    b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit)
}

/// The first bytes of a stream hold control bytes, or 8-bit bytes where a verb or reply code
/// must be: neither SMTP nor the text of another line protocol (TLS records are told apart
/// before this is asked). 8-bit text later in a greeting (an IDN host name) is still SMTP.
pub fn starts_binary(b: &[u8]) -> bool {
    let control = |c: &u8| c.is_ascii_control() && !matches!(c, b'\r' | b'\n' | b'\t');
    b[..b.len().min(16)].iter().any(control) || b[..b.len().min(4)].iter().any(|&c| c >= 0x80)
}

/// Whether bytes begin a TLS record: content type 20–23, major version 3, minor ≤ 4.
pub fn starts_record(b: &[u8]) -> bool {
    b.len() >= 3 && (20..=23).contains(&b[0]) && b[1] == 3 && b[2] <= 4
}

#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    ClientHello {
        version: u16,
        supported: Vec<u16>,
        sni: Option<String>,
    },
    ServerHello {
        version: u16,
    },
    OtherHandshake {
        len: usize,
    },
    Alert {
        level: u8,
        description: u8,
    },
    ChangeCipherSpec,
    /// Application data, or a record sent after ChangeCipherSpec.
    Encrypted {
        content_type: u8,
        len: usize,
    },
    NotTls {
        len: usize,
    },
}

/// Reads the records of one direction.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    /// Bytes were fed: the stream is past its first record header.
    fed: bool,
    header: Vec<u8>,
    body: Vec<u8>,
    remaining: usize,
    encrypted: bool,
    opaque: bool,
}

impl Reader {
    pub fn feed(&mut self, mut data: &[u8], at: PacketRef, out: &mut Vec<(Finding, PacketRef)>) {
        self.fed |= !data.is_empty();
        while !data.is_empty() {
            if self.opaque {
                out.push((Finding::NotTls { len: data.len() }, at));
                return;
            }
            if self.header.len() < 5 {
                let n = (5 - self.header.len()).min(data.len());
                self.header.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.header.len() == 5 && !self.start_record() {
                    out.push((Finding::NotTls { len: 5 }, at));
                }
                continue;
            }
            let n = self.remaining.min(data.len());
            let keep = self.keep_limit().saturating_sub(self.body.len()).min(n);
            self.body.extend_from_slice(&data[..keep]);
            self.remaining -= n;
            data = &data[n..];
            if self.remaining == 0 {
                self.end_record(at, out);
            }
        }
        if self.header.len() == 5 && self.remaining == 0 && !self.opaque {
            self.end_record(at, out);
        }
    }

    /// Bytes are missing: record boundaries are lost, the rest of this direction is opaque.
    pub fn gap(&mut self) {
        self.fed = true;
        self.opaque = true;
    }

    /// Nothing of this direction went through the reader yet.
    pub fn is_fresh(&self) -> bool {
        !self.fed
    }

    fn start_record(&mut self) -> bool {
        if !starts_record(&self.header) {
            self.opaque = true;
            return false;
        }
        self.remaining = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
        self.body.clear();
        true
    }

    fn keep_limit(&self) -> usize {
        match self.header[0] {
            HANDSHAKE if !self.encrypted => HANDSHAKE_KEEP,
            ALERT => 2,
            _ => 0,
        }
    }

    fn end_record(&mut self, at: PacketRef, out: &mut Vec<(Finding, PacketRef)>) {
        let ct = self.header[0];
        let len = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
        self.header.clear();
        let body = &self.body;
        match ct {
            CHANGE_CIPHER_SPEC => {
                self.encrypted = true;
                out.push((Finding::ChangeCipherSpec, at));
            }
            // A clear alert is exactly level + description; anything else is protected.
            ALERT if !self.encrypted && len == 2 => {
                out.push((Finding::Alert { level: body[0], description: body[1] }, at));
            }
            HANDSHAKE if !self.encrypted => out.extend(handshakes(body).into_iter().map(|f| (f, at))),
            _ => out.push((Finding::Encrypted { content_type: ct, len }, at)),
        }
        // Cleared, not dropped: the buffer serves the next record (one per segment or so).
        self.body.clear();
    }
}

/// The first three bytes of a line begun (`head`) and continued (`rest`), without allocating.
pub(super) fn probe(head: &[u8], rest: &[u8]) -> Vec3 {
    let mut out = Vec3::default();
    for &b in head.iter().chain(rest).take(3) {
        out.bytes[out.len] = b;
        out.len += 1;
    }
    out
}

/// Up to three bytes on the stack.
#[derive(Default)]
pub(super) struct Vec3 {
    bytes: [u8; 3],
    len: usize,
}

impl std::ops::Deref for Vec3 {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The handshake messages of one record (RFC 8446 §4); only hellos are decoded.
fn handshakes(mut b: &[u8]) -> Vec<Finding> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = (usize::from(b[1]) << 16) | (usize::from(b[2]) << 8) | usize::from(b[3]);
        let msg = &b[4..b.len().min(4 + len)];
        let parsed = match b[0] {
            1 => client_hello(msg),
            2 => server_hello(msg),
            _ => None,
        };
        out.push(parsed.unwrap_or(Finding::OtherHandshake { len }));
        b = &b[b.len().min(4 + len)..];
    }
    out
}

/// A bounds-checked reader over a message.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn extensions(c: &mut Cur<'_>) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let Some(all) = c.vec16() else { return out };
    let mut e = Cur(all);
    while let (Some(t), Some(body)) = (e.u16(), e.vec16()) {
        out.push((t, body.to_vec()));
    }
    out
}

fn client_hello(msg: &[u8]) -> Option<Finding> {
    let mut c = Cur(msg);
    let version = c.u16()?;
    c.take(32)?;
    c.vec8()?;
    c.vec16()?;
    c.vec8()?;
    let (mut supported, mut sni) = (Vec::new(), None);
    for (t, body) in extensions(&mut c) {
        let mut e = Cur(&body);
        match t {
            0 => sni = server_name(&mut e),
            43 => {
                let mut v = Cur(e.vec8().unwrap_or_default());
                while let Some(x) = v.u16() {
                    if x & 0x0f0f != 0x0a0a {
                        supported.push(x);
                    }
                }
            }
            _ => {}
        }
    }
    Some(Finding::ClientHello { version, supported, sni })
}

/// RFC 6066 §3: a list of (name_type, name); host_name is type 0.
fn server_name(e: &mut Cur<'_>) -> Option<String> {
    let mut list = Cur(e.vec16()?);
    while let Some(kind) = list.u8() {
        let name = list.vec16()?;
        if kind == 0 {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    None
}

fn server_hello(msg: &[u8]) -> Option<Finding> {
    let mut c = Cur(msg);
    let mut version = c.u16()?;
    c.take(32)?;
    c.vec8()?;
    c.u16()?;
    c.u8()?;
    for (t, body) in extensions(&mut c) {
        if t == 43 && body.len() == 2 {
            version = u16::from_be_bytes([body[0], body[1]]);
        }
    }
    Some(Finding::ServerHello { version })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Builds a TLS 1.2 ClientHello record with an SNI and supported_versions (1.3, 1.2, GREASE).
    pub fn client_hello_record(sni: &str) -> Vec<u8> {
        let mut sn = vec![0u8];
        sn.extend((sni.len() as u16).to_be_bytes());
        sn.extend(sni.as_bytes());
        let mut sni_ext = (sn.len() as u16).to_be_bytes().to_vec();
        sni_ext.extend(sn);
        let sv = vec![6u8, 0x03, 0x04, 0x03, 0x03, 0x1a, 0x1a];
        let mut exts = Vec::new();
        for (t, body) in [(0u16, sni_ext), (43u16, sv)] {
            exts.extend(t.to_be_bytes());
            exts.extend((body.len() as u16).to_be_bytes());
            exts.extend(body);
        }
        let mut msg = vec![0x03, 0x03];
        msg.extend([7u8; 32]);
        msg.extend([0u8, 0, 2, 0x13, 0x01, 1, 0]);
        msg.extend((exts.len() as u16).to_be_bytes());
        msg.extend(exts);
        handshake_record(1, &msg)
    }

    pub fn server_hello_record(version: u16) -> Vec<u8> {
        let mut msg = vec![0x03, 0x03];
        msg.extend([9u8; 32]);
        msg.extend([0u8, 0x13, 0x01, 0]);
        let ext = [0u8, 43, 0, 2, (version >> 8) as u8, version as u8];
        msg.extend((ext.len() as u16).to_be_bytes());
        msg.extend(ext);
        handshake_record(2, &msg)
    }

    fn handshake_record(kind: u8, msg: &[u8]) -> Vec<u8> {
        let mut hs = vec![kind, 0, (msg.len() >> 8) as u8, msg.len() as u8];
        hs.extend(msg);
        let mut rec = vec![HANDSHAKE, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    fn read_all(bytes: &[u8], step: usize) -> Vec<Finding> {
        let mut r = Reader::default();
        let mut out = Vec::new();
        for c in bytes.chunks(step) {
            r.feed(c, PacketRef::default(), &mut out);
        }
        out.into_iter().map(|f| f.0).collect()
    }

    #[test]
    fn client_hello_sni_in_any_split() {
        let rec = client_hello_record("mx.example.net");
        for step in [1, 3, 7, rec.len()] {
            let f = read_all(&rec, step);
            assert_eq!(
                f,
                vec![Finding::ClientHello {
                    version: 0x0303,
                    supported: vec![0x0304, 0x0303],
                    sni: Some("mx.example.net".into())
                }]
            );
        }
    }

    #[test]
    fn server_hello_then_alert_then_ccs_then_encrypted() {
        let mut b = server_hello_record(0x0304);
        b.extend([ALERT, 3, 3, 0, 2, 2, 40]);
        b.extend([CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1]);
        b.extend([APPLICATION_DATA, 3, 3, 0, 3, 1, 2, 3]);
        b.extend([ALERT, 3, 3, 0, 2, 9, 9]);
        let f = read_all(&b, 4);
        assert_eq!(f[0], Finding::ServerHello { version: 0x0304 });
        assert_eq!(f[1], Finding::Alert { level: 2, description: 40 });
        assert_eq!(f[2], Finding::ChangeCipherSpec);
        assert_eq!(f[3], Finding::Encrypted { content_type: 23, len: 3 });
        assert_eq!(f[4], Finding::Encrypted { content_type: 21, len: 2 });
    }

    #[test]
    fn plain_text_is_not_tls() {
        assert_eq!(read_all(b"220 hello\r\n", 100), vec![Finding::NotTls { len: 5 }, Finding::NotTls { len: 6 }]);
        assert!(!starts_record(b"220"));
        assert!(starts_record(&[0x16, 3, 1]));
    }
}
