//! Every verdict code a rule can emit, in one list: `--verdict` accepts these (and shell
//! completions offer them), the README's verdict table names each. A rule with a new code adds
//! it here; a test reads the rules' sources and fails on a code missing from the list.
//!
//! build.rs includes this file (for the completions), so it depends on nothing.

/// In the order of the README's verdict table: endings, middleboxes, transport.
pub const ALL_CODES: &[&str] = &[
    "DELIVERED",
    "REJECT",
    "TCPREFUSE",
    "PORT_CLOSED",
    "NO_ANSWER",
    "TEMPFAIL",
    "TRANSACTION_REJECTED",
    "AUTH_FAILED",
    "ABORTED_BY_SENDER",
    "RECEIVING_ABORTED",
    "IDLE_TIMEOUT",
    "TLS_STARTED",
    "TLS_FAILED",
    "PLAINTEXT_AFTER_STARTTLS",
    "CLIENT_STALLED",
    "SERVER_SILENT",
    "NO_MESSAGE",
    "NOT_SMTP",
    "INCOMPLETE",
    "MASKED_BANNER",
    "BANNER_NEVER_COMPLETED",
    "STARTTLS_STRIPPED",
    "EHLO_KEYWORD_MASKED",
    "COMMAND_MASKED",
    "EHLO_REFUSED",
    "FIREWALL_RESET",
    "INSPECTION_LIMIT",
    "STREAM_REWRITTEN",
    "RETRANSMISSIONS",
    "ZERO_WINDOW",
    "MTU_BLACKHOLE",
    "SLOW_HANDSHAKE",
    // The mail server's log against the packets (`--maillog`, src/maillog/pair.rs).
    "LOG_CONTRADICTS",
];

#[cfg(test)]
mod tests {
    use super::ALL_CODES;
    use std::path::Path;

    /// Codes the rules' sources name: the string literal that opens a `verdict(` call.
    fn codes_in_rules() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/diagnose");
        let mut found = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        // This file names `verdict(` in its own test.
        let rules = files.iter().filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("codes.rs"));
        for path in rules {
            let text = std::fs::read_to_string(path).unwrap();
            for (at, _) in text.match_indices("verdict(") {
                let rest = text[at + "verdict(".len()..].trim_start();
                let Some(literal) = rest.strip_prefix('"') else { continue };
                let code = &literal[..literal.find('"').unwrap()];
                found.push((code.to_string(), path.display().to_string()));
            }
        }
        found
    }

    #[test]
    fn every_code_a_rule_emits_is_listed() {
        let found = codes_in_rules();
        assert!(found.len() > 20, "the scan finds the rules' codes: {found:?}");
        for (code, file) in found {
            assert!(ALL_CODES.contains(&code.as_str()), "{code} (in {file}) is missing from ALL_CODES");
        }
    }

    #[test]
    fn codes_are_unique_and_upper_case() {
        for (i, code) in ALL_CODES.iter().enumerate() {
            assert!(code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'), "{code}");
            assert!(!ALL_CODES[..i].contains(code), "{code} twice");
        }
    }

    /// The README's verdict table names every code (it is the user's reference).
    #[test]
    fn the_readme_verdict_table_names_every_code() {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
        let table = readme.split("## Verdicts").nth(1).expect("a Verdicts section").split("\n## ").next().unwrap();
        for code in ALL_CODES {
            assert!(table.contains(&format!("`{code}`")), "README's verdict table lacks `{code}`");
        }
    }
}
