//! `smtpdiag ladder FILE…`: ladder diagrams of the selected sessions as text, Mermaid, SVG or
//! JSON (NDJSON: one `smtpdiag.ladder.v1` object per session and line). Only the ladders of
//! selected sessions are kept, and only as long as an SVG file still needs them.

use super::output::{AtomicFile, Interrupt, Out, stdout_color};
use super::pipeline::{self, SessionSink};
use super::renderer::{Rendered, TextLadder};
use super::select::Selected;
use anyhow::{Context, Result};
use smtpdiag::cli::{LadderArgs, LadderFormat};
use smtpdiag::diagnose::Verdict;
use smtpdiag::maillog::LogIndex;
use smtpdiag::render::ladder::{self, Clock, Ladder, mermaid, svg};
use smtpdiag::render::maillog;
use smtpdiag::render::text::TextStyle;
use smtpdiag::select::Selector;
use smtpdiag::session::Session;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

pub fn run(args: LadderArgs) -> Result<i32> {
    if args.single_file && args.format != LadderFormat::Svg {
        anyhow::bail!("--single-file goes with --format svg");
    }
    let interrupt = Interrupt::install();
    let to_file = args.output.is_some();
    let color = !to_file && args.format == LadderFormat::Text && stdout_color();
    let mut text = TextLadder::new(&args.style, color);
    if to_file && args.style.width.is_none() {
        text.text.width = 100;
    }
    // `-o DIR` (an existing directory): the files go inside it.
    let into_dir = args.output.as_deref().is_some_and(Path::is_dir);
    let output =
        args.output.as_deref().map(|p| if into_dir { p.join(dir_file_name(args.format)) } else { p.to_path_buf() });
    let dest = match (&output, args.format) {
        // SVG files are written whole, one per session or one for all.
        (Some(_), LadderFormat::Svg) | (None, _) => Dest::Stdout(Out::new(args.format == LadderFormat::Json)),
        (Some(path), _) => Dest::File(Some(open(path)?)),
    };
    let mut sink = LadderSink {
        select: super::select::selector(&args.select, &args.files)?,
        several_captures: args.files.len() > 1,
        format: args.format,
        text,
        output,
        single_file: args.single_file,
        dest,
        svg_pending: Vec::new(),
        // In a directory of their own, SVG ladders get a file each from the first one on.
        svg_split: into_dir && !args.single_file,
        shown: 0,
        error: None,
        maillog: super::maillog::load(&args.maillog)?,
    };
    let status = pipeline::analyze(&args.files, &args.analysis, 1, &interrupt, &mut sink);
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    sink.finish()?;
    if matches!(&sink.dest, Dest::Stdout(out) if out.failed) {
        return Ok(2);
    }
    if sink.shown == 0 {
        eprintln!("smtpdiag: no session matched the selection");
    }
    Ok(if interrupt.raised() { 130 } else { status })
}

/// The ladder's id: "FILE:ID" when several captures are read.
fn ladder_id(s: &Session, several_captures: bool) -> String {
    if several_captures { format!("{}:{}", s.capture, s.id()) } else { s.id() }
}

enum Dest {
    Stdout(Out),
    /// Renamed into place once complete (see `finish`); `None` after that.
    File(Option<AtomicFile>),
}

fn open(path: &Path) -> Result<AtomicFile> {
    AtomicFile::create(path).with_context(|| format!("cannot create {}", path.display()))
}

/// The file `ladder -o DIR` writes inside the directory (SVG: per session, see `per_session`).
fn dir_file_name(format: LadderFormat) -> &'static str {
    match format {
        LadderFormat::Text => "ladders.txt",
        LadderFormat::Mermaid => "ladders.mmd",
        LadderFormat::Json => "ladders.ndjson",
        LadderFormat::Svg => "ladders.svg",
    }
}

struct LadderSink {
    select: Selector,
    several_captures: bool,
    format: LadderFormat,
    text: TextLadder,
    output: Option<PathBuf>,
    single_file: bool,
    dest: Dest,
    /// SVG ladders not yet written: all of them with --single-file (or on stdout), else at
    /// most one, until a second session shows whether file names need the session id.
    svg_pending: Vec<Ladder>,
    svg_split: bool,
    shown: usize,
    error: Option<anyhow::Error>,
    /// The server's log (`--maillog`): its note goes under each text ladder.
    maillog: Option<LogIndex>,
}

impl SessionSink for LadderSink {
    /// Only the selected sessions are kept while waiting.
    type Final = Selected;

    fn finalize(&mut self, s: Session, verdicts: Vec<Verdict>) -> Self::Final {
        Selected::pick(&self.select, self.maillog.as_mut(), s, verdicts)
    }

    /// Ladders need whole sessions: there is no renderer, so nothing rendered comes here.
    fn rendered(&mut self, _r: Rendered, _index: u64) -> Self::Final {
        Selected::none()
    }

    fn write(&mut self, f: Self::Final) -> ControlFlow<()> {
        let Selected { session: Some((s, verdicts)), log } = f else { return ControlFlow::Continue(()) };
        let mut l = ladder::build(&s, &verdicts, self.text.opts);
        l.header.id = ladder_id(&s, self.several_captures);
        drop(s);
        self.shown += 1;
        let shown = self.show(l).and_then(|more| match (&log, self.format) {
            (Some(n), LadderFormat::Text) => {
                let style = TextStyle { color: self.text.text.color, explain: false };
                Ok(more && self.write(&maillog::note(n, style))?)
            }
            _ => Ok(more),
        });
        let more = match shown {
            Ok(more) => more,
            Err(e) => {
                self.error = Some(e);
                false
            }
        };
        let enough = self.select.limit().is_some_and(|n| self.shown >= n);
        if more && !enough { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    }
}

impl LadderSink {
    /// Draws one ladder; false once the output is gone.
    fn show(&mut self, l: Ladder) -> Result<bool> {
        let clock = self.text.text.clock;
        let text = match self.format {
            LadderFormat::Text => ladder::text::render(&l, self.text.text),
            LadderFormat::Mermaid => mermaid::render(&l, clock),
            LadderFormat::Json => serde_json::to_string(&l)? + "\n",
            LadderFormat::Svg => return self.svg(l),
        };
        // Blank line between drawings; NDJSON stays one object per line.
        let sep = if self.shown > 1 && self.format != LadderFormat::Json { "\n" } else { "" };
        self.write(&format!("{sep}{text}"))
    }

    fn svg(&mut self, l: Ladder) -> Result<bool> {
        self.svg_pending.push(l);
        let Some(path) = self.output.clone() else { return Ok(true) };
        if self.single_file || self.svg_pending.len() < 2 && !self.svg_split {
            return Ok(true);
        }
        self.svg_split = true;
        for l in std::mem::take(&mut self.svg_pending) {
            write_svg(&per_session(&path, &l.header.id), &[&l], self.text.text.clock)?;
        }
        Ok(true)
    }

    fn write(&mut self, text: &str) -> Result<bool> {
        match &mut self.dest {
            Dest::Stdout(out) => Ok(out.lines(text)),
            Dest::File(f) => {
                let f = f.as_mut().context("the output file was already closed")?;
                f.write_all(text.as_bytes()).with_context(|| format!("writing {}", f.path().display()))?;
                Ok(true)
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        let clock = self.text.text.clock;
        let pending: Vec<&Ladder> = self.svg_pending.iter().collect();
        if !pending.is_empty() {
            match (&self.output, self.svg_split) {
                (Some(path), true) => write_svg(&per_session(path, &pending[0].header.id), &pending, clock)?,
                (Some(path), false) => write_svg(path, &pending, clock)?,
                (None, _) => {
                    let doc = svg::document(&pending, clock);
                    self.write(&doc)?;
                }
            }
        }
        match &mut self.dest {
            Dest::Stdout(out) => out.flush(),
            Dest::File(f) => {
                if let Some(f) = f.take() {
                    let path = f.path().display().to_string();
                    f.commit().with_context(|| format!("writing {path}"))?;
                }
            }
        }
        Ok(())
    }
}

fn write_svg(path: &Path, ladders: &[&Ladder], clock: Clock) -> Result<()> {
    let written = AtomicFile::create(path).and_then(|mut f| {
        f.write_all(svg::document(ladders, clock).as_bytes())?;
        f.commit()
    });
    written.with_context(|| format!("writing {}", path.display()))
}

/// "out.svg" + session "3" → "out-3.svg"; characters unfit for file names become "_".
fn per_session(path: &Path, id: &str) -> PathBuf {
    let id: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{id}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{id}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_go_before_the_extension() {
        assert_eq!(per_session(Path::new("/tmp/out.svg"), "3"), Path::new("/tmp/out-3.svg"));
        assert_eq!(per_session(Path::new("out"), "a.pcap:2"), Path::new("out-a.pcap_2"));
    }
}
