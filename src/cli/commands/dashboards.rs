//! `dashboards render UID`: the final JSON of one dashboard.
//!
//! Owns: the subcommands' flags.
//! May not: render output itself, read the environment, write anything.

use std::process::ExitCode;

use clap::Subcommand;

use super::super::globals::Globals;
use super::super::output::Out;
use crate::error::Result;
use crate::ops;

/// `dashboards` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the final JSON of one dashboard.
    #[command(
        after_help = "Example:\n  promo-infra dashboards render promo-marketing -f stacks/promo.yaml"
    )]
    Render {
        /// Dashboard uid.
        #[arg(add = super::completions::dashboards())]
        uid: String,
    },
}

/// Run a `dashboards` subcommand.
pub fn run(globals: &Globals, command: Command) -> Result<ExitCode> {
    let Command::Render { uid } = command;
    let (templates, loaded) = ops::load_one(&globals.project(), &globals.selection(false))?;
    Out::stdout().raw(&ops::render_dashboard(&loaded, &templates, &uid)?);
    Ok(ExitCode::SUCCESS)
}
