//! `k6 run` (a wrapped, tracked, graded run) and `k6 exec` (any command with the k6
//! variables injected).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::signal::unix::{SignalKind, signal};

use super::coordinator::{Coordinator, Polled};
use super::grade::{self, Bands, Colour, Grade};
use super::notify::{Annotation, Grafana, GrafanaAuth};
use super::record::{self, RunRecord};
use super::settings::{self, K6Settings, RunLabels};
use crate::compile::services::{control_api_url, grafana_url};
use crate::control::registry::{RunInfo, StopOrder};
use crate::error::{Error, Result};
use crate::manifest::{Dashboard, Manifest};
use crate::project::Project;
use crate::secrets::{self, SecretValues};

/// File name of a run's outcome record, next to its summary.
pub const OUTCOME_FILE: &str = "outcome.json";

/// k6's exit code when thresholds failed.
pub const EXIT_THRESHOLDS: i32 = 99;
/// k6's exit code when it was stopped by a signal (Ctrl+C, SIGINT).
pub const EXIT_EXTERNAL_ABORT: i32 = 105;

/// Options of `k6 run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The k6 script.
    pub script: PathBuf,
    /// Promotion name (default: the stack name).
    pub promo: Option<String>,
    /// Promotion type (default: `standard`).
    pub promo_type: Option<String>,
    /// Intensity, passed to the script as `INTENSITY`.
    pub intensity: Option<String>,
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

/// A line of progress for the person running the command.
#[derive(Debug, Clone)]
pub enum Note {
    /// Information.
    Info(String),
    /// Something did not work but the run goes on.
    Warn(String),
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Dashboard URL for this test.
    pub dashboard_url: String,
}

/// The marketing dashboard of a stack: the home dashboard if it uses the `marketing` template,
/// else the first one that does, else the first dashboard.
pub fn marketing_dashboard(m: &Manifest) -> Option<&Dashboard> {
    let home = m.grafana.home_dashboard.as_ref().map(|h| h.as_str());
    m.dashboards
        .iter()
        .find(|d| Some(d.uid.as_str()) == home && d.template.as_str() == "marketing")
        .or_else(|| {
            m.dashboards
                .iter()
                .find(|d| d.template.as_str() == "marketing")
        })
        .or_else(|| m.dashboards.first())
}

/// URL of the marketing dashboard showing `testid`.
pub fn dashboard_url(m: &Manifest, testid: &str, from_ms: i64, to: Option<i64>) -> String {
    let uid = marketing_dashboard(m).map_or("", |d| d.uid.as_str());
    let to = to.map_or_else(|| "now&refresh=5s".to_string(), |t| t.to_string());
    format!(
        "{}/d/{uid}?orgId=1&var-testid={testid}&from={from_ms}&to={to}",
        grafana_url(m)
    )
}

/// The stack's Grafana with the admin credentials from `.env`, if the password is there.
pub fn grafana_client(m: &Manifest, values: &SecretValues) -> Option<Grafana> {
    values
        .get(secrets::GRAFANA_ADMIN_PASSWORD)
        .map(|password| Grafana {
            url: grafana_url(m),
            auth: GrafanaAuth::Basic {
                user: m.grafana.admin_user.to_string(),
                password: password.to_string(),
            },
        })
}

/// The Slack webhook of the stack (environment first, then `.env`) and its variable name.
pub fn slack_webhook(m: &Manifest, values: &SecretValues) -> Option<(String, String)> {
    let slack = m.alerting.as_ref()?.slack.as_ref()?;
    let name = slack.webhook_url_env.to_string();
    let url = std::env::var(&name)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| values.get(&name).map(str::to_string))?;
    Some((name, url))
}

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
    super::which("k6").ok_or_else(|| Error::Target {
        message: "no k6 binary: the manifest's k6.output is not built and `k6` is not in PATH"
            .into(),
        help: Some("run `promo-infra k6 build`, or install k6, or pass --k6 PATH".into()),
    })
}

fn strings(locale: &str) -> &'static Strings {
    if locale == "en" { &EN } else { &FR }
}

struct Strings {
    colon: &'static str,
    started: &'static str,
    completed: &'static str,
    stopped: &'static str,
    stopped_by: &'static str,
    thresholds: &'static str,
    failed: &'static str,
    grade: &'static str,
    errors: &'static str,
    requests: &'static str,
    no_grade: &'static str,
    dashboard: &'static str,
}

const FR: Strings = Strings {
    colon: " : ",
    started: "Début du test de charge",
    completed: "Test de charge terminé",
    stopped: "Test de charge arrêté à la main",
    stopped_by: "arrêté par",
    thresholds: "Test de charge interrompu par les seuils (k6 code 99)",
    failed: "Test de charge en échec (k6 code",
    grade: "note",
    errors: "erreurs",
    requests: "requêtes",
    no_grade: "pas de note : le résumé k6 est illisible ou absent",
    dashboard: "Tableau de bord",
};
const EN: Strings = Strings {
    colon: ": ",
    started: "Load test started",
    completed: "Load test completed",
    stopped: "Load test stopped by hand",
    stopped_by: "stopped by",
    thresholds: "Load test aborted by thresholds (k6 exit 99)",
    failed: "Load test failed (k6 exit",
    grade: "grade",
    errors: "errors",
    requests: "requests",
    no_grade: "no grade: the k6 summary is missing or unreadable",
    dashboard: "Dashboard",
};

fn headline(s: &Strings, ending: Ending, code: i32) -> String {
    match ending {
        Ending::Completed => s.completed.to_string(),
        Ending::Stopped => s.stopped.to_string(),
        Ending::AbortedByThresholds => s.thresholds.to_string(),
        Ending::Failed => format!("{} {code})", s.failed),
    }
}

/// The Slack message of a finished run (no secret in it).
pub fn slack_text(locale: &str, labels: &RunLabels, outcome: &RunOutcome) -> String {
    let s = strings(locale);
    let c = s.colon;
    let dot = match outcome.grade.map(|g| g.colour) {
        Some(Colour::Green) => ":large_green_circle:",
        Some(Colour::Orange) => ":large_orange_circle:",
        Some(Colour::Red) => ":red_circle:",
        None => ":white_circle:",
    };
    let mut text = format!(
        "{dot} {}{c}*{}* ({}) — `{}`\n",
        headline(s, outcome.ending, outcome.exit_code),
        labels.promo,
        labels.promo_type,
        labels.testid
    );
    match outcome.grade {
        Some(g) => {
            let req = g
                .measured
                .requests
                .map(|n| format!(" · {}{c}{n}", s.requests))
                .unwrap_or_default();
            text.push_str(&format!(
                "{} *{}* ({}/100) · p95{c}{:.0} ms · {}{c}{:.2} %{req}\n",
                capitalise(s.grade),
                g.letter,
                g.score,
                g.measured.p95_ms,
                s.errors,
                g.measured.error_pct
            ));
        }
        None => text.push_str(&format!("{}\n", s.no_grade)),
    }
    if let Some(by) = &outcome.stopped_by {
        text.push_str(&format!("{} {by}\n", capitalise(s.stopped_by)));
    }
    text.push_str(&format!("{}{c}{}", s.dashboard, outcome.dashboard_url));
    text
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// `k6 run`: run a test with a unique testid, registered with the control API (the STOP button: one SIGINT to its own k6 per stop), annotated in
/// Grafana, graded and announced on Slack. Returns k6's exit code in the outcome.
pub async fn run(
    project: &Project,
    m: &Manifest,
    opts: &RunOptions,
    now: Timestamp,
    note: &(dyn Fn(Note) + Sync),
) -> Result<RunOutcome> {
    let values =
        secrets::read_env(&project.generated_dir(&m.stack).join(".env"))?.ok_or_else(|| {
            Error::Secrets {
                path: project.generated_dir(&m.stack).join(".env"),
                message: "does not exist".into(),
                help: Some("run `promo-infra generate` first".into()),
            }
        })?;
    let promo = opts.promo.clone().unwrap_or_else(|| m.stack.to_string());
    let promo_type = opts.promo_type.clone().unwrap_or_else(|| "standard".into());
    super::testid::check_label("--promo", &promo)?;
    super::testid::check_label("--promo-type", &promo_type)?;
    if let Some(i) = &opts.intensity {
        super::testid::check_label("--intensity", i)?;
    }
    let script_path = project.root.join(&opts.script);
    if !script_path.is_file() {
        return Err(Error::usage(
            format!("k6 script `{}` not found", opts.script.display()),
            "give the path of a k6 script (relative to the project directory)",
        ));
    }
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
    let k6_bin = resolve_k6(project, m, opts.k6.as_deref())?;
    let testid = super::testid::new(&promo, now, secrets::os_random_hex)?;
    let labels = RunLabels {
        testid: testid.clone(),
        promo: promo.clone(),
        promo_type: promo_type.clone(),
        intensity: opts.intensity.clone(),
    };
    let k6s: K6Settings = settings::settings(m, &values, &labels)?;
    // The STOP button: register with the control API BEFORE k6 starts, and say so if it
    // cannot work.
    let coordinator =
        stop_button(m, &values, opts, &testid, &promo, &promo_type, now, note).await?;
    let summary = opts
        .summary
        .clone()
        .unwrap_or_else(|| run_dir.join(&testid).join("summary.json"));
    if let Some(dir) = summary.parent() {
        fs_err::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let _ = std::fs::remove_file(&summary);

    let locale = m.locale.as_str();
    let s = strings(locale);
    let grafana = grafana_client(m, &values);
    let base_tags = vec![
        "k6".to_string(),
        "promo-infra".to_string(),
        testid.clone(),
        promo.clone(),
    ];
    let live_url = dashboard_url(m, &testid, ms(now), None);
    note(Note::Info(format!("test {testid}: {}", k6_bin.display())));
    note(Note::Info(format!("dashboard: {live_url}")));
    match &grafana {
        Some(g) => {
            let mut tags = base_tags.clone();
            tags.push("start".into());
            let a = Annotation {
                time_ms: ms(now),
                time_end_ms: None,
                tags,
                text: format!("{} {testid} ({promo}, {promo_type})", s.started),
            };
            if let Err(e) = g.annotate(&a).await {
                note(Note::Warn(format!("no start annotation: {e}")));
            }
        }
        None => note(Note::Warn(format!(
            "no Grafana annotations: {} is not in .env",
            secrets::GRAFANA_ADMIN_PASSWORD
        ))),
    }

    let mut cmd = tokio::process::Command::new(&k6_bin);
    cmd.arg("run")
        .args(k6s.flags())
        .arg("--summary-export")
        .arg(&summary)
        .args(&opts.k6_args)
        .arg(&opts.script)
        .current_dir(&project.root)
        // k6 gets its own process group: Ctrl+C reaches only this wrapper, which forwards it
        // once (a second SIGINT would make k6 abort without flushing).
        .process_group(0);
    for v in &k6s.vars {
        cmd.env(&v.name, &v.value);
    }
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| Error::Target {
        message: format!("cannot handle Ctrl+C: {e}"),
        help: None,
    })?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| Error::Target {
        message: format!("cannot handle SIGTERM: {e}"),
        help: None,
    })?;
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            if let Some(c) = &coordinator {
                let _ = c.end(127, Ending::Failed.as_str()).await;
            }
            return Err(Error::Target {
                message: format!("cannot start `{}`: {e}", k6_bin.display()),
                help: Some("check the k6 binary (--k6 PATH, or `promo-infra k6 build`)".into()),
            });
        }
    };
    let pid = child.id().map_or(0, |p| p as i32);
    let started = record::proc_stat(pid).map_or(0, |(_, t)| t);
    let rec = RunRecord {
        testid: testid.clone(),
        promo: promo.clone(),
        promo_type: promo_type.clone(),
        stack: m.stack.to_string(),
        pid,
        started_at: now.to_string(),
        proc_start_ticks: started,
        pid_ns: record::own_pid_ns(),
        wrapper_pid: std::process::id() as i32,
        summary: summary.clone(),
    };
    if let Err(e) = record::write(&run_dir, &rec) {
        note(Note::Warn(format!(
            "cannot write the run record (a second `k6 run` here will not be refused): {e}"
        )));
    }
    // Stop requests from the control API arrive on `orders`.
    let (orders_tx, mut orders) = tokio::sync::mpsc::channel::<StopOrder>(8);
    let poller = coordinator.clone().map(|mut c| {
        c.info.pid = Some(pid);
        tokio::spawn(poll_loop(c, orders_tx))
    });
    let mut stop = Stopper::new(pid);
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = sigint.recv() => {
                if let Some(msg) = stop.ctrl_c() {
                    note(Note::Info(msg));
                }
            }
            _ = sigterm.recv() => {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            Some(order) = orders.recv() => {
                note(Note::Info(stop.order(&order)));
                if let Some(c) = &coordinator {
                    ack(c, &stop.signals, note).await;
                }
            }
            () = stop.escalation() => {
                if let Some(msg) = stop.escalate() {
                    note(Note::Info(msg));
                    if let Some(c) = &coordinator {
                        ack(c, &stop.signals, note).await;
                    }
                }
            }
        }
    }
    .map_err(|e| Error::Target {
        message: format!("waiting for k6 (pid {pid}) failed: {e}"),
        help: None,
    })?;
    if let Some(p) = poller {
        p.abort();
    }
    let end = super::testid::now()
        .unwrap_or_else(|_| Timestamp::now())
        .max(now);
    record::clear(&run_dir, &testid);
    let exit_code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    let stopped_by = stop.by.clone();
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
    let bands = marketing_dashboard(m).map_or_else(
        || Bands::from(&crate::manifest::Thresholds::default()),
        |d| Bands::from(&d.thresholds),
    );
    let grade = match std::fs::read_to_string(&summary) {
        Ok(text) => match grade::measured_from_summary(&text, &summary.display().to_string()) {
            Ok(measured) => Some(grade::grade(measured, &bands)),
            Err(e) => {
                note(Note::Warn(e.to_string()));
                None
            }
        },
        Err(_) => {
            note(Note::Warn(format!(
                "k6 wrote no summary at {}",
                summary.display()
            )));
            None
        }
    };
    let outcome = RunOutcome {
        testid: testid.clone(),
        exit_code,
        ending,
        stopped_by,
        grade,
        summary,
        dashboard_url: dashboard_url(m, &testid, ms(now), Some(ms(end) + 1000)),
    };
    // The run's own record of how it ended, next to its summary (mode 0600).
    let outcome_file = outcome
        .summary
        .parent()
        .map_or_else(|| PathBuf::from(OUTCOME_FILE), |d| d.join(OUTCOME_FILE));
    let record_json = serde_json::json!({
        "testid": outcome.testid,
        "promo": promo,
        "promo_type": promo_type,
        "started_at": now.to_string(),
        "ended_at": end.to_string(),
        "ending": outcome.ending,
        "stopped_by": outcome.stopped_by,
        "exit_code": outcome.exit_code,
        "grade": outcome.grade,
        "summary": outcome.summary,
        "dashboard_url": outcome.dashboard_url,
    });
    let mut text = serde_json::to_string_pretty(&record_json).unwrap_or_default();
    text.push('\n');
    if let Err(e) = crate::writer::write_atomic(&outcome_file, text.as_bytes(), Some(0o600)) {
        note(Note::Warn(format!("no outcome record: {e}")));
    }
    if let Some(g) = &grafana {
        let mut tags = base_tags.clone();
        // The marketing dashboard shows `k6` + `aborted` annotations as "stopped tests".
        match ending {
            Ending::Completed => tags.push("completed".into()),
            Ending::Stopped => tags.extend(["aborted".into(), "stopped-by-hand".into()]),
            Ending::AbortedByThresholds => {
                tags.extend(["aborted".into(), "thresholds".into()]);
            }
            Ending::Failed => tags.push("failed".into()),
        }
        let grade_text = grade.map_or_else(String::new, |g| {
            format!(" — {} {} ({}/100)", s.grade, g.letter, g.score)
        });
        let a = Annotation {
            time_ms: ms(now),
            time_end_ms: Some(ms(end)),
            tags,
            text: format!("{} {testid}{grade_text}", headline(s, ending, exit_code)),
        };
        if let Err(e) = g.annotate(&a).await {
            note(Note::Warn(format!("no end annotation: {e}")));
        }
    }
    match slack_webhook(m, &values) {
        Some((name, url)) => {
            let text = slack_text(locale, &labels, &outcome);
            if let Err(e) = super::notify::slack(&url, &name, &text).await {
                note(Note::Warn(e.to_string()));
            }
        }
        None => {
            if m.alerting.as_ref().and_then(|a| a.slack.as_ref()).is_some() {
                note(Note::Warn(
                    "no Slack message: the webhook variable is set neither in the environment nor in .env".into(),
                ));
            }
        }
    }
    Ok(outcome)
}

/// `k6 exec`: run `argv` with the k6 variables in its environment and return its exit code.
/// The command stays in this terminal's process group (Ctrl+C reaches it directly, and this
/// wrapper ignores it); SIGTERM is forwarded.
pub async fn exec(k6s: &K6Settings, argv: &[String]) -> Result<i32> {
    let (prog, args) = argv.split_first().ok_or_else(|| {
        Error::usage(
            "no command given",
            "put the command after `--`: promo-infra k6 exec -- k6 run script.js",
        )
    })?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args);
    for v in &k6s.vars {
        cmd.env(&v.name, &v.value);
    }
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| Error::Target {
        message: format!("cannot handle Ctrl+C: {e}"),
        help: None,
    })?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| Error::Target {
        message: format!("cannot handle SIGTERM: {e}"),
        help: None,
    })?;
    let mut child = cmd.spawn().map_err(|e| {
        Error::usage(
            format!("cannot run `{prog}`: {e}"),
            "check the command after `--` (is it in PATH?)",
        )
    })?;
    let pid = child.id().map_or(0, |p| p as i32);
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = sigint.recv() => {}
            _ = sigterm.recv() => { let _ = kill(Pid::from_raw(pid), Signal::SIGTERM); }
        }
    }
    .map_err(|e| Error::Target {
        message: format!("waiting for `{prog}` failed: {e}"),
        help: None,
    })?;
    Ok(status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    }))
}

/// This host's name (information for the control API and its messages).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Register the run with the control API. `Ok(None)` (after a warning) when there is no STOP
/// button and `--require-stop` was not given; an error, before k6 starts, when it was.
#[allow(clippy::too_many_arguments)]
async fn stop_button(
    m: &Manifest,
    values: &SecretValues,
    opts: &RunOptions,
    testid: &str,
    promo: &str,
    promo_type: &str,
    now: Timestamp,
    note: &(dyn Fn(Note) + Sync),
) -> Result<Option<Coordinator>> {
    let cli = if opts.cli.is_empty() {
        "promo-infra"
    } else {
        opts.cli.as_str()
    };
    if let Some(given) = &opts.control_api {
        let ok = reqwest::Url::parse(given)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(Error::usage(
                format!("--control-api `{given}` is not an http(s) URL"),
                "e.g. --control-api http://127.0.0.1:5000 (the control API's address as seen from this host)",
            ));
        }
    }
    let url = opts
        .control_api
        .clone()
        .or_else(|| (*m.control_api.enabled).then(|| control_api_url(m)));
    let (problem, fix) = match (&url, values.get(secrets::CONTROL_API_TOKEN)) {
        (None, _) => (
            format!(
                "control_api.enabled is false in the manifest of stack `{}`",
                *m.stack
            ),
            format!(
                "enable it (control_api.enabled: true) and run `{cli} apply`, or point at a running control API with --control-api URL"
            ),
        ),
        (Some(_), None) => (
            format!(
                "{} is not in generated/{}/.env",
                secrets::CONTROL_API_TOKEN,
                *m.stack
            ),
            format!("run `{cli} generate` (it creates the token), then `{cli} apply`"),
        ),
        (Some(url), Some(token)) => {
            let info = RunInfo {
                testid: testid.to_string(),
                promo: promo.to_string(),
                promo_type: promo_type.to_string(),
                started_at: now.to_string(),
                stack: m.stack.to_string(),
                host: host_name(),
                pid: None,
            };
            let c = Coordinator::new(url, token, info).map_err(|e| Error::Target {
                message: e,
                help: None,
            })?;
            match c.register().await {
                Ok(_) => {
                    note(Note::Info(format!(
                        "STOP button ready: test {testid} registered with the control API at {url}"
                    )));
                    return Ok(Some(c));
                }
                Err(e) => (
                    format!("the control API at {url} is not reachable ({e})"),
                    format!(
                        "start it: `{cli} apply` (docker target: the control-api container), or `{cli} control-api` on this host; or give its URL with --control-api URL"
                    ),
                ),
            }
        }
    };
    if opts.require_stop {
        return Err(Error::Target {
            message: format!(
                "no STOP button for this test: {problem}; k6 was not started (--require-stop)"
            ),
            help: Some(fix),
        });
    }
    note(Note::Warn(format!(
        "no STOP button for this test: {problem}. To fix: {fix}. The test runs anyway; Ctrl+C here still stops it (--require-stop refuses to start without a STOP button)"
    )));
    Ok(None)
}

/// Long-poll the control API for stop orders until aborted; forwards each new or escalated
/// order. Connection problems are retried every second (k6 keeps running; Ctrl+C still works).
async fn poll_loop(c: Coordinator, orders: tokio::sync::mpsc::Sender<StopOrder>) {
    // Update the registration with k6's pid (information for the API).
    let _ = c.register().await;
    let mut seen = 0;
    let mut failing = false;
    loop {
        let polled = c.poll(seen).await;
        if polled.is_ok() && failing {
            failing = false;
            tracing::warn!("in contact with the control API at {} again", c.base);
        }
        match polled {
            Ok(Polled::Stop(v, order)) => {
                seen = v;
                if orders.send(order).await.is_err() {
                    return;
                }
            }
            Ok(Polled::Nothing(v)) => seen = v,
            Err(e) => {
                if !failing {
                    failing = true;
                    tracing::warn!(
                        "lost contact with the control API at {} ({e}): the STOP button cannot reach this test until it answers again (retrying every second; Ctrl+C here still works)",
                        c.base
                    );
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn ack(c: &Coordinator, signals: &[&'static str], note: &(dyn Fn(Note) + Sync)) {
    if let Err(e) = c.ack(signals).await {
        note(Note::Warn(format!(
            "could not tell the control API at {} that k6 got {}: {e}",
            c.base,
            signals.join(", ")
        )));
    }
}

/// The one place that signals k6: one SIGINT per stop, however many stop orders and Ctrl+C
/// arrive; a second SIGINT only on a second Ctrl+C (the user's explicit abort); SIGTERM and
/// SIGKILL only for a `force` order, after its grace period.
struct Stopper {
    pid: i32,
    /// Signals sent, in order.
    signals: Vec<&'static str>,
    sigint_at: Option<tokio::time::Instant>,
    /// Who asked first.
    by: Option<String>,
    /// Ctrl+C pressed while k6 is already stopping: the next one aborts.
    armed: bool,
    /// Escalation stage (0 none, 1 SIGTERM due, 2 SIGKILL due, 3 done) and when.
    stage: u8,
    due: Option<tokio::time::Instant>,
}

impl Stopper {
    fn new(pid: i32) -> Self {
        Self {
            pid,
            signals: Vec::new(),
            sigint_at: None,
            by: None,
            armed: false,
            stage: 0,
            due: None,
        }
    }

    fn send(&mut self, sig: Signal, name: &'static str) {
        let _ = kill(Pid::from_raw(self.pid), sig);
        self.signals.push(name);
    }

    fn sigint_once(&mut self) -> bool {
        if self.sigint_at.is_some() {
            return false;
        }
        self.send(Signal::SIGINT, "SIGINT");
        self.sigint_at = Some(tokio::time::Instant::now());
        true
    }

    /// A stop order from the control API.
    fn order(&mut self, order: &StopOrder) -> String {
        self.by.get_or_insert_with(|| order.by.clone());
        let sent = self.sigint_once();
        if order.force && self.stage == 0 {
            self.stage = 1;
            let from = self.sigint_at.unwrap_or_else(tokio::time::Instant::now);
            self.due = Some(from + Duration::from_secs(order.grace_s));
        }
        match (sent, order.force) {
            (true, false) => format!(
                "stop requested by {}: asked k6 to stop gracefully (SIGINT; it flushes its metrics)",
                order.by
            ),
            (true, true) => format!(
                "forced stop requested by {}: SIGINT now, SIGTERM if k6 still runs after {} s",
                order.by, order.grace_s
            ),
            (false, true) => format!(
                "forced stop requested by {}: SIGTERM if k6 still runs {} s after the SIGINT",
                order.by, order.grace_s
            ),
            (false, false) => format!(
                "stop requested by {} again: k6 is already stopping (no second SIGINT)",
                order.by
            ),
        }
    }

    fn ctrl_c(&mut self) -> Option<String> {
        self.by.get_or_insert_with(|| "Ctrl+C".to_string());
        if self.sigint_once() {
            self.armed = true;
            return Some(
                "Ctrl+C: asked k6 to stop gracefully (it flushes its metrics); press again to abort"
                    .into(),
            );
        }
        if self.armed {
            self.send(Signal::SIGINT, "SIGINT");
            return Some("Ctrl+C again: k6 aborts".into());
        }
        self.armed = true;
        Some("k6 is already stopping gracefully; press Ctrl+C again to abort it".into())
    }

    /// Resolves when an escalation step is due (never without a `force` order).
    async fn escalation(&self) {
        match self.due {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    fn escalate(&mut self) -> Option<String> {
        match self.stage {
            1 => {
                self.send(Signal::SIGTERM, "SIGTERM");
                self.stage = 2;
                self.due = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                Some("k6 still runs after the grace period: SIGTERM".into())
            }
            2 => {
                self.send(Signal::SIGKILL, "SIGKILL");
                self.stage = 3;
                self.due = None;
                Some("k6 still runs 5 s after SIGTERM: SIGKILL".into())
            }
            _ => {
                self.due = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(by: &str, force: bool) -> StopOrder {
        StopOrder {
            by: by.into(),
            at: "2026-11-27T09:30:00Z".into(),
            force,
            grace_s: 0,
        }
    }

    #[tokio::test]
    async fn one_sigint_per_stop_whatever_arrives_and_only_a_second_ctrl_c_aborts() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let mut s = Stopper::new(child.id() as i32);
        s.order(&order("STOP page, alice", false));
        s.order(&order("STOP page, bob", false));
        s.order(&order("API", false));
        assert_eq!(s.signals, ["SIGINT"]);
        assert_eq!(s.by.as_deref(), Some("STOP page, alice"), "the first asker");
        // Ctrl+C while already stopping only arms the abort; the next one aborts.
        assert!(s.ctrl_c().unwrap().contains("press Ctrl+C again"));
        assert_eq!(s.signals, ["SIGINT"]);
        assert!(s.ctrl_c().unwrap().contains("aborts"));
        assert_eq!(s.signals, ["SIGINT", "SIGINT"]);
        // A forced order escalates once: SIGTERM, then SIGKILL, then nothing more.
        s.order(&order("API", true));
        s.escalation().await;
        s.escalate();
        s.escalate();
        assert!(s.escalate().is_none());
        assert_eq!(s.signals, ["SIGINT", "SIGINT", "SIGTERM", "SIGKILL"]);
        let _ = child.kill();
        let _ = child.wait();
    }
}
