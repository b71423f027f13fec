//! `logs [-F|--follow] [--tail N] [SERVICE…]`: the services' logs, each line prefixed with its service
//! like `docker compose logs`.
//!
//! Owns: the command's flags.
//! May not: render output itself, read the environment, change anything.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use super::{args, completions};
use crate::error::Result;
use crate::ops::{self, LogsOptions};

/// Shown by `logs --help`.
pub const EXAMPLES: &str = "\
Examples:
  promo-infra logs                        # every service, service by service
  promo-infra logs grafana --tail 20      # the last 20 lines of Grafana
  promo-infra logs --follow               # follow every service until Ctrl-C (-F)
  promo-infra logs --target native influxdb";

/// `logs` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Keep printing new lines until Ctrl-C. (`-f` is the global `--file`, as before a compose
    /// command: the short form here is `-F`, like `tail -F`.)
    #[arg(short = 'F', long)]
    pub follow: bool,
    /// Only the last N lines of each service.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Services (default: every one).
    #[arg(value_name = "SERVICE", add = completions::services())]
    pub services: Vec<String>,
}

/// Run `logs`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let opts = LogsOptions {
        services: args.services,
        tail: args.tail,
        follow: args.follow,
    };
    let logs = ops::logs(
        &globals.project(),
        &globals.selection(false),
        args.target.target,
        &opts,
    )?;
    let width = logs.services().iter().map(String::len).max().unwrap_or(0);
    let mut out = Out::stdout();
    logs.stream(&mut |line| print::verbs::log_line(&mut out, width, &line))?;
    Ok(ExitCode::SUCCESS)
}
