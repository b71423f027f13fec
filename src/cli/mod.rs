//! The command line: clap definitions, then one thin handler per command over [`crate::ops`].

mod commands;
mod deploy;
mod output;

pub use commands::control_api::ControlApiArgs;
pub use commands::k6::{K6Command, LabelArgs, TestLabelArgs};

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::ops::{self, Selection};
use crate::project::Project;
use output::Out;

const EXAMPLES: &str = "\
Examples:
  promo-infra validate                          # check every stacks/*.yaml
  promo-infra generate                          # compile every stack into generated/<stack>/
  promo-infra generate --check                  # CI: fail with a diff if generated/ is stale
  promo-infra -f stacks/promo-v1.yaml generate  # one stack only
  promo-infra secrets list                      # names and where they are used, never values
  promo-infra dashboards render promo-marketing # the final JSON of one dashboard
  promo-infra backup run                        # back up InfluxDB into backups/<stack>/<UTC time>/
  promo-infra backup rotate --dry-run           # what rotation would keep and remove, and why
  promo-infra schema -o stacks/stack.schema.json
  promo-infra plan --detailed-exitcode          # docker: what apply would change (0 none, 2 changes)
  promo-infra apply                             # bring the stack up on the Docker engine
  promo-infra status                            # per service: state, health, version, URL, uptime
  promo-infra destroy                           # containers and network; data volumes kept
  promo-infra k6 run examples/checkout.js --promo black-friday
  promo-infra control-api -f stacks/promo.yaml
  promo-infra completions bash > /etc/bash_completion.d/promo-infra";

/// Infrastructure-as-code for the monitoring stack around k6 load tests: one manifest compiled
/// into reviewable files (compose, Grafana provisioning, dashboards, cron/systemd, .env).
#[derive(Debug, Parser)]
#[command(name = "promo-infra", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// Stack manifest(s). Default: every stacks/*.yaml for validate/generate,
    /// stacks/promo.yaml for commands that act on one stack.
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project directory (holding stacks/, dashboards-src/, generated/).
    #[arg(
        short = 'C',
        long = "project-dir",
        global = true,
        default_value = ".",
        value_name = "DIR"
    )]
    pub project_dir: PathBuf,
    /// More logs on stderr (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No colours (also: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests: syntax, types, unknown keys, and every semantic rule. Writes nothing.
    #[command(after_help = "Example:\n  promo-infra validate -f stacks/promo.yaml")]
    Validate,
    /// Compile manifests into generated/<stack>/ (and create or complete .env).
    #[command(
        after_help = "Examples:\n  promo-infra generate\n  promo-infra generate --check   # exit 1 with a unified diff when stale\n  promo-infra generate --force   # overwrite hand-edited files"
    )]
    Generate {
        /// Write nothing; print a unified diff of every stale file and exit 1 if any.
        #[arg(long)]
        check: bool,
        /// Overwrite generated files that were edited by hand.
        #[arg(long, conflicts_with = "check")]
        force: bool,
    },
    /// Secrets of a stack (names only; values are never printed).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Dashboards of a stack.
    #[command(subcommand)]
    Dashboards(DashboardsCommand),
    /// Backups of the stack's InfluxDB: run, list, rotate, restore.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Print (or write with -o, or check with --check) the manifest's JSON Schema.
    #[command(
        after_help = "Examples:\n  promo-infra schema > stack.schema.json\n  promo-infra schema -o stacks/stack.schema.json --check"
    )]
    Schema {
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// With -o: exit 1 if the file is not up to date (writes nothing).
        #[arg(long, requires = "output")]
        check: bool,
    },
    /// Show what `apply` would change on the target (terraform-style), changing nothing.
    #[command(after_help = deploy::PLAN_EXAMPLES)]
    Plan(deploy::PlanArgs),
    /// Bring the stack to the manifest on the target: plan, confirm, execute.
    #[command(after_help = deploy::APPLY_EXAMPLES)]
    Apply(deploy::ApplyArgs),
    /// Per service: state, health, image and version, URL, uptime.
    #[command(after_help = deploy::STATUS_EXAMPLES)]
    Status(deploy::StatusArgs),
    /// Remove the stack's containers and network (data volumes only with --volumes).
    #[command(after_help = deploy::DESTROY_EXAMPLES)]
    Destroy(deploy::DestroyArgs),
    /// k6: build the custom binary, print or inject a run's variables, run a tracked test.
    #[command(subcommand)]
    K6(K6Command),
    /// The emergency-stop HTTP API (health, current test, stop; STOP page for people).
    #[command(
        after_help = "Examples:\n  promo-infra control-api -f stacks/promo.yaml            # on the host, from the manifest and .env\n  promo-infra control-api --listen 0.0.0.0:5000           # in the container (settings from the environment)\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:5000/api/tests/current"
    )]
    ControlApi(ControlApiArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  promo-infra completions zsh > ~/.zfunc/_promo-infra")]
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

/// `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
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
    Rotate(deploy::RotateArgs),
}

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up the running InfluxDB into <backup.dir>/<stack>/<UTC time>/ (1.x: `influxd backup
    /// -portable`, 2.x: `influx backup`), with a manifest of every file's size and sha256.
    #[command(
        after_help = "Examples:\n  promo-infra backup run                        # the stack on the docker target (influxd runs in its container)\n  promo-infra backup run --target native -f stacks/promo-v1.yaml"
    )]
    Run {
        /// Where the stack's InfluxDB runs: docker (1.x: `influxd backup` runs inside the
        /// container through the Engine API) or native (the tools run on this host).
        #[arg(long, value_parser = target_parser(), default_value_t = crate::targets::TargetKind::Docker)]
        target: crate::targets::TargetKind,
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
    },
    /// Verify every checksum of a backup, then restore it into the running InfluxDB.
    #[command(
        after_help = "Examples:\n  promo-infra backup restore 20261124T030000Z\n  promo-infra backup restore 20261124T030000Z --as k6_restored   # beside the live database"
    )]
    Restore {
        /// Backup id (see `backup list`).
        id: String,
        /// Restore into this database (1.x) / bucket (2.x) instead of the stack's; it must not
        /// exist.
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// Where the stack's InfluxDB runs: docker (1.x: `influxd restore` runs inside the
        /// container through the Engine API) or native (the tools run on this host).
        #[arg(long, value_parser = target_parser(), default_value_t = crate::targets::TargetKind::Docker)]
        target: crate::targets::TargetKind,
    },
}

/// `dashboards` subcommands.
#[derive(Debug, Subcommand)]
pub enum DashboardsCommand {
    /// Print the final JSON of one dashboard.
    #[command(
        after_help = "Example:\n  promo-infra dashboards render promo-marketing -f stacks/promo.yaml"
    )]
    Render {
        /// Dashboard uid.
        uid: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = !cli.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if !color {
        anstream::ColorChoice::Never.write_global();
    }
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color && terminal)
                .unicode(color && terminal)
                .terminal_links(false)
                .wrap_lines(terminal)
                .width(110)
                .build(),
        )
    }));
    init_logs(cli.verbose, color && terminal);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut err = anstream::stderr();
            let _ = writeln!(err, "{:?}", miette::Report::new(e));
            ExitCode::from(1)
        }
    }
}

fn init_logs(verbose: u8, ansi: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "promo_infra=debug,info",
        _ => "trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time()
        .try_init();
}

fn selection(files: &[PathBuf], all_by_default: bool) -> Selection {
    if !files.is_empty() {
        Selection::Files(files.to_vec())
    } else if all_by_default {
        Selection::AllStacks
    } else {
        Selection::Default
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let project = Project::new(&cli.project_dir);
    let mut out = Out::stdout();
    match cli.command {
        Command::Validate => {
            let (_, loaded) = ops::load_all(&project, &selection(&cli.files, true))?;
            for l in loaded {
                out.ok(&format!("{} is valid (stack `{}`)", l.rel_path, l.stack()));
            }
        }
        Command::Generate { check: true, .. } => {
            let results = ops::check(&project, &selection(&cli.files, true))?;
            let mut count = 0;
            for (dir, stale) in &results {
                if stale.is_empty() {
                    out.ok(&format!("{dir} is up to date"));
                }
                for s in stale {
                    out.diff(&s.diff);
                    count += 1;
                }
            }
            if count > 0 {
                return Err(Error::Stale { count });
            }
        }
        Command::Generate { force, .. } => {
            let results = ops::generate(&project, &selection(&cli.files, true), force)?;
            let mut kept = Vec::new();
            for g in &results {
                for f in &g.report.created {
                    out.change('+', &format!("{}/{f}", g.dir));
                }
                for f in &g.report.written {
                    out.change('~', &format!("{}/{f}", g.dir));
                }
                for f in &g.report.removed {
                    out.change('-', &format!("{}/{f}", g.dir));
                }
                if g.env.created {
                    out.change(
                        '+',
                        &format!(
                            "{}/.env (0600, {} secrets generated)",
                            g.dir,
                            g.env.added.len()
                        ),
                    );
                } else if !g.env.added.is_empty() {
                    out.change(
                        '~',
                        &format!("{}/.env (added {})", g.dir, g.env.added.join(", ")),
                    );
                }
                for name in &g.env.missing_external {
                    out.warn(&format!(
                        "{name} is not set: add `{name}=...` to {}/.env or export it (required by `environment: prod`; without it a preprod stack's alerts have nowhere to go)",
                        g.dir
                    ));
                }
                out.ok(&format!(
                    "{}: {} created, {} updated, {} unchanged, {} removed",
                    g.dir,
                    g.report.created.len(),
                    g.report.written.len(),
                    g.report.unchanged,
                    g.report.removed.len()
                ));
                kept.extend(g.report.kept.iter().map(|f| format!("{}/{f}", g.dir)));
            }
            if !kept.is_empty() {
                return Err(Error::HandEdited { paths: kept });
            }
        }
        Command::Secrets(SecretsCommand::List { json }) => {
            let (_, loaded) = ops::load_one(&project, &selection(&cli.files, false))?;
            let rows = ops::secrets_list(&project, &loaded)?;
            if json {
                out.line(&serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else {
                out.table(
                    &["NAME", "KIND", "USED BY", "STATUS"],
                    rows.iter()
                        .map(|r| {
                            vec![
                                r.name.clone(),
                                r.kind.to_string(),
                                r.used_by.join(", "),
                                r.status.to_string(),
                            ]
                        })
                        .collect(),
                );
            }
        }
        Command::Secrets(SecretsCommand::Rotate(args)) => {
            return deploy::rotate(&project, &selection(&cli.files, false), &args);
        }
        Command::Dashboards(DashboardsCommand::Render { uid }) => {
            let (templates, loaded) = ops::load_one(&project, &selection(&cli.files, false))?;
            out.raw(&ops::render_dashboard(&loaded, &templates, &uid)?);
        }
        Command::Backup(cmd) => {
            let (templates, loaded) = ops::load_one(&project, &selection(&cli.files, false))?;
            backup(&mut out, &project, &templates, &loaded, cmd)?;
        }
        Command::Schema { output: None, .. } => out.raw(&ops::schema()),
        Command::Schema {
            output: Some(path),
            check,
        } => {
            let path = if path.is_absolute() {
                path
            } else {
                project.root.join(path)
            };
            let fresh = ops::schema_file(&path, check)?;
            match (fresh, check) {
                (true, _) => out.ok(&format!("{} is up to date", path.display())),
                (false, false) => out.change('~', &path.display().to_string()),
                (false, true) => {
                    return Err(Error::usage(
                        format!("{} is out of date", path.display()),
                        "run `promo-infra schema -o <file>` and commit it",
                    ));
                }
            }
        }
        Command::Plan(args) => return deploy::plan(&project, &selection(&cli.files, false), &args),
        Command::Apply(args) => {
            return deploy::apply(&project, &selection(&cli.files, false), &args);
        }
        Command::Status(args) => {
            return deploy::status(&project, &selection(&cli.files, false), &args);
        }
        Command::Destroy(args) => {
            return deploy::destroy(&project, &selection(&cli.files, false), &args);
        }
        Command::K6(cmd) => {
            return commands::k6::run(&project, &selection(&cli.files, false), cmd);
        }
        Command::ControlApi(args) => return commands::control_api::run(&project, &cli.files, args),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "promo-infra", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `backup run` / `restore` progress: one `backup: <step>` line per network step, on stderr.
fn backup_progress() -> crate::backup::Progress {
    crate::backup::Progress::new(|step| eprintln!("backup: {step}"))
}

fn backup(
    out: &mut Out,
    project: &Project,
    templates: &crate::compile::Templates,
    loaded: &crate::manifest::Loaded,
    cmd: BackupCommand,
) -> Result<()> {
    match cmd {
        BackupCommand::Run { target } => {
            let r = ops::backup_run(project, loaded, target, backup_progress())?;
            out.line(&format!("$ {}", r.command));
            out.change(
                '+',
                &format!(
                    "{} ({} files, {}, database {}, InfluxDB {})",
                    r.path,
                    r.files,
                    human_size(r.size),
                    r.database,
                    r.server_version
                ),
            );
            out.ok(&format!("backup {} complete", r.id));
        }
        BackupCommand::List { json } => {
            let entries = ops::backup_list(project, loaded)?;
            if json {
                out.line(&serde_json::to_string_pretty(&entries).unwrap_or_default());
            } else if entries.is_empty() {
                out.line("no backups yet (run `promo-infra backup run`)");
            } else {
                out.table(
                    &["ID", "TIME (UTC)", "SIZE", "STATUS", "DETAIL"],
                    entries
                        .iter()
                        .map(|e| {
                            vec![
                                e.id.clone(),
                                e.time.clone().unwrap_or_else(|| "-".into()),
                                human_size(e.size),
                                e.status.as_str().to_string(),
                                e.detail.clone().unwrap_or_default(),
                            ]
                        })
                        .collect(),
                );
            }
        }
        BackupCommand::Rotate { dry_run, json } => {
            let r = ops::backup_rotate(project, loaded, dry_run)?;
            if json {
                out.line(&serde_json::to_string_pretty(&r).unwrap_or_default());
                return Ok(());
            }
            let p = r.policy;
            out.line(&format!(
                "policy: keep last {}, daily {}, weekly {}, monthly {} (UTC days, ISO weeks, months)",
                p.last, p.daily, p.weekly, p.monthly
            ));
            let verb = if dry_run { "would remove" } else { "removed" };
            let kept: Vec<_> = r.with_action("keep").collect();
            let removed: Vec<_> = r.with_action("remove").collect();
            let left: Vec<_> = r.with_action("leave").collect();
            out.line(&format!("keep {} backup(s):", kept.len()));
            for d in &kept {
                out.change('=', &format!("{}  {}", d.id, d.reasons.join(", ")));
            }
            out.line(&format!("{verb} {} backup(s):", removed.len()));
            for d in &removed {
                out.change('-', &format!("{}  {}", d.id, d.reasons.join(", ")));
            }
            if !left.is_empty() {
                out.line(&format!("left alone {} entr(y/ies):", left.len()));
                for d in &left {
                    out.change('!', &format!("{}  {}", d.id, d.reasons.join(", ")));
                }
            }
            if dry_run {
                out.ok("dry run: nothing was removed");
            } else {
                out.ok(&format!("{} kept, {} removed", kept.len(), removed.len()));
            }
        }
        BackupCommand::Restore {
            id,
            as_name,
            target,
        } => {
            let r = ops::backup_restore(
                project,
                templates,
                loaded,
                &id,
                as_name.as_deref(),
                target,
                backup_progress(),
            )?;
            out.ok(&format!(
                "backup {}: {} files verified (sha256)",
                r.id, r.files
            ));
            out.line(&format!("$ {}", r.command));
            match &r.measurements {
                Some(m) => out.ok(&format!(
                    "restored into `{}` ({} measurement(s): {})",
                    r.database,
                    m.len(),
                    m.join(", ")
                )),
                None => out.ok(&format!("restored into `{}`", r.database)),
            }
            if !r.privileges.is_empty() {
                out.ok(&format!(
                    "privileges restored on `{}`: {}",
                    r.database,
                    r.privileges.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// `--target`: the names of [`crate::targets::TargetKind::ALL`], parsed by its `FromStr`.
pub(crate) fn target_parser()
-> impl clap::builder::TypedValueParser<Value = crate::targets::TargetKind> {
    use crate::targets::TargetKind;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(
        TargetKind::ALL
            .map(|k| clap::builder::PossibleValue::new(k.as_str()).help(k.description())),
    )
    .try_map(|s| s.parse::<TargetKind>().map_err(|e| e.to_string()))
}
