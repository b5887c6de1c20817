//! `live`: log files still being written. The file is opened before root is given up and read
//! again as it grows; the part since the oldest connection still open at the last reading is
//! parsed again, so a connection whose lines straddle two readings is whole.

use super::{Ending, LogFile, Parsed};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// Most of a file parsed again at each reading: a connection open longer than that is cut.
const MAX_REPARSE: usize = 16 << 20;

pub struct Follow {
    file: File,
    pub name: String,
    /// Where the part parsed again at the next reading begins: byte offset and line number.
    restart: u64,
    pub base_line: u64,
    /// The file's length at the last reading.
    seen: u64,
}

impl Follow {
    /// `file` opened (as root) on the log named `name` (as given on the command line).
    pub fn new(name: &str, file: File) -> Follow {
        Follow { file, name: name.to_string(), restart: 0, base_line: 1, seen: 0 }
    }

    /// The lines from the restart point to the last complete line, when the file grew (or was
    /// truncated or replaced by a shorter one: then from its start).
    pub fn read_new(&mut self) -> std::io::Result<Option<LogFile>> {
        let len = self.file.metadata()?.len();
        if len < self.seen {
            (self.restart, self.base_line) = (0, 1);
        } else if len == self.seen {
            return Ok(None);
        }
        self.seen = len;
        self.file.seek(SeekFrom::Start(self.restart))?;
        let mut bytes = Vec::new();
        (&mut self.file).take(len - self.restart).read_to_end(&mut bytes)?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(complete);
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Some(LogFile::from_text_at(&self.name, text, self.base_line)))
    }

    /// After `chunk` was parsed: the next reading starts at the oldest connection still open,
    /// or after the chunk when none is.
    pub fn advance(&mut self, chunk: &LogFile, parsed: &Parsed) {
        let open = parsed
            .connections
            .iter()
            .filter(|c| c.ending == Ending::Unknown)
            .filter_map(|c| c.lines.first())
            .filter_map(|&n| chunk.offset_of(n).map(|at| (n, at)))
            .filter(|&(_, at)| chunk.text.len() - at <= MAX_REPARSE)
            .min();
        let lines_in_chunk = chunk.text.bytes().filter(|&b| b == b'\n').count() as u64;
        let (line, at) = open.unwrap_or((self.base_line + lines_in_chunk, chunk.text.len()));
        self.restart += at as u64;
        self.base_line = line;
    }
}
