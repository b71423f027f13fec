//! The executor: runs a [`Plan`] on a [`Target`]: deletes wave by wave, then every other step
//! as soon as the steps it depends on are done (not when a whole wave is), concurrently, each
//! retried with backoff on transient failure.
//!
//! Owns: step ordering ([`waves`], [`as_ready`]), retries ([`retry`]), [`apply`], and what it
//! reports it did ([`Done`]). A step planned as [`Action::Check`] (a resource of a service the
//! plan could not read) is read again once its service ran, and what the plan makes of that
//! read is executed and reported: created, updated, or unchanged.
//! May not: print (the warn line goes through `tracing`), decide what to change (the plan did,
//! and decides a check's step from the new read), or know any target's kind.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use serde::Serialize;

use super::Target;
use crate::desired::{Desired, ResourceId, ResourceKind};
use crate::error::{Error, Result};
use crate::plan::{self, Action, Plan, Step};

/// What apply did to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Did {
    /// Created it.
    Created,
    /// Replaced it.
    Replaced,
    /// Changed it in place.
    Updated,
    /// Started it.
    Started,
    /// Deleted it.
    Destroyed,
    /// Nothing: a check found it as declared.
    Unchanged,
}

impl Did {
    /// What executing `action` does (a check's is decided when it runs: see [`apply`]).
    fn of(action: &Action) -> Self {
        match action {
            Action::Create => Self::Created,
            Action::Replace { .. } => Self::Replaced,
            Action::Update { .. } => Self::Updated,
            Action::Start => Self::Started,
            Action::Delete => Self::Destroyed,
            Action::Check { .. } => Self::Unchanged,
        }
    }
}

/// One resource apply acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Done {
    /// The resource.
    pub id: ResourceId,
    /// What was done to it.
    pub did: Did,
    /// It was planned as a check: `did` is what reading it once its service ran called for.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub checked: bool,
    /// Planned in case the tokens it holds were minted again ([`plan::IfMinted`]): whether one
    /// was (then it was done as planned), or each was found as it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_minted: Option<bool>,
}

/// terraform's counts of what apply did (a replace adds and destroys).
pub fn done_summary(done: &[Done]) -> plan::Summary {
    let mut s = plan::Summary::default();
    for d in done {
        match d.did {
            Did::Created => s.add += 1,
            Did::Replaced => {
                s.add += 1;
                s.destroy += 1;
            }
            Did::Updated | Did::Started => s.change += 1,
            Did::Destroyed => s.destroy += 1,
            Did::Unchanged => {}
        }
    }
    s
}

/// Attempts per step (the first try and three retries).
const ATTEMPTS: u32 = 4;

/// An error a target may see succeed on retry (engine busy, connection reset, 429/5xx).
pub fn is_transient(err: &Error) -> bool {
    matches!(err, Error::Transient { .. })
}

/// Ordering waves: a step runs once every step it depends on (through `depends_on`) has run.
/// Deletes run first, in reverse dependency order.
pub fn waves(plan: &Plan, desired: &Desired) -> Vec<Vec<Step>> {
    let (deletes, rest): (Vec<Step>, Vec<Step>) = plan
        .steps
        .iter()
        .cloned()
        .partition(|s| matches!(s.action, Action::Delete));
    let mut out: Vec<Vec<Step>> = Vec::new();
    if !deletes.is_empty() {
        let mut d = deletes;
        d.sort_by_key(|s| std::cmp::Reverse(s.id.kind));
        // Services go before the networks and volumes they use.
        let mut by_kind: Vec<Vec<Step>> = Vec::new();
        for step in d {
            match by_kind.last_mut() {
                Some(last) if last[0].id.kind == step.id.kind => last.push(step),
                _ => by_kind.push(vec![step]),
            }
        }
        out.extend(by_kind);
    }
    let pending_ids: Vec<ResourceId> = rest.iter().map(|s| s.id.clone()).collect();
    let mut done: Vec<ResourceId> = Vec::new();
    let mut remaining = rest;
    while !remaining.is_empty() {
        let (ready, blocked): (Vec<Step>, Vec<Step>) = remaining.into_iter().partition(|s| {
            desired.resources.get(&s.id).is_none_or(|r| {
                r.depends_on
                    .iter()
                    .all(|d| done.contains(d) || !pending_ids.contains(d))
            })
        });
        if ready.is_empty() {
            // A cycle cannot come from compile; run the rest in order rather than hang.
            out.push(blocked);
            break;
        }
        done.extend(ready.iter().map(|s| s.id.clone()));
        out.push(ready);
        remaining = blocked;
    }
    out
}

/// Run `f` up to `attempts` times while it fails with a transient error ([`is_transient`]),
/// backing off 0.5 s, 1 s, 2 s... and logging a warning before each retry.
pub async fn retry<T, F, Fut>(what: &str, attempts: u32, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    retry_from(what, attempts, Duration::from_millis(500), f).await
}

/// [`retry`] with the first delay given (each next one doubles).
async fn retry_from<T, F, Fut>(what: &str, attempts: u32, first: Duration, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let attempt = Cell::new(1u32);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(first)
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(60))
        .with_max_times(attempts.saturating_sub(1) as usize);
    f.retry(backoff)
        .when(is_transient)
        .notify(|e: &Error, delay: Duration| {
            let n = attempt.get();
            tracing::warn!(
                "{what}: {e}; retrying in {} ms (attempt {n}/{attempts})",
                delay.as_millis()
            );
            attempt.set(n + 1);
        })
        .await
}

/// Execute a plan: deletes wave by wave (but those of networks and volumes, which go last),
/// then each other step as soon as its dependencies are done ([`as_ready`]), each retried on
/// transient failure. Returns the steps done in that order, the rest in plan order
/// (deterministic output), not in the order they finished.
pub async fn apply<T: Target + ?Sized>(
    target: &T,
    desired: &Desired,
    plan: &Plan,
) -> Result<Vec<Done>> {
    // What each step did: a step planned in case its tokens are minted again reads it ([`minted`]).
    let did = std::cell::RefCell::new(BTreeMap::new());
    let run = |step: &Step| {
        let (step, id, did) = (step.clone(), step.id.clone(), &did);
        async move {
            let checked = matches!(step.action, Action::Check { .. });
            let tokens_minted = step.if_minted.as_ref().map(|w| minted(w, &did.borrow()));
            let step = if checked {
                read_again(target, desired, &step).await?
            } else {
                match (tokens_minted, step.if_minted.clone()) {
                    (Some(false), Some(when)) => when
                        .otherwise
                        .map(|action| Step::new(step.id.clone(), action)),
                    _ => Some(step),
                }
            };
            let done = match step {
                None => Did::Unchanged,
                Some(step) => {
                    let what = format!("{} {}", step.id, action_name(&step.action));
                    retry(&what, ATTEMPTS, || target.execute(&step, desired)).await?;
                    Did::of(&step.action)
                }
            };
            did.borrow_mut().insert(id.clone(), done);
            Ok(Done {
                id,
                did: done,
                checked,
                tokens_minted,
            })
        }
    };
    let (deletes, rest): (Vec<Step>, Vec<Step>) = plan
        .steps
        .iter()
        .cloned()
        .partition(|s| matches!(s.action, Action::Delete));
    // A network or volume the stack no longer declares goes last: the containers still on it
    // are the ones this plan replaces (a renamed network), gone only once their steps ran.
    let (last, first): (Vec<Step>, Vec<Step>) = deletes
        .into_iter()
        .partition(|s| matches!(s.id.kind, ResourceKind::Network | ResourceKind::Volume));
    let mut done = Vec::new();
    let in_waves = |steps: Vec<Step>| Plan {
        steps,
        ..plan.clone()
    };
    for wave in waves(&in_waves(first), desired) {
        done.extend(all_of(wave.iter().map(run)).await?);
    }
    let mut ready = as_ready(&rest, desired, run).await?;
    // Reported in plan order (deterministic output), not in the order they finished.
    let position = |d: &Done| plan.steps.iter().position(|s| s.id == d.id);
    ready.sort_by_key(position);
    done.extend(ready);
    for wave in waves(&in_waves(last), desired) {
        done.extend(all_of(wave.iter().map(run)).await?);
    }
    Ok(done)
}

/// Whether one of the tokens of a step planned [`plan::IfMinted`] was minted again, its
/// dependencies done (`did`): then the step is done as planned; else its `otherwise`. A token
/// not on record counts as minted (the step is done as planned).
fn minted(when: &plan::IfMinted, did: &BTreeMap<ResourceId, Did>) -> bool {
    !when
        .tokens
        .iter()
        .all(|t| did.get(t) == Some(&Did::Unchanged))
}

/// What a check's step is once its service ran: `target` is observed again and the plan's
/// step for the resource is the one to execute (`None`: found as declared). Still unreadable,
/// it is read again with backoff, then an error naming the service.
async fn read_again<T: Target + ?Sized>(
    target: &T,
    desired: &Desired,
    step: &Step,
) -> Result<Option<Step>> {
    let Action::Check { service, .. } = &step.action else {
        return Ok(Some(step.clone()));
    };
    let what = format!("{} check", step.id);
    // Ours, when the resource is still unreadable; any other error (another service's read
    // failing in the same observe) is passed on as it is, never blamed on this one.
    let still = |why: plan::Unread| {
        format!(
            "{}: cannot be read {}, although {service} was started",
            step.id,
            why.while_(&service.name)
        )
    };
    // Only this resource (and what it depends on) is read again: another service of this apply
    // may still be starting, and asking it would fail this check for that service's reason;
    // the service's other objects are their own checks' reads.
    let scope = plan::scoped_to(desired, &step.id, service);
    let found = retry(&what, ATTEMPTS, || async {
        let observed = target.observe(&scope).await?;
        match plan::step_for(desired, &observed, &step.id) {
            Some(Step {
                action: Action::Check { why, .. },
                ..
            }) => Err(Error::transient(still(why))),
            found => Ok(found),
        }
    })
    .await;
    let ours = |message: &str| message.starts_with(&format!("{}: cannot be read ", step.id));
    found.map_err(|e| match e {
        Error::Transient { message, .. } if ours(&message) => {
            let help = format!(
                "nothing was done to {}; see `promo-infra status` and `promo-infra logs {}`, then run `promo-infra apply` again",
                step.id, service.name
            );
            match step.id.kind {
                ResourceKind::Database | ResourceKind::Token => Error::influx(message),
                _ => Error::grafana(message),
            }
            .with_help(help)
        }
        other => other,
    })
}

/// Run `steps` concurrently, each once every step of `steps` it depends on (through
/// `depends_on`) has run: a dependent starts as soon as its own dependencies are ready, not
/// when every step started with them is. A failed step does not stop the others, as in
/// terraform: the steps already running finish (a step is never dropped half-way: a container
/// created but not started, a bucket without its mapping), the steps that depend on it,
/// directly or not, are not started (each logged), and every independent step still runs.
/// Returns what `run` returned for each, in the order they finished; or, when a step failed,
/// the first failure's error (the later ones are logged).
pub async fn as_ready<F, Fut, D>(steps: &[Step], desired: &Desired, run: F) -> Result<Vec<D>>
where
    F: Fn(&Step) -> Fut,
    Fut: std::future::Future<Output = Result<D>>,
    D: AsRef<ResourceId>,
{
    use futures_util::StreamExt as _;
    let ids: Vec<&ResourceId> = steps.iter().map(|s| &s.id).collect();
    let deps = |s: &Step| -> Vec<ResourceId> {
        desired
            .resources
            .get(&s.id)
            .map(|r| r.depends_on.clone())
            .unwrap_or_default()
    };
    let mut pending: Vec<&Step> = steps.iter().collect();
    let mut done: Vec<D> = Vec::new();
    let mut ids_done: Vec<ResourceId> = Vec::new();
    let mut failed: Vec<(ResourceId, Error)> = Vec::new();
    // Steps not started, each with the step it depends on that failed or was not started.
    let mut not_run: Vec<(ResourceId, ResourceId)> = Vec::new();
    let mut running = futures_util::stream::FuturesUnordered::new();
    let start = |s: &Step| {
        let (id, work) = (s.id.clone(), run(s));
        async move { (id, work.await) }
    };
    loop {
        loop {
            let blocker = |s: &Step| {
                deps(s).into_iter().find(|d| {
                    not_run.iter().any(|(n, _)| n == d) || failed.iter().any(|(f, _)| f == d)
                })
            };
            let stuck: Vec<(ResourceId, ResourceId)> = pending
                .iter()
                .filter_map(|s| blocker(s).map(|b| (s.id.clone(), b)))
                .collect();
            if stuck.is_empty() {
                break;
            }
            pending.retain(|s| !stuck.iter().any(|(id, _)| id == &s.id));
            not_run.extend(stuck);
        }
        let (ready, blocked): (Vec<&Step>, Vec<&Step>) = pending.into_iter().partition(|s| {
            deps(s)
                .iter()
                .all(|d| ids_done.contains(d) || !ids.contains(&d))
        });
        pending = blocked;
        if ready.is_empty() && running.is_empty() && !pending.is_empty() {
            // A cycle cannot come from compile; run the rest rather than hang.
            running.extend(pending.drain(..).map(start));
        }
        running.extend(ready.into_iter().map(start));
        match running.next().await {
            Some((_, Ok(finished))) => {
                ids_done.push(finished.as_ref().clone());
                done.push(finished);
            }
            Some((id, Err(e))) => failed.push((id, e)),
            None => break,
        }
    }
    let failed_ids: Vec<ResourceId> = failed.iter().map(|(id, _)| id.clone()).collect();
    let mut failed = failed.into_iter();
    let Some((first, error)) = failed.next() else {
        return Ok(done);
    };
    for (id, e) in failed {
        tracing::error!("{id}: {e}");
    }
    for (id, on) in &not_run {
        let why = if failed_ids.contains(on) {
            "failed"
        } else {
            "was not done"
        };
        tracing::warn!("{id}: not done: it depends on {on}, which {why}");
    }
    tracing::debug!("{first} failed; {} other step(s) done", done.len());
    Err(error)
}

/// Run `wave` concurrently to the end (a failed step does not drop the others half-way);
/// what they returned, or the first failure's error (the later ones are logged).
async fn all_of<Fut, D>(wave: impl Iterator<Item = Fut>) -> Result<Vec<D>>
where
    Fut: std::future::Future<Output = Result<D>>,
{
    let mut out = Vec::new();
    let mut first = None;
    for result in futures_util::future::join_all(wave).await {
        match (result, &first) {
            (Ok(d), _) => out.push(d),
            (Err(e), None) => first = Some(e),
            (Err(e), Some(_)) => tracing::error!("{e}"),
        }
    }
    first.map_or(Ok(out), Err)
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Replace { .. } => "replace",
        Action::Update { .. } => "update",
        Action::Start => "start",
        Action::Delete => "delete",
        Action::Check { .. } => "check",
    }
}

impl AsRef<ResourceId> for Done {
    fn as_ref(&self) -> &ResourceId {
        &self.id
    }
}

#[cfg(test)]
mod tests;
