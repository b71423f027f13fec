//! `output [--json] [NAME]`: like `terraform output`: the stack's URLs, logins and where its
//! secrets are, from the manifest (no engine needed). Secret values are never printed.
//!
//! Owns: the command's flags, and refusing to print a sensitive output alone.
//! May not: render output itself, read the environment, talk to a target.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use crate::error::{Error, Result};
use crate::ops::{self, services::OutputValue};

/// Shown by `output --help`.
pub const EXAMPLES: &str = "\
Examples:
  promo-infra output                      # every output: URLs, user names, where the secrets are
  promo-infra output grafana_url          # the value alone, for scripts
  promo-infra output --json               # {\"format_version\": \"1.0\", \"stack\": ..., \"outputs\": {...}}
  open \"$(promo-infra output stop_page_url)\"";

/// `output` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One output only (its value alone; `--json`: its object).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Machine-readable output (versioned: `format_version`).
    #[arg(long)]
    pub json: bool,
}

/// Run `output`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let outputs = ops::output(&globals.project(), &globals.selection(false))?;
    let mut out = Out::stdout();
    match (&args.name, args.json) {
        (None, true) => out.json(&outputs)?,
        (None, false) => print::verbs::outputs(&mut out, &outputs),
        (Some(name), true) => out.json(outputs.get(name)?)?,
        (Some(name), false) => match outputs.get(name)? {
            OutputValue::Plain { value } => print::verbs::value(&mut out, value),
            OutputValue::Sensitive { env_key, file, .. } => {
                return Err(Error::usage(
                    format!("output `{name}` is a secret: promo-infra never prints secrets"),
                    format!("it is `{env_key}` in {file} (mode 0600)"),
                ));
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
