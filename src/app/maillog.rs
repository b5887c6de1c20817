//! `--maillog`: loads the server's log before the captures are read, and after them writes what
//! only the log saw.

use super::output::Out;
use anyhow::{Context, Result};
use smtpdiag::cli::{LogFormatArg, MaillogArgs};
use smtpdiag::diagnose::Verdict;
use smtpdiag::maillog::{self, Follow, LogFile, LogFormat, LogIndex, LogNote};
use smtpdiag::render::maillog as show;
use smtpdiag::session::Session;

/// The log files' bytes (`live` reads them as root, before it parses anything).
pub fn read(args: &MaillogArgs) -> Result<Vec<LogFile>> {
    Ok(args.maillogs.iter().map(|p| maillog::read_file(p)).collect::<Result<Vec<_>, _>>()?)
}

/// `live`: the log files opened (as root) to be read again as they grow; gzip files do not grow.
pub fn open_follow(args: &MaillogArgs) -> Result<Vec<Follow>> {
    let mut out = Vec::new();
    for path in &args.maillogs {
        let mut file = std::fs::File::open(path).with_context(|| format!("{}: cannot read the log", path.display()))?;
        let mut magic = [0u8; 2];
        let gzip = std::io::Read::read_exact(&mut file, &mut magic).is_ok() && magic == [0x1f, 0x8b];
        if !gzip {
            out.push(Follow::new(&path.display().to_string(), file));
        }
    }
    Ok(out)
}

/// The log index, or None without `--maillog`. Lines that did not parse are counted (and with
/// `--verbose` shown) on stderr; a file in no known format is an error.
pub fn load(args: &MaillogArgs) -> Result<Option<LogIndex>> {
    index(args, read(args)?)
}

/// Parses and indexes files read by `read`.
pub fn index(args: &MaillogArgs, files: Vec<LogFile>) -> Result<Option<LogIndex>> {
    if files.is_empty() {
        return Ok(None);
    }
    let format = args.log_format.map(|f| match f {
        LogFormatArg::Asyncos => LogFormat::Asyncos,
        LogFormatArg::Postfix => LogFormat::Postfix,
        LogFormatArg::Exim => LogFormat::Exim,
    });
    let index = LogIndex::from_files(files, format, &args.log_tz, args.log_skew)?;
    for f in &index.files {
        if f.unparsed.is_empty() {
            continue;
        }
        let n = f.unparsed.len();
        let lines = if n == 1 { "line" } else { "lines" };
        eprintln!("smtpdiag: warning: {}: {n} {lines} did not parse as {} log lines", f.name, f.format.name());
        if args.verbose {
            for (n, text) in &f.unparsed {
                eprintln!("smtpdiag:   {}:{n}: {:?}", f.name, text.chars().take(300).collect::<String>());
            }
        }
    }
    Ok(Some(index))
}

/// Pairs a session with the log: its verdicts gain what the comparison found.
pub fn annotate(index: Option<&mut LogIndex>, s: &Session, verdicts: &mut Vec<Verdict>) -> Option<LogNote> {
    let a = index?.annotate(s, verdicts);
    verdicts.extend(a.verdicts);
    a.note
}

/// After the sessions: log connections no session matched (records in JSON, a list in text),
/// the counts, and the warnings said once.
pub fn finish(index: &mut LogIndex, json: bool, out: &mut Out) {
    let summary = index.summary();
    for w in &summary.warnings {
        eprintln!("smtpdiag: warning: {w}");
    }
    if json {
        for u in &summary.unpaired {
            out.lines(&(show::connection_line(u) + "\n"));
        }
        // The counts go to stderr: stdout holds records only.
        if let Some(counts) = show::summary(&summary).lines().next() {
            eprintln!("smtpdiag: {counts}");
        }
    } else {
        out.lines(&show::summary(&summary));
    }
}
