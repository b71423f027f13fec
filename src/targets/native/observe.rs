//! Observe on the native target: each process its pidfile names that still runs, whether it
//! answers its health URL, and what InfluxDB and Grafana hold, read only from one that answers;
//! a process whose pidfile is left but that no longer runs, as stopped.
//! What a service that cannot be read holds is unknown to a plan, not absent
//! ([`common::unread`]): it runs but does not answer (a SIGSTOPped or wedged influxd), its
//! process stopped by itself (its pidfile is left), or it was stopped by promo-infra while its
//! data directory is kept.
//!
//! Owns: the native target's observe. May not: start or signal anything, print, or read the
//! environment.

use std::collections::BTreeMap;

use super::health::{Health, health_url};
use super::proc::http_client;
use super::running;
use crate::desired::{Desired, ResourceId, ResourceKind, ResourceSpec};
use crate::error::Result;
use crate::plan::{Observed, ObservedResource, Unread};
use crate::targets::common::{self, Found};
use crate::targets::grafana_api::{self, Attempts};

impl super::NativeTarget {
    /// Every live process of the stack (declared or not, so --prune can stop leftovers),
    /// converged when it answers its health URL (all asked at once, 2 s each at most), and,
    /// with `read_services` (not for `destroy`, which stops processes and removes files), what
    /// the answering InfluxDB and Grafana hold.
    pub(super) async fn observe_all(
        &self,
        desired: &Desired,
        read_services: bool,
    ) -> Result<Observed> {
        let client = &http_client()?;
        let live: Vec<_> = self
            .recorded()
            .into_iter()
            .filter_map(|name| Some((self.live(&name)?, name)))
            .collect();
        let answers = futures_util::future::join_all(live.iter().map(|(rec, name)| {
            let declared = desired.resources.values().find_map(|r| match &r.spec {
                ResourceSpec::Process(p) if p.name == *name => Some(p.health_url.as_str()),
                _ => None,
            });
            let url = health_url(rec, declared.unwrap_or_default()).to_string();
            // A process with no health URL to ask is taken at its word, as before.
            async move { url.is_empty() || Health::of(client, &url).await == Health::Healthy }
        }))
        .await;
        let mut observed = Observed::default();
        for ((rec, name), answers) in live.into_iter().zip(answers) {
            let found = process(name, rec, answers);
            observed.resources.insert(found.id.clone(), found);
        }
        observed.unread = self.unread(desired, &observed);
        // What the services hold is read where they run: a process started from an older
        // manifest (another port) answers at its own address until it is restarted.
        let running = running::as_observed(desired, &observed);
        let reads = running.as_ref().unwrap_or(desired);
        let answering = |name: &str| {
            observed
                .resources
                .get(&ResourceId::new(ResourceKind::Service, name))
                .is_some_and(|o| o.converged)
        };
        let (influx_up, grafana_up) = (
            read_services && answering("influxdb"),
            read_services && answering("grafana"),
        );
        if influx_up {
            observed.extend(
                common::read_databases(&self.ctx, reads, "native", Attempts::Retried).await?,
            );
        }
        if grafana_up {
            observed.extend(grafana_api::read_stack(&self.ctx, reads, Attempts::Retried).await?);
        }
        self.add_stopped(&mut observed);
        Ok(observed)
    }

    /// Each process that stopped by itself (killed, crashed: its pidfile is left) is there,
    /// stopped, as docker's exited container: not converged, with what its pidfile records, so
    /// the plan starts it again from the same configuration and data (or replaces it, when the
    /// manifest changed since; `--prune` removes it, when the manifest no longer declares it),
    /// as `status` says `stopped` — never a create. Added after the reads and
    /// [`Self::unread`], which see it as stopped (it answers nothing).
    fn add_stopped(&self, observed: &mut Observed) {
        for name in self.recorded() {
            let id = ResourceId::new(ResourceKind::Service, name);
            if observed.resources.contains_key(&id) {
                continue;
            }
            if let Some(rec) = self.recorded_as(&id.name) {
                observed.stopped.insert(id.clone());
                observed
                    .resources
                    .insert(id.clone(), process(id.name, rec, false));
            }
        }
    }

    /// The services holding a resource the plan compares that observe does not read, and why:
    /// a live process that does not answer; one that does not run while its data directory
    /// holds something (stopped: its pidfile is left; not running: promo-infra stopped it).
    fn unread(&self, desired: &Desired, observed: &Observed) -> BTreeMap<ResourceId, Unread> {
        common::unread(desired, |host| match observed.resources.get(host) {
            Some(o) if o.converged => Found::Answers,
            Some(_) => Found::Runs,
            None => {
                let data = self.data_dir.join(&host.name);
                Found::Down {
                    stopped: self.pidfile(&host.name).exists(),
                    kept: fs_err::read_dir(&data).is_ok_and(|mut d| d.next().is_some()),
                }
            }
        })
    }
}

/// The process `name` as its pidfile records it (`converged`: it runs and answers).
fn process(name: String, rec: super::PidRecord, converged: bool) -> ObservedResource {
    ObservedResource {
        id: ResourceId::new(ResourceKind::Service, name),
        hash: Some(rec.hash),
        canonical: rec.canonical,
        converged,
    }
}
