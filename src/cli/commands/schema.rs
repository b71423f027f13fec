//! `schema [-o FILE [--check]]`: the manifest's JSON Schema, printed, written or checked.
//!
//! Owns: the command's flags and exit code (1 when `--check` finds the file out of date).
//! May not: render output itself, read the environment.

use std::path::PathBuf;
use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use crate::error::{Error, Result};
use crate::ops;

/// Shown by `schema --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra schema > stack.schema.json\n  promo-infra schema -o stacks/stack.schema.json --check";

/// `schema` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// With -o: exit 1 if the file is not up to date (writes nothing).
    #[arg(long, requires = "output")]
    pub check: bool,
}

/// Run `schema`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let mut out = Out::stdout();
    let Some(path) = args.output else {
        out.raw(&ops::schema());
        return Ok(ExitCode::SUCCESS);
    };
    // Relative to the project (-C), like every other path the tool writes.
    let path = globals.project().root.join(path);
    let fresh = ops::schema_file(&path, args.check)?;
    if args.check && !fresh {
        return Err(Error::usage(
            format!("{} is out of date", path.display()),
            "run `promo-infra schema -o <file>` and commit it",
        ));
    }
    print::files::schema_file(&mut out, &path, fresh);
    Ok(ExitCode::SUCCESS)
}
