//! Containers that are not the stack's attached to its network (users run
//! `docker run --network <the stack's network> grafana/k6 …` to reach InfluxDB by name), on the
//! REAL Docker engine: `destroy` and a `--prune` that would delete the network remove what is
//! the stack's, keep that network, never stop nor detach those containers, and say what to do.
//!
//! The foreign container is one of the local images (`scripts/images.sh`, busybox-static
//! inside) running `busybox sleep`, removed by id at the end (also when the test fails).

use crate::docker::{EngineStack, docker, engine};

/// A container that is not the stack's, running on `network`; removed by id on drop.
struct Foreign {
    id: String,
}

impl Foreign {
    fn run(name: &str, network: &str) -> Self {
        let id = docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            "--entrypoint",
            "/bin/busybox",
            "promo-infra-influxdb2-double:0.1.0",
            "sleep",
            "3600",
        ])
        .trim()
        .to_string();
        Self { id }
    }

    /// Whether it still runs, attached to `network` and nothing else.
    fn runs_on(&self, network: &str) -> bool {
        docker(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            &self.id,
        ])
        .trim()
            == format!("true {network}")
    }

    /// Stop it and remove it (it leaves the network).
    fn remove(self) {
        docker(&["rm", "-f", &self.id]);
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.id])
            .output();
    }
}

/// Whether the network `name` exists.
fn network_exists(name: &str) -> bool {
    !docker(&["network", "ls", "-q", "--filter", &format!("name=^{name}$")])
        .trim()
        .is_empty()
}

/// The ids of the stack's containers, networks or volumes (by promo-infra's label).
fn labelled(s: &EngineStack, kind: &[&str]) -> usize {
    let mut args = kind.to_vec();
    let label = format!("label=io.promo-infra.stack={}", s.name);
    args.extend(["-q", "--filter", &label]);
    docker(&args).lines().count()
}

/// Fails without the fix: the network's removal failed ("has active endpoints") once the
/// stack's containers were gone, the volumes were left and the error named no container.
#[test]
fn destroy_keeps_the_network_a_foreign_container_uses_and_finishes_once_it_left() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("foreigndestroy");
    s.apply();
    let network = format!("{}_monitoring-net", s.name);
    let k6 = Foreign::run(&format!("{}-k6", s.name), &network);
    promo_snapshot!(s.run(&["destroy", "--volumes", "--auto-approve"]), @"
    success: false
    exit_code: 1
    ----- stdout -----
    promo-infra will destroy on stack `[STACK]` (target docker):

      - volume.grafana-data
      - volume.influxdb-data
      - service.control-api
      - service.grafana
      - service.influxdb

    warning: network.monitoring-net will be kept: container [STACK]-k6 is attached to it and not the stack's (promo-infra never stops nor detaches it)
      - container [STACK]-control-api-1
      - container [STACK]-grafana-1
      - container [STACK]-influxdb-1
      - volume [STACK]_grafana-data
      - volume [STACK]_influxdb-data

    ----- stderr -----
      x destroy incomplete: network [STACK]_monitoring-net is kept: container [STACK]-k6 is attached to it and not the stack's (promo-infra never stops nor detaches it); the 5 object(s) listed above were removed
      help: stop it (`docker stop [STACK]-k6`) or detach it (`docker network disconnect [STACK]_monitoring-net [STACK]-k6`), then run `promo-infra destroy` again: it removes what is left
    ");
    assert_eq!(
        labelled(&s, &["ps", "-a"]),
        0,
        "the stack's containers are gone"
    );
    assert_eq!(labelled(&s, &["volume", "ls"]), 0, "its volumes too");
    assert!(network_exists(&network), "the network is kept");
    assert!(k6.runs_on(&network), "the foreign container is untouched");

    // Once it left, the same command finishes the job.
    k6.remove();
    promo_snapshot!(s.run(&["destroy", "--auto-approve"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will destroy on stack `[STACK]` (target docker):

      - network.monitoring-net

    Data volumes are kept (use --volumes to remove them too).
      - network [STACK]_monitoring-net
    ✓ Destroy complete: 1 object(s) removed; volumes kept.

    ----- stderr -----
    ");
    assert!(!network_exists(&network));
}

/// Fails without the fix: the plan said the old network would be destroyed, and the apply
/// failed half-way with the engine's "has active endpoints".
#[test]
fn a_renamed_network_a_foreign_container_uses_is_kept_by_prune_and_the_plan_says_so() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("foreignrename");
    s.apply();
    let old = format!("{}_monitoring-net", s.name);
    let new = format!("{}_promo-net", s.name);
    let k6 = Foreign::run(&format!("{}-k6", s.name), &old);
    s.edit("network: monitoring-net", "network: promo-net");
    promo_snapshot!(s.run(&["plan", "--prune"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # network.promo-net will be created
      + network.promo-net
          + name: "[STACK]_promo-net"

      # service.control-api must be replaced
    -/+ service.control-api
          ~ network: (another network) → "promo-net" (created by this plan) # forces replacement

      # service.grafana must be replaced
    -/+ service.grafana
          ~ network: (another network) → "promo-net" (created by this plan) # forces replacement

      # service.influxdb must be replaced
    -/+ service.influxdb
          ~ network: (another network) → "promo-net" (created by this plan) # forces replacement

    Warning: network.monitoring-net is kept, not destroyed: container [STACK]-k6 is attached to it and not the stack's (promo-infra never stops nor detaches it). Stop it (`docker stop [STACK]-k6`) or detach it (`docker network disconnect [STACK]_monitoring-net [STACK]-k6`), then `promo-infra apply --prune` destroys it.
    Plan: 4 to add, 0 to change, 3 to destroy.

    apply also writes 1 generated file(s) first (`promo-infra generate` writes them alone):
      generated/[STACK]/docker-compose.yml

    ----- stderr -----
    "#);
    let applied = s.run(&[
        "apply",
        "--auto-approve",
        "--prune",
        "--health-timeout",
        "120",
    ]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    s.assert_healthy();
    assert!(network_exists(&old), "the old network is kept");
    assert!(network_exists(&new));
    assert!(k6.runs_on(&old), "the foreign container is untouched");

    // A plan saved while nothing used the network is stale once a container attaches to it:
    // `apply FILE` refuses it instead of failing half-way.
    k6.remove();
    let saved = s.run(&["plan", "--prune", "--out", "prune.plan"]);
    assert_eq!(saved.code, 0, "{}", saved.all());
    let k6 = Foreign::run(&format!("{}-k6", s.name), &old);
    promo_snapshot!(s.run(&["apply", "prune.plan"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x the saved plan `prune.plan` is stale: stack `[STACK]` on target docker (another apply, or a change outside promo-infra) changed since it was made
      help: run `promo-infra -f stacks/promo.yaml plan --prune --out prune.plan` again, review it, then apply it
    ");
    assert!(k6.runs_on(&old));

    // Once it left, --prune destroys the old network.
    k6.remove();
    let pruned = s.run(&["apply", "--auto-approve", "--prune"]);
    assert_eq!(pruned.code, 0, "{}", pruned.all());
    assert!(!network_exists(&old), "{}", pruned.all());
    let again = s.run(&["plan", "--prune", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.all());
}
