//! MIME header parameters (RFC 2045 §5.1) and RFC 2231 encoded / continued values, enough to
//! find attachment file names and multipart boundaries.

/// Splits `type/sub; a=b; c="d;e"` into lower-cased keys and unquoted values.
pub fn params(value: &str) -> Vec<(String, String)> {
    // Bytes, sliced between the separators: the delimiters are ASCII, and a byte after a
    // backslash is only ever a character's first byte or a continuation byte, never special.
    // Only a quote, a separator and (in quotes) a backslash change anything: the search jumps
    // from one of them to the next instead of walking every byte.
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut quoted, mut at) = (0, false, 0);
    while let Some(i) = memchr::memchr3(b'"', b';', b'\\', &bytes[at..]).map(|i| at + i) {
        at = i + 1;
        match bytes[i] {
            // The escaped byte, whatever it is, is skipped.
            b'\\' if quoted => at = (i + 2).min(bytes.len()),
            b'"' => quoted = !quoted,
            b';' if !quoted => {
                push_param(&mut out, &value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push_param(&mut out, &value[start..]);
    out
}

fn push_param(out: &mut Vec<(String, String)>, part: &str) {
    if let Some((k, v)) = part.split_once('=') {
        out.push((k.trim().to_ascii_lowercase(), unquote(v.trim())));
    }
}

/// RFC 2045 §5.1 quoted-string: surrounding quotes go, backslash escapes are resolved.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"') else {
        return v.to_string();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    // Nearly every quoted value (a boundary, a file name) has no escape: copied whole.
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return inner.to_string();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or(c) } else { c });
    }
    out
}

/// The value of parameter `base` ("filename", "name", "boundary"), joining RFC 2231 §3
/// continuations (`base*0`, `base*1*`…) and decoding `*` (charset'lang'%XX) pieces.
pub fn param(ps: &[(String, String)], base: &str) -> Option<Vec<u8>> {
    if let Some((_, v)) = ps.iter().find(|(k, _)| k == base) {
        return Some(v.as_bytes().to_vec());
    }
    // Keys after `base*`, compared in place (no "base*" string built per call).
    let extended = |k| after_star(k, base);
    if let Some((_, v)) = ps.iter().find(|(k, _)| extended(k) == Some("")) {
        return Some(percent_decode(strip_charset(v)));
    }
    let mut pieces: Vec<(u32, bool, &str)> = ps
        .iter()
        .filter_map(|(k, v)| {
            let rest = extended(k)?;
            let (num, star) = rest.strip_suffix('*').map_or((rest, false), |n| (n, true));
            Some((num.parse().ok()?, star, v.as_str()))
        })
        .collect();
    if pieces.is_empty() {
        return None;
    }
    pieces.sort_by_key(|p| p.0);
    let mut out = Vec::new();
    for (i, star, v) in pieces {
        match (i, star) {
            (0, true) => out.extend(percent_decode(strip_charset(v))),
            (_, true) => out.extend(percent_decode(v)),
            _ => out.extend_from_slice(v.as_bytes()),
        }
    }
    Some(out)
}

/// What follows `base*` in the key `k`, if it starts so.
fn after_star<'a>(k: &'a str, base: &str) -> Option<&'a str> {
    k.strip_prefix(base)?.strip_prefix('*')
}

fn strip_charset(v: &str) -> &str {
    let mut it = v.splitn(3, '\'');
    match (it.next(), it.next(), it.next()) {
        (Some(_), Some(_), Some(rest)) => rest,
        _ => v,
    }
}

fn percent_decode(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_quoted() {
        let ps = params("attachment; filename=\"a;b \\\"q\\\".pdf\"; size=3");
        assert_eq!(param(&ps, "filename").unwrap(), b"a;b \"q\".pdf");
        let ps = params("text/plain; name=\"é;x\\\\\"; charset=\"utf-8\" ; x");
        assert_eq!(ps, [("name".to_string(), "é;x\\".to_string()), ("charset".to_string(), "utf-8".to_string())]);
        let ps = params("multipart/mixed; boundary=----=_Part_1");
        assert_eq!(param(&ps, "boundary").unwrap(), b"----=_Part_1");
    }

    /// Separators inside quotes, escapes of any byte (a quote, a separator, a backslash, a
    /// character beyond ASCII) and a backslash ending the value are read as before.
    #[test]
    fn escapes_and_separators_in_quotes() {
        let ps = params("a; x=\"1;2\\\";3\\é\\\\\"; y=\\; z=\"4\\");
        assert_eq!(
            ps,
            [
                ("x".to_string(), "1;2\";3é\\".to_string()),
                ("y".to_string(), "\\".to_string()),
                ("z".to_string(), "4\\".to_string()),
            ]
        );
    }

    #[test]
    fn rfc2231_extended_and_continued() {
        let ps = params("attachment; filename*=UTF-8''%E2%82%AC%20rates.txt");
        assert_eq!(String::from_utf8(param(&ps, "filename").unwrap()).unwrap(), "€ rates.txt");
        let ps = params("attachment; filename*0*=us-ascii'en'This%20is; filename*1=\" long\"");
        assert_eq!(param(&ps, "filename").unwrap(), b"This is long");
        assert!(param(&ps, "name").is_none());
    }
}
