//! `restart SERVICE…`: restart services in place (same container or process, no recreate),
//! each waited for until healthy, one line per service.
//!
//! Owns: the command's flags.
//! May not: render output itself, read the environment.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use super::{apply, args, completions};
use crate::error::Result;
use crate::ops;

/// Shown by `restart --help`.
pub const EXAMPLES: &str = "\
Examples:
  promo-infra restart grafana             # same container, waited for until healthy
  promo-infra restart grafana influxdb
  promo-infra restart --target native control-api";

/// `restart` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Services to restart.
    #[arg(value_name = "SERVICE", required = true, add = completions::services())]
    pub services: Vec<String>,
}

/// Run `restart`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let mut out = Out::stdout();
    ops::restart(
        &globals.project(),
        &globals.selection(false),
        args.target.target,
        &args.services,
        apply::progress(),
        &mut |r| print::verbs::restarted(&mut out, r),
    )?;
    Ok(ExitCode::SUCCESS)
}
