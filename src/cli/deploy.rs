//! `plan`, `apply`, `status`, `destroy`: clap arguments and thin handlers over
//! [`crate::deploy`].

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use super::output::Out;
use crate::error::{Error, Result};
use crate::ops::Selection;
use crate::ops::{self as deploy, ApplyOptions};
use crate::plan::{self, Action, Plan};
use crate::project::Project;
use crate::targets::TargetKind;
use crate::targets::docker::Progress;

/// `plan` arguments.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Where the stack runs.
    #[arg(long, value_parser = crate::cli::target_parser(), default_value_t = TargetKind::Docker)]
    pub target: TargetKind,
    /// Exit 0 when there are no changes, 2 when there are (1 stays "error").
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Also plan to delete resources the stack no longer declares.
    #[arg(long)]
    pub prune: bool,
}

/// `apply` arguments.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Where the stack runs.
    #[arg(long, value_parser = crate::cli::target_parser(), default_value_t = TargetKind::Docker)]
    pub target: TargetKind,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Also delete resources the stack no longer declares.
    #[arg(long)]
    pub prune: bool,
    /// Seconds to wait for each service to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = deploy::DEFAULT_HEALTH_TIMEOUT.as_secs())]
    pub health_timeout: u64,
}

/// `secrets rotate` arguments.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The secret's name (`promo-infra secrets list`).
    pub name: String,
    /// Where the stack runs.
    #[arg(long, value_parser = crate::cli::target_parser(), default_value_t = TargetKind::Docker)]
    pub target: TargetKind,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Seconds to wait for each restarted service to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = deploy::DEFAULT_HEALTH_TIMEOUT.as_secs())]
    pub health_timeout: u64,
}

/// `status` arguments.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Where the stack runs.
    #[arg(long, value_parser = crate::cli::target_parser(), default_value_t = TargetKind::Docker)]
    pub target: TargetKind,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `destroy` arguments.
#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    /// Where the stack runs.
    #[arg(long, value_parser = crate::cli::target_parser(), default_value_t = TargetKind::Docker)]
    pub target: TargetKind,
    /// Also remove the named volumes (InfluxDB and Grafana data). Kept by default.
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
}

/// Examples shown by `plan --help`.
pub const PLAN_EXAMPLES: &str = "Examples:\n  promo-infra plan\n  promo-infra plan --detailed-exitcode   # CI: 0 no changes, 2 changes, 1 error\n  promo-infra -f tests/fixtures/stacks/local.yaml plan --json";
/// Examples shown by `apply --help`.
pub const APPLY_EXAMPLES: &str = "Examples:\n  promo-infra apply\n  promo-infra -f tests/fixtures/stacks/local.yaml apply --auto-approve";
/// Examples shown by `status --help`.
pub const STATUS_EXAMPLES: &str = "Examples:\n  promo-infra status\n  promo-infra status --json";
/// Examples shown by `destroy --help`.
pub const DESTROY_EXAMPLES: &str = "Examples:\n  promo-infra destroy               # containers and network; data volumes kept\n  promo-infra destroy --volumes --auto-approve";

/// `plan`.
pub fn plan(project: &Project, selection: &Selection, args: &PlanArgs) -> Result<ExitCode> {
    let report = deploy::plan(project, selection, args.target, args.prune)?;
    let mut out = Out::stdout();
    if args.json {
        out.line(&serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        for note in &report.notes {
            out.warn(note);
        }
        print_plan(&mut out, &report.plan);
    }
    Ok(if args.detailed_exitcode && !report.plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_plan(out: &mut Out, p: &Plan) {
    out.raw(&plan::render(p));
}

/// Ask terraform's question on the terminal. Not a terminal: an error, never a silent yes.
fn confirm(question: &str, what: &str, flag_hint: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            format!("{what} needs confirmation, but stdin is not a terminal"),
            format!("review `promo-infra plan`, then re-run with {flag_hint}; nothing was changed"),
        ));
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    );
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("cannot read the answer from", "stdin", e))?;
    let _ = writeln!(err);
    Ok(answer.trim() == "yes")
}

/// `apply`.
pub fn apply(project: &Project, selection: &Selection, args: &ApplyArgs) -> Result<ExitCode> {
    let opts = ApplyOptions {
        target: args.target,
        prune: args.prune,
        health_timeout: Duration::from_secs(args.health_timeout.max(1)),
        progress: Progress::stderr(),
    };
    let mut out = Out::stdout();
    let auto = args.auto_approve;
    let report = deploy::apply(
        project,
        selection,
        &opts,
        &mut |p: &Plan, notes: &[String]| {
            let mut out = Out::stdout();
            for note in notes {
                out.warn(note);
            }
            print_plan(&mut out, p);
            if p.is_empty() || auto {
                return Ok(true);
            }
            confirm(
                "Do you want to perform these actions?\n  promo-infra will perform the actions described above.",
                "apply",
                "--auto-approve",
            )
        },
    )?;
    if let Some(h) = &report.stale_lock {
        out.warn(&format!(
            "a previous `{}` (pid {} on {}, started {}) ended without releasing the lock; its work was observed and converged",
            h.command, h.pid, h.host, h.started
        ));
    }
    if !report.files_written.is_empty() {
        out.change(
            '~',
            &format!(
                "generated/{}: {} file(s) written",
                report.plan.stack,
                report.files_written.len()
            ),
        );
    }
    if report.plan.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for id in &report.done {
        let verb = match report
            .plan
            .steps
            .iter()
            .find(|s| &s.id == id)
            .map(|s| &s.action)
        {
            Some(Action::Create) => "created",
            Some(Action::Replace { .. }) => "replaced",
            Some(Action::Start) => "started",
            Some(Action::Update { .. }) => "updated in place",
            Some(Action::Delete) => "destroyed",
            None => "done",
        };
        out.ok(&format!("{id}: {verb}"));
    }
    let s = report.plan.summary();
    out.line(&format!(
        "\nApply complete! Resources: {} added, {} changed, {} destroyed.\n",
        s.add, s.change, s.destroy
    ));
    print_status(&mut out, &report.status);
    if let Some(alerts) = &report.alerts {
        out.line(&format!("\nAlerts: {alerts}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// `secrets rotate NAME`.
pub fn rotate(project: &Project, selection: &Selection, args: &RotateArgs) -> Result<ExitCode> {
    let opts = ApplyOptions {
        target: args.target,
        prune: false,
        health_timeout: Duration::from_secs(args.health_timeout.max(1)),
        progress: Progress::stderr(),
    };
    let auto = args.auto_approve;
    let report = deploy::rotate(
        project,
        selection,
        &args.name,
        &opts,
        &mut |p: &deploy::RotatePreview| {
            let mut out = Out::stdout();
            out.line(&format!(
                "promo-infra will rotate {} (the value is never shown){}:\n",
                p.name,
                if p.resumed {
                    ", resuming an interrupted rotation with the value kept in .env"
                } else {
                    ""
                }
            ));
            out.line(&format!("  1. live change: {}", p.live_change));
            out.line("  2. .env: the new value replaces the old one (atomic write)");
            let restarts: Vec<String> = p.plan.steps.iter().map(|s| s.id.to_string()).collect();
            out.line(&format!(
                "  3. restart: {}\n",
                if restarts.is_empty() {
                    "nothing".to_string()
                } else {
                    restarts.join(", ")
                }
            ));
            print_plan(&mut out, &p.plan);
            if auto {
                return Ok(true);
            }
            confirm(
                "Do you want to rotate this secret?\n  promo-infra will perform the actions described above.",
                "secrets rotate",
                "--auto-approve",
            )
        },
    )?;
    let mut out = Out::stdout();
    for id in &report.done {
        out.ok(&format!("{id}: restarted with the new value"));
    }
    out.ok(&format!(
        "{} rotated: changed live, saved in generated/{}/.env",
        report.preview.name, report.preview.plan.stack
    ));
    for w in &report.warnings {
        out.warn(w);
    }
    print_status(&mut out, &report.status);
    Ok(ExitCode::SUCCESS)
}

fn print_status(out: &mut Out, rows: &[crate::targets::ServiceStatus]) {
    out.table(
        &[
            "SERVICE", "STATE", "HEALTH", "IMAGE", "VERSION", "URL", "UPTIME", "CONFIG",
        ],
        rows.iter()
            .map(|r| {
                vec![
                    r.service.clone(),
                    r.state.clone(),
                    r.health.clone(),
                    r.image.clone(),
                    r.version.clone(),
                    r.url.clone(),
                    r.uptime.clone(),
                    if r.up_to_date { "current" } else { "outdated" }.to_string(),
                ]
            })
            .collect(),
    );
}

/// `status`.
pub fn status(project: &Project, selection: &Selection, args: &StatusArgs) -> Result<ExitCode> {
    let (rows, alerts) = deploy::status_and_alerts(project, selection, args.target)?;
    let mut out = Out::stdout();
    if args.json {
        out.line(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        print_status(&mut out, &rows);
        if let Some(alerts) = alerts {
            out.line(&format!("\nAlerts: {alerts}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `destroy`.
pub fn destroy(project: &Project, selection: &Selection, args: &DestroyArgs) -> Result<ExitCode> {
    let auto = args.auto_approve;
    let volumes = args.volumes;
    let report = deploy::destroy(
        project,
        selection,
        args.target,
        volumes,
        &mut |p: &deploy::DestroyPreview| {
            let (stack, target) = (&p.stack, p.target);
            let mut out = Out::stdout();
            if p.existing.is_empty() {
                out.line(&format!(
                    "Stack `{stack}` has nothing to destroy on target {target}."
                ));
                return Ok(true);
            }
            out.line(&format!(
                "promo-infra will destroy on stack `{stack}` (target {target}):\n"
            ));
            for id in &p.existing {
                out.change('-', &id.to_string());
            }
            if !volumes {
                out.line("\nData volumes are kept (use --volumes to remove them too).");
            }
            if auto {
                return Ok(true);
            }
            confirm(
                "Do you really want to destroy these resources?\n  promo-infra will destroy the resources listed above.",
                "destroy",
                "--auto-approve",
            )
        },
    )?;
    let mut out = Out::stdout();
    for r in &report.removed {
        out.change('-', r);
    }
    out.ok(&format!(
        "Destroy complete: {} object(s) removed{}.",
        report.removed.len(),
        if report.volumes_kept {
            "; volumes kept"
        } else {
            ""
        }
    ));
    Ok(ExitCode::SUCCESS)
}
