//! Running steps concurrently: each once the steps it depends on are done ([`as_ready`]), or a
//! wave all at once ([`all_of`]); a failed step stops only its dependents, and a requested
//! [`Interrupt`] lets the steps in flight finish and starts no other.
//!
//! Owns: what a run of steps came to ([`Ran`]) and its result when nobody asked to stop
//! ([`Ran::into_result`]). May not: print (failures and the steps they kept from running are
//! logged through `tracing`).

use futures_util::StreamExt as _;

use super::Interrupt;
use crate::desired::{Desired, ResourceId};
use crate::error::{Error, Result};
use crate::plan::Step;

/// Why a step was not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Why {
    /// It depends on this step, which failed or was not started.
    After(ResourceId),
    /// A stop was asked for, or an earlier wave failed: nothing more starts.
    Stopped,
}

/// What a run of steps came to.
#[derive(Debug)]
pub(super) struct Ran<D> {
    /// What each step done returned, in the order they finished.
    pub(super) done: Vec<D>,
    /// The steps that failed, in the order they failed.
    pub(super) failed: Vec<(ResourceId, Error)>,
    /// The steps not started, and why.
    pub(super) not_run: Vec<(ResourceId, Why)>,
}

impl<D> Default for Ran<D> {
    fn default() -> Self {
        Self {
            done: Vec::new(),
            failed: Vec::new(),
            not_run: Vec::new(),
        }
    }
}

impl<D> Ran<D> {
    /// Add what a later run of steps came to.
    pub(super) fn extend(&mut self, later: Self) {
        self.done.extend(later.done);
        self.failed.extend(later.failed);
        self.not_run.extend(later.not_run);
    }

    /// `steps` are not started: a step failed before them, or a stop was asked for.
    pub(super) fn skip(&mut self, steps: &[Step]) {
        self.not_run
            .extend(steps.iter().map(|s| (s.id.clone(), Why::Stopped)));
    }

    /// What was done; or, when a step failed, the first failure's error (the later ones, and
    /// the steps their failures kept from running, are logged).
    pub(super) fn into_result(self) -> Result<Vec<D>> {
        let failed_ids: Vec<ResourceId> = self.failed.iter().map(|(id, _)| id.clone()).collect();
        let mut failed = self.failed.into_iter();
        let Some((first, error)) = failed.next() else {
            return Ok(self.done);
        };
        for (id, e) in failed {
            tracing::error!("{id}: {e}");
        }
        for (id, why) in &self.not_run {
            if let Why::After(on) = why {
                let why = if failed_ids.contains(on) {
                    "failed"
                } else {
                    "was not done"
                };
                tracing::warn!("{id}: not done: it depends on {on}, which {why}");
            }
        }
        tracing::debug!("{first} failed; {} other step(s) done", self.done.len());
        Err(error)
    }
}

/// `run(step)`, counted in flight by `interrupt` while it runs; `None` (not started) once a stop
/// was asked for.
fn started<F, Fut, D>(
    interrupt: &Interrupt,
    run: &F,
    step: &Step,
) -> Option<impl std::future::Future<Output = (ResourceId, Result<D>)> + use<F, Fut, D>>
where
    F: Fn(&Step) -> Fut,
    Fut: std::future::Future<Output = Result<D>>,
{
    let in_flight = interrupt.start()?;
    let (id, work) = (step.id.clone(), run(step));
    Some(async move {
        let result = work.await;
        drop(in_flight);
        (id, result)
    })
}

/// Run `steps` concurrently, each once every step of `steps` it depends on (through
/// `depends_on`) has run: a dependent starts as soon as its own dependencies are ready, not
/// when every step started with them is. A failed step does not stop the others, as in
/// terraform: the steps already running finish (a step is never dropped half-way: a container
/// created but not started, a bucket without its mapping), the steps that depend on it,
/// directly or not, are not started, and every independent step still runs. Once `interrupt`
/// is requested, the steps running finish and no other starts. Returns what `run` returned
/// for each step done, in the order they finished, the failures, and the steps not started.
pub(super) async fn as_ready<F, Fut, D>(
    steps: &[Step],
    desired: &Desired,
    interrupt: &Interrupt,
    run: F,
) -> Ran<D>
where
    F: Fn(&Step) -> Fut,
    Fut: std::future::Future<Output = Result<D>>,
    D: AsRef<ResourceId>,
{
    let ids: Vec<&ResourceId> = steps.iter().map(|s| &s.id).collect();
    let deps = |s: &Step| -> Vec<ResourceId> {
        desired
            .resources
            .get(&s.id)
            .map(|r| r.depends_on.clone())
            .unwrap_or_default()
    };
    let mut pending: Vec<&Step> = steps.iter().collect();
    let mut ran = Ran::default();
    let mut ids_done: Vec<ResourceId> = Vec::new();
    let mut running = futures_util::stream::FuturesUnordered::new();
    loop {
        loop {
            let blocker = |s: &Step| {
                deps(s).into_iter().find(|d| {
                    ran.not_run.iter().any(|(n, _)| n == d)
                        || ran.failed.iter().any(|(f, _)| f == d)
                })
            };
            let stuck: Vec<(ResourceId, Why)> = pending
                .iter()
                .filter_map(|s| blocker(s).map(|b| (s.id.clone(), Why::After(b))))
                .collect();
            if stuck.is_empty() {
                break;
            }
            pending.retain(|s| !stuck.iter().any(|(id, _)| id == &s.id));
            ran.not_run.extend(stuck);
        }
        let (mut ready, blocked): (Vec<&Step>, Vec<&Step>) = pending.into_iter().partition(|s| {
            deps(s)
                .iter()
                .all(|d| ids_done.contains(d) || !ids.contains(&d))
        });
        pending = blocked;
        if ready.is_empty() && running.is_empty() && !pending.is_empty() {
            // A cycle cannot come from compile; run the rest rather than hang.
            ready = std::mem::take(&mut pending);
        }
        for step in ready {
            match started(interrupt, &run, step) {
                Some(work) => running.push(work),
                None => ran.not_run.push((step.id.clone(), Why::Stopped)),
            }
        }
        match running.next().await {
            Some((_, Ok(finished))) => {
                ids_done.push(finished.as_ref().clone());
                ran.done.push(finished);
            }
            // A step that stopped for the interrupt (a check's re-reads) was not done.
            Some((id, Err(Error::Interrupted { .. }))) => ran.not_run.push((id, Why::Stopped)),
            Some((id, Err(e))) => ran.failed.push((id, e)),
            None if pending.is_empty() => break,
            // Nothing runs and what is left waits for steps not started: the loop above
            // marks it not run.
            None => {}
        }
    }
    ran
}

/// Run `wave` concurrently to the end (a failed step does not drop the others half-way); once
/// `interrupt` is requested, no step of it starts.
pub(super) async fn all_of<F, Fut, D>(wave: &[Step], interrupt: &Interrupt, run: F) -> Ran<D>
where
    F: Fn(&Step) -> Fut,
    Fut: std::future::Future<Output = Result<D>>,
{
    let mut ran = Ran::default();
    let mut work = Vec::new();
    for step in wave {
        match started(interrupt, &run, step) {
            Some(w) => work.push(w),
            None => ran.not_run.push((step.id.clone(), Why::Stopped)),
        }
    }
    for (id, result) in futures_util::future::join_all(work).await {
        match result {
            Ok(d) => ran.done.push(d),
            Err(Error::Interrupted { .. }) => ran.not_run.push((id, Why::Stopped)),
            Err(e) => ran.failed.push((id, e)),
        }
    }
    ran
}
