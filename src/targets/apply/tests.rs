//! The executor's ordering, failure and retry rules, on steps that sleep and fail on cue.

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
        retry_from("x", 4, Duration::from_millis(20), || {
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
    let done = block_on(as_ready(&steps, &d, |s: &Step| {
        let (id, log) = (s.id.clone(), &log);
        async move {
            log.borrow_mut().push(format!("start {}", id.name));
            let slow = if id.name == "k6" { 300 } else { 10 };
            tokio::time::sleep(Duration::from_millis(slow)).await;
            log.borrow_mut().push(format!("end {}", id.name));
            Ok(id)
        }
    }))
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
    let out: Result<()> = block_on(retry_from("x", 4, Duration::from_millis(1), || {
        calls.set(calls.get() + 1);
        async { Err(Error::docker("port is already allocated")) }
    }));
    assert_eq!(calls.get(), 1);
    assert!(matches!(out, Err(Error::Docker { .. })));
    let calls = Cell::new(0u32);
    let out = block_on(retry_from("x", 4, Duration::from_millis(1), || {
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
    let out = block_on(as_ready(&steps, &d, |s: &Step| {
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
    }));
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
    let log = std::cell::RefCell::new(Vec::new());
    let out: Result<Vec<u64>> = block_on(all_of(
        [(1u64, true), (100, false)]
            .map(|(ms, fails)| {
                let log = &log;
                async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    log.borrow_mut().push(ms);
                    if fails {
                        Err(Error::docker("delete failed"))
                    } else {
                        Ok(ms)
                    }
                }
            })
            .into_iter(),
    ));
    assert_eq!(out.expect_err("one failed").to_string(), "delete failed");
    assert_eq!(log.into_inner(), [1, 100]);
}
