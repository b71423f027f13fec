//! `apply`: bring the stack to the manifest on the target: plan, confirm, execute.
//!
//! Owns: the command's flags, and how `apply` and `secrets rotate` turn theirs into
//! [`ApplyOptions`].
//! May not: render output itself, read the environment.

use std::process::ExitCode;
use std::time::Duration;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::{print, prompt};
use super::args;
use crate::error::Result;
use crate::ops::{self, ApplyOptions};
use crate::plan::Plan;
use crate::targets::TargetKind;
use crate::targets::docker::Progress;

/// Shown by `apply --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra apply\n  promo-infra -f tests/fixtures/stacks/local.yaml apply --auto-approve";

const QUESTION: &str = "Do you want to perform these actions?\n  promo-infra will perform the actions described above.";

/// `apply` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Confirmation.
    #[command(flatten)]
    pub approve: args::Approve,
    /// Also delete resources the stack no longer declares.
    #[arg(long)]
    pub prune: bool,
    /// Seconds to wait for each service to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = ops::DEFAULT_HEALTH_TIMEOUT.as_secs())]
    pub health_timeout: u64,
}

/// What `apply` and `secrets rotate` pass to [`deploy`]: progress bars on stderr, and at least
/// one second of health wait.
pub fn options(target: TargetKind, prune: bool, health_timeout_secs: u64) -> ApplyOptions {
    ApplyOptions {
        target,
        prune,
        health_timeout: Duration::from_secs(health_timeout_secs.max(1)),
        progress: progress(),
    }
}

/// Spinners on a terminal; a line per event on stderr otherwise (CI logs).
pub fn progress() -> Progress {
    Progress::stderr_or(|line| eprintln!("{line}"))
}

/// Run `apply`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let opts = options(args.target.target, args.prune, args.health_timeout);
    let auto = args.approve.auto_approve;
    let report = ops::apply(
        &globals.project(),
        &globals.selection(false),
        &opts,
        &mut |p: &Plan, notes: &[String]| {
            print::deploy::plan(&mut Out::stdout(), notes, p);
            prompt::approve(auto || p.is_empty(), QUESTION, "apply")
        },
    )?;
    print::deploy::applied(&mut Out::stdout(), &report);
    Ok(ExitCode::SUCCESS)
}
