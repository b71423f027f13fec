//! What a run tells people: the dashboard link, Grafana annotations at the start and the end,
//! the Slack message with the grade (fr/en), and the outcome record next to the summary.
//!
//! Owns: the words of those messages, the annotation tags the dashboards filter on.
//! May not: print (problems go to the caller's [`Note`] callback), run k6, read the
//! environment directly ([`crate::settings`]), put a secret in a message.

use std::path::Path;

use jiff::Timestamp;

use super::grade::Colour;
use super::run::{Ending, Note, RunOutcome};
use super::settings::RunLabels;
use crate::compile::services::grafana_url;
use crate::control::Secret;
use crate::error::Result;
use crate::grafana::{Annotation, Auth, Client};
use crate::manifest::{Dashboard, Manifest};
use crate::runs::record::{self, RunFile};
use crate::secrets::{self, SecretValues};

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

/// URL of the marketing dashboard showing `testid`, compared with `baseline` (the dashboard's
/// `baseline_testid` variable) when there is one.
pub fn dashboard_url(
    m: &Manifest,
    testid: &str,
    baseline: Option<&str>,
    from_ms: i64,
    to: Option<i64>,
) -> String {
    let uid = marketing_dashboard(m).map_or("", |d| d.uid.as_str());
    let to = to.map_or_else(|| "now&refresh=5s".to_string(), |t| t.to_string());
    let baseline = baseline.map_or_else(String::new, |b| format!("&var-baseline_testid={b}"));
    format!(
        "{}/d/{uid}?orgId=1&var-testid={testid}{baseline}&from={from_ms}&to={to}",
        grafana_url(m)
    )
}

/// Attempts of one annotation (a STOP waits for its annotation: bounded).
const ANNOTATION_ATTEMPTS: usize = 3;
/// Time limit of one attempt.
const ANNOTATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The client that annotates the stack's Grafana: with the admin credentials from `.env`, if
/// the password is there; on the cloud target Grafana Cloud with the service-account token the
/// manifest names.
pub fn grafana_client(
    m: &Manifest,
    values: &SecretValues,
    target: crate::targets::TargetKind,
) -> Result<Option<Client>> {
    let (url, auth) = if target == crate::targets::TargetKind::Cloud {
        let Some(cloud) = crate::compile::cloud::endpoints(m) else {
            return Ok(None);
        };
        let Some(token) = values.get(&cloud.grafana_token_env) else {
            return Ok(None);
        };
        (cloud.grafana_url.clone(), Auth::Token(Secret::new(token)))
    } else {
        let Some(password) = values.get(secrets::GRAFANA_ADMIN_PASSWORD) else {
            return Ok(None);
        };
        let auth = Auth::Basic {
            user: m.grafana.admin_user.to_string(),
            password: Secret::new(password),
        };
        (grafana_url(m), auth)
    };
    annotation_client(&url, auth).map(Some)
}

/// A Grafana client for annotations: one request at a time, [`ANNOTATION_ATTEMPTS`] attempts of
/// at most [`ANNOTATION_TIMEOUT`] each.
pub fn annotation_client(url: &str, auth: Auth) -> Result<Client> {
    Ok(Client::new(url, auth, 1)?
        .with_attempts(ANNOTATION_ATTEMPTS)
        .with_timeout(ANNOTATION_TIMEOUT))
}

/// The Slack webhook of the stack (environment first, then `.env`) and its variable name.
pub fn slack_webhook(m: &Manifest, values: &SecretValues) -> Option<(String, String)> {
    let slack = m.alerting.as_ref()?.slack.as_ref()?;
    let name = slack.webhook_url_env.to_string();
    let url =
        crate::settings::non_empty(&name).or_else(|| values.get(&name).map(str::to_string))?;
    Some((name, url))
}

/// Why a run sends no Slack message although the manifest configures one: the webhook's
/// variable `name` is neither exported nor in `env_file`.
fn slack_unset(name: &str, env_file: &Path) -> String {
    format!(
        "no Slack message: {name} is set neither in the environment nor in {}; add \
         `{name}=https://hooks.slack.com/...` to it or export {name}",
        env_file.display()
    )
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
    report: &'static str,
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
    report: "Rapport",
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
    report: "Report",
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
                crate::error::capitalized(s.grade),
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
        // Typed by whoever pressed STOP: `<!channel>` or `<url|text>` must stay text.
        text.push_str(&format!(
            "{} {}\n",
            crate::error::capitalized(s.stopped_by),
            slack_escape(by)
        ));
    }
    text.push_str(&format!("{}{c}{}", s.dashboard, outcome.dashboard_url));
    // The page where it is served, else where it was written on this machine.
    match (&outcome.report_url, &outcome.report) {
        (Some(url), _) => text.push_str(&format!("\n{}{c}{url}", s.report)),
        (None, Some(path)) => text.push_str(&format!("\n{}{c}{}", s.report, path.display())),
        (None, None) => {}
    }
    text
}

/// Text for Slack's `mrkdwn`: `&`, `<` and `>` are its control characters (mentions such as
/// `<!channel>`, links such as `<url|text>`), so text that is not ours must carry them as the
/// entities Slack documents.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The run's messages: Grafana annotations (when the admin password is in `.env`) and Slack
/// (when a webhook is configured).
pub(super) struct Announcer<'a> {
    m: &'a Manifest,
    values: &'a SecretValues,
    grafana: Option<Client>,
    labels: &'a RunLabels,
    /// The stack's `.env`, as shown.
    env_file: &'a Path,
    /// Where the stack runs (which credential annotates its Grafana).
    target: crate::targets::TargetKind,
    /// `promo-infra` with the user's `-C`/`-f`, for the commands a warning suggests.
    cli: &'a str,
    /// When the test started.
    pub now: Timestamp,
    note: &'a (dyn Fn(Note) + Sync),
}

impl<'a> Announcer<'a> {
    pub(super) fn new(
        m: &'a Manifest,
        values: &'a SecretValues,
        labels: &'a RunLabels,
        env_file: &'a Path,
        (target, cli): (crate::targets::TargetKind, &'a str),
        now: Timestamp,
        note: &'a (dyn Fn(Note) + Sync),
    ) -> Result<Self> {
        Ok(Self {
            m,
            values,
            grafana: grafana_client(m, values, target)?,
            labels,
            env_file,
            target,
            cli,
            now,
            note,
        })
    }

    fn strings(&self) -> &'static Strings {
        strings(self.m.locale.as_str())
    }

    /// Tags every annotation of the run carries, then `extra`.
    fn tags(&self, extra: &[&str]) -> Vec<String> {
        let l = self.labels;
        let mut tags = vec![
            "k6".to_string(),
            "promo-infra".to_string(),
            l.testid.clone(),
            l.promo.clone(),
        ];
        tags.extend(extra.iter().map(|t| t.to_string()));
        tags
    }

    async fn annotate(&self, what: &str, a: Annotation) {
        if let Some(g) = &self.grafana
            && let Err(e) = g.annotate(&a).await
        {
            (self.note)(Note::Warn(format!("no {what} annotation: {e}")));
        }
    }

    /// The start annotation (or a warning that there will be none).
    pub(super) async fn start(&self) {
        if self.grafana.is_none() {
            (self.note)(Note::Warn(super::preflight::annotations_unset(
                self.m,
                self.target,
                self.env_file,
                self.cli,
            )));
            return;
        }
        let l = self.labels;
        let a = Annotation {
            time_ms: self.now.as_millisecond(),
            time_end_ms: None,
            tags: self.tags(&["start"]),
            text: format!(
                "{} {} ({}, {})",
                self.strings().started,
                l.testid,
                l.promo,
                l.promo_type
            ),
        };
        self.annotate("start", a).await;
    }

    /// The end annotation (a region over the run) and the Slack message.
    pub(super) async fn end(&self, outcome: &RunOutcome, end: Timestamp) {
        let s = self.strings();
        // The marketing dashboard shows `k6` + `aborted` annotations as "stopped tests".
        let tags = match outcome.ending {
            Ending::Completed => self.tags(&["completed"]),
            Ending::Stopped => self.tags(&["aborted", "stopped-by-hand"]),
            Ending::AbortedByThresholds => self.tags(&["aborted", "thresholds"]),
            Ending::Failed => self.tags(&["failed"]),
        };
        let grade_text = outcome.grade.map_or_else(String::new, |g| {
            format!(" — {} {} ({}/100)", s.grade, g.letter, g.score)
        });
        let a = Annotation {
            time_ms: self.now.as_millisecond(),
            time_end_ms: Some(end.as_millisecond()),
            tags,
            text: format!(
                "{} {}{grade_text}",
                headline(s, outcome.ending, outcome.exit_code),
                outcome.testid
            ),
        };
        self.annotate("end", a).await;
        match slack_webhook(self.m, self.values) {
            Some((name, url)) => {
                let text = slack_text(self.m.locale.as_str(), self.labels, outcome);
                if let Err(e) = super::notify::slack(&url, &name, &text).await {
                    (self.note)(Note::Warn(e.to_string()));
                }
            }
            None => {
                if let Some(slack) = self.m.alerting.as_ref().and_then(|a| a.slack.as_ref()) {
                    (self.note)(Note::Warn(slack_unset(
                        slack.webhook_url_env.as_str(),
                        self.env_file,
                    )));
                }
            }
        }
    }

    /// The run's own record ([`crate::runs::record`]) in `dir` (mode 0600), as k6 starts: no
    /// outcome yet, so a run whose wrapper dies before the end is still listed (its ending
    /// unknown); [`Self::record`] completes it.
    pub(super) fn record_start(
        &self,
        dir: &Path,
        summary: &Path,
        dashboard_url: &str,
        baseline: Option<&str>,
    ) {
        let rec = self.run_file(summary, dashboard_url, baseline.map(str::to_string));
        if let Err(e) = record::write(dir, &rec) {
            (self.note)(Note::Warn(format!(
                "no run record yet: {e} (`runs list` shows this run once it ends)"
            )));
        }
    }

    /// The run's record in `dir` completed with its outcome.
    pub(super) fn record(&self, dir: &Path, outcome: &RunOutcome, end: Timestamp) {
        let rec = RunFile {
            ended_at: Some(end.to_string()),
            ending: Some(outcome.ending),
            stopped_by: outcome.stopped_by.clone(),
            exit_code: Some(outcome.exit_code),
            grade: outcome.grade,
            ..self.run_file(
                &outcome.summary,
                &outcome.dashboard_url,
                outcome.baseline.clone(),
            )
        };
        if let Err(e) = record::write(dir, &rec) {
            (self.note)(Note::Warn(format!("no outcome record: {e}")));
        }
    }

    /// The record of this run with no outcome.
    fn run_file(&self, summary: &Path, dashboard_url: &str, baseline: Option<String>) -> RunFile {
        RunFile {
            format_version: record::FORMAT_VERSION.to_string(),
            testid: self.labels.testid.clone(),
            stack: self.m.stack.to_string(),
            promo: self.labels.promo.clone(),
            promo_type: self.labels.promo_type.clone(),
            environment: self.m.environment.as_str().to_string(),
            intensity: self.labels.intensity.clone(),
            baseline,
            started_at: self.now.to_string(),
            ended_at: None,
            ending: None,
            stopped_by: None,
            exit_code: None,
            grade: None,
            summary: summary.to_path_buf(),
            dashboard_url: dashboard_url.to_string(),
        }
    }
}
