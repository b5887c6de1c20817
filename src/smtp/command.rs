//! Client command lines (RFC 5321 §4.1): verb and argument, addresses, BDAT sizes, AUTH.

use super::verb::Verb;
use std::borrow::Cow;

/// A command line parsed in place: the argument is borrowed from the line unless invalid UTF-8
/// had to be replaced (a command is read once; only what the record keeps is copied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command<'a> {
    pub verb: Verb,
    pub arg: Cow<'a, str>,
}

/// Splits at the first space. Verbs are case-insensitive (RFC 5321 §2.4): see [`Verb::parse`].
pub fn parse(line: &[u8]) -> Command<'_> {
    match super::text(line) {
        Cow::Borrowed(text) => {
            let (verb, arg) = split_at_space(text);
            Command { verb: Verb::parse(verb), arg: Cow::Borrowed(arg) }
        }
        Cow::Owned(text) => {
            let (verb, arg) = split_at_space(&text);
            Command { verb: Verb::parse(verb), arg: Cow::Owned(arg.to_string()) }
        }
    }
}

/// Text before and after the first space (`str::split_once(' ')` without its searcher, which
/// costs more than the short lines it scans).
fn split_at_space(text: &str) -> (&str, &str) {
    match text.bytes().position(|b| b == b' ') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    }
}

/// The path of "FROM:<a@b> SIZE=1" → "a@b"; "TO: <x>" → "x"; "FROM:a@b" → "a@b".
pub fn address(arg: &str) -> String {
    // Byte searches for ASCII delimiters: they split the text on character boundaries. Inline
    // and a word at a time (`line::find`): a byte loop cost more than the rest of the parse.
    let after = |s: &str, b: u8| super::line::find(b, s.as_bytes()).map(|i| i + 1);
    let a = after(arg, b':').map_or(arg, |i| &arg[i..]).trim();
    let path = match a.strip_prefix('<') {
        Some(rest) => after(rest, b'>').map_or(rest, |i| &rest[..i - 1]),
        None => after(a, b' ').map_or(a, |i| &a[..i - 1]),
    };
    path.to_string()
}

/// The mechanism of "AUTH PLAIN <initial-response>": the only part worth keeping.
pub fn auth_mechanism(arg: &str) -> String {
    arg.split_whitespace().next().unwrap_or("").to_ascii_uppercase()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bdat {
    /// "BDAT <size> [LAST]" with a size below 2^63: exactly `size` content bytes follow.
    Valid { size: u64, last: bool },
    /// Bad syntax: nothing is skipped, the server will answer 5xx. `last` if it still says LAST.
    Invalid { last: bool },
}

/// RFC 3030 §2: `bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ] CRLF`.
pub fn bdat(arg: &str) -> Bdat {
    let toks: Vec<&str> = arg.split_whitespace().collect();
    let last_word = toks.len() >= 2 && toks[toks.len() - 1].eq_ignore_ascii_case("LAST");
    let trimmed = arg.trim();
    let (size, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    let rest = rest.trim_start_matches(' ');
    let size_ok = !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit());
    let tail_ok = rest.is_empty() || rest.eq_ignore_ascii_case("LAST");
    match size.parse::<u64>() {
        Ok(n) if size_ok && tail_ok && n < 1 << 63 => Bdat::Valid { size: n, last: !rest.is_empty() },
        _ => Bdat::Invalid { last: last_word },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        assert_eq!(parse(b"ehlo example.org"), Command { verb: Verb::Ehlo, arg: "example.org".into() });
        assert_eq!(parse(b"MAIL FROM:<a@b>  SIZE=1").arg, "FROM:<a@b>  SIZE=1");
        assert_eq!(parse(b"RCPT TO:<\xe9@b>").arg, "TO:<\u{fffd}@b>");
        assert_eq!(parse(b"XXXX").verb.as_str(), "XXXX");
        assert_eq!(parse(b"DATA").arg, "");
        assert_eq!(parse(b"\x00\xffx y").verb.as_str(), "\u{0}\u{fffd}x");
        assert_eq!(parse(b"").verb.as_str(), "");
    }

    #[test]
    fn addresses() {
        assert_eq!(address("FROM:<a@b> SIZE=1"), "a@b");
        assert_eq!(address("TO: <x@y>"), "x@y");
        assert_eq!(address("FROM:a@b BODY=8BITMIME"), "a@b");
        assert_eq!(address("FROM:<>"), "");
        assert_eq!(address("FROM:<unterminated"), "unterminated");
        assert_eq!(address("TO:<a:b@c>"), "a:b@c");
        assert_eq!(address("FROM:\u{a0}<é@b>\u{a0}"), "é@b");
        assert_eq!(address("no colon here"), "no");
        assert_eq!(address(""), "");
    }

    #[test]
    fn bdat_sizes() {
        assert_eq!(bdat("86 LAST"), Bdat::Valid { size: 86, last: true });
        assert_eq!(bdat("0 LAST"), Bdat::Valid { size: 0, last: true });
        assert_eq!(bdat("129"), Bdat::Valid { size: 129, last: false });
        assert_eq!(bdat("5 X"), Bdat::Invalid { last: false });
        assert_eq!(bdat("-1 LAST"), Bdat::Invalid { last: true });
        assert_eq!(bdat("15555555557777777777"), Bdat::Invalid { last: false });
        assert_eq!(bdat("184467440737095516150 LAST"), Bdat::Invalid { last: true });
        assert_eq!(bdat(""), Bdat::Invalid { last: false });
        assert_eq!(bdat("1234 SCRAMBLE"), Bdat::Invalid { last: false });
        assert_eq!(bdat("SCRAMBLE"), Bdat::Invalid { last: false });
    }

    #[test]
    fn auth_keeps_mechanism_only() {
        assert_eq!(auth_mechanism("plain AGFsaWNlAHNlY3JldA=="), "PLAIN");
        assert_eq!(auth_mechanism(""), "");
    }
}
