//! The severity colours every renderer shares (text lines, ladders, the summary).

use crate::diagnose::Severity;
use owo_colors::OwoColorize;

/// Paint `text` with a severity's color when colors are on.
pub fn paint(text: &str, severity: Severity, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    match severity {
        Severity::Error => text.red().bold().to_string(),
        Severity::Warning => text.yellow().to_string(),
        Severity::Info => text.green().to_string(),
    }
}
