//! The `smtpdiag` binary: parses arguments, wires the library's stages, prints. Thin on purpose.

mod app;

use clap::Parser;
use smtpdiag::cli::Cli;

fn main() {
    let cli = Cli::parse();
    let code = match app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("smtpdiag: {e:#}");
            2
        }
    };
    std::process::exit(code);
}
