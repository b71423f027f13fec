//! `plan`: what `apply` would change on the target (terraform-style), changing nothing.
//!
//! Owns: the command's flags and exit code (`--detailed-exitcode`: 2 when there are changes).
//! May not: render output itself, change anything, read the environment.

use std::path::PathBuf;
use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use super::super::term::code;
use super::args;
use crate::error::Result;
use crate::ops;

/// Shown by `plan --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra plan\n  promo-infra plan --detailed-exitcode   # CI: 0 no changes, 2 changes, 1 error\n  promo-infra plan --out promo.plan      # then: promo-infra apply promo.plan\n  promo-infra -f tests/fixtures/stacks/local.yaml plan --json";

/// `plan` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Exit 0 when there are no changes, 2 when there are (1 stays "error").
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Also plan to delete resources the stack no longer declares.
    #[arg(long)]
    pub prune: bool,
    /// Save the plan to FILE; `promo-infra apply FILE` applies exactly it (refused if the
    /// configuration or the stack changed since).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Run `plan`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let report = ops::plan_and_save(
        &globals.project(),
        &globals.selection(false),
        args.target.target,
        args.prune,
        args.out.as_deref(),
    )?;
    let mut out = Out::stdout();
    if args.json {
        out.versioned_json(&report)?;
    } else {
        print::deploy::plan(&mut out, &report.notes, &report.plan);
        print::deploy::files_to_write(&mut out, &report.files_to_write);
        if let Some(file) = &args.out {
            print::deploy::saved(&mut out, file);
        }
    }
    if let Some(refused) = report.refused() {
        return Err(refused);
    }
    Ok(exit_code(args.detailed_exitcode, report.plan.is_empty()))
}

/// terraform's `-detailed-exitcode`: 2 when there are changes; without it, always 0.
fn exit_code(detailed: bool, no_changes: bool) -> ExitCode {
    if detailed && !no_changes {
        ExitCode::from(code::CHANGES)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detailed_exitcode_is_2_only_with_changes() {
        assert_eq!(exit_code(true, false), ExitCode::from(2));
        assert_eq!(exit_code(true, true), ExitCode::SUCCESS);
        assert_eq!(exit_code(false, false), ExitCode::SUCCESS);
    }
}
