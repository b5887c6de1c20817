//! Generates the man pages and shell completions from the clap definition in src/cli.rs, so
//! they can never disagree with the binary. Output: $OUT_DIR/man/smtpdiag.1, one
//! smtpdiag-COMMAND.1 per subcommand, $OUT_DIR/man/pages.rs (the table `smtpdiag generate man
//! [COMMAND]` prints from) and $OUT_DIR/completions/*; `cargo build` prints nothing about them.

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::PathBuf;

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

// What src/cli.rs uses of the library, at the paths it names them by.
#[path = "src/diagnose/codes.rs"]
pub mod codes;
#[path = "src/select/options.rs"]
pub mod options;
#[allow(dead_code)]
#[path = "src/select/spec.rs"]
pub mod spec;
mod diagnose {
    pub use super::codes;
}
mod select {
    pub use super::{options, spec};
}
#[allow(dead_code)]
#[path = "src/render/options.rs"]
pub mod render_options;
mod render {
    pub use super::render_options as options;
}

fn main() -> std::io::Result<()> {
    let inputs =
        ["src/cli.rs", "src/diagnose/codes.rs", "src/select/spec.rs", "src/select/options.rs", "src/render/options.rs"];
    for input in inputs {
        println!("cargo:rerun-if-changed={input}");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut cmd = cli::Cli::command();

    let man_dir = out.join("man");
    std::fs::create_dir_all(&man_dir)?;
    // The page lists a smtpdiag-COMMAND(1) for each subcommand: all of them are written below,
    // and clap's `help` subcommand (which has no page) is left out.
    let top = cmd.clone().disable_help_subcommand(true);
    let mut pages = vec![("smtpdiag".to_string(), man_page(clap_mangen::Man::new(top))?)];
    for sub in cmd.get_subcommands() {
        // Named smtpdiag-COMMAND (the page), run as "smtpdiag COMMAND" (the synopsis).
        let sub = sub
            .clone()
            .display_name(format!("smtpdiag-{}", sub.get_name()))
            .bin_name(format!("smtpdiag {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        pages.push((sub.get_name().to_string(), man_page(clap_mangen::Man::new(sub))?));
    }
    let mut table = String::from("/// (subcommand or \"smtpdiag\", man page)\npub const PAGES: &[(&str, &str)] = &[\n");
    for (name, page) in &pages {
        let file = if name == "smtpdiag" { "smtpdiag.1".to_string() } else { format!("smtpdiag-{name}.1") };
        std::fs::write(man_dir.join(&file), page)?;
        table.push_str(&format!("    ({name:?}, include_str!(concat!(env!(\"OUT_DIR\"), \"/man/{file}\"))),\n"));
    }
    table.push_str("];\n");
    std::fs::write(man_dir.join("pages.rs"), table)?;

    let comp_dir = out.join("completions");
    std::fs::create_dir_all(&comp_dir)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "smtpdiag", &comp_dir)?;
    }
    Ok(())
}

/// The page as roff, with characters outside ASCII written as groff escapes (`\[u2014]`):
/// groff reads its input as Latin-1 and warns about the bytes of UTF-8 text.
fn man_page(man: clap_mangen::Man) -> std::io::Result<String> {
    let mut page = Vec::new();
    man.render(&mut page)?;
    let page = String::from_utf8(page).map_err(std::io::Error::other)?;
    Ok(page.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("\\[u{:04X}]", c as u32) }).collect())
}
