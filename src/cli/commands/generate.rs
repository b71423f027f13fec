//! `generate [--check|--force]`: compile manifests into `generated/<stack>/` (and create or
//! complete `.env`), or show what is stale.
//!
//! Owns: the command's flags and exit code (1 when stale or when hand-edited files were kept).
//! May not: render output itself, read the environment.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use crate::error::{Error, Result};
use crate::ops;

/// Shown by `generate --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra generate\n  promo-infra generate --check   # exit 1 with a unified diff when stale\n  promo-infra generate --force   # overwrite hand-edited files";

/// `generate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write nothing; print a unified diff of every stale file and exit 1 if any.
    #[arg(long)]
    pub check: bool,
    /// Overwrite generated files that were edited by hand.
    #[arg(long, conflicts_with = "check")]
    pub force: bool,
}

/// Run `generate`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let project = globals.project();
    let selection = globals.selection(true);
    let mut out = Out::stdout();
    if args.check {
        let results = ops::check(&project, &selection)?;
        print::files::check(&mut out, &results);
        let count = results.iter().map(|(_, stale)| stale.len()).sum();
        let hand_edited: Vec<String> = results
            .iter()
            .flat_map(|(dir, stale)| {
                stale
                    .iter()
                    .filter(|s| s.hand_edited)
                    .map(move |s| format!("{dir}/{}", s.path))
            })
            .collect();
        if count > 0 {
            return Err(Error::stale(count, &hand_edited));
        }
    } else {
        let results = ops::generate(&project, &selection, args.force)?;
        print::files::generated(&mut out, &results);
        let kept: Vec<String> = results
            .iter()
            .flat_map(|g| g.report.kept.iter().map(|f| format!("{}/{f}", g.dir)))
            .collect();
        if !kept.is_empty() {
            return Err(Error::HandEdited { paths: kept });
        }
    }
    Ok(ExitCode::SUCCESS)
}
