//! The `smtpdiag` binary: parses arguments, wires the library's stages, prints. Thin on purpose.

mod app;

use clap::Parser;
use smtpdiag::cli::Cli;

/// mimalloc instead of glibc malloc: sessions open and close by the thousand, and on that
/// fragmented heap glibc's slow path (sorting its unsorted bin) took a tenth of the run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
