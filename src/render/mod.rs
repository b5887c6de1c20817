//! render stage.
