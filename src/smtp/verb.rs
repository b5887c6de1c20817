//! SMTP command verbs, and the pseudo-commands a reply can answer when no command line was
//! sent (as Zeek's `SMTP_cmd.def` lists `<GREETING>`, `<DATA-END>` … beside the real verbs).

use std::fmt;

/// Longest verb kept: a line without spaces is one huge "verb".
const VERB_MAX: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Vrfy,
    Expn,
    Help,
    Noop,
    Quit,
    StartTls,
    Auth,
    Etrn,
    Turn,
    Atrn,
    Xclient,
    Xforward,
    Send,
    Soml,
    Saml,
    /// The server's greeting: the reply that answers the connection, not a command.
    Greeting,
    /// The end of the message data ("." after DATA); its reply accepts or refuses the message.
    DataEnd,
    /// A SASL response line during AUTH (RFC 4954 §4): its content is never kept.
    AuthData,
    /// Client bytes lost in a capture gap: the replies before the next command answer them.
    Gap,
    /// Any other verb as it arrived (alphabetic ones upper-cased, since verbs are
    /// case-insensitive): an extension, an ASA-masked "XXXXXXXX", binary garbage.
    Other(Box<str>),
}

/// The command verbs, by name. A SASL exchange ends when one of them appears where a response
/// line was expected.
const KNOWN: [(Verb, &str); 22] = [
    (Verb::Helo, "HELO"),
    (Verb::Ehlo, "EHLO"),
    (Verb::Mail, "MAIL"),
    (Verb::Rcpt, "RCPT"),
    (Verb::Data, "DATA"),
    (Verb::Bdat, "BDAT"),
    (Verb::Rset, "RSET"),
    (Verb::Vrfy, "VRFY"),
    (Verb::Expn, "EXPN"),
    (Verb::Help, "HELP"),
    (Verb::Noop, "NOOP"),
    (Verb::Quit, "QUIT"),
    (Verb::StartTls, "STARTTLS"),
    (Verb::Auth, "AUTH"),
    (Verb::Etrn, "ETRN"),
    (Verb::Turn, "TURN"),
    (Verb::Atrn, "ATRN"),
    (Verb::Xclient, "XCLIENT"),
    (Verb::Xforward, "XFORWARD"),
    (Verb::Send, "SEND"),
    (Verb::Soml, "SOML"),
    (Verb::Saml, "SAML"),
];

impl Verb {
    /// The verb of a command line's first word: known verbs in any letter case; anything else
    /// kept (upper-cased when alphabetic, cut at `VERB_MAX` bytes).
    pub fn parse(word: &str) -> Verb {
        if let Some(known) = Verb::spelled(word.as_bytes()) {
            return known;
        }
        if (1..=16).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Verb::Other(word.to_ascii_uppercase().into());
        }
        let mut end = word.len().min(VERB_MAX);
        while !word.is_char_boundary(end) {
            end -= 1;
        }
        Verb::Other(word[..end].into())
    }

    /// The known verb `word` spells in any letter case. Parsed on every command line: the bytes
    /// upper-cased a word at a time by clearing bit 5, and told apart by a `match`, not compared
    /// with each of `KNOWN`'s names in turn. Only a letter's byte has an upper-case letter with
    /// bit 5 cleared, so no other byte can make a name match.
    #[inline]
    fn spelled(word: &[u8]) -> Option<Verb> {
        const UPPER: u64 = !0x2020_2020_2020_2020;
        let verb = match word.len() {
            4 => match &(u32::from_le_bytes(word.try_into().ok()?) & UPPER as u32).to_le_bytes() {
                b"HELO" => Verb::Helo,
                b"EHLO" => Verb::Ehlo,
                b"MAIL" => Verb::Mail,
                b"RCPT" => Verb::Rcpt,
                b"DATA" => Verb::Data,
                b"BDAT" => Verb::Bdat,
                b"RSET" => Verb::Rset,
                b"VRFY" => Verb::Vrfy,
                b"EXPN" => Verb::Expn,
                b"HELP" => Verb::Help,
                b"NOOP" => Verb::Noop,
                b"QUIT" => Verb::Quit,
                b"AUTH" => Verb::Auth,
                b"ETRN" => Verb::Etrn,
                b"TURN" => Verb::Turn,
                b"ATRN" => Verb::Atrn,
                b"SEND" => Verb::Send,
                b"SOML" => Verb::Soml,
                b"SAML" => Verb::Saml,
                _ => return None,
            },
            7 if word.eq_ignore_ascii_case(b"XCLIENT") => Verb::Xclient,
            8 => match &(u64::from_le_bytes(word.try_into().ok()?) & UPPER).to_le_bytes() {
                b"STARTTLS" => Verb::StartTls,
                b"XFORWARD" => Verb::Xforward,
                _ => return None,
            },
            _ => return None,
        };
        Some(verb)
    }

    /// The verb spelled exactly `name` ("QUIT"), or `Other(name)`.
    pub fn named(name: String) -> Verb {
        KNOWN.iter().find(|(_, n)| *n == name).map_or_else(|| Verb::Other(name.into()), |(v, _)| v.clone())
    }

    /// A command verb of RFC 5321 or a common extension (not `Other`, not a pseudo-command).
    pub fn is_known(&self) -> bool {
        KNOWN.iter().any(|(v, _)| v == self)
    }

    /// "QUIT", "<greeting>", or the text an unknown verb arrived as.
    pub fn as_str(&self) -> &str {
        match self {
            Verb::Greeting => "<greeting>",
            Verb::DataEnd => "<data-end>",
            Verb::AuthData => "<AUTH-DATA>",
            Verb::Gap => "<gap>",
            Verb::Other(text) => text,
            known => KNOWN.iter().find(|(v, _)| v == known).map_or("", |(_, n)| n),
        }
    }
}

/// Tests compare recorded verb lists with the names they expect.
#[cfg(test)]
impl PartialEq<&str> for Verb {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_in_any_case_others_as_they_came() {
        assert_eq!(Verb::parse("ehlo"), Verb::Ehlo);
        assert_eq!(Verb::parse("StartTLS"), Verb::StartTls);
        assert_eq!(Verb::parse("xexch"), Verb::Other("XEXCH".into()));
        assert_eq!(Verb::parse("XXXXXXXX"), Verb::Other("XXXXXXXX".into()));
        assert_eq!(Verb::parse("mail:"), Verb::Other("mail:".into()), "not alphabetic: verbatim");
        assert_eq!(Verb::parse(&"A".repeat(300)).as_str().len(), VERB_MAX);
        assert_eq!(Verb::parse(""), Verb::Other("".into()));
    }

    /// `spelled` knows exactly `KNOWN`'s names, in every letter case, and nothing one letter off.
    #[test]
    fn spelled_is_known_in_any_case() {
        for (verb, name) in &KNOWN {
            let lower = name.to_ascii_lowercase();
            let mixed: String =
                name.chars().enumerate().map(|(i, c)| if i % 2 == 1 { c.to_ascii_lowercase() } else { c }).collect();
            for spelling in [name.to_string(), lower, mixed] {
                assert_eq!(Verb::parse(&spelling), *verb, "{spelling}");
            }
            // Every byte in every place, and every byte after the name: only letter case is ignored.
            let mut variants = Vec::new();
            for byte in 0..=255u8 {
                for at in 0..name.len() {
                    let mut other = name.as_bytes().to_vec();
                    other[at] = byte;
                    variants.push(other);
                }
                variants.push([name.as_bytes(), &[byte]].concat());
            }
            for other in variants {
                let want = KNOWN.iter().find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&other));
                assert_eq!(Verb::spelled(&other), want.map(|(v, _)| v.clone()), "{other:?}");
            }
            // A name cut short or run on is another verb.
            assert_eq!(Verb::parse(&name[..name.len() - 1]), Verb::Other(name[..name.len() - 1].into()));
            assert_eq!(Verb::parse(&format!("{name}S")), Verb::Other(format!("{name}S").into()));
        }
    }

    #[test]
    fn every_name_round_trips_and_pseudo_commands_are_not_verbs() {
        for (verb, name) in &KNOWN {
            assert_eq!(verb.as_str(), *name);
            assert_eq!(Verb::parse(name), *verb);
            assert!(verb.is_known());
        }
        // A client that sends the text "<greeting>" sent an unknown verb, not the greeting.
        assert_eq!(Verb::parse("<greeting>"), Verb::Other("<greeting>".into()));
        for pseudo in [Verb::Greeting, Verb::DataEnd, Verb::AuthData, Verb::Gap] {
            assert!(!pseudo.is_known() && pseudo.as_str().starts_with('<'), "{pseudo}");
        }
        assert_eq!(format!("{:<6}|", Verb::Quit), "QUIT  |");
    }
}
