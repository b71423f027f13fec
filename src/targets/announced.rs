//! [`Announced`]: any target, with a line per event (a step or a restart starting, done,
//! failed) reported to its [`Progress`]: what CI logs show while progress bars are hidden.
//!
//! Owns: the wording of event lines.
//! May not: print (the sink does), change what the target does, read the environment.

use std::time::Instant;

use super::{LogLine, LogQuery, Progress, ServiceStatus, Target};
use crate::desired::{Desired, ResourceId, ResourceKind};
use crate::error::Result;
use crate::plan::{Action, Observed, Plan, Step};

/// A target whose steps and restarts are announced on `progress`.
pub struct Announced {
    inner: Box<dyn Target>,
    progress: Progress,
}

impl Announced {
    /// Announce `inner`'s steps on `progress`.
    pub fn new(inner: Box<dyn Target>, progress: Progress) -> Self {
        Self { inner, progress }
    }

    /// Report `what: doing`, run `work`, then report `what: done (1.2s)` or `what: failed (1.2s)`.
    async fn announce<F: Future<Output = Result<()>>>(
        &self,
        id: &ResourceId,
        (doing, done): (&str, &str),
        work: F,
    ) -> Result<()> {
        self.progress.event(&format!("{id}: {doing}"));
        let start = Instant::now();
        let result = work.await;
        let secs = start.elapsed().as_secs_f64();
        self.progress.event(&match &result {
            Ok(()) => format!("{id}: {done} ({secs:.1}s)"),
            Err(_) => format!("{id}: failed ({secs:.1}s)"),
        });
        result
    }
}

/// The words of an event: (`creating`, `created`); a service is waited for until healthy.
pub fn words(id: &ResourceId, action: &Action) -> (&'static str, &'static str) {
    let service = id.kind == ResourceKind::Service;
    match action {
        Action::Create if service => ("creating", "created and healthy"),
        Action::Create => ("creating", "created"),
        Action::Replace { .. } if service => ("replacing", "replaced and healthy"),
        Action::Replace { .. } => ("replacing", "replaced"),
        Action::Update { .. } => ("updating", "updated"),
        Action::Start if service => ("starting", "started and healthy"),
        Action::Start => ("starting", "started"),
        Action::Delete => ("deleting", "deleted"),
        // The executor reads a check again and executes the step that read calls for.
        Action::Check { .. } => ("checking", "checked"),
    }
}

#[async_trait::async_trait(?Send)]
impl Target for Announced {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn preflight(&self, plan: &Plan, desired: &Desired) -> Result<()> {
        self.inner.preflight(plan, desired).await
    }
    async fn observe(&self, desired: &Desired) -> Result<Observed> {
        self.inner.observe(desired).await
    }
    async fn observe_to_destroy(&self, desired: &Desired) -> Result<Observed> {
        self.inner.observe_to_destroy(desired).await
    }
    fn destroys(&self, id: &ResourceId, volumes: bool) -> bool {
        self.inner.destroys(id, volumes)
    }
    async fn execute(&self, step: &Step, desired: &Desired) -> Result<()> {
        let words = words(&step.id, &step.action);
        self.announce(&step.id, words, self.inner.execute(step, desired))
            .await
    }
    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>> {
        self.inner.status(desired).await
    }
    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<crate::targets::Destroyed> {
        self.inner.destroy(desired, volumes).await
    }
    async fn logs(&self, d: &Desired, q: &LogQuery, sink: &mut dyn FnMut(LogLine)) -> Result<()> {
        self.inner.logs(d, q, sink).await
    }
    async fn restart(&self, desired: &Desired, service: &str) -> Result<()> {
        let id = ResourceId::new(ResourceKind::Service, service);
        let words = ("restarting", "restarted and healthy");
        self.announce(&id, words, self.inner.restart(desired, service))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::desired::{Resource, ResourceSpec};
    use crate::targets::fake::{FakeTarget, Flavour};

    #[test]
    fn each_step_is_announced_before_and_after_wave_by_wave_and_a_failure_says_so() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let progress = Progress::events(move |l| sink.lock().expect("lock").push(l.to_string()));
        let t = Announced::new(Box::new(FakeTarget::new(Flavour::Docker)), progress);
        let mut desired = Desired::default();
        for name in ["a", "b"] {
            desired.add(Resource::new(
                ResourceId::new(ResourceKind::Network, name),
                Vec::new(),
                ResourceSpec::Network {
                    name: format!("s_{name}"),
                },
                &BTreeMap::new(),
            ));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let observed = rt.block_on(t.observe(&desired)).expect("observe");
        let plan = crate::plan::plan(&desired, &observed, "docker", false);
        rt.block_on(crate::targets::apply(&t, &desired, &plan))
            .expect("apply");
        // A service the fake does not hold cannot restart: the failure is announced too.
        assert!(rt.block_on(t.restart(&desired, "grafana")).is_err());
        let got: Vec<String> = lines
            .lock()
            .expect("lock")
            .iter()
            .map(|l| l.replace(|c: char| c.is_ascii_digit(), "N"))
            .collect();
        assert_eq!(
            got,
            // The fake finishes a step without waiting, so each step's pair is adjacent.
            [
                "network.a: creating",
                "network.a: created (N.Ns)",
                "network.b: creating",
                "network.b: created (N.Ns)",
                "service.grafana: restarting",
                "service.grafana: failed (N.Ns)",
            ]
        );
        let id = ResourceId::new(ResourceKind::Service, "influxdb");
        assert_eq!(
            words(&id, &Action::Create),
            ("creating", "created and healthy")
        );
    }
}
