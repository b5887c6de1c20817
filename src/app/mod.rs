//! The binary's commands. Each wires library stages together; none parses packets itself.

mod config;
mod ladder;
mod live;
mod output;
mod pipeline;
mod read;
mod select;
mod shard;

use anyhow::Result;
use smtpdiag::cli::{Cli, Command, Generated};

/// Runs a command and returns the process exit status.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Read(args) => read::run(args),
        Command::Ladder(args) => ladder::run(args),
        Command::Live(args) => live::run(args),
        Command::Generate { what } => generate(what),
    }
}

fn generate(what: Generated) -> Result<i32> {
    let text: &str = match what {
        Generated::Man => include_str!(concat!(env!("OUT_DIR"), "/man/smtpdiag.1")),
        Generated::Bash => include_str!(concat!(env!("OUT_DIR"), "/completions/smtpdiag.bash")),
        Generated::Zsh => include_str!(concat!(env!("OUT_DIR"), "/completions/_smtpdiag")),
        Generated::Fish => include_str!(concat!(env!("OUT_DIR"), "/completions/smtpdiag.fish")),
    };
    output::write_stdout(text.as_bytes())?;
    Ok(0)
}
