//! `doctor`: run the troubleshooting checklist on a stack and show one line per check
//! (ok / warn / fail, what was found, what to do). Exit 1 on any fail.
//!
//! Owns: the command's flags and its table. May not: hold a check (that is `ops::doctor`),
//! change anything, read the environment.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::args;
use crate::error::Result;
use crate::ops::doctor::{self, Level, Report};

/// Shown by `doctor --help`.
pub const EXAMPLES: &str =
    "Examples:\n  promo-infra doctor\n  promo-infra doctor --target native --json";

/// `doctor` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target and output.
    #[command(flatten)]
    pub common: args::TargetJson,
}

/// Run `doctor`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let mut report = doctor::doctor(
        &globals.project(),
        &globals.selection(false),
        args.common.target.target,
    )?;
    // Its fixes suggest commands: they act on the same stack and target as this doctor.
    for c in &mut report.checks {
        c.fix = super::super::term::suggested(&c.fix);
    }
    Out::stdout().json_or(args.common.json, &report, table)?;
    Ok(if report.worst() == Level::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn table(out: &mut Out, report: &Report) {
    out.line(&format!("Doctor for stack `{}`:", report.stack));
    for c in &report.checks {
        let mark = match c.level {
            Level::Ok => "[ok]  ",
            Level::Warn => "[warn]",
            Level::Fail => "[fail]",
            Level::Skipped => "[skip]",
        };
        out.line(&format!("{mark} {}: {}", c.check, c.finding));
        if !c.fix.is_empty() {
            out.line(&format!("         fix: {}", c.fix));
        }
    }
}
