//! `dashboards render UID`: the final JSON of one dashboard; `dashboards diff [UID…]`: the
//! stack's live Grafana against what the manifest generates; `dashboards pull [UID…]`: its UI
//! edits back into the sources as overlays.
//!
//! Owns: the subcommands' flags.
//! May not: render output itself, read the environment, write anything (pull's overlays are
//! written by `ops::dashboards`).

use std::process::ExitCode;

use clap::Subcommand;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::term::code;
use super::super::{print, prompt};
use super::args;
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
    /// Compare the dashboards in the stack's running Grafana with the generated ones: what was
    /// changed in the UI, by panel and field.
    #[command(
        after_help = "Examples:\n  promo-infra dashboards diff\n  promo-infra dashboards diff promo-marketing --detailed-exitcode   # 0 same, 2 differ, 1 error"
    )]
    Diff {
        /// Which dashboards, where.
        #[command(flatten)]
        on: Live,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Exit 0 when every dashboard is the same, 2 when one differs (1 stays "error").
        #[arg(long)]
        detailed_exitcode: bool,
        /// Requests in flight at once.
        #[command(flatten)]
        concurrency: Concurrency,
    },
    /// Bring the edits made in the stack's running Grafana back into the sources, as overlays
    /// (`dashboards-src/overrides/<stack>/<uid>.json`) that `generate` applies after the templates.
    #[command(
        after_help = "Examples:\n  promo-infra dashboards pull promo-marketing && promo-infra generate"
    )]
    Pull {
        /// Which dashboards, where.
        #[command(flatten)]
        on: Live,
    },
    /// Upload the generated dashboards into the stack's running Grafana through its API (a
    /// dashboard changed there since the last push is refused unless --force).
    #[command(
        after_help = "Examples:\n  promo-infra dashboards push\n  promo-infra dashboards push --prune   # also delete promo-infra-tagged dashboards the stack no longer declares"
    )]
    Push {
        /// Which dashboards, where.
        #[command(flatten)]
        on: Live,
        /// Overwrite a dashboard changed in Grafana since the last push (never one another
        /// stack owns on the same Grafana: that is refused, naming the stack).
        #[arg(long)]
        force: bool,
        /// Delete dashboards of the stack's folder tagged `promo-infra` that it no longer declares.
        #[arg(long)]
        prune: bool,
        /// Requests in flight at once.
        #[command(flatten)]
        concurrency: Concurrency,
    },
    /// Go back to a version of a dashboard in Grafana's history, or to the dashboard as
    /// generated at a git revision: shows the diff first and asks, like apply.
    #[command(
        after_help = "Examples:\n  promo-infra dashboards rollback promo-marketing --to 3\n  promo-infra dashboards rollback promo-marketing --to git:HEAD~2"
    )]
    Rollback {
        /// Dashboard uid.
        #[arg(add = super::completions::dashboards())]
        uid: String,
        /// A Grafana version (`3`, `grafana:3`) or a git revision (`git:HEAD~2`, `abc123`).
        #[arg(long, value_name = "VERSION|GIT-REV")]
        to: ops::dashboards::RollbackTo,
        /// Where the stack runs.
        #[command(flatten)]
        target: args::Target,
        /// Confirmation.
        #[command(flatten)]
        approve: args::Approve,
    },
    /// List a dashboard's versions in the stack's running Grafana, newest first.
    #[command(after_help = "Example:\n  promo-infra dashboards history promo-marketing")]
    History {
        /// Dashboard uid.
        #[arg(add = super::completions::dashboards())]
        uid: String,
        /// Where the stack runs.
        #[command(flatten)]
        target: args::Target,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// The dashboards of a running stack a subcommand acts on.
#[derive(Debug, clap::Args)]
pub struct Live {
    /// Dashboard uids (all of the stack's when none).
    #[arg(add = super::completions::dashboards())]
    uids: Vec<String>,
    /// Where the stack runs.
    #[command(flatten)]
    target: args::Target,
}

/// `--concurrency` of the subcommands that read or write every dashboard of a stack.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Concurrency {
    /// Requests in flight at once against Grafana (1: one dashboard at a time).
    #[arg(long, value_name = "N", default_value_t = ops::dashboards::CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

impl Concurrency {
    /// The limit `ops::dashboards` takes.
    fn get(self) -> usize {
        self.concurrency.into()
    }
}

/// Run a `dashboards` subcommand.
pub fn run(globals: &Globals, command: Command) -> Result<ExitCode> {
    match command {
        Command::Render { uid } => {
            let (templates, loaded) = ops::load_one(&globals.project(), &globals.selection(false))?;
            Out::stdout().raw(&ops::render_dashboard(&loaded, &templates, &uid)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff {
            on,
            json,
            detailed_exitcode,
            concurrency,
        } => {
            let report = ops::dashboards::diff(
                &globals.project(),
                &globals.selection(false),
                on.target.target,
                &on.uids,
                concurrency.get(),
            )?;
            Out::stdout().json_or(json, &report, print::dashboards::diff)?;
            Ok(if detailed_exitcode && !report.is_empty() {
                ExitCode::from(code::CHANGES)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Pull { on } => {
            let pulled = ops::dashboards::pull(
                &globals.project(),
                &globals.selection(false),
                on.target.target,
                &on.uids,
            )?;
            print::dashboards::pulled(&mut Out::stdout(), &pulled);
            Ok(ExitCode::SUCCESS)
        }
        Command::Push {
            on,
            force,
            prune,
            concurrency,
        } => {
            let pushed = ops::dashboards::push(
                &globals.project(),
                &globals.selection(false),
                on.target.target,
                &on.uids,
                force,
                prune,
                concurrency.get(),
            )?;
            print::dashboards::pushed(&mut Out::stdout(), &pushed);
            Ok(ExitCode::SUCCESS)
        }
        Command::Rollback {
            uid,
            to,
            target,
            approve,
        } => {
            let done = ops::dashboards::rollback(
                &globals.project(),
                &globals.selection(false),
                target.target,
                &uid,
                &to,
                &mut |preview| {
                    print::dashboards::rollback_preview(&mut Out::stdout(), preview);
                    // Its own diff, above (`plan` shows no rollback).
                    prompt::approve(
                        approve.auto_approve,
                        "Do you want to roll back this dashboard?",
                        "dashboards rollback",
                        &format!(
                            "review the changes listed above (`promo-infra dashboards history {uid}` lists its versions)"
                        ),
                    )
                },
            )?;
            print::dashboards::rolled_back(&mut Out::stdout(), &uid, done);
            Ok(ExitCode::SUCCESS)
        }
        Command::History { uid, target, json } => {
            let history = ops::dashboards::history(
                &globals.project(),
                &globals.selection(false),
                target.target,
                &uid,
            )?;
            Out::stdout().json_or(json, &history, print::dashboards::history)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
