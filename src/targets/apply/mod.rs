//! The executor: runs a [`Plan`] on a [`Target`]: deletes wave by wave, then every other step
//! as soon as the steps it depends on are done (not when a whole wave is), concurrently, each
//! retried with backoff on transient failure; asked to stop ([`Interrupt`], Ctrl-C), it lets
//! the steps in flight finish, starts no other, and says what was done and what was not.
//!
//! Owns: step ordering ([`waves`], [`ready::as_ready`]), retries ([`retry`]), [`apply`], and
//! what it reports it did ([`Done`]). A step planned as [`Action::Check`] (a resource of a
//! service the plan could not read) is read again once its service ran, and what the plan
//! makes of that read is executed and reported: created, updated, or unchanged.
//! May not: print (the warn line goes through `tracing`), decide what to change (the plan did,
//! and decides a check's step from the new read), or know any target's kind.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Target;
use crate::desired::{Desired, ResourceId, ResourceKind};
use crate::error::{Error, Result};
use crate::plan::{self, Action, Plan, Step};

mod interrupt;
mod ready;
mod retry;

pub use interrupt::Interrupt;
use ready::{Ran, all_of, as_ready};
use retry::{ATTEMPTS, retry_until};
pub use retry::{is_transient, retry};

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

    /// The word for it (`created`).
    fn word(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Replaced => "replaced",
            Self::Updated => "updated",
            Self::Started => "started",
            Self::Destroyed => "destroyed",
            Self::Unchanged => "unchanged",
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

/// Execute a plan: deletes wave by wave (but those of networks and volumes, which go last),
/// then each other step as soon as its dependencies are done ([`as_ready`]), each retried on
/// transient failure. Returns the steps done in that order, the rest in plan order
/// (deterministic output), not in the order they finished.
pub async fn apply<T: Target + ?Sized>(
    target: &T,
    desired: &Desired,
    plan: &Plan,
) -> Result<Vec<Done>> {
    apply_until(target, desired, plan, &Interrupt::new()).await
}

/// [`apply`], stopping between steps once `interrupt` is requested: the steps in flight
/// finish (their retries stop), no other starts. Then, if a step was left undone, the error is
/// [`Error::Interrupted`], naming what was done, what failed and what was not started; if every
/// step had started by then, what they did, as [`apply`].
pub async fn apply_until<T: Target + ?Sized>(
    target: &T,
    desired: &Desired,
    plan: &Plan,
    interrupt: &Interrupt,
) -> Result<Vec<Done>> {
    // What each step did: a step planned in case its tokens are minted again reads it ([`minted`]).
    let did = std::cell::RefCell::new(BTreeMap::new());
    let run = |step: &Step| {
        let (step, id, did) = (step.clone(), step.id.clone(), &did);
        async move {
            let checked = matches!(step.action, Action::Check { .. });
            let tokens_minted = step.if_minted.as_ref().map(|w| minted(w, &did.borrow()));
            let step = if checked {
                read_again(target, desired, &step, interrupt).await?
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
                    retry_until(&what, ATTEMPTS, interrupt, || {
                        target.execute(&step, desired)
                    })
                    .await?;
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
    let in_waves = |steps: Vec<Step>| Plan {
        steps,
        ..plan.clone()
    };
    // A failed wave of deletes stops everything after it.
    let mut ran = Ran::default();
    for wave in waves(&in_waves(first), desired) {
        if ran.failed.is_empty() {
            ran.extend(all_of(&wave, interrupt, run).await);
        } else {
            ran.skip(&wave);
        }
    }
    if ran.failed.is_empty() {
        let mut ready = as_ready(&rest, desired, interrupt, run).await;
        // Reported in plan order (deterministic output), not in the order they finished.
        ready.done.sort_by_key(|d| position(plan, &d.id));
        ran.extend(ready);
    } else {
        ran.skip(&rest);
    }
    for wave in waves(&in_waves(last), desired) {
        if ran.failed.is_empty() {
            ran.extend(all_of(&wave, interrupt, run).await);
        } else {
            ran.skip(&wave);
        }
    }
    // Interrupted only when a step was left unstarted for it: steps not started because a
    // step they depend on failed say that failure's own error, as without Ctrl-C.
    let stopped = ran
        .not_run
        .iter()
        .any(|(_, why)| matches!(why, ready::Why::Stopped));
    if interrupt.requested() && stopped {
        return Err(interrupted(ran, plan));
    }
    ran.into_result()
}

/// Where `id`'s step is in `plan`.
fn position(plan: &Plan, id: &ResourceId) -> Option<usize> {
    plan.steps.iter().position(|s| &s.id == id)
}

/// The error of an apply stopped before every step started: what was done, what failed and
/// what was not started, each in plan order, and what to do.
fn interrupted(ran: Ran<Done>, plan: &Plan) -> Error {
    let Ran {
        mut done,
        failed,
        not_run,
    } = ran;
    done.sort_by_key(|d| position(plan, &d.id));
    let mut not_run: Vec<ResourceId> = not_run.into_iter().map(|(id, _)| id).collect();
    not_run.sort_by_key(|id| position(plan, id));
    let mut lines = vec![format!(
        "apply interrupted: {} of {} step(s) done{}, {} not started",
        done.len(),
        plan.steps.len(),
        match failed.len() {
            0 => String::new(),
            n => format!(", {n} failed"),
        },
        not_run.len()
    )];
    if !done.is_empty() {
        let each: Vec<String> = done
            .iter()
            .map(|d| format!("{} {}", d.id, d.did.word()))
            .collect();
        lines.push(format!("done: {}", each.join(", ")));
    }
    for (id, e) in &failed {
        let e = e.to_string();
        lines.push(match e.strip_prefix(&format!("{id}: ")) {
            Some(rest) => format!("failed: {id}: {rest}"),
            None => format!("failed: {id}: {e}"),
        });
    }
    let each: Vec<String> = not_run.iter().map(ToString::to_string).collect();
    lines.push(format!("not started: {}", each.join(", ")));
    Error::interrupted(
        lines.join("\n"),
        "`promo-infra plan` shows what is left to do; `promo-infra apply` does it",
    )
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
    interrupt: &Interrupt,
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
    let found = retry_until(&what, ATTEMPTS, interrupt, || async {
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
        // Its re-reads stopped by Ctrl-C: not a failure of the check, a check not done.
        Error::Transient { message, .. } if ours(&message) && interrupt.requested() => {
            Error::interrupted(
                format!("{}: not checked: interrupted before {service} answered", step.id),
                "",
            )
        }
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
