//! `status`: per service: state, health, image and version, URL, uptime.
//!
//! Owns: the command's flags.
//! May not: render output itself, change anything, read the environment.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use super::args;
use crate::error::Result;
use crate::ops;

/// Shown by `status --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra status\n  promo-infra status --json";

/// `status` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Run `status`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let (rows, alerts) = ops::status_and_alerts(
        &globals.project(),
        &globals.selection(false),
        args.target.target,
    )?;
    let mut out = Out::stdout();
    if args.json {
        out.json(&rows)?;
    } else {
        print::deploy::status(&mut out, &rows, alerts.as_deref());
    }
    Ok(ExitCode::SUCCESS)
}
