//! The executor's ordering, failure and retry rules, on steps that sleep and fail on cue.

use std::cell::Cell;
use std::time::Duration;

use super::retry::retry_from;
use super::*;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn transient_errors_are_retried_four_times_with_doubling_delays_then_returned() {
    let calls = Cell::new(0u32);
    let started = std::cell::RefCell::new(Vec::new());
    let out: Result<()> = block_on(async {
        let t0 = std::time::Instant::now();
        retry_from("x", 4, Duration::from_millis(20), None, || {
            calls.set(calls.get() + 1);
            started.borrow_mut().push(t0.elapsed());
            async { Err(Error::transient("busy")) }
        })
        .await
    });
    assert_eq!(calls.get(), 4);
    assert_eq!(out.expect_err("fails").to_string(), "busy");
    // Each wait at least doubles the one before (20 ms, 40 ms, 80 ms; no jitter).
    let gaps: Vec<u128> = started
        .borrow()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert_eq!(gaps.len(), 3);
    for (gap, min) in gaps.iter().zip([20, 40, 80]) {
        assert!(*gap >= min && *gap < min + 500, "{gaps:?}");
    }
}

/// A stack of these resources, each with the ones it depends on.
fn stack_of(deps: &[(&ResourceId, Vec<ResourceId>)]) -> Desired {
    use crate::desired::{Resource, ResourceSpec};
    Desired::of(deps.iter().map(|(r, deps)| {
        let net = ResourceSpec::Network { name: "n".into() };
        Resource::new(
            (*r).clone(),
            deps.clone(),
            net,
            &std::collections::BTreeMap::new(),
        )
    }))
}

/// A create step for each of `ids`, in this order.
fn creates(ids: &[&ResourceId]) -> Vec<Step> {
    ids.iter()
        .map(|r| Step::new((*r).clone(), Action::Create))
        .collect()
}

/// Fails on the wave-by-wave executor, where control-api (after grafana) also waited for
/// the slow database step started in grafana's wave.
#[test]
fn a_dependent_starts_when_its_own_dependencies_are_done_not_the_whole_wave() {
    use crate::desired::ResourceKind;
    let id = |kind, name: &str| ResourceId::new(kind, name);
    let influx = id(ResourceKind::Service, "influxdb");
    let grafana = id(ResourceKind::Service, "grafana");
    let control = id(ResourceKind::Service, "control-api");
    let db = id(ResourceKind::Database, "k6");
    let d = stack_of(&[
        (&influx, vec![]),
        (&grafana, vec![influx.clone()]),
        (&db, vec![influx.clone()]),
        (&control, vec![grafana.clone()]),
    ]);
    let steps = creates(&[&control, &db, &grafana, &influx]);
    let t0 = std::time::Instant::now();
    let log = std::cell::RefCell::new(Vec::new());
    let done = block_on(as_ready(&steps, &d, &Interrupt::new(), |s: &Step| {
        let (id, log) = (s.id.clone(), &log);
        async move {
            log.borrow_mut().push(format!("start {}", id.name));
            let slow = if id.name == "k6" { 300 } else { 10 };
            tokio::time::sleep(Duration::from_millis(slow)).await;
            log.borrow_mut().push(format!("end {}", id.name));
            Ok(id)
        }
    }))
    .into_result()
    .expect("runs");
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        log.into_inner(),
        [
            "start influxdb",
            "end influxdb",
            "start k6",
            "start grafana",
            "end grafana",
            "start control-api",
            "end control-api",
            "end k6",
        ]
    );
    assert_eq!(done, [influx, grafana, control, db]);
}

#[test]
fn other_errors_are_not_retried_and_a_later_success_is_returned() {
    let calls = Cell::new(0u32);
    let out: Result<()> = block_on(retry_from("x", 4, Duration::from_millis(1), None, || {
        calls.set(calls.get() + 1);
        async { Err(Error::docker("port is already allocated")) }
    }));
    assert_eq!(calls.get(), 1);
    assert!(matches!(out, Err(Error::Docker { .. })));
    let calls = Cell::new(0u32);
    let out = block_on(retry_from("x", 4, Duration::from_millis(1), None, || {
        calls.set(calls.get() + 1);
        let n = calls.get();
        async move {
            if n < 3 {
                Err(Error::transient("reset"))
            } else {
                Ok(n)
            }
        }
    }));
    assert_eq!(out.expect("succeeds"), 3);
}

/// Fails without the fix: the first error dropped the step still running (the slow `k6`
/// database was cancelled half-way) and the independent `grafana` never started.
#[test]
fn a_failed_step_lets_running_and_independent_steps_finish_and_skips_only_its_dependents() {
    use crate::desired::ResourceKind;
    let id = |kind, name: &str| ResourceId::new(kind, name);
    let influx = id(ResourceKind::Service, "influxdb");
    let db = id(ResourceKind::Database, "k6");
    let token = id(ResourceKind::Token, "k6");
    let grafana = id(ResourceKind::Service, "grafana");
    let control = id(ResourceKind::Service, "control-api");
    let folder = id(ResourceKind::Folder, "promo");
    let d = stack_of(&[
        (&influx, vec![]),
        (&db, vec![influx.clone()]),
        // Fails; what depends on it, directly or not, is not started.
        (&token, vec![influx.clone()]),
        (&grafana, vec![token.clone()]),
        (&folder, vec![grafana.clone()]),
        // Independent of the failure: still runs.
        (&control, vec![influx.clone()]),
    ]);
    let steps = creates(&[&influx, &db, &token, &grafana, &folder, &control]);
    let log = std::cell::RefCell::new(Vec::new());
    let out = block_on(as_ready(&steps, &d, &Interrupt::new(), |s: &Step| {
        let (id, log) = (s.id.clone(), &log);
        async move {
            log.borrow_mut().push(format!("start {id}"));
            let (slow, fails) = match (id.kind, id.name.as_str()) {
                (ResourceKind::Database, _) => (200, false),
                (ResourceKind::Token, _) => (10, true),
                (_, "control-api") => (50, false),
                _ => (1, false),
            };
            tokio::time::sleep(Duration::from_millis(slow)).await;
            log.borrow_mut().push(format!("end {id}"));
            if fails {
                Err(Error::influx(format!("{id}: 401 unauthorized")))
            } else {
                Ok(id)
            }
        }
    }))
    .into_result();
    let err = out.expect_err("the token failed");
    assert_eq!(err.to_string(), "token.k6: 401 unauthorized");
    let log = log.into_inner();
    for started in ["influxdb", "database.k6", "token.k6", "control-api"] {
        assert!(
            log.iter()
                .any(|l| l.starts_with("end ") && l.contains(started)),
            "{started} did not run to its end: {log:?}"
        );
    }
    assert!(
        !log.iter()
            .any(|l| l.contains("grafana") || l.contains("folder")),
        "a dependent of the failed step started: {log:?}"
    );
}

#[test]
fn a_failed_step_of_a_wave_lets_the_others_of_the_wave_finish() {
    use crate::desired::ResourceKind;
    let log = std::cell::RefCell::new(Vec::new());
    let fast = ResourceId::new(ResourceKind::Service, "fast");
    let slow = ResourceId::new(ResourceKind::Service, "slow");
    let wave = creates(&[&fast, &slow]);
    let out: Result<Vec<ResourceId>> = block_on(all_of(&wave, &Interrupt::new(), |s: &Step| {
        let (id, log) = (s.id.clone(), &log);
        async move {
            let (ms, fails) = if id.name == "fast" {
                (1, true)
            } else {
                (100, false)
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            log.borrow_mut().push(ms);
            if fails {
                Err(Error::docker("delete failed"))
            } else {
                Ok(id)
            }
        }
    }))
    .into_result();
    assert_eq!(out.expect_err("one failed").to_string(), "delete failed");
    assert_eq!(log.into_inner(), [1, 100]);
}

/// The fake, but the step of `gate` says it started and then waits to be released: a step
/// caught in flight.
struct Gated {
    fake: crate::targets::fake::FakeTarget,
    gate: ResourceId,
    started: tokio::sync::Notify,
    release: tokio::sync::Notify,
    /// The gated step fails once released (else it is done).
    fails: bool,
}

#[async_trait::async_trait(?Send)]
impl Target for Gated {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn observe(&self, d: &Desired) -> Result<plan::Observed> {
        self.fake.observe(d).await
    }
    async fn execute(&self, step: &Step, d: &Desired) -> Result<()> {
        if step.id == self.gate {
            self.started.notify_one();
            self.release.notified().await;
            if self.fails {
                return Err(Error::grafana(format!(
                    "{}: the engine refused it",
                    step.id
                )));
            }
        }
        self.fake.execute(step, d).await
    }
    async fn status(&self, d: &Desired) -> Result<Vec<crate::targets::ServiceStatus>> {
        self.fake.status(d).await
    }
    async fn destroy(&self, d: &Desired, volumes: bool) -> Result<crate::targets::Destroyed> {
        self.fake.destroy(d, volumes).await
    }
}

/// influxdb ← grafana ← (control-api, folder), on a fake whose Grafana step waits for the
/// test's release (then `fails` or is done).
fn gated_stack(fails: bool) -> (Desired, Gated) {
    use crate::desired::{FolderSpec, ProcessSpec, Resource, ResourceSpec};
    use crate::targets::fake::{FakeTarget, Flavour};
    let process = |name: &str, after: &[&str]| {
        Resource::new(
            ResourceId::new(ResourceKind::Service, name),
            after
                .iter()
                .map(|a| ResourceId::new(ResourceKind::Service, *a))
                .collect(),
            ResourceSpec::Process(Box::new(ProcessSpec {
                health_url: "http://127.0.0.1:1/health".into(),
                url: "http://127.0.0.1:1".into(),
                ..ProcessSpec::named(name)
            })),
            &BTreeMap::new(),
        )
    };
    let folder = Resource::new(
        ResourceId::new(ResourceKind::Folder, "s"),
        vec![ResourceId::new(ResourceKind::Service, "grafana")],
        ResourceSpec::Folder(FolderSpec {
            uid: "s".into(),
            title: "S".into(),
        }),
        &BTreeMap::new(),
    );
    let d = Desired::of(vec![
        process("influxdb", &[]),
        process("grafana", &["influxdb"]),
        process("control-api", &["grafana"]),
        folder,
    ]);
    let gated = Gated {
        fake: FakeTarget::new(Flavour::Native),
        gate: ResourceId::new(ResourceKind::Service, "grafana"),
        started: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
        fails,
    };
    (d, gated)
}

/// Apply `p` on `gated`, Ctrl-C requested once the gated step started (then released): what
/// apply returned, and how many steps were in flight at the request.
fn ctrl_c_at_the_gate(gated: &Gated, d: &Desired, p: &Plan) -> (Result<Vec<Done>>, usize) {
    let interrupt = Interrupt::new();
    block_on(async {
        let ctrl_c = async {
            gated.started.notified().await;
            let in_flight = interrupt.request();
            gated.release.notify_one();
            in_flight
        };
        tokio::join!(apply_until(gated, d, p, &interrupt), ctrl_c)
    })
}

/// Ctrl-C while Grafana is being created: Grafana's step finishes, nothing that waited for it
/// starts (its folder, the control API), and the error says what was done and what was not;
/// the next plan is exactly what was not started. Fails without the fix: the control API and
/// the folder were created after the interrupt.
#[test]
fn an_interrupt_lets_the_step_in_flight_finish_and_starts_no_other() {
    let (d, gated) = gated_stack(false);
    let replan = || {
        let observed = block_on(gated.fake.observe(&d)).expect("observe");
        plan::plan(&d, &observed, "native", false)
    };
    let p = replan();
    assert_eq!(p.steps.len(), 4, "{p:?}");
    let (applied, in_flight) = ctrl_c_at_the_gate(&gated, &d, &p);
    assert_eq!(in_flight, 1, "Grafana's step was in flight");
    let err = applied.expect_err("interrupted");
    assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "apply interrupted: 2 of 4 step(s) done, 2 not started\n\
         done: service.grafana created, service.influxdb created\n\
         not started: service.control-api, folder.s"
    );
    assert_eq!(
        gated.fake.journal(),
        ["create service.influxdb", "create service.grafana"]
    );
    let left: Vec<String> = replan().steps.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(left, ["service.control-api", "folder.s"]);
}

#[test]
fn a_transient_failure_is_not_retried_once_an_interrupt_was_requested() {
    let interrupt = Interrupt::new();
    interrupt.request();
    let calls = Cell::new(0u32);
    let out: Result<()> = block_on(retry_from(
        "x",
        4,
        Duration::from_millis(1),
        Some(&interrupt),
        || {
            calls.set(calls.get() + 1);
            async { Err(Error::transient("busy")) }
        },
    ));
    assert_eq!(calls.get(), 1);
    assert_eq!(out.expect_err("fails").to_string(), "busy");
}

/// Ctrl-C while Grafana's step is in flight, and that step then fails: what waited for it is
/// not done because Grafana failed, and the apply says Grafana's own error (exit 1), not
/// "interrupted" (which hid the failure and its help).
#[test]
fn a_step_failing_after_an_interrupt_reports_its_own_error() {
    let (d, gated) = gated_stack(true);
    let observed = block_on(gated.fake.observe(&d)).expect("observe");
    let p = plan::plan(&d, &observed, "native", false);
    let (applied, _) = ctrl_c_at_the_gate(&gated, &d, &p);
    let err = applied.expect_err("grafana failed");
    assert!(!matches!(err, Error::Interrupted { .. }), "{err:?}");
    assert_eq!(err.to_string(), "service.grafana: the engine refused it");
}

/// A check whose re-reads Ctrl-C stopped (its service still does not answer) is a check not
/// done, not a failure "cannot be read, although grafana was started" (review): `read_again`
/// says interrupted, and the executor counts such a step as not started.
#[test]
fn a_check_whose_rereads_an_interrupt_stopped_is_not_done_rather_than_failed() {
    use crate::targets::fake::{FakeTarget, Flavour};
    let (d, _) = gated_stack(false);
    let fake = FakeTarget::new(Flavour::Native);
    let observed = block_on(fake.observe(&d)).expect("observe");
    let p = plan::plan(&d, &observed, "native", false);
    block_on(apply_until(&fake, &d, &p, &Interrupt::new())).expect("apply");
    let grafana = ResourceId::new(ResourceKind::Service, "grafana");
    assert!(fake.edit(&grafana, |h| h.answers = false));
    let observed = block_on(fake.observe(&d)).expect("observe");
    let check = plan::plan(&d, &observed, "native", false)
        .steps
        .into_iter()
        .find(|s| s.id == ResourceId::new(ResourceKind::Folder, "s"))
        .expect("the folder is checked");
    assert!(matches!(check.action, Action::Check { .. }), "{check:?}");
    let interrupt = Interrupt::new();
    interrupt.request();
    let err = block_on(read_again(&fake, &d, &check, &interrupt)).expect_err("not readable");
    assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "folder.s: not checked: interrupted before service.grafana answered"
    );
    let ran = block_on(as_ready(
        std::slice::from_ref(&check),
        &d,
        &Interrupt::new(),
        |_| async { Err::<Done, _>(Error::interrupted("stopped", "")) },
    ));
    assert!(ran.failed.is_empty(), "{:?}", ran.failed);
    assert_eq!(ran.not_run.len(), 1);
}
