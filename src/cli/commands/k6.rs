//! `promo-infra k6 ...`: parse, call one [`crate::k6`] entry point, print. The logic is in
//! [`crate::k6`].
//!
//! Owns: the `k6` subcommands' flags and their output (stdout; `k6 run` progress on stderr).
//! May not: decide anything the library decides (labels, defaults, which k6, secrets).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::output::Out;
use crate::error::Result;
use crate::k6::run::{Ending, Note, RunOptions, RunOutcome};
use crate::k6::settings::LabelRequest;
use crate::k6::{self, EnvReport};
use crate::ops::Selection;
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
        labels: TestLabelArgs,
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
        labels: TestLabelArgs,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Run a k6 test: unique testid, tags, variables in the environment, registered with the
    /// stack's control API (the dashboard's STOP button), Grafana annotations, summary export,
    /// Ctrl+C as a graceful stop, grade on Slack. Exits with k6's exit code (99: aborted by
    /// thresholds, 105: stopped).
    #[command(
        after_help = "Examples:\n  BASE_URL=https://preprod.shop.example promo-infra k6 run examples/checkout.js --promo black-friday --promo-type flash-sale --intensity high\n  promo-infra k6 run examples/checkout.js --require-stop            # refuse to start without a STOP button\n  promo-infra k6 run examples/checkout.js -- --vus 50 --duration 10m   # extra k6 flags after --\n  promo-infra k6 run examples/checkout.js --promo black-friday --baseline baseline_20261120_093000_1a2b3c4d"
    )]
    Run {
        /// The k6 script.
        script: PathBuf,
        /// Promo, type and intensity of the run.
        #[command(flatten)]
        labels: LabelArgs,
        /// Test id of the baseline run to compare this one with (the dashboard links carry it;
        /// `promo-infra runs compare` reads it from the run's record).
        #[arg(long, value_name = "TESTID")]
        baseline: Option<String>,
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

/// Promo, type and intensity of a run (`k6 env`, `k6 exec`, `k6 run`).
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// Promotion name (default: the stack name); starts the testid.
    #[arg(long)]
    promo: Option<String>,
    /// Promotion type (default: `standard`).
    #[arg(long)]
    promo_type: Option<String>,
    /// Load intensity, given to the script as the INTENSITY variable.
    #[arg(long)]
    intensity: Option<String>,
    /// Where the stack runs (`cloud`: write to InfluxDB Cloud with the token apply minted,
    /// annotate and link Grafana Cloud).
    #[command(flatten)]
    target: super::args::Target,
}

/// Labels of a run with its test id (`k6 env`, `k6 exec`).
#[derive(Debug, Args)]
pub struct TestLabelArgs {
    /// Test id (default: a new one, `<promo>_<yyyymmdd_hhmmss>_<8 hex>`).
    #[arg(long)]
    testid: Option<String>,
    /// Promo, type and intensity.
    #[command(flatten)]
    labels: LabelArgs,
}

impl LabelArgs {
    fn request(self, testid: Option<String>) -> LabelRequest {
        LabelRequest {
            testid,
            promo: self.promo,
            promo_type: self.promo_type,
            intensity: self.intensity,
            target: self.target.target,
        }
    }
}

impl TestLabelArgs {
    fn request(self) -> LabelRequest {
        self.labels.request(self.testid)
    }
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

/// An exit code as the process's (k6's and the command's codes are 0-255; anything else is 1).
fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Run a `k6` subcommand.
pub fn run(project: &Project, selection: &Selection, cmd: K6Command) -> Result<ExitCode> {
    let mut out = Out::stdout();
    let cli = cli_prefix(project, selection);
    match cmd {
        K6Command::Build { force } => {
            let r = k6::build_k6(project, selection, force)?;
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
        K6Command::Env { labels, json } => {
            let request = labels.request();
            let r = k6::env_report(project, selection, &request)?;
            if json {
                out.versioned_json(&env_json(&r))?;
            } else {
                print_env(&mut out, &r, &cli, request.target);
            }
        }
        K6Command::Exec { labels, command } => {
            let code = k6::exec_command(project, selection, &labels.request(), &command)?;
            return Ok(exit(code));
        }
        K6Command::Run {
            script,
            labels,
            baseline,
            k6: k6_bin,
            run_dir,
            summary,
            control_api,
            require_stop,
            k6_args,
        } => {
            let opts = RunOptions {
                script,
                labels: labels.request(None),
                baseline,
                k6: k6_bin,
                run_dir,
                summary,
                k6_args,
                control_api,
                require_stop,
                cli,
            };
            let r = k6::run_test(project, selection, &opts, &note)?;
            print_outcome(&mut out, &r);
            return Ok(exit(r.exit_code));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A line of progress of `k6 run`, on stderr (stdout is the result).
fn note(n: Note) {
    let mut err = anstream::stderr();
    let _ = match n {
        Note::Info(t) => std::io::Write::write_fmt(&mut err, format_args!("promo-infra: {t}\n")),
        Note::Warn(t) => {
            std::io::Write::write_fmt(&mut err, format_args!("promo-infra: warning: {t}\n"))
        }
    };
}

fn env_json(r: &EnvReport) -> serde_json::Value {
    let vars: Vec<_> = r
        .settings
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
    json!({
        "stack": r.stack,
        "testid": r.labels.testid,
        "influxdb_version": r.settings.influxdb_version,
        "vars": vars,
        "flags": r.settings.flags(),
    })
}

fn print_env(out: &mut Out, r: &EnvReport, cli: &str, target: crate::targets::TargetKind) {
    out.line(&format!(
        "# k6 settings for test {} (stack {}, InfluxDB {})",
        r.labels.testid, r.stack, r.settings.influxdb_version
    ));
    for v in &r.settings.vars {
        out.line(&v.display());
    }
    out.line("# flags:");
    out.line(&r.settings.flags().join(" "));
    out.line("# run with the secrets injected (nothing typed, nothing in shell history):");
    let target = match target {
        crate::targets::TargetKind::Docker => String::new(),
        other => format!(" --target {other}"),
    };
    out.line(&format!(
        "{cli} k6 exec{target} --testid {} -- {}",
        r.labels.testid, r.run_command
    ));
}

fn print_outcome(out: &mut Out, r: &RunOutcome) {
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
    if let Some(report) = &r.report {
        match &r.report_url {
            Some(url) => out.line(&format!("report: {} ({url})", report.display())),
            None => out.line(&format!("report: {}", report.display())),
        }
    }
}
