//! `FakeTarget`: an in-memory engine behind the [`Target`] trait, for planner tests that need
//! neither Docker nor influxd (omicron's planner tests are the model).
//!
//! Owns: an in-memory map of what "exists" (`ResourceId` → [`Held`]) and the rules a real engine
//! enforces on it. May not: print, read the environment, touch the disk or the network, or
//! decide anything a plan decides (it executes the step it is given and nothing else).
//!
//! It is honest: `execute` records what the one step did to the one resource it names (the
//! desired resource's hash and canonical form, as docker's labels and native's pidfiles record
//! them); `observe` returns what it holds, filtered the way the real target sees it; nothing
//! copies the desired state wholesale. It can be seeded with any state ([`FakeTarget::seed`],
//! [`FakeTarget::edit`]): drifted configuration, a stopped service, a resource the stack no
//! longer declares, a database with another retention, a container made by another tool (no
//! hash).
//!
//! Rules it enforces like a real engine (an apply that breaks them fails, so the ordering of
//! [`super::apply`] is tested too):
//! - a container is created only once its network and volumes exist, and a service only once
//!   the services it depends on run; the networks and volumes it was created with are recorded;
//! - a network or volume still used by a container cannot be deleted;
//! - a database step needs the `influxdb` service running (InfluxDB answers its API);
//! - `Start` needs the resource to exist; `Delete` of something absent succeeds (idempotent);
//! - a database is never dropped (`Delete` keeps it, like both real targets).
//!
//! How it differs from the real targets:
//! - docker observes networks and volumes by name and recomputes their hash from it; the fake
//!   reports the hash it holds (the same thing for anything it created itself);
//! - docker reconstructs a container made by another tool from `docker inspect`; the fake holds
//!   that reconstruction directly (seed it with `hash: None`);
//! - docker's `Replace` of a volume creates the new one and leaves the old in place (data is
//!   never deleted); the fake holds one resource per id, so the old one is gone;
//! - no health checks, timeouts, images, progress bars, or transient failures (no retries);
//! - native: a process that is not running ([`Held::running`] false) is one that died with its
//!   pidfile left, observed stopped as the native target observes it (planned as a start, as
//!   docker's exited container); one that promo-infra stopped leaves no pidfile: forget it;
//! - what a service holds (databases, Grafana objects) is not read while it does not run or
//!   does not answer ([`Held::answers`]): the fake reports such a service in
//!   [`Observed::unread`] by the rule the real targets use ([`super::common::unread`]: it does
//!   not answer, it is stopped, or, on docker, no container while its volume is held), never
//!   its contents as absent; a `Start` of one that runs makes it answer (the real targets wait
//!   for that, bounded, and fail if it never does);
//! - databases are observed only when declared and when `influxdb` runs, as in both targets;
//!   the fake holds the database's spec exactly as `influx::observe` would rebuild it;
//! - `destroy` returns `service NAME`, `network NAME`, `volume NAME`, `database NAME` lines
//!   rather than engine names, and removes databases only with `volumes` (their data lives in
//!   the InfluxDB volume or data directory);
//! - cloud: the bucket, tokens and Grafana objects are API objects with nothing running, always
//!   reachable (the real target's network, 429s and minted token values are not modelled);
//!   declared objects only are observed, apart from dashboards (as `grafana_api` does).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use super::common::{self, Found};
use super::{ServiceStatus, Target};
use crate::desired::{Desired, Resource, ResourceId, ResourceKind, ResourceSpec};
use crate::error::{Error, Result};
use crate::plan::{Action, Observed, ObservedResource, Step, Unread};

/// Which real target the fake behaves like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Containers, networks, volumes (the docker target).
    Docker,
    /// Supervised processes (the native target).
    Native,
    /// API objects only (the cloud target): bucket, tokens, Grafana objects; nothing runs.
    Cloud,
}

/// One resource the fake holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// Content hash recorded with it (docker label, native pidfile); `None`: made by another
    /// tool.
    pub hash: Option<String>,
    /// Its canonical form (what plan diffs against).
    pub canonical: Value,
    /// Whether it runs (services, processes); always true for the others.
    pub running: bool,
    /// Whether, running, it answers as healthy (false: a wedged or SIGSTOPped process, an
    /// unhealthy container); always true for the others.
    pub answers: bool,
    /// Networks and volumes a container was created with (it keeps them in use).
    pub uses: Vec<ResourceId>,
}

impl Held {
    /// Exactly what executing a create of `r` records.
    pub fn recorded(r: &Resource) -> Self {
        Self {
            hash: Some(r.hash.clone()),
            canonical: r.canonical.clone(),
            running: true,
            answers: true,
            uses: r
                .depends_on
                .iter()
                .filter(|d| matches!(d.kind, ResourceKind::Network | ResourceKind::Volume))
                .cloned()
                .collect(),
        }
    }
}

/// The in-memory engine.
#[derive(Debug)]
pub struct FakeTarget {
    flavour: Flavour,
    held: Mutex<BTreeMap<ResourceId, Held>>,
    journal: Mutex<Vec<String>>,
}

impl FakeTarget {
    /// An empty engine behaving like `flavour`.
    pub fn new(flavour: Flavour) -> Self {
        Self {
            flavour,
            held: Mutex::new(BTreeMap::new()),
            journal: Mutex::new(Vec::new()),
        }
    }

    /// Which target it behaves like.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<ResourceId, Held>> {
        // A panicking test thread cannot leave the map half-written: every change is one insert
        // or remove.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Put (or replace) a resource, as if something outside promo-infra made it.
    pub fn seed(&self, id: ResourceId, held: Held) {
        self.lock().insert(id, held);
    }

    /// Change a held resource in place; returns whether it was held.
    pub fn edit(&self, id: &ResourceId, f: impl FnOnce(&mut Held)) -> bool {
        self.lock().get_mut(id).map(f).is_some()
    }

    /// Remove a held resource (lost outside promo-infra); returns what was held.
    pub fn forget(&self, id: &ResourceId) -> Option<Held> {
        self.lock().remove(id)
    }

    /// Everything held, by id.
    pub fn held(&self) -> BTreeMap<ResourceId, Held> {
        self.lock().clone()
    }

    /// What `execute` and `destroy` did, in order (`create service.grafana`).
    pub fn journal(&self) -> Vec<String> {
        self.journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn note(&self, line: String) {
        self.journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    /// Whether this flavour can hold a resource of this spec.
    fn supports(&self, spec: &ResourceSpec) -> bool {
        match spec {
            ResourceSpec::Database(_) | ResourceSpec::Folder(_) | ResourceSpec::Dashboard(_) => {
                true
            }
            ResourceSpec::Process(_) => self.flavour == Flavour::Native,
            ResourceSpec::Token(_) => true,
            ResourceSpec::Datasource(_) | ResourceSpec::Alerting(_) => {
                self.flavour == Flavour::Cloud
            }
            ResourceSpec::Network { .. }
            | ResourceSpec::Volume { .. }
            | ResourceSpec::Service(_) => self.flavour == Flavour::Docker,
        }
    }

    /// Whether the service `name` runs and answers (its API can be read).
    fn answering(held: &BTreeMap<ResourceId, Held>, name: &str) -> bool {
        held.get(&ResourceId::new(ResourceKind::Service, name))
            .is_some_and(|h| h.running && h.answers)
    }

    /// Create (or replace) `r`: check what a real engine checks, then record it.
    fn create(&self, held: &mut BTreeMap<ResourceId, Held>, r: &Resource) -> Result<()> {
        if matches!(r.spec, ResourceSpec::Database(_)) && self.flavour != Flavour::Cloud {
            if !Self::answering(held, "influxdb") {
                return Err(Error::influx(format!(
                    "{}: InfluxDB is not running (the fake holds no answering service.influxdb)",
                    r.id
                )));
            }
        } else {
            for dep in &r.depends_on {
                let ready = held
                    .get(dep)
                    .is_some_and(|h| h.running || dep.kind != ResourceKind::Service);
                if !ready {
                    return Err(Error::internal(format!(
                        "{}: created before {dep} exists and runs (apply ordered the steps wrongly)",
                        r.id
                    )));
                }
            }
        }
        held.insert(r.id.clone(), Held::recorded(r));
        Ok(())
    }

    /// Remove `id`, refusing while a container still uses it (networks, volumes).
    fn remove(&self, held: &mut BTreeMap<ResourceId, Held>, id: &ResourceId) -> Result<()> {
        if id.kind == ResourceKind::Database {
            return Ok(()); // never dropped: data is kept
        }
        if let Some((user, _)) = held.iter().find(|(_, h)| h.uses.contains(id)) {
            return Err(
                Error::docker(format!("cannot remove {id}: {user} still uses it"))
                    .with_help("remove the containers that use it first"),
            );
        }
        held.remove(id);
        Ok(())
    }

    /// The services whose contents observe could not read, as the real targets report them
    /// ([`common::unread`]): a held service that runs but does not answer, or that does not
    /// run (an exited container; a native process whose pidfile and data directory are left),
    /// or a docker service without a container whose volume is held.
    fn unread(
        &self,
        desired: &Desired,
        held: &BTreeMap<ResourceId, Held>,
    ) -> BTreeMap<ResourceId, Unread> {
        if self.flavour == Flavour::Cloud {
            return BTreeMap::new();
        }
        common::unread(desired, |host| match held.get(host) {
            Some(h) if h.running && h.answers => Found::Answers,
            Some(h) if h.running => Found::Runs,
            Some(_) => Found::Down {
                stopped: true,
                kept: true,
            },
            None => {
                // The very volume it mounts (one under another name is replaced: empty).
                let kept = |d: &ResourceId| {
                    let want = desired.resources.get(d).map(|r| r.hash.as_str());
                    held.get(d).is_some_and(|h| h.hash.as_deref() == want)
                };
                let volume_kept = desired.resources.get(host).is_some_and(|r| {
                    r.depends_on
                        .iter()
                        .any(|d| d.kind == ResourceKind::Volume && kept(d))
                });
                Found::Down {
                    stopped: false,
                    kept: volume_kept,
                }
            }
        })
    }

    fn status_of(&self, r: &Resource, held: Option<&Held>) -> Option<ServiceStatus> {
        let (name, image, url) = match &r.spec {
            ResourceSpec::Service(s) => (
                s.name.clone(),
                s.image.clone(),
                super::docker::service_url(s),
            ),
            ResourceSpec::Process(p) => (p.name.clone(), p.program.clone(), p.url.clone()),
            _ => return None,
        };
        let version = image
            .rsplit('/')
            .next()
            .and_then(|last| last.split_once(':'))
            .map_or_else(|| "-".to_string(), |(_, tag)| tag.to_string());
        let running = held.is_some_and(|h| h.running);
        let health = match held {
            Some(h) if running && !h.answers => "unhealthy",
            _ if running => "healthy",
            _ => "-",
        };
        let state = match (held, self.flavour) {
            (None, _) => "missing",
            (Some(_), _) if running => "running",
            (Some(_), Flavour::Docker) => "exited",
            (Some(_), Flavour::Native | Flavour::Cloud) => "stopped",
        };
        Some(ServiceStatus {
            service: name,
            state: state.into(),
            health: health.into(),
            image,
            version,
            url,
            uptime: "-".into(),
            up_to_date: held.is_some_and(|h| h.hash.as_deref() == Some(r.hash.as_str()))
                && (running || self.flavour == Flavour::Docker),
        })
    }
}

/// The action's name as plan's JSON spells it (`create`, `replace`, ...).
fn verb(a: &Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v["action"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[async_trait::async_trait(?Send)]
impl Target for FakeTarget {
    fn name(&self) -> &'static str {
        match self.flavour {
            Flavour::Docker => "docker",
            Flavour::Native => "native",
            Flavour::Cloud => "cloud",
        }
    }

    async fn observe(&self, desired: &Desired) -> Result<Observed> {
        let held = self.lock();
        // On the cloud both services always answer.
        let cloud = self.flavour == Flavour::Cloud;
        let influx_up = cloud || Self::answering(&held, "influxdb");
        let grafana_up = cloud || Self::answering(&held, "grafana");
        let mut observed = Observed::default();
        for (id, h) in held.iter() {
            let visible = match id.kind {
                // Only declared databases are looked up, and only when InfluxDB answers.
                ResourceKind::Database => influx_up && desired.resources.contains_key(id),
                // Grafana's objects are read over its API, so only while it runs.
                ResourceKind::Folder | ResourceKind::Dashboard => grafana_up,
                // The cloud target reads only the objects the stack declares.
                // Tokens are InfluxDB's: read with the databases.
                ResourceKind::Token => influx_up && desired.resources.contains_key(id),
                ResourceKind::Datasource | ResourceKind::Alerting => {
                    desired.resources.contains_key(id)
                }
                _ => true,
            };
            if id.kind == ResourceKind::Service && !h.running {
                observed.stopped.insert(id.clone());
            }
            if visible {
                observed.resources.insert(
                    id.clone(),
                    ObservedResource {
                        id: id.clone(),
                        hash: h.hash.clone(),
                        canonical: h.canonical.clone(),
                        converged: h.running && h.answers,
                    },
                );
            }
        }
        observed.unread = self.unread(desired, &held);
        Ok(observed)
    }

    async fn execute(&self, step: &Step, desired: &Desired) -> Result<()> {
        let mut held = self.lock();
        let resource = desired.resources.get(&step.id);
        match (&step.action, resource) {
            (Action::Delete, _) => self.remove(&mut held, &step.id)?,
            (_, None) => {
                return Err(Error::internal(format!(
                    "{}: the plan refers to a resource the stack does not declare",
                    step.id
                ))
                .with_help(
                    "re-run `promo-infra plan`; the manifest changed since the plan was made",
                ));
            }
            (_, Some(r)) if !self.supports(&r.spec) => {
                return Err(Error::internal(format!(
                    "{}: the {} target cannot hold this kind of resource",
                    r.id,
                    self.name()
                )));
            }
            (Action::Check { .. }, Some(r)) => {
                return Err(Error::internal(format!(
                    "{}: a check is read again and resolved by the executor, never executed",
                    r.id
                )));
            }
            (Action::Start, Some(r)) => match held.get_mut(&r.id) {
                Some(h) => {
                    h.running = true;
                    h.answers = true;
                }
                None => {
                    return Err(Error::internal(format!(
                        "{}: start of a resource that does not exist",
                        r.id
                    )));
                }
            },
            (Action::Update { changes }, Some(r)) if !r.id.kind.updates_in_place() => {
                // A service re-reads its reloadable files: same container, new record.
                let running = held.get(&r.id).is_some_and(|h| h.running);
                if !running || !changes.iter().all(|c| r.changes_in_place(&c.path)) {
                    return Err(Error::internal(format!(
                        "{}: a {} cannot be changed in place",
                        r.id,
                        r.id.kind.as_str()
                    )));
                }
                held.insert(r.id.clone(), Held::recorded(r));
            }
            (Action::Replace { .. }, Some(r)) => {
                // Delete, then create: only the container itself goes, what it uses stays.
                held.remove(&r.id);
                self.create(&mut held, r)?;
            }
            (Action::Create | Action::Update { .. }, Some(r)) => self.create(&mut held, r)?,
        }
        drop(held);
        self.note(format!("{} {}", verb(&step.action), step.id));
        Ok(())
    }

    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>> {
        let held = self.lock();
        Ok(desired
            .resources
            .values()
            .filter_map(|r| self.status_of(r, held.get(&r.id)))
            .collect())
    }

    async fn destroy(
        &self,
        _desired: &Desired,
        volumes: bool,
    ) -> Result<crate::targets::Destroyed> {
        let mut held = self.lock();
        let mut removed = Vec::new();
        // Containers and processes first, then what they used.
        for kind in [
            ResourceKind::Alerting,
            ResourceKind::Dashboard,
            ResourceKind::Folder,
            ResourceKind::Datasource,
            ResourceKind::Token,
            ResourceKind::Service,
            ResourceKind::Network,
            ResourceKind::Volume,
            ResourceKind::Database,
        ] {
            // Grafana objects and tokens go with the services' data elsewhere; the cloud
            // deletes them.
            let api_object = matches!(
                kind,
                ResourceKind::Alerting
                    | ResourceKind::Dashboard
                    | ResourceKind::Folder
                    | ResourceKind::Datasource
                    | ResourceKind::Token
            );
            if api_object && self.flavour != Flavour::Cloud {
                continue;
            }
            let keep_data = matches!(kind, ResourceKind::Volume | ResourceKind::Database);
            if keep_data && !volumes {
                continue;
            }
            let ids: Vec<ResourceId> = held.keys().filter(|id| id.kind == kind).cloned().collect();
            for id in ids {
                let was_running = held.remove(&id).is_some_and(|h| h.running);
                const DIED: &str = " (already stopped: its pidfile)";
                let native = kind == ResourceKind::Service && self.flavour == Flavour::Native;
                // A native process that died leaves its pidfile, named as the native target does.
                let note = if native && !was_running { DIED } else { "" };
                removed.push(format!("{} {}{note}", kind.as_str(), id.name));
            }
        }
        drop(held);
        for r in &removed {
            self.note(format!("destroy {r}"));
        }
        Ok(removed.into())
    }
}

#[cfg(test)]
mod tests;
