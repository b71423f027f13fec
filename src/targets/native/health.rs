//! Whether a process answers: one look at its health URL (for observe and `status`), and the
//! bounded waits of apply — for a process it just started, and for one that runs but did not
//! answer when the plan was made (planned as a start, like docker's running but unhealthy
//! container: waited for, never restarted).
//!
//! Owns: the native target's health probes and the errors when a process will not answer.
//! May not: start or signal a process, print (progress lines only), read the environment.

use std::path::Path;
use std::time::Duration;

use super::NativeTarget;
use super::proc::{PidRecord, http_client, proc_stat, tail};
use crate::desired::ProcessSpec;
use crate::error::{Error, Result};
use crate::targets::common::{self, Probe};

/// What a process's health URL answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Health {
    /// 2xx.
    Healthy,
    /// Another status.
    Http(reqwest::StatusCode),
    /// No answer (refused, or none within the client's 2 s): the error and its causes.
    NoAnswer(String),
}

impl Health {
    /// One request to `url`.
    pub(super) async fn of(client: &reqwest::Client, url: &str) -> Self {
        match client.get(url).send().await {
            Ok(r) if r.status().is_success() => Self::Healthy,
            Ok(r) => Self::Http(r.status()),
            Err(e) => Self::NoAnswer(crate::net::describe_request_error(e)),
        }
    }

    /// The HEALTH column of `status`: docker's words (`healthy`, `unhealthy`), with why.
    pub(super) fn word(&self) -> String {
        match self {
            Self::Healthy => "healthy".into(),
            Self::Http(s) => format!("unhealthy (HTTP {s})"),
            Self::NoAnswer(_) => "unhealthy (no answer)".into(),
        }
    }

    /// What it answered, for a progress line or an error.
    fn answered(&self) -> String {
        match self {
            Self::Healthy => "healthy".into(),
            Self::Http(s) => format!("HTTP {s}"),
            Self::NoAnswer(e) => e.clone(),
        }
    }
}

/// Where the running process `rec` answers: the health URL it was started with (a process
/// started from an older manifest answers at its own address), else `fallback`.
pub(super) fn health_url<'a>(rec: &'a PidRecord, fallback: &'a str) -> &'a str {
    rec.canonical
        .get("health_url")
        .and_then(|u| u.as_str())
        .unwrap_or(fallback)
}

impl NativeTarget {
    /// Wait until `p` answers `url` (2xx), at most the health timeout, its progress line
    /// showing what it answered. `ended`, asked before each look: the error when the process
    /// is gone (it will not answer); `timed_out(last answer)`: the error when it never answered.
    pub(super) async fn wait_answering(
        &self,
        p: &ProcessSpec,
        url: &str,
        mut ended: impl FnMut() -> Option<Error>,
        timed_out: impl FnOnce(&str) -> Error,
    ) -> Result<()> {
        let line = self.progress.line(&p.name);
        line.set_message("starting");
        let client = &http_client()?;
        let answered = std::cell::RefCell::new(String::from("no answer yet"));
        let answered_ref = &answered;
        let result = common::wait_healthy(
            &line,
            self.ctx.health_timeout,
            Duration::from_millis(200),
            || {
                let gone = ended();
                async move {
                    if let Some(e) = gone {
                        return Ok(Probe::Failed(e));
                    }
                    let health = Health::of(client, url).await;
                    if health == Health::Healthy {
                        return Ok(Probe::Ready);
                    }
                    let last = health.answered();
                    let waiting = format!("waiting for {url} ({last})");
                    *answered_ref.borrow_mut() = last;
                    Ok(Probe::Waiting(waiting))
                }
            },
            |_| timed_out(&answered.borrow()),
        )
        .await;
        line.finish_and_clear();
        result
    }

    /// `Start` of `p`, whose process `rec` runs but did not answer when the plan was made: it
    /// is waited for as a starting one (bounded by the health timeout), not restarted — what
    /// it is busy with is not interrupted, and the plan said "start", not "replace".
    pub(super) async fn await_running(&self, p: &ProcessSpec, rec: &PidRecord) -> Result<()> {
        let url = health_url(rec, &p.health_url);
        let log = self.logfile(&p.name);
        let ended = || {
            self.live(&p.name).is_none().then(|| {
                Error::native(format!(
                    "{} (pid {}) ended while apply waited for it to answer at {url}: {}",
                    p.name,
                    rec.pid,
                    tail(&log)
                ))
                .with_help(format!(
                    "see `promo-infra logs {} --target native`; run `promo-infra apply --target native` again to start it",
                    p.name
                ))
            })
        };
        self.wait_answering(p, url, ended, |answered| {
            not_answering(p, rec, url, self.ctx.health_timeout, answered, &log)
        })
        .await
    }
}

/// The error of a process that runs but never answered `url` within `waited`: its name, pid,
/// URL and last answer, whether it is stopped by a signal, and what to do.
fn not_answering(
    p: &ProcessSpec,
    rec: &PidRecord,
    url: &str,
    waited: Duration,
    answered: &str,
    log: &Path,
) -> Error {
    // `T`: stopped by a signal (SIGSTOP, Ctrl-Z) or `t`: by a debugger; it cannot answer
    // until it is continued.
    let stopped = proc_stat(rec.pid).is_some_and(|(state, _)| matches!(state, 'T' | 't'));
    let (why, resume) = if stopped {
        (
            "; its process is stopped (state T: SIGSTOP, Ctrl-Z or a debugger)".to_string(),
            format!("`kill -CONT {}` resumes it; otherwise ", rec.pid),
        )
    } else {
        (format!("; log: {}", tail(log)), String::new())
    };
    Error::native(format!(
        "{} (pid {}) runs but did not answer at {url} within {waited:?} ({answered}){why}",
        p.name, rec.pid
    ))
    .with_help(format!(
        "{resume}see `promo-infra logs {name} --target native`, and restart it if it does not recover: `promo-infra restart {name} --target native`; then run `promo-infra apply --target native` again (raise the wait with --health-timeout)",
        name = p.name
    ))
}
