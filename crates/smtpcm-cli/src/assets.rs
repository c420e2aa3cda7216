//! `smtpcm generate-assets DIR` (hidden): the man pages and shell completions for packaging,
//! generated from the same clap definitions the binary parses with, so they never drift.
//!
//! Writes `DIR/man/smtpcm.1` and one `smtpcm-<command>.1` per subcommand, and
//! `DIR/completions/{smtpcm.bash,_smtpcm,smtpcm.fish}`. `scripts/package-deb.sh` runs it.

use std::path::{Path, PathBuf};

use clap_complete::Shell;

use crate::exit::Exit;

#[derive(clap::Args, Debug)]
pub struct AssetsArgs {
    /// Directory to write man/ and completions/ into; created if missing.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: AssetsArgs, mut command: clap::Command) -> Exit {
    match generate(&args.dir, &mut command) {
        Ok(()) => Exit::Sent,
        Err(e) => {
            eprintln!("smtpcm generate-assets: {e}");
            Exit::Internal
        }
    }
}

fn generate(dir: &Path, command: &mut clap::Command) -> Result<(), String> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    // Hidden subcommands (this one) get no page of their own.
    clap_mangen::generate_to(command.clone(), &man)
        .map_err(|e| format!("cannot write man pages to {}: {e}", man.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, command, "smtpcm", &completions).map_err(|e| {
            format!(
                "cannot write {shell} completions to {}: {e}",
                completions.display()
            )
        })?;
    }
    Ok(())
}
