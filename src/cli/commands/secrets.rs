//! `secrets list` (names, never values) and `secrets rotate NAME` (live change, `.env`,
//! restarts).
//!
//! Owns: the subcommands' flags.
//! May not: render output itself, print or log a secret's value, read the environment.

use std::process::ExitCode;

use clap::Subcommand;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::{print, prompt};
use super::apply;
use super::args;
use crate::error::Result;
use crate::ops::{self, RotatePreview};

const ROTATE_QUESTION: &str =
    "Do you want to rotate this secret?\n  promo-infra will perform the actions described above.";

/// Where to see what `secrets rotate` does, when it cannot ask: its own preview (`plan` shows
/// no rotation).
const ROTATE_REVIEW: &str =
    "review the rotation described above (its live change, .env, and the services it restarts)";

/// `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every secret the stack uses: name, kind, where used, whether it is set.
    #[command(after_help = "Example:\n  promo-infra secrets list --json")]
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Rotate ONE generated secret and apply it to the running stack: the live change
    /// (InfluxDB 1.x SET PASSWORD, Grafana admin password through its API), then `.env`, then the
    /// services that read it restart. Shows the plan and asks first; never prints a value.
    #[command(
        after_help = "Examples:\n  promo-infra secrets rotate GRAFANA_ADMIN_PASSWORD\n  promo-infra secrets rotate CONTROL_API_TOKEN --auto-approve"
    )]
    Rotate(RotateArgs),
}

/// `secrets rotate` arguments.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The secret's name (`promo-infra secrets list`).
    pub name: String,
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Confirmation.
    #[command(flatten)]
    pub approve: args::Approve,
    /// Seconds to wait for each restarted service to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = ops::DEFAULT_HEALTH_TIMEOUT.as_secs())]
    pub health_timeout: u64,
}

/// Run a `secrets` subcommand.
pub fn run(globals: &Globals, command: Command) -> Result<ExitCode> {
    match command {
        Command::List { json } => list(globals, json),
        Command::Rotate(args) => rotate(globals, args),
    }
}

fn list(globals: &Globals, json: bool) -> Result<ExitCode> {
    let project = globals.project();
    let (_, loaded) = ops::load_one(&project, &globals.selection(false))?;
    let rows = ops::secrets_list(&project, &loaded)?;
    let mut out = Out::stdout();
    if json {
        out.versioned_json(&serde_json::json!({"stack": loaded.stack(), "secrets": rows}))?;
    } else {
        print::files::secrets(&mut out, &rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(globals: &Globals, args: RotateArgs) -> Result<ExitCode> {
    let opts = apply::options(args.target.target, false, args.health_timeout);
    let report = ops::rotate(
        &globals.project(),
        &globals.selection(false),
        &args.name,
        &opts,
        &mut |p: &RotatePreview| {
            print::deploy::rotate_preview(&mut Out::stdout(), p);
            prompt::approve(
                args.approve.auto_approve,
                ROTATE_QUESTION,
                "secrets rotate",
                ROTATE_REVIEW,
            )
        },
    )?;
    print::deploy::rotated(&mut Out::stdout(), &report);
    Ok(ExitCode::SUCCESS)
}
