//! Diagnosis stage: verdicts with evidence, computed from a finished session record.

pub mod verdict;

pub use verdict::{Severity, Verdict};
