//! One way for the format readers to look at bytes, whether the capture is a memory map (every
//! byte already there, frames borrow from it) or a stream (stdin, gzip) read through a buffer
//! that grows only to the largest record asked for.

use std::io::{self, Read};

/// How much a stream source asks its reader for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Sequential access to a capture's bytes.
pub(crate) trait Source {
    /// The bytes from the current position: at least `n` of them, or fewer only when the
    /// capture ends first. Callers bound `n` (a stream source buffers that much).
    fn peek(&mut self, n: usize) -> io::Result<&[u8]>;
    /// Step over `n` bytes that the last `peek` returned.
    fn consume(&mut self, n: usize);
    /// Step over `n` bytes without keeping them (blocks we do not read), returning how many
    /// there were: fewer than `n` means the capture ended.
    fn skip(&mut self, n: u64) -> io::Result<u64>;
    /// Offset of the current position in the (decompressed) capture.
    fn offset(&self) -> u64;
}

/// A capture already in memory (a memory map or a test's bytes): no copy, no allocation.
pub(crate) struct SliceSource<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        SliceSource { data, pos: 0 }
    }
}

impl Source for SliceSource<'_> {
    fn peek(&mut self, _n: usize) -> io::Result<&[u8]> {
        Ok(&self.data[self.pos..])
    }
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
    }
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let left = (self.data.len() - self.pos) as u64;
        let step = n.min(left);
        self.pos += step as usize;
        Ok(step)
    }
    fn offset(&self) -> u64 {
        self.pos as u64
    }
}

/// A capture read from a byte stream. Memory stays bounded by the largest `peek` (the format
/// readers cap it), never by the size of the capture.
pub(crate) struct StreamSource<R> {
    inner: R,
    buf: Vec<u8>,
    /// Live bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Offset of `buf[start]` in the capture.
    consumed: u64,
    eof: bool,
}

impl<R: Read> StreamSource<R> {
    pub(crate) fn new(inner: R) -> Self {
        StreamSource { inner, buf: Vec::new(), start: 0, end: 0, consumed: 0, eof: false }
    }

    /// The stream again, with the bytes already buffered put back in front: used once the magic
    /// says the stream is gzip and must be decompressed from its first byte.
    pub(crate) fn into_reader(self) -> io::Chain<io::Cursor<Vec<u8>>, R> {
        let mut buf = self.buf;
        buf.truncate(self.end);
        buf.drain(..self.start);
        io::Cursor::new(buf).chain(self.inner)
    }

    /// One read into the free space at the end of the buffer.
    fn fill_once(&mut self) -> io::Result<()> {
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(k) => {
                    self.end += k;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Source for StreamSource<R> {
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.start < n && !self.eof {
            if self.start + n > self.buf.len() {
                // Not enough room behind `start`: move the live bytes to the front, and grow
                // only if this one record is larger than anything asked for so far.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                let want = n.max(READ_CHUNK);
                if self.buf.len() < want {
                    self.buf.resize(want, 0);
                }
            }
            self.fill_once()?;
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
    }

    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            self.consume(n as usize);
            return Ok(n);
        }
        self.consume(buffered as usize);
        let mut skipped = buffered;
        if self.buf.len() < READ_CHUNK {
            self.buf.resize(READ_CHUNK, 0);
        }
        // Read and drop in buffer-sized bites, so a huge block costs no memory.
        while skipped < n && !self.eof {
            self.start = 0;
            self.end = 0;
            self.fill_once()?;
            let take = (self.end as u64).min(n - skipped);
            self.consume(take as usize);
            skipped += take;
        }
        Ok(skipped)
    }

    fn offset(&self) -> u64 {
        self.consumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most 3 bytes per call, to exercise refills.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let k = self.0.len().min(out.len()).min(3);
            out[..k].copy_from_slice(&self.0[..k]);
            self.0 = &self.0[k..];
            Ok(k)
        }
    }

    #[test]
    fn stream_peek_refills_until_enough_or_end() {
        let data: Vec<u8> = (0..=255).collect();
        let mut s = StreamSource::new(Trickle(&data));
        assert_eq!(&s.peek(10).unwrap()[..10], &data[..10]);
        s.consume(4);
        assert_eq!(s.offset(), 4);
        assert_eq!(&s.peek(100).unwrap()[..100], &data[4..104]);
        assert_eq!(s.skip(100).unwrap(), 100);
        assert_eq!(s.offset(), 104);
        assert_eq!(s.peek(1000).unwrap(), &data[104..]);
        assert_eq!(s.skip(1000).unwrap(), 152);
        assert!(s.peek(1).unwrap().is_empty());
    }

    #[test]
    fn stream_skip_beyond_buffer_reads_through() {
        let data = vec![7u8; 300_000];
        let mut s = StreamSource::new(&data[..]);
        s.peek(8).unwrap();
        assert_eq!(s.skip(200_000).unwrap(), 200_000);
        assert_eq!(s.offset(), 200_000);
        assert!(s.buf.len() <= READ_CHUNK, "skipping must not grow the buffer");
        assert!(s.peek(8).unwrap().len() >= 8);
    }

    #[test]
    fn into_reader_puts_buffered_bytes_back() {
        let data: Vec<u8> = (0..50).collect();
        let mut s = StreamSource::new(Trickle(&data));
        s.peek(10).unwrap();
        s.consume(2);
        let mut rest = Vec::new();
        s.into_reader().read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[2..]);
    }

    #[test]
    fn slice_source_never_reads_past_end() {
        let data = [1u8, 2, 3];
        let mut s = SliceSource::new(&data);
        assert_eq!(s.peek(10).unwrap(), &data);
        assert_eq!(s.skip(10).unwrap(), 3);
        s.consume(5);
        assert_eq!(s.offset(), 3);
        assert!(s.peek(1).unwrap().is_empty());
    }
}
