//! Render stage: shows sessions and verdicts; never parses packets.

pub mod json;
pub mod ladder;
pub mod text;
