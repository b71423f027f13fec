//! `backup run|list|rotate|restore`: backups of the stack's InfluxDB.
//!
//! Owns: the subcommands' flags.
//! May not: render output itself, read the environment.

use std::process::ExitCode;

use clap::Subcommand;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use crate::error::Result;
use crate::ops;
use crate::targets::TargetKind;

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Back up the running InfluxDB into <backup.dir>/<stack>/<UTC time>/ (1.x: `influxd backup
    /// -portable`, 2.x: `influx backup`), with a manifest of every file's size and sha256.
    #[command(
        after_help = "Examples:\n  promo-infra backup run                        # the stack on the docker target (influxd runs in its container)\n  promo-infra backup run --target native -f stacks/promo-v1.yaml"
    )]
    Run {
        /// Where the stack's InfluxDB runs: docker (1.x: `influxd backup` runs inside the
        /// container through the Engine API) or native (the tools run on this host).
        #[arg(long, value_parser = crate::cli::commands::args::target_parser(), default_value_t = TargetKind::Docker)]
        target: TargetKind,
    },
    /// List backups: id, UTC time, size, status (ok / incomplete / corrupt / foreign). Every
    /// checksum is verified.
    #[command(after_help = "Example:\n  promo-infra backup list --json")]
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove the backups `backup.keep` does not keep (restic `forget` semantics, UTC buckets).
    /// The newest valid backup and anything promo-infra did not create are never removed.
    #[command(
        after_help = "Examples:\n  promo-infra backup rotate --dry-run   # what would be kept and removed, and why\n  promo-infra backup rotate"
    )]
    Rotate {
        /// Print the decisions, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Where the stack's InfluxDB runs: docker (1.x: also removes the copies killed
        /// backups and restores left in its container, never one whose command still runs) or
        /// native.
        #[arg(long, value_parser = crate::cli::commands::args::target_parser(), default_value_t = TargetKind::Docker)]
        target: TargetKind,
    },
    /// Verify every checksum of a backup, then restore it into the running InfluxDB.
    #[command(
        after_help = "Examples:\n  promo-infra backup restore 20261124T030000Z\n  promo-infra backup restore 20261124T030000Z --as k6_restored   # beside the live database"
    )]
    Restore {
        /// Backup id (see `backup list`).
        #[arg(add = super::completions::backups())]
        id: String,
        /// Restore into this database (1.x) / bucket (2.x) instead of the stack's; it must not
        /// exist.
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// Where the stack's InfluxDB runs: docker (1.x: `influxd restore` runs inside the
        /// container through the Engine API) or native (the tools run on this host).
        #[arg(long, value_parser = crate::cli::commands::args::target_parser(), default_value_t = TargetKind::Docker)]
        target: TargetKind,
    },
}

/// Run a `backup` subcommand.
pub fn run(globals: &Globals, command: Command) -> Result<ExitCode> {
    let project = globals.project();
    let (templates, loaded) = ops::load_one(&project, &globals.selection(false))?;
    let mut out = Out::stdout();
    match command {
        Command::Run { target } => {
            let report = ops::backup_run(&project, &loaded, target, progress())?;
            print::backup::ran(&mut out, &report);
        }
        Command::List { json } => {
            let entries = ops::backup_list(&project, &loaded)?;
            if json {
                out.versioned_json(&serde_json::json!({
                    "stack": loaded.stack(),
                    "backups": entries,
                }))?;
            } else {
                print::backup::list(&mut out, &entries);
            }
        }
        Command::Rotate {
            dry_run,
            json,
            target,
        } => {
            let report = ops::backup_rotate(&project, &loaded, dry_run, target, progress())?;
            if json {
                out.versioned_json(&serde_json::json!({
                    "stack": loaded.stack(),
                    "dry_run": report.dry_run,
                    "policy": report.policy,
                    "decisions": report.decisions,
                }))?;
            } else {
                print::backup::rotated(&mut out, &report);
            }
        }
        Command::Restore {
            id,
            as_name,
            target,
        } => {
            let report = ops::backup_restore(
                &project,
                &templates,
                &loaded,
                &id,
                as_name.as_deref(),
                target,
                progress(),
            )?;
            print::backup::restored(&mut out, &report);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `backup run` / `restore` / `rotate` progress: one `backup: <step>` line per network step (and
/// per copy removed from the container), on stderr.
fn progress() -> crate::backup::Progress {
    crate::backup::Progress::new(|step| eprintln!("backup: {step}"))
}
