//! smtpdiag: tells, from packets, why an SMTP session failed.
//!
//! Data flows one way, one module per stage; a stage imports only the stages before it:
//! `capture` (frames from files or the wire) → `decode` (IP/TCP headers) → `tcp` (flow table,
//! reassembly, connection state) → `smtp` (dialogue) → `session` (one record per connection) →
//! `diagnose` (verdicts with evidence) → `render` (text, JSON, ladders). Beside `diagnose`,
//! `maillog` pairs sessions with the mail server's own log (`--maillog`).

pub mod capture;
pub mod cli;
pub mod decode;
pub mod defrag;
pub mod diagnose;
pub mod diff;
pub mod heap;
pub mod maillog;
pub mod render;
pub mod select;
pub mod session;
pub mod smtp;
// Synthetic sessions for tests only (see synth.rs: also compiled into the binary's and the
// integration tests from the same file). `smtpdiag::` names this crate inside it, as it does
// in those builds.
#[cfg(test)]
extern crate self as smtpdiag;
#[cfg(test)]
pub mod synth;
pub mod tcp;
pub mod textfmt;

/// The library's tests count heap bytes as the binary does (see `heap`), so that the flow
/// table's charges are the measured ones in its tests too.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: heap::Metered<std::alloc::System> = heap::Metered(std::alloc::System);
