//! `destroy`: remove the stack's containers and network (data volumes only with `--volumes`).
//!
//! Owns: the command's flags.
//! May not: render output itself, read the environment.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::{interrupt, print, prompt};
use super::args;
use crate::error::{Error, Result};
use crate::ops;
use crate::targets::{Interrupt, Progress};

/// Shown by `destroy --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra destroy               # containers and network; data volumes kept\n  promo-infra destroy --volumes --auto-approve";

const QUESTION: &str = "Do you really want to destroy these resources?\n  promo-infra will destroy the resources listed above.";

/// Where to see what `destroy` removes, when it cannot ask (`plan` shows what apply would do).
const REVIEW: &str =
    "review what would be destroyed, listed above (`promo-infra status` shows what runs)";

/// `destroy` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Also remove the named volumes (InfluxDB and Grafana data). Kept by default.
    #[arg(long)]
    pub volumes: bool,
    /// Confirmation.
    #[command(flatten)]
    pub approve: args::Approve,
}

/// Run `destroy`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    // The target removes the stack in one go: on Ctrl-C it finishes, then the command says so.
    let interrupt = Interrupt::new();
    let report = ops::destroy(
        &globals.project(),
        &globals.selection(false),
        args.target.target,
        args.volumes,
        &mut |p: &ops::DestroyPreview| {
            print::deploy::destroy_preview(
                &mut Out::stdout(),
                &p.stack,
                args.target.target,
                &p.existing,
                &p.in_use,
                args.volumes,
                &p.data_dir,
            );
            let go = prompt::approve(
                args.approve.auto_approve || p.existing.is_empty(),
                QUESTION,
                "destroy",
                REVIEW,
            )?;
            if go {
                interrupt::arm(
                    &interrupt,
                    &Progress::hidden(),
                    |_| {
                        "interrupt received: letting the destroy in progress finish (Ctrl-C again to quit at once)".to_string()
                    },
                    interrupt::DESTROY_AGAIN,
                )?;
            }
            Ok(go)
        },
    )?;
    print::deploy::destroyed(&mut Out::stdout(), &report);
    // Not done while a network is kept: exit 1, as `docker compose down` does, so a script
    // tearing the stack down knows; the same command, run again once those containers are
    // gone, finishes it.
    if !report.kept.is_empty() {
        return Err(kept(&report));
    }
    if interrupt.requested() {
        return Err(Error::interrupted(
            "destroy interrupted after it had started: it finished (removed what is listed above)",
            "nothing is left to destroy; `promo-infra status` confirms it",
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The error of a destroy that kept networks: which, for which containers, and what to do.
fn kept(report: &ops::DestroyReport) -> Error {
    let why: Vec<String> = report
        .kept
        .iter()
        .map(|used| {
            format!(
                "network {} is kept: {} attached to it and not the stack's (promo-infra never stops nor detaches it)",
                used.network,
                used.are()
            )
        })
        .collect();
    let how: Vec<String> = report.kept.iter().map(|used| used.how_to_free()).collect();
    Error::docker(format!(
        "destroy incomplete: {}; the {} object(s) listed above were removed",
        why.join("; "),
        report.removed.len()
    ))
    .with_help(format!(
        "{}, then run `promo-infra destroy` again: it removes what is left",
        how.join("; ")
    ))
}
