//! Test helpers: a sink that keeps everything it is given, and a pcapng builder.

use std::ops::ControlFlow;

use super::endian::Endian;
use super::pcapng::{BLOCK_OVERHEAD, BYTE_ORDER_MAGIC, EPB, IDB, IF_TSOFFSET, IF_TSRESOL, PB, SHB, SPB};
use super::{CaptureWarning, Frame, FrameSink, LinkType, Timestamp};

/// An owned copy of a [`Frame`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Owned {
    pub number: u64,
    pub ts: Timestamp,
    pub link_type: LinkType,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

/// Collects frames and warnings; `stop_after` makes it return `Break` after that many frames.
#[derive(Default, Debug)]
pub(crate) struct Collect {
    pub frames: Vec<Owned>,
    pub warnings: Vec<CaptureWarning>,
    pub stop_after: Option<usize>,
}

impl Collect {
    pub fn numbers(&self) -> Vec<u64> {
        self.frames.iter().map(|f| f.number).collect()
    }
}

impl FrameSink for Collect {
    fn frame(&mut self, f: &Frame<'_>) -> ControlFlow<()> {
        self.frames.push(Owned {
            number: f.number,
            ts: f.ts,
            link_type: f.link_type,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
        });
        match self.stop_after {
            Some(n) if self.frames.len() >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }
    fn warning(&mut self, warning: CaptureWarning) {
        self.warnings.push(warning);
    }
}

/// Builds pcapng files block by block, in either byte order.
pub(crate) struct Ng {
    pub e: Endian,
    pub v: Vec<u8>,
}

impl Ng {
    pub fn new(e: Endian) -> Self {
        Ng { e, v: Vec::new() }
    }
    /// Appends a block with a correct length, padding the body to 4 bytes.
    pub fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
        let padded = body.len().next_multiple_of(4);
        let len = (padded + BLOCK_OVERHEAD) as u32;
        self.v.extend(self.e.put_u32(block_type));
        self.v.extend(self.e.put_u32(len));
        self.v.extend(body);
        self.v.resize(self.v.len() + padded - body.len(), 0);
        self.v.extend(self.e.put_u32(len));
        self
    }
    pub fn shb(&mut self, e: Endian) -> &mut Self {
        self.e = e;
        let mut body = Vec::new();
        body.extend(e.put_u32(BYTE_ORDER_MAGIC));
        body.extend(e.put_u16(1));
        body.extend(e.put_u16(0));
        body.extend([0xff; 8]);
        self.block(SHB, &body)
    }
    pub fn idb(&mut self, link: u16, snaplen: u32, tsresol: Option<u8>, tsoffset: Option<i64>) -> &mut Self {
        let e = self.e;
        let mut body = Vec::new();
        body.extend(e.put_u16(link));
        body.extend([0, 0]);
        body.extend(e.put_u32(snaplen));
        // An option we ignore first, so the walk over options is exercised.
        body.extend(e.put_u16(2));
        body.extend(e.put_u16(3));
        body.extend(b"et0\0");
        if let Some(r) = tsresol {
            body.extend(e.put_u16(IF_TSRESOL));
            body.extend(e.put_u16(1));
            body.extend([r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            body.extend(e.put_u16(IF_TSOFFSET));
            body.extend(e.put_u16(8));
            body.extend(match e {
                Endian::Little => o.to_le_bytes(),
                Endian::Big => o.to_be_bytes(),
            });
        }
        body.extend([0, 0, 0, 0]);
        self.block(IDB, &body)
    }
    pub fn epb(&mut self, iface: u32, units: u64, data: &[u8], orig: u32) -> &mut Self {
        let e = self.e;
        let mut body = Vec::new();
        body.extend(e.put_u32(iface));
        body.extend(e.put_u32((units >> 32) as u32));
        body.extend(e.put_u32(units as u32));
        body.extend(e.put_u32(data.len() as u32));
        body.extend(e.put_u32(orig));
        body.extend(data);
        self.block(EPB, &body)
    }
    pub fn pb(&mut self, iface: u16, units: u64, data: &[u8], orig: u32) -> &mut Self {
        let e = self.e;
        let mut body = Vec::new();
        body.extend(e.put_u16(iface));
        body.extend(e.put_u16(0));
        body.extend(e.put_u32((units >> 32) as u32));
        body.extend(e.put_u32(units as u32));
        body.extend(e.put_u32(data.len() as u32));
        body.extend(e.put_u32(orig));
        body.extend(data);
        self.block(PB, &body)
    }
    pub fn spb(&mut self, data: &[u8], orig: u32) -> &mut Self {
        let mut body = self.e.put_u32(orig).to_vec();
        body.extend(data);
        self.block(SPB, &body)
    }
    pub fn bytes(&self) -> Vec<u8> {
        self.v.clone()
    }
}
