//! `runs list|show|compare|export`: after the test — the recorded runs, their numbers from
//! InfluxDB (the dashboards' formulas; InfluxDB Cloud with `--target cloud`, the default for
//! a stack applied there), a promo against its baseline, CSV.
//!
//! Owns: the subcommands' flags and exit codes.
//! May not: render output itself (that is `print::runs`), read the environment.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use crate::error::{Error, Result};
use crate::ops::Selection;
use crate::project::Project;
use crate::runs::{self, Runs};

/// `runs` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The recorded runs (`k6 run` keeps one record per run), oldest first: test id, start
    /// (UTC), duration, promo, type, environment, intensity, outcome, grade, baseline.
    #[command(after_help = "Examples:\n  promo-infra runs list\n  promo-infra runs list --json")]
    List {
        /// Machine-readable output (versioned: `format_version`).
        #[arg(long)]
        json: bool,
        /// Where the runs are.
        #[command(flatten)]
        run_dir: RunDir,
    },
    /// The numbers of one run from InfluxDB, with the dashboards' formulas: p50/p95/p99 of
    /// http_req_duration, error rate (4xx, 5xx), peak VUs, requests/s, checks, the grade, and
    /// its capacity (see `runs capacity`).
    #[command(
        after_help = "Example:\n  promo-infra runs show black-friday_20261127_093000_1a2b3c4d"
    )]
    Show {
        /// Test id.
        testid: String,
        /// Bucket width of the capacity estimate: whole seconds, minutes or hours.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        bucket: String,
        /// Machine-readable output (versioned: `format_version`).
        #[arg(long)]
        json: bool,
        /// Where the runs are.
        #[command(flatten)]
        run_dir: RunDir,
    },
    /// A promo run against its baseline: the extra p95 (ms and %), the extra errors (points),
    /// and the verdict in the stack's language.
    #[command(
        after_help = "Examples:\n  promo-infra runs compare black-friday_20261127_093000_1a2b3c4d --baseline baseline_20261120_093000_5e6f7a8b\n  promo-infra runs compare black-friday_20261127_093000_1a2b3c4d   # the baseline of its record (k6 run --baseline)"
    )]
    Compare {
        /// Test id of the promo run.
        testid: String,
        /// Test id of the baseline run (default: the one `k6 run --baseline` recorded).
        #[arg(long, value_name = "TESTID")]
        baseline: Option<String>,
        /// Machine-readable output (versioned: `format_version`).
        #[arg(long)]
        json: bool,
        /// Where the runs are.
        #[command(flatten)]
        run_dir: RunDir,
    },
    /// The breaking point of ramping runs: the VUs at which the site broke. Method: per time
    /// bucket, the most VUs against p95 of http_req_duration and the error rate; the breaking
    /// point is the VUs of the first of 2 consecutive buckets whose p95 is above the marketing
    /// dashboard's p95_warn_ms or whose error rate is above its error_warn_pct. With --apply
    /// (one TESTID), it becomes that dashboard's capacity line (`capacity_vus` in the manifest).
    #[command(
        after_help = "Examples:\n  promo-infra runs capacity ramp_20261120_093000_5e6f7a8b\n  promo-infra runs capacity ramp_20261120_093000_5e6f7a8b ramp_20261126_093000_0a1b2c3d --json\n  promo-infra runs capacity ramp_20261126_093000_0a1b2c3d --apply && promo-infra apply"
    )]
    Capacity {
        /// Test ids of the runs, compared in this order.
        #[arg(required = true)]
        testids: Vec<String>,
        /// Bucket width: whole seconds, minutes or hours.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        bucket: String,
        /// Write the breaking point into the manifest as the marketing dashboard's
        /// `capacity_vus` (refused when the run did not break).
        #[arg(long, conflicts_with = "json")]
        apply: bool,
        /// Machine-readable output (versioned: `format_version`).
        #[arg(long)]
        json: bool,
        /// Where the runs are.
        #[command(flatten)]
        run_dir: RunDir,
    },
    /// A report to share: one self-contained HTML page (grade, verdict against the baseline,
    /// capacity, charts of VUs, response time p50/p95/p99 and errors over the run; no script,
    /// no network when opened) and a PNG of it taken with headless Chromium when it is
    /// installed.
    #[command(
        after_help = "Examples:\n  promo-infra runs report black-friday_20261127_093000_1a2b3c4d\n  promo-infra runs report black-friday_20261127_093000_1a2b3c4d --baseline baseline_20261120_093000_5e6f7a8b --out reports/bf"
    )]
    Report {
        /// Test id.
        testid: String,
        /// Baseline to compare with (default: the one `k6 run --baseline` recorded, if any).
        #[arg(long, value_name = "TESTID")]
        baseline: Option<String>,
        /// Where to write report.html and report.png (default: the run's directory,
        /// generated/<stack>/run/<testid>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Bucket width of the charts: whole seconds, minutes or hours.
        #[arg(long, value_name = "DURATION", default_value = "10s")]
        bucket: String,
        /// Where the runs are.
        #[command(flatten)]
        run_dir: RunDir,
    },
    /// CSV on stdout: one row per recorded run, or with TESTID one row per time bucket of that
    /// run.
    #[command(
        after_help = "Examples:\n  promo-infra runs export --csv > runs.csv\n  promo-infra runs export black-friday_20261127_093000_1a2b3c4d --csv --bucket 10s > run.csv"
    )]
    Export {
        /// One run, by time bucket (default: every recorded run, one row each).
        testid: Option<String>,
        /// CSV (the only format; required so a later format cannot change what scripts get).
        #[arg(long, required = true)]
        csv: bool,
        /// Bucket width with TESTID: whole seconds, minutes or hours (10s, 1m, 1h).
        #[arg(long, value_name = "DURATION")]
        bucket: Option<String>,
        /// Where the runs are.
        #[command(flatten)]
        run_dir: RunDir,
    },
}

/// `--run-dir` and `--target`: where the recorded runs are, and where their numbers are read.
#[derive(Debug, clap::Args)]
pub struct RunDir {
    /// Run directory (default: generated/<stack>/run).
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Where the stack runs, so where the numbers are read: its own InfluxDB (docker, native)
    /// or InfluxDB Cloud (cloud) [default: the one target the stack was applied to, else
    /// docker].
    #[arg(long, value_parser = super::args::target_parser())]
    target: Option<crate::targets::TargetKind>,
}

impl RunDir {
    /// The recorded runs of the stack `selection` names, in this directory, on this target.
    fn open(self, project: &Project, selection: &Selection) -> Result<Runs> {
        Runs::open(project, selection, self.run_dir, self.target)
    }
}

/// Run a `runs` subcommand.
pub fn run(globals: &Globals, cmd: Command) -> Result<ExitCode> {
    let (project, selection) = (globals.project(), globals.selection(false));
    let mut out = Out::stdout();
    match cmd {
        Command::List { json, run_dir } => {
            let listing = run_dir.open(&project, &selection)?.list()?;
            if json {
                print::runs::list_json(&mut out, &listing)?;
            } else {
                print::runs::list(&mut out, &listing);
            }
        }
        Command::Show {
            testid,
            bucket,
            json,
            run_dir,
        } => {
            runs::check_testid("TESTID", &testid)?;
            let every = runs::parse_bucket(&bucket)?;
            let r = run_dir.open(&project, &selection)?;
            let stats = r.show(&testid, every)?;
            if json {
                out.versioned_json(&print::runs::StatsJson::new(&stats))?;
            } else {
                print::runs::show(&mut out, &stats, &r.bands());
            }
        }
        Command::Compare {
            testid,
            baseline,
            json,
            run_dir,
        } => {
            let r = run_dir.open(&project, &selection)?;
            let c = r.compare(&testid, baseline.as_deref())?;
            if json {
                print::runs::compare_json(&mut out, &c)?;
            } else {
                print::runs::compare(&mut out, &c, &r.locale());
            }
        }
        Command::Capacity {
            testids,
            bucket,
            apply,
            json,
            run_dir,
        } => {
            for id in &testids {
                runs::check_testid("TESTID", id)?;
            }
            let every = runs::parse_bucket(&bucket)?;
            if apply && testids.len() != 1 {
                return Err(Error::usage(
                    format!(
                        "--apply takes one TESTID ({} given): the run whose breaking point the dashboard shows",
                        testids.len()
                    ),
                    "compare without --apply, then: promo-infra runs capacity TESTID --apply",
                ));
            }
            let r = run_dir.open(&project, &selection)?;
            let estimates = r.capacity(&testids, every)?;
            if json {
                print::capacity::json(&mut out, &estimates)?;
            } else {
                print::capacity::table(&mut out, &estimates);
            }
            if apply {
                let applied = capacity_apply(globals, &estimates[0])?;
                print::capacity::applied(&mut out, &applied);
            }
        }
        Command::Report {
            testid,
            baseline,
            out: dir,
            bucket,
            run_dir,
        } => {
            runs::check_testid("TESTID", &testid)?;
            let every = runs::parse_bucket(&bucket)?;
            let r = run_dir.open(&project, &selection)?;
            let dir = dir.map(|d| project.root.join(d));
            let report = r.report(&testid, baseline.as_deref(), every, dir)?;
            print::capacity::report(&mut out, &project.root, &report);
        }
        Command::Export {
            testid,
            csv: _,
            bucket,
            run_dir,
        } => match testid {
            Some(id) => {
                runs::check_testid("TESTID", &id)?;
                let every = runs::parse_bucket(bucket.as_deref().unwrap_or("10s"))?;
                let rows = run_dir
                    .open(&project, &selection)?
                    .export_buckets(&id, every)?;
                print::runs::buckets_csv(&mut out, &rows)?;
            }
            None => {
                if let Some(b) = bucket {
                    return Err(Error::usage(
                        format!("--bucket {b} needs a TESTID: buckets are of one run"),
                        "promo-infra runs export TESTID --csv --bucket 10s",
                    ));
                }
                let export = run_dir.open(&project, &selection)?.export_runs()?;
                print::runs::runs_csv(&mut out, &export.rows, export.running.as_deref())?;
                // On stderr: stdout is the CSV.
                let mut err = Out::stderr();
                for p in &export.problems {
                    let help =
                        miette::Diagnostic::help(p).map_or_else(String::new, |h| format!("; {h}"));
                    err.warn(&format!("{p} (left out of the export{help})"));
                }
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// `--apply`: the breaking point into the manifest; refused (nothing written) when the run did
/// not break.
fn capacity_apply(globals: &Globals, e: &runs::capacity::Estimate) -> Result<runs::apply::Applied> {
    let runs::capacity::Capacity::Reached { vus, .. } = e.capacity else {
        return Err(Error::usage(
            format!(
                "test {} did not break: there is no capacity to write",
                e.testid
            ),
            "ramp further (more VUs) until p95 or the error rate stays above the warn thresholds, then run `runs capacity` on that run; nothing was changed",
        ));
    };
    let project = globals.project();
    let (_, loaded) = crate::ops::load_one(&project, &globals.selection(false))?;
    runs::apply::apply(&project.root, &loaded, vus.round() as u32)
}
