//! diagnose stage.
