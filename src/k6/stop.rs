//! The STOP button from `k6 run`'s side: register the run with the stack's control API, poll it
//! for stop orders, and turn orders and Ctrl+C into signals to its own child k6 — one SIGINT
//! per stop, SIGTERM and SIGKILL only for a forced stop after its grace period.
//!
//! Owns: the one place that signals k6 ([`Stopper`]), the supervision loop of a run.
//! May not: print (progress goes to the [`Note`] callback), signal any process but its own
//! child, read the environment.

use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::Signal;

use super::coordinator::{Coordinator, Polled};
use super::exec::{Signals, send};
use super::run::{Note, RunOptions};
use super::settings::RunLabels;
use crate::compile::services::control_api_url;
use crate::control::protocol::{RunInfo, StopOrder};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::secrets::{self, SecretValues};

/// This host's name (information for the control API and its messages).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Register the run with the control API. `Ok(None)` (after a warning) when there is no STOP
/// button and `--require-stop` was not given; an error, before k6 starts, when it was.
pub(super) async fn stop_button(
    m: &Manifest,
    values: &SecretValues,
    opts: &RunOptions,
    labels: &RunLabels,
    now: Timestamp,
    note: &(dyn Fn(Note) + Sync),
) -> Result<Option<Coordinator>> {
    let testid = &labels.testid;
    let cli = opts.cli();
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
                promo: labels.promo.clone(),
                promo_type: labels.promo_type.clone(),
                started_at: now.to_string(),
                stack: m.stack.to_string(),
                host: host_name(),
                pid: None,
            };
            let c = Coordinator::new(url, token, info)?;
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
        return Err(Error::control(format!(
            "no STOP button for this test: {problem}; k6 was not started (--require-stop)"
        ))
        .with_help(fix));
    }
    note(Note::Warn(format!(
        "no STOP button for this test: {problem}. To fix: {fix}. The test runs anyway; Ctrl+C here still stops it (--require-stop refuses to start without a STOP button)"
    )));
    Ok(None)
}

/// Wait for k6 (pid `pid`) to exit, turning Ctrl+C, SIGTERM and stop orders from the control
/// API into signals; acknowledges every signal to the API. Returns the exit status and who
/// stopped the run, if someone did.
pub(super) async fn supervise(
    child: &mut tokio::process::Child,
    coordinator: Option<&Coordinator>,
    mut signals: Signals,
    note: &(dyn Fn(Note) + Sync),
) -> Result<(std::process::ExitStatus, Option<String>)> {
    let pid = child.id().map_or(0, |p| p as i32);
    // Stop requests from the control API arrive on `orders`.
    let (orders_tx, mut orders) = tokio::sync::mpsc::channel::<StopOrder>(8);
    let poller = coordinator.cloned().map(|mut c| {
        c.info.pid = Some(pid);
        tokio::spawn(poll_loop(c, orders_tx))
    });
    let mut stop = Stopper::new(pid);
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = signals.sigint.recv() => {
                if let Some(msg) = stop.ctrl_c() {
                    note(Note::Info(msg));
                }
            }
            _ = signals.sigterm.recv() => send(pid, Signal::SIGTERM),
            Some(order) = orders.recv() => {
                note(Note::Info(stop.order(&order)));
                if let Some(c) = coordinator {
                    ack(c, &stop.signals, note).await;
                }
            }
            () = stop.escalation() => {
                if let Some(msg) = stop.escalate() {
                    note(Note::Info(msg));
                    if let Some(c) = coordinator {
                        ack(c, &stop.signals, note).await;
                    }
                }
            }
        }
    };
    if let Some(p) = poller {
        p.abort();
    }
    let status =
        status.map_err(|e| Error::k6(format!("waiting for k6 (pid {pid}) failed: {e}")))?;
    Ok((status, stop.by))
}
/// Long-poll the control API for stop orders until aborted; forwards each new or escalated
/// order. Connection problems are retried every second (k6 keeps running; Ctrl+C still works).
/// A refused token (401) is said as such: the token changed under the run, and the STOP button
/// cannot reach it any more (retrying still: the token may be put back).
async fn poll_loop(c: Coordinator, orders: tokio::sync::mpsc::Sender<StopOrder>) {
    // Update the registration with k6's pid (information for the API).
    let _ = c.register().await;
    let mut seen = 0;
    // The failure last reported: `Some(token_refused)`.
    let mut failing: Option<bool> = None;
    loop {
        let polled = c.poll(seen).await;
        if polled.is_ok() && failing.take().is_some() {
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
                if failing != Some(e.token_refused) {
                    failing = Some(e.token_refused);
                    if e.token_refused {
                        tracing::warn!(
                            "the control API at {} refuses this run's {} (HTTP 401): the token changed after this `k6 run` started (`secrets rotate`, or the API restarted with another .env), so the STOP button cannot reach this test any more; Ctrl+C here stops k6",
                            c.base,
                            secrets::CONTROL_API_TOKEN
                        );
                    } else {
                        tracing::warn!(
                            "lost contact with the control API at {} ({e}): the STOP button cannot reach this test until it answers again (retrying every second; Ctrl+C here still works)",
                            c.base
                        );
                    }
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
pub(super) struct Stopper {
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
    pub(super) fn new(pid: i32) -> Self {
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
        send(self.pid, sig);
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
