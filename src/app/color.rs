//! Whether stdout gets colors: `--color always|never` decides; `auto` (the default) colors a
//! terminal unless NO_COLOR (https://no-color.org) or CLICOLOR=0 says not, or TERM is "dumb";
//! CLICOLOR_FORCE (https://bixense.com/clicolors) colors a pipe too, NO_COLOR still winning.

use smtpdiag::cli::ColorWhen;
use std::io::IsTerminal;
use std::sync::OnceLock;

static CHOICE: OnceLock<ColorWhen> = OnceLock::new();

/// The command line's `--color`, set once before any output.
pub fn choose(when: ColorWhen) {
    let _ = CHOICE.set(when);
}

pub fn stdout() -> bool {
    let when = CHOICE.get().copied().unwrap_or(ColorWhen::Auto);
    wanted(when, std::io::stdout().is_terminal(), |name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    })
}

fn wanted(when: ColorWhen, terminal: bool, env: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto if set("NO_COLOR") => false,
        ColorWhen::Auto if set("CLICOLOR_FORCE") && env("CLICOLOR_FORCE").as_deref() != Some("0") => true,
        ColorWhen::Auto => {
            terminal && env("CLICOLOR").as_deref() != Some("0") && env("TERM").as_deref() != Some("dumb")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_option_beats_the_environment() {
        assert!(wanted(ColorWhen::Always, false, with(&[("NO_COLOR", "1")])));
        assert!(!wanted(ColorWhen::Never, true, with(&[("CLICOLOR_FORCE", "1")])));
    }

    #[test]
    fn auto_follows_the_terminal_and_the_conventions() {
        assert!(wanted(ColorWhen::Auto, true, with(&[])));
        assert!(!wanted(ColorWhen::Auto, false, with(&[])));
        assert!(!wanted(ColorWhen::Auto, true, with(&[("NO_COLOR", "1")])));
        assert!(wanted(ColorWhen::Auto, true, with(&[("NO_COLOR", "")])), "an empty NO_COLOR is unset");
        assert!(!wanted(ColorWhen::Auto, true, with(&[("TERM", "dumb")])));
        assert!(!wanted(ColorWhen::Auto, true, with(&[("CLICOLOR", "0")])));
        assert!(wanted(ColorWhen::Auto, false, with(&[("CLICOLOR_FORCE", "1")])));
        assert!(!wanted(ColorWhen::Auto, false, with(&[("CLICOLOR_FORCE", "0")])));
        assert!(!wanted(ColorWhen::Auto, false, with(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")])));
    }
}
