//! The binary's commands. Each wires library stages together; none parses packets itself.

mod color;
mod config;
mod diff;
mod ladder;
mod live;
mod maillog;
mod merge;
mod output;
mod peek;
mod pipeline;
mod printer;
mod read;
mod renderer;
mod report;
mod select;
mod shard;

use anyhow::{Context, Result};
use smtpdiag::cli::{Cli, Command, Generated};

/// Runs a command and returns the process exit status.
pub fn run(cli: Cli) -> Result<i32> {
    color::choose(cli.color);
    match cli.command {
        Command::Read(args) => read::run(args),
        Command::Ladder(args) => ladder::run(args),
        Command::Live(args) => live::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Report(args) => report::run(args),
        Command::Generate { what, command, dir } => generate(what, command.as_deref(), dir.as_deref()),
    }
}

/// Each man page build.rs wrote: `PAGES`, (subcommand or "smtpdiag", page).
mod man {
    include!(concat!(env!("OUT_DIR"), "/man/pages.rs"));
}

fn generate(what: Generated, command: Option<&str>, dir: Option<&std::path::Path>) -> Result<i32> {
    if what != Generated::Man && (command.is_some() || dir.is_some()) {
        anyhow::bail!("a COMMAND and --dir go with `generate man` only");
    }
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, page) in man::PAGES {
            let path = dir.join(page_file(name));
            std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("smtpdiag: wrote {}", path.display());
        }
        return Ok(0);
    }
    let text: &str = match what {
        Generated::Man => {
            let name = command.unwrap_or("smtpdiag");
            let Some((_, page)) = man::PAGES.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = man::PAGES.iter().map(|(n, _)| *n).filter(|n| *n != "smtpdiag").collect();
                anyhow::bail!("no man page for \"{name}\"; the commands are {}", names.join(", "));
            };
            page
        }
        Generated::Bash => include_str!(concat!(env!("OUT_DIR"), "/completions/smtpdiag.bash")),
        Generated::Zsh => include_str!(concat!(env!("OUT_DIR"), "/completions/_smtpdiag")),
        Generated::Fish => include_str!(concat!(env!("OUT_DIR"), "/completions/smtpdiag.fish")),
    };
    output::write_stdout(text.as_bytes())?;
    Ok(0)
}

/// "smtpdiag" → smtpdiag.1, "read" → smtpdiag-read.1.
fn page_file(name: &str) -> String {
    if name == "smtpdiag" { "smtpdiag.1".into() } else { format!("smtpdiag-{name}.1") }
}
