//! SMTP stage: turns the two reassembled byte streams of a connection into a dialogue record
//! (RFC 5321 with PIPELINING RFC 2920, CHUNKING RFC 3030, STARTTLS RFC 3207, AUTH RFC 4954).
//!
//! `Dialogue` is fed in capture order; `finish` yields the `SmtpRecord`. Memory stays bounded
//! whatever the input: lines, events, pending replies, held bytes and lists all have caps.

mod body;
mod client;
mod command;
mod dialogue;
pub mod event;
mod folds;
pub mod headers;
mod line;
mod mime;
pub mod record;
mod reply;
mod server;
pub mod tls;
mod tls_info;
mod txn;
pub mod verb;

#[cfg(test)]
mod tests;

pub use dialogue::Dialogue;
pub use event::{Anomaly, AnomalyKind, Event};
pub use record::*;
pub use verb::Verb;

/// Bytes as text, U+FFFD for invalid UTF-8 (as `String::from_utf8_lossy`), borrowed when valid.
/// `from_utf8_lossy` walks its chunk iterator per line even when there is nothing to replace,
/// which cost more than the rest of a command's parse; `from_utf8` walks a short line byte by
/// byte until its pointer is word-aligned, while `is_ascii` reads it a word at a time from the
/// start: command and reply lines are short and nearly always ASCII.
pub(crate) fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return std::borrow::Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// Bytes of a line kept (the rest is counted): RFC 5321 §4.5.3.1 limits are 512 for
    /// commands and 1000 for text lines, so 64 KiB keeps every legitimate line whole.
    pub max_line_len: usize,
    pub max_events: usize,
    /// Commands awaiting a reply.
    pub max_pending: usize,
    /// Client bytes held while the reply to DATA or STARTTLS is awaited.
    pub max_undecided_bytes: usize,
    /// Entries of `commands`, `replies`, address lists and transactions.
    pub max_items: usize,
    /// Keep Subject, From and To of each message (personal data: only with `--headers`).
    pub personal_headers: bool,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            max_line_len: 64 * 1024,
            max_events: 10_000,
            max_pending: 4096,
            max_undecided_bytes: 1 << 20,
            max_items: 100_000,
            personal_headers: false,
        }
    }
}
