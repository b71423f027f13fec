//! Handlers of `k6 ...` and `control-api` (thin: the logic is in [`crate::k6`] and
//! [`crate::control`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use super::output::Out;
use crate::control;
use crate::error::{Error, Result};
use crate::k6::run::{Ending, Note, RunOptions};
use crate::k6::settings::{self, RunLabels};
use crate::k6::{self, testid};
use crate::ops::{self, Selection};
use crate::project::Project;

/// `k6` subcommands.
#[derive(Debug, Subcommand)]
pub enum K6Command {
    /// Build the custom k6 with xk6 (`xk6 build <version> --with <ext>... --output <output>`),
    /// check that `<output> version` lists every extension; skipped when nothing changed.
    #[command(
        after_help = "Examples:\n  promo-infra k6 build\n  promo-infra k6 build --force   # rebuild even if the inputs are unchanged"
    )]
    Build {
        /// Rebuild even when the recorded inputs are unchanged.
        #[arg(long)]
        force: bool,
    },
    /// Print the K6_INFLUXDB_* variables and the --out/--tag flags of a run (secrets shown as
    /// `(sensitive)`, never printed).
    #[command(
        after_help = "Examples:\n  promo-infra k6 env --testid black-friday_20261127_093000_1a2b3c4d\n  promo-infra k6 env --promo black-friday --json"
    )]
    Env {
        /// Labels of the run.
        #[command(flatten)]
        labels: LabelArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run a command with the k6 variables (secrets included) in its environment, like
    /// `op run` / `aws-vault exec`; its exit code is passed through.
    #[command(
        after_help = "Example:\n  promo-infra k6 exec --testid t1 -- k6 run --out xk6-influxdb --tag testid=t1 script.js"
    )]
    Exec {
        /// Labels of the run.
        #[command(flatten)]
        labels: LabelArgs,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Run a k6 test: unique testid, tags, variables in the environment, registered with the
    /// stack's control API (the dashboard's STOP button), Grafana annotations, summary export,
    /// Ctrl+C as a graceful stop, grade on Slack. Exits with k6's exit code (99: aborted by
    /// thresholds, 105: stopped).
    #[command(
        after_help = "Examples:\n  BASE_URL=https://preprod.shop.example promo-infra k6 run examples/checkout.js --promo black-friday --promo-type flash-sale --intensity high\n  promo-infra k6 run examples/checkout.js --require-stop            # refuse to start without a STOP button\n  promo-infra k6 run examples/checkout.js -- --vus 50 --duration 10m   # extra k6 flags after --"
    )]
    Run {
        /// The k6 script.
        script: PathBuf,
        /// Promotion name (default: the stack name); starts the testid.
        #[arg(long)]
        promo: Option<String>,
        /// Promotion type (default: `standard`).
        #[arg(long)]
        promo_type: Option<String>,
        /// Load intensity, given to the script as the INTENSITY variable.
        #[arg(long)]
        intensity: Option<String>,
        /// k6 binary (default: the manifest's k6.output when built, else `k6` in PATH).
        #[arg(long, value_name = "PATH")]
        k6: Option<PathBuf>,
        /// Directory of the local run record, one tracked run per directory (default:
        /// generated/<stack>/run).
        #[arg(long, value_name = "DIR")]
        run_dir: Option<PathBuf>,
        /// Summary file (default: <run dir>/<testid>/summary.json).
        #[arg(long, value_name = "FILE")]
        summary: Option<PathBuf>,
        /// Control API to register the run with (default: the stack's, from the manifest:
        /// http://<control_api.bind>:<control_api.port>).
        #[arg(long, value_name = "URL", env = "PROMO_INFRA_CONTROL_API")]
        control_api: Option<String>,
        /// Refuse to start k6 when the control API cannot be reached (no STOP button);
        /// without it, a warning and the test runs.
        #[arg(long)]
        require_stop: bool,
        /// Extra `k6 run` flags.
        #[arg(last = true, value_name = "K6_FLAGS")]
        k6_args: Vec<String>,
    },
}

/// Labels of a run, shared by `env` and `exec`.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// Test id (default: a new one, `<promo>_<yyyymmdd_hhmmss>_<8 hex>`).
    #[arg(long)]
    testid: Option<String>,
    /// Promotion name (default: the stack name).
    #[arg(long)]
    promo: Option<String>,
    /// Promotion type (default: `standard`).
    #[arg(long)]
    promo_type: Option<String>,
    /// Load intensity (the INTENSITY variable).
    #[arg(long)]
    intensity: Option<String>,
}

/// `control-api` flags.
#[derive(Debug, Args)]
pub struct ControlApiArgs {
    /// Address to listen on (default: control_api.bind:port from the manifest, or
    /// 127.0.0.1:5000 in the environment mode).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Seconds between SIGINT and an escalation (`{"force": true}`).
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    grace_secs: u64,
    /// Seconds a registered run stays alive without a poll from its `k6 run`.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    lease_secs: u64,
    /// Seconds a stop waits for `k6 run` to acknowledge it (then: 504 with what to do).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    ack_timeout_secs: u64,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Target {
            message: format!("cannot start the async runtime: {e}"),
            help: None,
        })
}

fn labels(l: &LabelArgs, stack: &str) -> Result<RunLabels> {
    let promo = l.promo.clone().unwrap_or_else(|| stack.to_string());
    testid::check_label("--promo", &promo)?;
    let promo_type = l.promo_type.clone().unwrap_or_else(|| "standard".into());
    testid::check_label("--promo-type", &promo_type)?;
    if let Some(i) = &l.intensity {
        testid::check_label("--intensity", i)?;
    }
    let id = match &l.testid {
        Some(t) if testid::is_testid(t) => t.clone(),
        Some(t) => {
            return Err(Error::usage(
                format!("--testid `{t}` is not a usable test id"),
                "use letters, digits, `_`, `-` and `.` (at most 120)",
            ));
        }
        None => testid::new(&promo, testid::now()?, crate::secrets::os_random_hex)?,
    };
    Ok(RunLabels {
        testid: id,
        promo,
        promo_type,
        intensity: l.intensity.clone(),
    })
}

/// `promo-infra` with the `-C`/`-f` the user gave, shell-quoted: every command line printed as a
/// hint targets the same stack.
pub fn cli_prefix(project: &Project, selection: &Selection) -> String {
    let mut words = vec!["promo-infra".to_string()];
    if project.root != std::path::Path::new(".") {
        words.push("-C".into());
        words.push(project.root.to_string_lossy().into_owned());
    }
    if let Selection::Files(files) = selection {
        for f in files {
            words.push("-f".into());
            words.push(f.to_string_lossy().into_owned());
        }
    }
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| format!("'{w}'"), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run a `k6` subcommand.
pub fn k6(project: &Project, selection: &Selection, cmd: K6Command) -> Result<ExitCode> {
    let mut out = Out::stdout();
    let cli = cli_prefix(project, selection);
    let (_, loaded) = ops::load_one(project, selection)?;
    let m = &loaded.manifest;
    match cmd {
        K6Command::Build { force } => {
            let r = runtime()?.block_on(k6::build::build(project, m, force))?;
            if r.skipped {
                out.ok(&format!(
                    "{} is up to date ({}); inputs unchanged since the last build (recorded in {}), nothing run",
                    r.output,
                    r.version_line,
                    r.state_file.display()
                ));
            } else {
                out.change('+', &format!("{} built: {}", r.output, r.command.join(" ")));
                out.ok(&format!("{} version: {}", r.output, r.version_line));
            }
        }
        K6Command::Env { labels: l, json } => {
            let values = ops::secret_values(project, m)?;
            let labels = labels(&l, &m.stack)?;
            let s = settings::settings(m, &values, &labels)?;
            let k6_bin = m.k6.as_ref().map_or("k6", |k| k.output.as_str());
            let run_cmd = format!("{k6_bin} run {} SCRIPT", s.flags().join(" "));
            if json {
                let vars: Vec<_> = s
                    .vars
                    .iter()
                    .map(|v| {
                        if v.sensitive {
                            json!({ "name": v.name, "sensitive": true })
                        } else {
                            json!({ "name": v.name, "sensitive": false, "value": v.value })
                        }
                    })
                    .collect();
                out.line(
                    &serde_json::to_string_pretty(&json!({
                        "stack": m.stack.as_str(),
                        "testid": labels.testid,
                        "influxdb_version": s.influxdb_version,
                        "vars": vars,
                        "flags": s.flags(),
                    }))
                    .unwrap_or_default(),
                );
            } else {
                out.line(&format!(
                    "# k6 settings for test {} (stack {}, InfluxDB {})",
                    labels.testid, *m.stack, s.influxdb_version
                ));
                for v in &s.vars {
                    out.line(&v.display());
                }
                out.line("# flags:");
                out.line(&s.flags().join(" "));
                out.line(
                    "# run with the secrets injected (nothing typed, nothing in shell history):",
                );
                out.line(&format!(
                    "{cli} k6 exec --testid {} -- {run_cmd}",
                    labels.testid
                ));
            }
        }
        K6Command::Exec { labels: l, command } => {
            let values = ops::secret_values(project, m)?;
            let labels = labels(&l, &m.stack)?;
            let s = settings::settings(m, &values, &labels)?;
            let code = runtime()?.block_on(k6::run::exec(&s, &command))?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        K6Command::Run {
            script,
            promo,
            promo_type,
            intensity,
            k6: k6_bin,
            run_dir,
            summary,
            control_api,
            require_stop,
            k6_args,
        } => {
            let opts = RunOptions {
                script,
                promo,
                promo_type,
                intensity,
                k6: k6_bin,
                run_dir,
                summary,
                k6_args,
                control_api,
                require_stop,
                cli,
            };
            let now = testid::now()?;
            let note = |n: Note| {
                let mut err = anstream::stderr();
                let _ = match n {
                    Note::Info(t) => {
                        std::io::Write::write_fmt(&mut err, format_args!("promo-infra: {t}\n"))
                    }
                    Note::Warn(t) => std::io::Write::write_fmt(
                        &mut err,
                        format_args!("promo-infra: warning: {t}\n"),
                    ),
                };
            };
            let r = runtime()?.block_on(k6::run::run(project, m, &opts, now, &note))?;
            let grade = r.grade.map_or_else(
                || "no grade".to_string(),
                |g| {
                    format!(
                        "grade {} ({}/100): p95 {:.0} ms, errors {:.2} %",
                        g.letter, g.score, g.measured.p95_ms, g.measured.error_pct
                    )
                },
            );
            let how = match r.ending {
                Ending::Completed => "completed".to_string(),
                Ending::Stopped => format!(
                    "stopped by hand ({})",
                    r.stopped_by.as_deref().unwrap_or("signal")
                ),
                Ending::AbortedByThresholds => "aborted by thresholds (k6 exit 99)".to_string(),
                Ending::Failed => format!("k6 failed (exit {})", r.exit_code),
            };
            out.line(&format!("test {}: {how}; {grade}", r.testid));
            out.line(&format!("summary: {}", r.summary.display()));
            out.line(&format!("dashboard: {}", r.dashboard_url));
            return Ok(ExitCode::from(u8::try_from(r.exit_code).unwrap_or(1)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Run the control API until Ctrl+C / SIGTERM.
pub fn control_api(project: &Project, files: &[PathBuf], args: ControlApiArgs) -> Result<ExitCode> {
    let timing = control::Timing {
        grace: Duration::from_secs(args.grace_secs),
        lease: Duration::from_secs(args.lease_secs.max(1)),
        ack_timeout: Duration::from_secs(args.ack_timeout_secs.max(1)),
    };
    let env_mode = files.is_empty() && std::env::var_os(control::env::STACK).is_some();
    let cfg = if env_mode {
        control::config_from_env(
            |k| std::env::var(k).ok().filter(|v| !v.is_empty()),
            args.listen.as_deref(),
            timing,
        )?
    } else {
        let selection = if files.is_empty() {
            Selection::Default
        } else {
            Selection::Files(files.to_vec())
        };
        let (_, loaded) = ops::load_one(project, &selection)?;
        let values = ops::secret_values(project, &loaded.manifest)?;
        control::config_from_manifest(&loaded.manifest, &values, args.listen.as_deref(), timing)?
    };
    let stack = cfg.stack.clone();
    let lease = cfg.lease.as_secs();
    let origin = cfg.cors_origin.clone();
    let grafana = cfg.grafana.as_ref().map(|g| g.url.clone());
    runtime()?.block_on(control::serve(
        cfg,
        move |addr| {
            let mut out = Out::stdout();
            out.ok(&format!(
                "control API of stack `{stack}` listening on http://{addr} (runs register with `k6 run`, lease {lease} s; browser origin allowed: {}; annotations: {})",
                origin.as_deref().unwrap_or("none"),
                grafana.as_deref().unwrap_or("off"),
            ));
        },
        shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}
