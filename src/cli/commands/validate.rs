//! `validate`: check manifests (syntax, types, unknown keys, every semantic rule). Writes
//! nothing.
//!
//! Owns: the command's flags and exit code.
//! May not: render output itself, write anything, read the environment.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use crate::error::Result;
use crate::ops;

/// Shown by `validate --help`.
pub const EXAMPLES: &str = "Example:\n  promo-infra validate -f stacks/promo.yaml";

/// `validate` arguments (only the global ones).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run `validate`.
pub fn run(globals: &Globals, _args: Args) -> Result<ExitCode> {
    let (_, loaded) = ops::load_all_writing_nothing(&globals.project(), &globals.selection(true))?;
    print::files::valid(&mut Out::stdout(), &loaded);
    Ok(ExitCode::SUCCESS)
}
