//! Generates the man page and shell completions from the clap definition in src/cli.rs, so
//! they can never disagree with the binary. Output: $OUT_DIR/man/smtpdiag.1 and
//! $OUT_DIR/completions/*; `cargo build` prints nothing about them.

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::PathBuf;

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

// What src/cli.rs uses of the library, at the paths it names them by.
#[path = "src/diagnose/codes.rs"]
pub mod codes;
#[allow(dead_code)]
#[path = "src/select/spec.rs"]
pub mod spec;
mod diagnose {
    pub use super::codes;
}
mod select {
    pub use super::spec;
}

fn main() -> std::io::Result<()> {
    for input in ["src/cli.rs", "src/diagnose/codes.rs", "src/select/spec.rs"] {
        println!("cargo:rerun-if-changed={input}");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut cmd = cli::Cli::command();

    let man_dir = out.join("man");
    std::fs::create_dir_all(&man_dir)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(man_dir.join("smtpdiag.1"), page)?;
    for sub in cmd.get_subcommands() {
        let name = format!("smtpdiag-{}", sub.get_name());
        let mut page = Vec::new();
        let leaked: &'static str = Box::leak(name.clone().into_boxed_str());
        clap_mangen::Man::new(sub.clone().name(leaked)).render(&mut page)?;
        std::fs::write(man_dir.join(format!("{name}.1")), page)?;
    }

    let comp_dir = out.join("completions");
    std::fs::create_dir_all(&comp_dir)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "smtpdiag", &comp_dir)?;
    }
    Ok(())
}
