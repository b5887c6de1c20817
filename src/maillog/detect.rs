//! Which format a log is in, from its first lines: the format whose line shape most of them
//! have. A file none of them fits is refused, naming the first line that fitted nothing.

use super::{LogFile, LogFormat, MaillogError, asyncos, exim, postfix};

/// Lines looked at.
const SAMPLE: usize = 200;

fn fits(format: LogFormat, line: &str) -> bool {
    match format {
        LogFormat::Asyncos => asyncos::split(line).is_some(),
        LogFormat::Postfix => postfix::split(line).and_then(|(_, prog, _)| postfix::program(prog)).is_some(),
        LogFormat::Exim => exim::split(line).is_some(),
    }
}

pub fn detect(file: &LogFile) -> Result<LogFormat, MaillogError> {
    let sample = || file.lines().take(SAMPLE);
    let Some((first_number, first_text)) = sample().next() else {
        return Err(MaillogError::Empty { file: file.name.to_string() });
    };
    let formats = [LogFormat::Asyncos, LogFormat::Postfix, LogFormat::Exim];
    let score = |f: LogFormat| sample().filter(|(_, l)| fits(f, l)).count();
    let (best, hits) = formats.into_iter().map(|f| (f, score(f))).max_by_key(|&(_, n)| n).expect("three formats");
    if hits == 0 {
        return Err(MaillogError::UnknownFormat {
            file: file.name.to_string(),
            line: first_number,
            text: first_text.chars().take(200).collect(),
        });
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> LogFile {
        LogFile::from_text("some.log", text.to_string())
    }

    #[test]
    fn each_format_is_recognised() {
        let asyncos = "Thu Aug 14 11:04:31 2014 Info: New SMTP ICID 1 interface Management (10.0.0.1) address 10.0.0.2";
        let postfix = "Dec  6 00:23:37 esa postfix/smtpd[3101]: connect from unknown[203.0.113.5]";
        let exim = "2026-12-06 00:23:37 [26447] SMTP connection from [203.0.113.5]:45558";
        assert_eq!(detect(&file(asyncos)).unwrap(), LogFormat::Asyncos);
        assert_eq!(detect(&file(postfix)).unwrap(), LogFormat::Postfix);
        assert_eq!(detect(&file(exim)).unwrap(), LogFormat::Exim);
    }

    #[test]
    fn an_unknown_format_names_the_file_and_its_first_line() {
        let e = detect(&file("hello world\nsecond")).unwrap_err().to_string();
        assert!(e.starts_with("some.log: not a mail log"), "{e}");
        assert!(e.contains("line 1 did not parse: \"hello world\""), "{e}");
    }
}
