//! `k6 run`: a wrapped, tracked, graded run. A unique testid and tags, registered with the
//! control API (the STOP button, [`super::stop`]), annotated in Grafana and announced on Slack
//! ([`super::report`]), its summary graded ([`super::grade`]).
//!
//! Owns: the order of a run's steps, the local run record, how a run ended ([`Ending`]).
//! May not: print (progress goes to the caller's [`Note`] callback), read the environment,
//! signal anything but its own child k6.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::exec::{Signals, exit_code};
use super::grade::{self, Bands, Grade};
use super::record::{self, RunRecord};
use super::report::{Announcer, dashboard_url, marketing_dashboard};
use super::settings::{self, K6Settings, LabelRequest};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::project::Project;
use crate::secrets::SecretValues;

/// File name of a run's record, next to its summary ([`crate::runs::record`]).
pub const OUTCOME_FILE: &str = crate::runs::record::RECORD_FILE;

/// k6's exit code when thresholds failed.
pub const EXIT_THRESHOLDS: i32 = 99;
/// k6's exit code when it was stopped by a signal (Ctrl+C, SIGINT).
pub const EXIT_EXTERNAL_ABORT: i32 = 105;

/// Options of `k6 run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The k6 script.
    pub script: PathBuf,
    /// Promo, type and intensity (a `testid` here is ignored: every run gets a new one).
    pub labels: LabelRequest,
    /// Test id of the baseline run to compare this one with (`--baseline`).
    pub baseline: Option<String>,
    /// k6 binary (default: the manifest's `k6.output` when built, else `k6` in PATH).
    pub k6: Option<PathBuf>,
    /// Run directory (default: `generated/<stack>/run`).
    pub run_dir: Option<PathBuf>,
    /// Summary file (default: `<run dir>/<testid>/summary.json`).
    pub summary: Option<PathBuf>,
    /// Extra arguments for `k6 run`, before the script.
    pub k6_args: Vec<String>,
    /// Control API to register with (default: the stack's, from the manifest).
    pub control_api: Option<String>,
    /// Refuse to start k6 when no control API can be reached (no STOP button).
    pub require_stop: bool,
    /// `promo-infra` with the `-C`/`-f` the user gave, for the command lines in hints.
    pub cli: String,
}

impl RunOptions {
    /// The `promo-infra` of the hints: with the user's `-C`/`-f` when given, else plain.
    pub fn cli(&self) -> &str {
        if self.cli.is_empty() {
            "promo-infra"
        } else {
            &self.cli
        }
    }
}

/// A line of progress for the person running the command.
#[derive(Debug, Clone)]
pub enum Note {
    /// Information.
    Info(String),
    /// Something did not work but the run goes on.
    Warn(String),
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// k6 finished on its own, thresholds passed.
    Completed,
    /// Stopped by hand (control API, STOP page, or Ctrl+C).
    Stopped,
    /// k6 exited 99: thresholds failed.
    AbortedByThresholds,
    /// Any other non-zero exit.
    Failed,
}

impl Ending {
    /// The snake_case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Stopped => "stopped",
            Self::AbortedByThresholds => "aborted_by_thresholds",
            Self::Failed => "failed",
        }
    }
}

/// Result of `k6 run`.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Test id.
    pub testid: String,
    /// k6's exit code (128+signal when it died of a signal): the command's exit code.
    pub exit_code: i32,
    /// How it ended.
    pub ending: Ending,
    /// Who stopped it, when it was stopped by hand.
    pub stopped_by: Option<String>,
    /// The grade, when the summary could be read.
    pub grade: Option<Grade>,
    /// Where the summary is.
    pub summary: PathBuf,
    /// Dashboard URL for this test (and its baseline).
    pub dashboard_url: String,
    /// Test id of the baseline run (`--baseline`).
    pub baseline: Option<String>,
    /// The run's report page (`k6.report_dir`), relative to the project, when one was written.
    pub report: Option<PathBuf>,
    /// Where that page is served (`k6.report_url`), when the manifest says.
    pub report_url: Option<String>,
}

/// The k6 binary: `--k6`, else the manifest's `k6.output` when built, else `k6` in `PATH`.
fn resolve_k6(project: &Project, m: &Manifest, flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return super::which(&p.to_string_lossy()).ok_or_else(|| {
            Error::usage(
                format!("--k6 {}: no executable there", p.display()),
                "give the path of a k6 binary",
            )
        });
    }
    if let Some(k6) = &m.k6 {
        let built = project.root.join(k6.output.as_str());
        if super::which(&built.to_string_lossy()).is_some() {
            return Ok(built);
        }
    }
    super::which("k6").ok_or_else(|| {
        Error::k6("no k6 binary: the manifest's k6.output is not built and `k6` is not in PATH")
            .with_help("run `promo-infra k6 build`, or install k6, or pass --k6 PATH")
    })
}

/// The run directory, created, with no other run in progress in it (a record left by a dead
/// run is replaced, with a warning).
fn claim_run_dir(
    project: &Project,
    m: &Manifest,
    opts: &RunOptions,
    note: &(dyn Fn(Note) + Sync),
) -> Result<PathBuf> {
    let run_dir = opts
        .run_dir
        .clone()
        .unwrap_or_else(|| super::default_run_dir(project, m));
    fs_err::create_dir_all(&run_dir).map_err(|e| Error::io("cannot create", &run_dir, e))?;
    if let Some(rec) = record::read(&run_dir)? {
        match record::liveness(&rec) {
            record::Liveness::Gone => note(Note::Warn(format!(
                "replacing the record of test {} (pid {} is gone)",
                rec.testid, rec.pid
            ))),
            _ => {
                return Err(Error::usage(
                    format!(
                        "test {} is already running (k6 pid {}, recorded in {})",
                        rec.testid,
                        rec.pid,
                        run_dir.join(record::RECORD_FILE).display()
                    ),
                    "wait for it, stop it (`curl -X POST .../api/tests/stop` or the STOP page), or use another --run-dir",
                ));
            }
        }
    }
    Ok(run_dir)
}

/// The grade of the summary k6 wrote, or why there is none.
fn grade_summary(m: &Manifest, summary: &Path, note: &(dyn Fn(Note) + Sync)) -> Option<Grade> {
    let bands = marketing_dashboard(m).map_or_else(
        || Bands::from(&crate::manifest::Thresholds::default()),
        |d| Bands::from(&d.thresholds),
    );
    let Ok(text) = std::fs::read_to_string(summary) else {
        note(Note::Warn(format!(
            "k6 wrote no summary at {}",
            summary.display()
        )));
        return None;
    };
    match grade::measured_from_summary(&text, &summary.display().to_string()) {
        Ok(measured) => Some(grade::grade(measured, &bands)),
        Err(e) => {
            note(Note::Warn(e.to_string()));
            None
        }
    }
}

/// The `k6 run` command of a test: its flags, the summary export, the user's flags, the script;
/// the variables (secrets included) in its environment only.
fn k6_command(
    project: &Project,
    k6_bin: &Path,
    k6s: &K6Settings,
    summary: &Path,
    opts: &RunOptions,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(k6_bin);
    cmd.arg("run")
        .args(k6s.flags())
        .arg("--summary-export")
        .arg(summary)
        .args(&opts.k6_args)
        .arg(&opts.script)
        .current_dir(&project.root)
        // k6 gets its own process group: Ctrl+C reaches only this wrapper, which forwards it
        // once (a second SIGINT would make k6 abort without flushing).
        .process_group(0);
    for v in &k6s.vars {
        cmd.env(&v.name, &v.value);
    }
    cmd
}

/// `k6 run`: run a test with a unique testid, registered with the control API (the STOP
/// button: one SIGINT to its own k6 per stop), annotated in Grafana, graded and announced on
/// Slack. Returns k6's exit code in the outcome.
pub async fn run(
    project: &Project,
    m: &Manifest,
    values: &SecretValues,
    opts: &RunOptions,
    now: Timestamp,
    note: &(dyn Fn(Note) + Sync),
) -> Result<RunOutcome> {
    let labels = LabelRequest {
        testid: None,
        ..opts.labels.clone()
    }
    .resolve(&m.stack, *m.influxdb.version, || Ok(now))?;
    let script_path = project.root.join(&opts.script);
    if !script_path.is_file() {
        return Err(Error::usage(
            format!("k6 script `{}` not found", opts.script.display()),
            "give the path of a k6 script (relative to the project directory)",
        ));
    }
    if let Some(b) = &opts.baseline
        && !super::testid::is_testid(b)
    {
        return Err(Error::usage(
            format!("--baseline `{b}` is not a test id"),
            "give the test id of the baseline run, as `promo-infra runs list` shows it",
        ));
    }
    let baseline = opts.baseline.as_deref();
    let run_dir = claim_run_dir(project, m, opts, note)?;
    let k6_bin = resolve_k6(project, m, opts.k6.as_deref())?;
    let testid = labels.testid.clone();
    let k6s = settings::settings(m, values, &labels, opts.labels.target)?;
    let answers = super::preflight::warn_unless_influx_answers(
        &k6s.influx_url,
        opts.cli(),
        opts.labels.target,
        note,
    )
    .await;
    if let Some(b) = baseline {
        let asked = answers.then_some(opts.labels.target);
        super::baseline::check(m, values, &run_dir, b, asked, note).await?;
    }
    // The STOP button: register with the control API BEFORE k6 starts, and say so if it
    // cannot work.
    let coordinator = super::stop::stop_button(m, values, opts, &labels, now, note).await?;
    let summary = opts
        .summary
        .clone()
        .unwrap_or_else(|| run_dir.join(&testid).join("summary.json"));
    if let Some(dir) = summary.parent() {
        fs_err::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let _ = std::fs::remove_file(&summary);

    let env_file = crate::ops::env_path(project, m);
    let cli = opts.cli();
    let announcer = Announcer::new(
        m,
        values,
        &labels,
        &env_file,
        (opts.labels.target, cli),
        now,
        note,
    )?;
    let live_url = dashboard_url(m, &testid, baseline, now.as_millisecond(), None);
    note(Note::Info(format!("test {testid}: {}", k6_bin.display())));
    note(Note::Info(format!("dashboard: {live_url}")));
    announcer.start().await;

    let signals = Signals::catch()?;
    let mut child = match k6_command(project, &k6_bin, &k6s, &summary, opts).spawn() {
        Ok(c) => c,
        Err(e) => {
            if let Some(c) = &coordinator {
                let _ = c.end(127, Ending::Failed.as_str()).await;
            }
            return Err(
                Error::k6(format!("cannot start `{}`: {e}", k6_bin.display()))
                    .with_help("check the k6 binary (--k6 PATH, or `promo-infra k6 build`)"),
            );
        }
    };
    let pid = child.id().map_or(0, |p| p as i32);
    let rec = RunRecord {
        testid: testid.clone(),
        promo: labels.promo.clone(),
        promo_type: labels.promo_type.clone(),
        stack: m.stack.to_string(),
        pid,
        started_at: now.to_string(),
        proc_start_ticks: record::proc_stat(pid).map_or(0, |(_, t)| t),
        pid_ns: record::own_pid_ns(),
        wrapper_pid: std::process::id() as i32,
        summary: summary.clone(),
    };
    if let Err(e) = record::write(&run_dir, &rec) {
        note(Note::Warn(format!(
            "cannot write the run record (a second `k6 run` here will not be refused): {e}"
        )));
    }
    // The run's record, in the run directory whatever --summary says (where `runs` looks),
    // written now and completed at the end: a wrapper killed meanwhile leaves it listed.
    let record_dir = run_dir.join(&testid);
    announcer.record_start(&record_dir, &summary, &live_url, baseline);
    let (status, stopped_by) =
        super::stop::supervise(&mut child, coordinator.as_ref(), signals, note).await?;
    let end = super::testid::now()
        .unwrap_or_else(|_| Timestamp::now())
        .max(now);
    record::clear(&run_dir, &testid);
    let exit_code = exit_code(status);
    let ending = match exit_code {
        0 if stopped_by.is_none() => Ending::Completed,
        EXIT_THRESHOLDS => Ending::AbortedByThresholds,
        _ if stopped_by.is_some() => Ending::Stopped,
        _ => Ending::Failed,
    };
    if let Some(c) = &coordinator
        && let Err(e) = c.end(exit_code, ending.as_str()).await
    {
        note(Note::Warn(format!(
            "could not tell the control API at {} that the test ended: {e}",
            c.base
        )));
    }
    let outcome = RunOutcome {
        grade: grade_summary(m, &summary, note),
        testid: testid.clone(),
        exit_code,
        ending,
        stopped_by,
        summary,
        dashboard_url: dashboard_url(
            m,
            &testid,
            baseline,
            now.as_millisecond(),
            Some(end.as_millisecond() + 1000),
        ),
        baseline: opts.baseline.clone(),
        report: None,
        report_url: None,
    };
    let report = write_report(project, m, (&run_dir, opts.labels.target), &outcome, note).await;
    let report_url = report.as_ref().and_then(|_| {
        let base = m.k6.as_ref()?.report_url.as_ref()?;
        Some(format!(
            "{}/{}/report.html",
            base.trim_end_matches('/'),
            outcome.testid
        ))
    });
    let outcome = RunOutcome {
        report,
        report_url,
        ..outcome
    };
    announcer.record(&record_dir, &outcome, end);
    announcer.end(&outcome, end).await;
    Ok(outcome)
}

/// The run's report into `k6.report_dir/<testid>/` when the manifest asks for one, its numbers
/// read where the run wrote them (`target`: InfluxDB Cloud on the cloud target); a failure is
/// a warning (the run is over, its outcome stands).
async fn write_report(
    project: &Project,
    m: &Manifest,
    (run_dir, target): (&std::path::Path, crate::targets::TargetKind),
    outcome: &RunOutcome,
    note: &(dyn Fn(Note) + Sync),
) -> Option<PathBuf> {
    let dir = PathBuf::from(m.k6.as_ref()?.report_dir.as_ref()?.as_str()).join(&outcome.testid);
    let runs = crate::runs::Runs::of(project, m.clone(), run_dir.to_path_buf(), target);
    let made = async {
        let source = runs.source()?;
        runs.write_report(
            &source,
            &outcome.testid,
            outcome.baseline.clone(),
            10,
            &project.root.join(&dir),
        )
        .await
    };
    match made.await {
        Ok(report) => {
            if let Err(e) = &report.png {
                note(Note::Warn(format!(
                    "the report's screenshot was not taken: {e}"
                )));
            }
            Some(dir.join("report.html"))
        }
        Err(e) => {
            note(Note::Warn(format!("no report for this run: {e}")));
            None
        }
    }
}
