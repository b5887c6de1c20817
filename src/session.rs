//! session stage.
