//! Test helpers: a sink that keeps everything it is given.

use std::ops::ControlFlow;

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
