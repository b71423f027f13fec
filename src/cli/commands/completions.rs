//! `completions SHELL`: shell completions for the whole command line.
//!
//! Owns: the command's flags.
//! May not: read the environment, write anything but stdout.

use std::process::ExitCode;

use clap::CommandFactory;

use super::super::Cli;
use super::super::globals::Globals;
use crate::error::Result;

/// Shown by `completions --help`.
pub const EXAMPLES: &str = "Example:\n  promo-infra completions zsh > ~/.zfunc/_promo-infra";

/// `completions` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shell.
    pub shell: clap_complete::Shell,
}

/// Run `completions`.
pub fn run(_globals: &Globals, args: Args) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "promo-infra", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
