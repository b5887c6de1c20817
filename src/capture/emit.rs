//! Hands frames and warnings to the sink, numbers packet records and keeps the statistics, so
//! both format readers number and count the same way.

use std::io;
use std::ops::ControlFlow;

use super::{CaptureError, CaptureWarning, Frame, FrameSink, LinkType, ReadStats, Timestamp};

pub(crate) struct Emitter<'s> {
    /// The capture's name, for errors.
    pub(crate) name: &'s str,
    sink: &'s mut dyn FrameSink,
    stats: ReadStats,
    /// Packet records numbered so far, delivered or not (Wireshark numbers every record).
    numbered: u64,
    /// Where a bad record stopped the reading: the bytes counted end there, whatever of the
    /// bad record a stream had to consume to find out.
    stopped_at: Option<u64>,
}

impl<'s> Emitter<'s> {
    pub(crate) fn new(name: &'s str, sink: &'s mut dyn FrameSink) -> Self {
        Emitter { name, sink, stats: ReadStats::default(), numbered: 0, stopped_at: None }
    }

    /// The number the next packet record will get, for messages about it.
    pub(crate) fn next_number(&self) -> u64 {
        self.numbered + 1
    }

    /// Gives the next packet record its number without delivering it (a skipped packet).
    pub(crate) fn take_number(&mut self) -> u64 {
        self.numbered += 1;
        self.numbered
    }

    /// Numbers and delivers one frame; `Break` means the sink wants no more.
    pub(crate) fn deliver(
        &mut self,
        ts: Timestamp,
        link_type: LinkType,
        data: &[u8],
        orig_len: u32,
        offset: u64,
    ) -> ControlFlow<()> {
        let number = self.take_number();
        self.stats.frames += 1;
        let flow = self.sink.frame(&Frame { number, ts, link_type, data, orig_len, offset });
        if flow.is_break() {
            self.stats.stopped = true;
        }
        flow
    }

    pub(crate) fn warn(&mut self, offset: u64, message: String) {
        self.sink.warning(CaptureWarning { offset, message });
    }

    /// The capture ends in the middle of a record: warn and mark the read truncated.
    pub(crate) fn truncated(&mut self, offset: u64, message: String) {
        self.stats.truncated = true;
        self.stopped_at = Some(offset);
        self.warn(offset, message);
    }

    /// A record makes no sense and reading stops there: what follows is lost too.
    pub(crate) fn corrupt(&mut self, offset: u64, message: String) {
        self.stats.corrupt = true;
        self.truncated(offset, message);
    }

    /// Reading failed after the header. A damaged or cut-short gzip stream shows up as
    /// invalid-data or unexpected-EOF errors: that is the capture's fault, so it becomes a
    /// warning and everything before it stands. Any other error (a failing disk) is returned.
    pub(crate) fn read_failed(&mut self, offset: u64, err: io::Error) -> Result<(), CaptureError> {
        match err.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof => {
                self.truncated(
                    offset,
                    format!(
                        "the compressed data is damaged or cut short here ({err}): the rest of the file is ignored"
                    ),
                );
                Ok(())
            }
            _ => Err(CaptureError::Io { path: self.name.to_string(), source: err }),
        }
    }

    /// An error that makes the capture unreadable from the start (bad file header).
    pub(crate) fn fatal(&self, offset: u64, message: String) -> CaptureError {
        CaptureError::Corrupt { path: self.name.to_string(), offset, message }
    }

    /// The statistics, given the source's final offset.
    pub(crate) fn finish(mut self, offset: u64) -> ReadStats {
        self.stats.bytes = self.stopped_at.unwrap_or(offset);
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::testutil::Collect;

    #[test]
    fn numbers_count_skipped_records_too() {
        let mut sink = Collect::default();
        let mut out = Emitter::new("t", &mut sink);
        let _ = out.deliver(Timestamp(1), LinkType::ETHERNET, b"a", 1, 0);
        assert_eq!(out.take_number(), 2);
        let _ = out.deliver(Timestamp(2), LinkType::ETHERNET, b"b", 1, 0);
        let stats = out.finish(9);
        assert_eq!(stats.frames, 2);
        assert_eq!(stats.bytes, 9);
        assert_eq!(sink.numbers(), vec![1, 3]);
    }

    #[test]
    fn damaged_compressed_data_is_a_warning_other_errors_are_not() {
        let mut sink = Collect::default();
        let mut out = Emitter::new("t", &mut sink);
        assert!(out.read_failed(5, io::Error::new(io::ErrorKind::UnexpectedEof, "eof")).is_ok());
        assert!(out.read_failed(5, io::Error::other("disk on fire")).is_err());
        assert!(out.finish(0).truncated);
        assert_eq!(sink.warnings.len(), 1);
        assert_eq!(sink.warnings[0].offset, 5);
    }
}
