//! Render stage: shows sessions and verdicts; never parses packets.

pub mod json;
pub mod ladder;
pub mod maillog;
pub mod options;
pub mod paint;
pub mod report;
pub mod sanitize;
pub mod summary;
pub mod text;

pub use crate::textfmt::shorten;

/// Words of `text` filled into lines of at most `width` characters (a longer word gets a line
/// of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn shorten_and_wrap_count_characters() {
        assert_eq!(super::shorten("ünïcode text", 8, "…"), "ünïcode…");
        assert_eq!(super::shorten("short", 8, "…"), "short");
        assert_eq!(super::wrap("aa bb cc", 5), ["aa bb", "cc"]);
    }
}
