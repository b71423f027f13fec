//! Plan snapshot cases (issue 12 item 3), in the shape of omicron's planner tests: each case is
//! (manifest, observed state) → an insta snapshot of the rendered plan (plus the `--json` shape
//! for a few), then the plan is applied on the in-memory [`FakeTarget`] and a re-plan must be
//! empty. No Docker, no influxd: the whole module runs in a few seconds.
//!
//! The observed state is built the way it arises: the `before` manifest is planned and applied
//! on an empty fake (itself checked to converge), then `drift` changes it as something outside
//! promo-infra would (a stopped container, a database altered by hand, a container made by
//! docker-compose, a leftover of an older stack).
//!
//! Coverage (resource kind × change kind; `matrix_is_covered` checks it):
//!
//! | kind      | create | update | replace | start | delete (--prune) | kept (no prune) | no-op |
//! |-----------|--------|--------|---------|-------|------------------|-----------------|-------|
//! | network   | ✓      | —      | ✓       | —     | ✓                | ✓               | ✓     |
//! | volume    | ✓      | —      | ✓       | —     | ✓                | ✓               | ✓     |
//! | service   | ✓      | ✓      | ✓       | ✓     | ✓                | ✓               | ✓     |
//! | process   | ✓      | ✓      | ✓       | ✓     | ✓                | ✓               | ✓     |
//! | database  | ✓      | ✓      | —       | —     | —                | —               | ✓     |
//! | token     | ✓      | —      | ✓       | —     | —                | —               | ✓     |
//! | datasource| ✓      | ✓      | —       | —     | —                | —               | ✓     |
//! | alerting  | ✓      | ✓      | —       | —     | —                | —               | ✓     |
//!
//! "—" cells cannot happen: only databases (and Grafana objects) converge in place, and services
//! and processes when only the files Grafana reloads changed (`reload_digest`); everything
//! else is replaced; networks, volumes and databases are always "running"; a native process that
//! is not running is not observed (it plans as a create; one that runs but does not answer is
//! started, i.e. waited for, as docker's unhealthy container); a database is only looked up when the
//! stack declares it, so one it no longer declares is never seen, never deleted.
//!
//! A fourth kind of step, `check` (known after apply): a database or a Grafana object whose
//! service does not run cannot be read, so the plan checks it once the service runs instead of
//! planning it as created (`database` and `dashboard` × `check` are in `matrix_is_covered`). For
//! such plans the snapshot also has what apply reported it did (created, updated or unchanged)
//! and the fake's journal, which every apply is checked against.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

use promo_infra::compile;
use promo_infra::desired::{Desired, Resource, ResourceId, ResourceKind, ResourceSpec};
use promo_infra::manifest;
use promo_infra::plan::{self, Action, Plan};
use promo_infra::secrets::{self, SecretValues};
use promo_infra::targets::fake::{FakeTarget, Flavour, Held};
use promo_infra::targets::{self, Target, TargetKind};

const PROMO: &str = include_str!("../../stacks/promo.yaml");
const PROMO_V1: &str = include_str!("../../stacks/promo-v1.yaml");
const LOCAL: &str = include_str!("../fixtures/stacks/local.yaml");

const ALERTING: &str = "alerting:
  slack:
    webhook_url_env: SLACK_WEBHOOK_URL
    channel: \"#load-testing-alerts\"
  rules:
    error_rate_critical_pct: 5
    p95_warning_ms: 3000
";

use Flavour::{Cloud, Docker, Native};

/// Every secret any case uses but the `unset` ones: generation 2 of the `rotated` ones' values,
/// generation 1 of the others'.
fn secrets_gen(rotated: &[&str], unset: &[&str]) -> SecretValues {
    let names = [
        secrets::INFLUX_ADMIN_PASSWORD,
        secrets::INFLUX_ADMIN_TOKEN,
        secrets::INFLUX_GRAFANA_TOKEN,
        secrets::INFLUX_K6_TOKEN,
        secrets::INFLUX_V1_READ_PASSWORD,
        secrets::INFLUX_V1_WRITE_PASSWORD,
        secrets::GRAFANA_ADMIN_PASSWORD,
        "GRAFANA_CLOUD_TOKEN",
        "INFLUX_CLOUD_TOKEN",
        compile::cloud::K6_TOKEN,
        compile::cloud::GRAFANA_TOKEN,
        secrets::GRAFANA_SECRET_KEY,
        secrets::CONTROL_API_TOKEN,
        secrets::CONTROL_API_STOP_PASSWORD,
        "SLACK_WEBHOOK_URL",
    ];
    SecretValues::from_pairs(names.iter().filter(|n| !unset.contains(n)).map(|n| {
        let generation = if rotated.contains(n) { 2 } else { 1 };
        (n.to_string(), format!("s3cret-{n}-gen{generation}"))
    }))
}

/// `stacks/promo-v1.yaml` (InfluxQL, what InfluxDB Cloud Serverless runs) with a `targets.cloud`.
fn cloud_v1() -> String {
    edit(
        PROMO_V1,
        "targets:\n",
        "targets:\n  cloud:\n    grafana_url: https://promo.grafana.net\n    grafana_token_env: GRAFANA_CLOUD_TOKEN\n    influx_url: https://eu-central-1-1.aws.cloud2.influxdata.com\n    influx_org: promo-analyzer\n    influx_token_env: INFLUX_CLOUD_TOKEN\n",
    )
}

/// `text` with the first `from` replaced by `to` (which must be there).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the manifest has no `{from}`");
    text.replacen(from, to, 1)
}

/// `text` without the lines from the one starting with `start` up to (not including) the one
/// starting with `end`.
fn cut(text: &str, start: &str, end: &str) -> String {
    let a = text.find(&format!("\n{start}")).expect("start marker") + 1;
    let b = a + text[a..].find(&format!("\n{end}")).expect("end marker") + 1;
    format!("{}{}", &text[..a], &text[b..])
}

/// One case: what was deployed, what happened to it since, what the manifest says now.
struct Case {
    flavour: Flavour,
    /// Manifest applied on an empty engine first (`None`: nothing deployed).
    before: Option<String>,
    /// Changes made outside promo-infra after that, given the `before` compile.
    drift: fn(&FakeTarget, &Desired),
    /// The manifest now.
    after: String,
    /// Secrets rotated since `before` was applied.
    rotated: &'static [&'static str],
    /// Secrets not set now (a preprod Slack webhook nobody provided).
    unset: &'static [&'static str],
    prune: bool,
    json: bool,
    /// No record of what `before`'s apply put in place (another checkout applied it).
    unrecorded: bool,
}

impl Case {
    fn new(flavour: Flavour, after: impl Into<String>) -> Self {
        Self {
            flavour,
            before: None,
            drift: |_, _| {},
            after: after.into(),
            rotated: &[],
            unset: &[],
            prune: false,
            json: false,
            unrecorded: false,
        }
    }
    /// Deployed from the same manifest.
    fn deployed(mut self) -> Self {
        self.before = Some(self.after.clone());
        self
    }
    fn deployed_from(mut self, before: impl Into<String>) -> Self {
        self.before = Some(before.into());
        self
    }
    fn drift(mut self, f: fn(&FakeTarget, &Desired)) -> Self {
        self.drift = f;
        self
    }
    fn rotated(mut self, names: &'static [&'static str]) -> Self {
        self.rotated = names;
        self
    }
    fn unset(mut self, names: &'static [&'static str]) -> Self {
        self.unset = names;
        self
    }
    fn prune(mut self) -> Self {
        self.prune = true;
        self
    }
    fn json(mut self) -> Self {
        self.json = true;
        self
    }
    fn unrecorded(mut self) -> Self {
        self.unrecorded = true;
        self
    }
}

// ---- drift: what happens to a stack outside promo-infra ----

fn id(kind: ResourceKind, name: &str) -> ResourceId {
    ResourceId::new(kind, name)
}

fn forget(fake: &FakeTarget, kind: ResourceKind, name: &str) {
    assert!(
        fake.forget(&id(kind, name)).is_some(),
        "{name} was deployed"
    );
}

fn stop(fake: &FakeTarget, service: &str) {
    assert!(fake.edit(&id(ResourceKind::Service, service), |h| h.running = false));
}

/// The service runs but does not answer (a SIGSTOPped influxd, an unhealthy container).
fn wedge(fake: &FakeTarget, service: &str) {
    assert!(fake.edit(&id(ResourceKind::Service, service), |h| h.answers = false));
}

/// The stack's database as `influx::observe` would find it after `change` by hand.
fn alter_database(
    fake: &FakeTarget,
    before: &Desired,
    change: fn(&mut promo_infra::desired::DatabaseSpec),
) {
    let r = before
        .resources
        .values()
        .find(|r| r.id.kind == ResourceKind::Database)
        .expect("a database");
    let ResourceSpec::Database(mut spec) = r.spec.clone() else {
        unreachable!("database kind")
    };
    change(&mut spec);
    let found = Resource::new(
        r.id.clone(),
        Vec::new(),
        ResourceSpec::Database(spec),
        &BTreeMap::new(),
    );
    fake.seed(r.id.clone(), Held::recorded(&found));
}

/// A network or volume of the stack made by another tool under `full_name`.
fn foreign_named(fake: &FakeTarget, kind: ResourceKind, name: &str, full_name: &str) {
    let spec = if kind == ResourceKind::Network {
        ResourceSpec::Network {
            name: full_name.into(),
        }
    } else {
        ResourceSpec::Volume {
            name: full_name.into(),
        }
    };
    let r = Resource::new(id(kind, name), Vec::new(), spec, &BTreeMap::new());
    fake.seed(r.id.clone(), Held::recorded(&r));
}

/// Leftovers of an older version of the stack: a Prometheus container on its own network and
/// volume, recorded by promo-infra when it made them.
fn leftovers(fake: &FakeTarget, before: &Desired) {
    foreign_named(fake, ResourceKind::Network, "old-net", "promo_old-net");
    foreign_named(
        fake,
        ResourceKind::Volume,
        "prometheus-data",
        "promo_prometheus-data",
    );
    let grafana = &before.resources[&id(ResourceKind::Service, "grafana")];
    let ResourceSpec::Service(mut spec) = grafana.spec.clone() else {
        unreachable!("a docker service")
    };
    spec.name = "prometheus".into();
    spec.image = "prom/prometheus:v2.48.0".into();
    spec.env.clear();
    spec.mounts.truncate(1);
    spec.mounts[0].source = promo_infra::desired::MountSource::Volume("prometheus-data".into());
    spec.mounts[0].target = "/prometheus".into();
    let r = Resource::new(
        id(ResourceKind::Service, "prometheus"),
        vec![
            id(ResourceKind::Network, "old-net"),
            id(ResourceKind::Volume, "prometheus-data"),
        ],
        ResourceSpec::Service(spec),
        &BTreeMap::new(),
    );
    fake.seed(r.id.clone(), Held::recorded(&r));
}

// ---- the cases ----

fn cases() -> Vec<(&'static str, Case)> {
    let control_off = |t: &str| edit(t, "enabled: true", "enabled: false");
    vec![
        // Cold starts: everything is created, in dependency order.
        ("docker_v2_cold_start", Case::new(Docker, PROMO).json()),
        ("docker_v1_cold_start", Case::new(Docker, PROMO_V1)),
        ("native_v2_cold_start", Case::new(Native, PROMO).json()),
        ("native_v1_cold_start", Case::new(Native, PROMO_V1)),
        // No-ops.
        ("docker_v2_no_op", Case::new(Docker, PROMO).deployed()),
        ("docker_v1_no_op", Case::new(Docker, LOCAL).deployed()),
        (
            "native_v1_no_op",
            Case::new(Native, PROMO_V1).deployed().json(),
        ),
        ("native_v2_no_op", Case::new(Native, PROMO).deployed()),
        // Start.
        (
            "docker_stopped_grafana_is_started",
            Case::new(Docker, PROMO)
                .deployed()
                .drift(|f, _| stop(f, "grafana")),
        ),
        (
            "docker_v1_stopped_influxdb_hides_its_database",
            Case::new(Docker, PROMO_V1)
                .deployed()
                .drift(|f, _| stop(f, "influxdb")),
        ),
        // Known after apply: what a service that does not run holds cannot be read, so it is
        // checked once the service runs (and apply reports what that check found), never
        // planned as created.
        (
            "docker_stopped_grafana_changed_dashboard_is_checked",
            Case::new(
                Docker,
                edit(
                    PROMO,
                    "Promo Load Analyzer - Marketing View",
                    "Black Friday",
                ),
            )
            .deployed_from(PROMO)
            .drift(|f, _| stop(f, "grafana"))
            .json(),
        ),
        (
            "docker_stopped_grafana_lost_dashboard_is_created_when_checked",
            Case::new(Docker, PROMO).deployed().drift(|f, _| {
                forget(f, ResourceKind::Dashboard, "k6-technical");
                stop(f, "grafana");
            }),
        ),
        (
            "docker_grafana_container_removed_its_volume_kept",
            Case::new(Docker, PROMO)
                .deployed()
                .drift(|f, _| forget(f, ResourceKind::Service, "grafana")),
        ),
        // A stopped InfluxDB 2 keeps its tokens: they are checked once it runs, not minted
        // again (which would revoke the ones k6 and Grafana hold).
        (
            "docker_v2_stopped_influxdb",
            Case::new(Docker, PROMO)
                .deployed()
                .drift(|f, _| stop(f, "influxdb")),
        ),
        // ... and one deleted meanwhile is minted when checked.
        (
            "docker_v2_stopped_influxdb_lost_token_is_minted_when_checked",
            Case::new(Docker, PROMO).deployed().drift(|f, _| {
                forget(f, ResourceKind::Token, "k6-write");
                stop(f, "influxdb");
            }),
        ),
        // ... Grafana is replaced only if the token it holds is minted again ...
        (
            "docker_v2_stopped_influxdb_lost_grafana_token_replaces_grafana",
            Case::new(Docker, PROMO).deployed().drift(|f, _| {
                forget(f, ResourceKind::Token, "grafana-read");
                stop(f, "influxdb");
            }),
        ),
        // ... and a stopped Grafana whose token is kept is only started.
        (
            "docker_v2_stopped_influxdb_and_grafana_kept_token_starts_grafana",
            Case::new(Docker, PROMO).deployed().drift(|f, _| {
                stop(f, "influxdb");
                stop(f, "grafana");
            }),
        ),
        // ... and a Grafana needing an update in place (an alert threshold) gets it, replaced
        // only if its token is minted again.
        (
            "docker_v2_stopped_influxdb_kept_token_updates_grafana_in_place",
            Case::new(
                Docker,
                edit(PROMO, "p95_warning_ms: 3000", "p95_warning_ms: 2500"),
            )
            .deployed_from(PROMO)
            .drift(|f, _| stop(f, "influxdb")),
        ),
        // On native the same: InfluxDB's process died; Grafana keeps running.
        (
            "native_v2_dead_influxdb_kept_token_keeps_grafana",
            Case::new(Native, PROMO)
                .deployed()
                .drift(|f, _| stop(f, "influxdb")),
        ),
        // Runs but does not answer: started (waited for), what it holds checked, on both
        // targets alike.
        (
            "native_v1_influxdb_not_answering_hides_its_database",
            Case::new(Native, PROMO_V1)
                .deployed()
                .drift(|f, _| wedge(f, "influxdb")),
        ),
        (
            "docker_grafana_not_answering_hides_its_dashboards",
            Case::new(Docker, PROMO)
                .deployed()
                .drift(|f, _| wedge(f, "grafana")),
        ),
        // A killed process leaves its pidfile: found stopped, started again from what it
        // recorded, as the native target plans it (the fake planned a create, which the
        // native target stopped doing when it began to observe killed processes).
        (
            "native_dead_process_is_started",
            Case::new(Native, PROMO)
                .deployed()
                .drift(|f, _| stop(f, "grafana")),
        ),
        (
            "docker_container_removed_by_hand_is_created",
            Case::new(Docker, PROMO).deployed().drift(|f, _| {
                assert!(
                    f.forget(&id(ResourceKind::Service, "control-api"))
                        .is_some()
                );
            }),
        ),
        // Made by another tool, or changed by hand.
        (
            "docker_containers_made_by_compose_are_adopted",
            Case::new(Docker, LOCAL)
                .deployed()
                .drift(|f, d| {
                    for r in d
                        .resources
                        .values()
                        .filter(|r| r.id.kind == ResourceKind::Service)
                    {
                        assert!(f.edit(&r.id, |h| h.hash = None));
                    }
                })
                .json(),
        ),
        (
            "docker_container_with_drifted_env_is_replaced",
            Case::new(Docker, PROMO).deployed().drift(|f, _| {
                assert!(f.edit(&id(ResourceKind::Service, "grafana"), |h| {
                    h.hash = None;
                    h.canonical["env"]["GF_USERS_ALLOW_SIGN_UP"]["plain"] = "true".into();
                }));
            }),
        ),
        (
            "docker_network_made_by_compose_under_another_name",
            Case::new(Docker, PROMO).drift(|f, _| {
                foreign_named(f, ResourceKind::Network, "monitoring-net", "monitoring-net");
            }),
        ),
        // The network renamed: every container is recreated on the new one, the old is kept.
        (
            "docker_network_renamed",
            Case::new(
                Docker,
                edit(PROMO, "network: monitoring-net", "network: promo-net"),
            )
            .deployed_from(PROMO),
        ),
        (
            "docker_volume_made_under_another_name",
            Case::new(Docker, PROMO_V1).drift(|f, _| {
                foreign_named(f, ResourceKind::Volume, "influxdb-data", "influxdb-data");
            }),
        ),
        // Image / version changes.
        (
            "docker_grafana_image_change",
            Case::new(
                Docker,
                edit(PROMO, "grafana/grafana:10.2.3", "grafana/grafana:10.4.1"),
            )
            .deployed_from(PROMO),
        ),
        (
            "docker_v1_influxdb_image_change",
            Case::new(Docker, edit(PROMO_V1, "influxdb:1.8", "influxdb:1.8.10"))
                .deployed_from(PROMO_V1),
        ),
        (
            "native_grafana_upgrade_to_another_homepath",
            Case::new(
                Native,
                edit(
                    PROMO,
                    "native: { data_dir: data }",
                    "native: { data_dir: data, grafana_homepath: /opt/grafana-10.4.1 }",
                ),
            )
            .deployed_from(PROMO),
        ),
        // Port changes.
        (
            "docker_grafana_port_change",
            Case::new(Docker, edit(PROMO, "port: 3000", "port: 3300")).deployed_from(PROMO),
        ),
        (
            "native_v1_influxdb_port_change",
            Case::new(Native, edit(PROMO_V1, "port: 8087", "port: 8089")).deployed_from(PROMO_V1),
        ),
        // Retention.
        (
            "docker_v2_retention_change",
            Case::new(Docker, edit(PROMO, "retention: 30d", "retention: 90d"))
                .deployed_from(PROMO)
                .json(),
        ),
        (
            "docker_v1_retention_change",
            Case::new(Docker, edit(PROMO_V1, "retention: 4w", "retention: 1w"))
                .deployed_from(PROMO_V1),
        ),
        (
            "native_v1_retention_altered_by_hand",
            Case::new(Native, PROMO_V1).deployed().drift(|f, d| {
                alter_database(f, d, |s| {
                    s.retention = "24h".into();
                    s.shard_duration = "1h".into();
                });
            }),
        ),
        (
            "native_v2_retention_altered_by_hand",
            Case::new(Native, PROMO).deployed().drift(|f, d| {
                alter_database(f, d, |s| s.retention = "INF".into());
            }),
        ),
        (
            "docker_v1_database_user_dropped_by_hand",
            Case::new(Docker, PROMO_V1).deployed().drift(|f, d| {
                alter_database(f, d, |s| s.users.retain(|u| u.name != "k6"));
            }),
        ),
        // Secrets: a rotation shows as a replacement, never the value.
        (
            "docker_grafana_password_rotated",
            Case::new(Docker, PROMO)
                .deployed()
                .rotated(&[secrets::GRAFANA_ADMIN_PASSWORD])
                .json(),
        ),
        // Grafana reads with a token of its own: the operator token's rotation leaves it be.
        (
            "native_influx_token_rotated",
            Case::new(Native, PROMO)
                .deployed()
                .rotated(&[secrets::INFLUX_ADMIN_TOKEN]),
        ),
        // Grafana's token is deleted in InfluxDB: minted again, and Grafana replaced to take it.
        (
            "docker_v2_grafana_token_deleted_by_hand",
            Case::new(Docker, PROMO)
                .deployed()
                .drift(|fake, _| forget(fake, ResourceKind::Token, "grafana-read")),
        ),
        (
            "native_v2_grafana_token_deleted_by_hand",
            Case::new(Native, PROMO)
                .deployed()
                .drift(|fake, _| forget(fake, ResourceKind::Token, "grafana-read")),
        ),
        (
            "docker_v1_influx_passwords_rotated",
            Case::new(Docker, PROMO_V1).deployed().rotated(&[
                secrets::INFLUX_V1_READ_PASSWORD,
                secrets::INFLUX_V1_WRITE_PASSWORD,
            ]),
        ),
        // Dashboards.
        (
            "docker_dashboard_title_change",
            Case::new(
                Docker,
                edit(
                    PROMO,
                    "Promo Load Analyzer - Marketing View",
                    "Black Friday",
                ),
            )
            .deployed_from(PROMO),
        ),
        (
            "docker_dashboard_title_change_unrecorded",
            Case::new(
                Docker,
                edit(
                    PROMO,
                    "Promo Load Analyzer - Marketing View",
                    "Black Friday",
                ),
            )
            .deployed_from(PROMO)
            .unrecorded()
            .json(),
        ),
        (
            "native_v1_dashboard_thresholds_change",
            Case::new(Native, edit(PROMO_V1, "p95_ok_ms: 800", "p95_ok_ms: 900"))
                .deployed_from(PROMO_V1),
        ),
        // Alerting on / off, Slack webhook unset.
        (
            "docker_alerting_off",
            Case::new(Docker, cut(PROMO, "alerting:", "backup:")).deployed_from(PROMO),
        ),
        (
            "docker_alerting_on",
            Case::new(
                Docker,
                edit(LOCAL, "targets:", &format!("{ALERTING}targets:")),
            )
            .deployed_from(LOCAL),
        ),
        (
            "native_v1_alerting_off",
            Case::new(Native, cut(PROMO_V1, "alerting:", "backup:")).deployed_from(PROMO_V1),
        ),
        (
            "docker_slack_webhook_unset",
            Case::new(Docker, PROMO)
                .deployed()
                .unset(&["SLACK_WEBHOOK_URL"]),
        ),
        (
            "native_slack_webhook_unset",
            Case::new(Native, PROMO)
                .deployed()
                .unset(&["SLACK_WEBHOOK_URL"]),
        ),
        // Control API on / off: delete only with --prune.
        (
            "docker_control_api_off_kept",
            Case::new(Docker, control_off(PROMO)).deployed_from(PROMO),
        ),
        (
            "docker_control_api_off_pruned",
            Case::new(Docker, control_off(PROMO))
                .deployed_from(PROMO)
                .prune()
                .json(),
        ),
        (
            "native_control_api_off_kept",
            Case::new(Native, control_off(PROMO_V1)).deployed_from(PROMO_V1),
        ),
        (
            "native_control_api_off_pruned",
            Case::new(Native, control_off(PROMO_V1))
                .deployed_from(PROMO_V1)
                .prune(),
        ),
        (
            "docker_control_api_on",
            Case::new(Docker, LOCAL).deployed_from(control_off(LOCAL)),
        ),
        // Leftovers of an older stack: kept, or deleted (containers before what they use).
        (
            "docker_leftovers_kept",
            Case::new(Docker, PROMO).deployed().drift(leftovers),
        ),
        (
            "docker_leftovers_pruned",
            Case::new(Docker, PROMO).deployed().drift(leftovers).prune(),
        ),
        // Issue 13: files Grafana re-reads on a reload API call change it in place.
        (
            "docker_alert_threshold_change_is_reloaded_in_place",
            Case::new(
                Docker,
                edit(PROMO, "p95_warning_ms: 3000", "p95_warning_ms: 2500"),
            )
            .deployed_from(PROMO)
            .json(),
        ),
        // Issue 15: the cloud target's API objects.
        ("cloud_v1_cold_start", Case::new(Cloud, cloud_v1()).json()),
        ("cloud_v1_no_op", Case::new(Cloud, cloud_v1()).deployed()),
        (
            "cloud_alert_threshold_change_updates_in_place",
            Case::new(
                Cloud,
                edit(
                    &cloud_v1(),
                    "error_rate_critical_pct: 5",
                    "error_rate_critical_pct: 4",
                ),
            )
            .deployed_from(cloud_v1()),
        ),
        // A token's permissions cannot change: a new bucket replaces both tokens.
        (
            "cloud_bucket_rename_replaces_the_tokens",
            Case::new(Cloud, edit(&cloud_v1(), "bucket: k6 ", "bucket: k6_promo "))
                .deployed_from(cloud_v1()),
        ),
    ]
}

// ---- running a case ----

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// The one place that compiles (the target's resources, as `plan`/`apply` get them). Rendering
/// the dashboards dominates the suite's time, so templates and results are shared by the cases.
fn compile_for(text: &str, flavour: Flavour, values: &SecretValues) -> Desired {
    static TEMPLATES: LazyLock<compile::Templates> = LazyLock::new(compile::Templates::builtin);
    type Key = (String, &'static str, Vec<(String, String)>);
    static DONE: LazyLock<Mutex<BTreeMap<Key, Desired>>> = LazyLock::new(Mutex::default);
    let kind = match flavour {
        Docker => TargetKind::Docker,
        Native => TargetKind::Native,
        Cloud => TargetKind::Cloud,
    };
    let key: Key = (
        text.to_string(),
        kind.as_str(),
        values
            .names()
            .map(|n| (n.to_string(), values.get(n).unwrap_or_default().to_string()))
            .collect(),
    );
    if let Some(d) = DONE.lock().expect("cache").get(&key) {
        return d.clone();
    }
    let loaded = manifest::from_bytes(
        "stacks/case.yaml",
        text.as_bytes().to_vec(),
        &TEMPLATES.names(),
    )
    .unwrap_or_else(|e| panic!("the case's manifest is invalid: {e:?}"));
    let desired = compile::compile_for(&loaded, &TEMPLATES, values, kind).expect("compile");
    DONE.lock().expect("cache").insert(key, desired.clone());
    desired
}

fn observe_and_plan(
    rt: &tokio::runtime::Runtime,
    fake: &FakeTarget,
    desired: &Desired,
    prune: bool,
) -> Plan {
    let observed = rt.block_on(fake.observe(desired)).expect("observe");
    plan::plan(desired, &observed, fake.name(), prune)
}

/// Plan, apply, and check a re-plan is empty; returns the plan and what apply did.
fn converge(
    rt: &tokio::runtime::Runtime,
    fake: &FakeTarget,
    desired: &Desired,
    prune: bool,
) -> (Plan, Vec<targets::Done>) {
    let p = observe_and_plan(rt, fake, desired, prune);
    let start = fake.journal().len();
    let done = rt
        .block_on(targets::apply(fake, desired, &p))
        .unwrap_or_else(|e| panic!("apply failed: {e}\nplan:\n{}", plan::render(&p)));
    assert_eq!(done.len(), p.steps.len(), "every step ran");
    // What apply reports is what the fake's journal says it did (a check: what it found).
    let journal = fake.journal().split_off(start);
    for d in &done {
        let verb = match d.did {
            targets::Did::Created => "create",
            targets::Did::Replaced => "replace",
            targets::Did::Updated => "update",
            targets::Did::Started => "start",
            targets::Did::Destroyed => "delete",
            targets::Did::Unchanged => "",
        };
        let executed = journal.iter().any(|l| l.ends_with(&format!(" {}", d.id)));
        assert_eq!(
            executed,
            !verb.is_empty(),
            "{}: reported {:?}, journal {journal:?}",
            d.id,
            d.did
        );
        if !verb.is_empty() {
            assert!(
                journal.contains(&format!("{verb} {}", d.id)),
                "{}: reported {:?}, journal {journal:?}",
                d.id,
                d.did
            );
        }
    }
    let again = observe_and_plan(rt, fake, desired, prune);
    assert!(
        again.is_empty(),
        "re-plan after apply is not empty:\n{}\nafter applying:\n{}",
        plan::render(&again),
        plan::render(&p)
    );
    (p, done)
}

/// The `--json` shape of `plan`: the plan, flattened, then its summary (the CLI adds `notes`
/// from its secret checks, which are not the planner's).
fn json_shape(p: &Plan) -> String {
    #[derive(serde::Serialize)]
    struct Shape<'a> {
        #[serde(flatten)]
        plan: &'a Plan,
        summary: plan::Summary,
    }
    serde_json::to_string_pretty(&Shape {
        plan: p,
        summary: p.summary(),
    })
    .expect("plan json")
}

/// The case's plan (before applying it), and its rendering for the snapshot.
fn run(case: &Case) -> (Plan, String) {
    let rt = runtime();
    let fake = FakeTarget::new(case.flavour);
    let old_values = secrets_gen(&[], &[]);
    let before = case
        .before
        .as_deref()
        .map_or_else(Desired::default, |text| {
            let d = compile_for(text, case.flavour, &old_values);
            converge(&rt, &fake, &d, false);
            d
        });
    (case.drift)(&fake, &before);
    let values = secrets_gen(case.rotated, case.unset);
    let desired = compile_for(&case.after, case.flavour, &values);
    let journal_before = fake.journal().len();
    let (p, done) = converge(&rt, &fake, &desired, case.prune);
    // What ops does: the generated files behind each changed digest, against the record of the
    // `before` apply.
    let record =
        (case.before.is_some() && !case.unrecorded).then(|| plan::Applied::record(&before));
    let p = plan::with_files(p, &desired, record.as_ref());
    let mut text = plan::render(&p);
    if case.json {
        text.push_str("\n==== --json ====\n");
        text.push_str(&json_shape(&p));
        text.push('\n');
    }
    // A plan with values known only after apply: what apply reported it did, and what the
    // engine's journal says it did.
    if p.summary().check > 0 {
        text.push_str("\n==== apply ====\n");
        for d in &done {
            let checked = match (d.checked, d.tokens_minted) {
                (true, _) => " (checked)",
                (false, Some(true)) => " (a token minted again)",
                (false, Some(false)) => " (tokens kept)",
                (false, None) => "",
            };
            text.push_str(&format!("{}: {:?}{checked}\n", d.id, d.did));
        }
        text.push_str("---- journal ----\n");
        for line in &fake.journal()[journal_before..] {
            text.push_str(line);
            text.push('\n');
        }
    }
    for value in old_values.values().chain(values.values()) {
        assert!(
            !text.contains(value),
            "a secret value is in the plan output"
        );
    }
    (p, text)
}

fn snapshot(name: &str) {
    let all = cases();
    let (_, case) = all
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let (_, text) = run(case);
    insta::with_settings!({
        filters => vec![
            (r"\b[0-9a-f]{64}\b", "[sha256]"),
            (r"\b[0-9a-f]{12}\b", "[hash]"),
        ],
        prepend_module_to_snapshot => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

macro_rules! snapshot_tests {
    ($($name:ident)*) => {
        $(#[test] fn $name() { snapshot(stringify!($name)); })*

        /// Every case of the table has a test (and a snapshot named after it).
        #[test]
        fn every_case_has_a_test() {
            let tested: Vec<&str> = vec![$(stringify!($name)),*];
            let table: Vec<&str> = cases().iter().map(|(n, _)| *n).collect();
            assert_eq!(tested, table);
            assert!(table.len() >= 25);
        }
    };
}

snapshot_tests! {
    docker_v2_cold_start
    docker_v1_cold_start
    native_v2_cold_start
    native_v1_cold_start
    docker_v2_no_op
    docker_v1_no_op
    native_v1_no_op
    native_v2_no_op
    docker_stopped_grafana_is_started
    docker_v1_stopped_influxdb_hides_its_database
    docker_stopped_grafana_changed_dashboard_is_checked
    docker_stopped_grafana_lost_dashboard_is_created_when_checked
    docker_grafana_container_removed_its_volume_kept
    docker_v2_stopped_influxdb
    docker_v2_stopped_influxdb_lost_token_is_minted_when_checked
    docker_v2_stopped_influxdb_lost_grafana_token_replaces_grafana
    docker_v2_stopped_influxdb_and_grafana_kept_token_starts_grafana
    docker_v2_stopped_influxdb_kept_token_updates_grafana_in_place
    native_v2_dead_influxdb_kept_token_keeps_grafana
    native_v1_influxdb_not_answering_hides_its_database
    docker_grafana_not_answering_hides_its_dashboards
    native_dead_process_is_started
    docker_container_removed_by_hand_is_created
    docker_containers_made_by_compose_are_adopted
    docker_container_with_drifted_env_is_replaced
    docker_network_made_by_compose_under_another_name
    docker_network_renamed
    docker_volume_made_under_another_name
    docker_grafana_image_change
    docker_v1_influxdb_image_change
    native_grafana_upgrade_to_another_homepath
    docker_grafana_port_change
    native_v1_influxdb_port_change
    docker_v2_retention_change
    docker_v1_retention_change
    native_v1_retention_altered_by_hand
    native_v2_retention_altered_by_hand
    docker_v1_database_user_dropped_by_hand
    docker_grafana_password_rotated
    native_influx_token_rotated
    docker_v2_grafana_token_deleted_by_hand
    native_v2_grafana_token_deleted_by_hand
    docker_v1_influx_passwords_rotated
    docker_dashboard_title_change
    docker_dashboard_title_change_unrecorded
    native_v1_dashboard_thresholds_change
    docker_alerting_off
    docker_alerting_on
    native_v1_alerting_off
    docker_slack_webhook_unset
    native_slack_webhook_unset
    docker_control_api_off_kept
    docker_control_api_off_pruned
    native_control_api_off_kept
    native_control_api_off_pruned
    docker_control_api_on
    docker_leftovers_kept
    docker_leftovers_pruned
    docker_alert_threshold_change_is_reloaded_in_place
    cloud_v1_cold_start
    cloud_v1_no_op
    cloud_alert_threshold_change_updates_in_place
    cloud_bucket_rename_replaces_the_tokens
}

/// Every possible cell of the module doc's table is exercised by some case: (kind, change) with
/// change one of create/update/replace/start/delete/kept/no-op.
#[test]
fn matrix_is_covered() {
    let mut seen = std::collections::BTreeSet::new();
    for (_, case) in cases() {
        let (p, _) = run(&case);
        let desired = compile_for(
            &case.after,
            case.flavour,
            &secrets_gen(case.rotated, case.unset),
        );
        let kind_of = |id: &ResourceId| match desired.resources.get(id).map(|r| &r.spec) {
            Some(ResourceSpec::Process(_)) => "process",
            _ if case.flavour == Native && id.kind == ResourceKind::Service => "process",
            _ => id.kind.as_str(),
        };
        for s in &p.steps {
            let change = match s.action {
                Action::Create => "create",
                Action::Update { .. } => "update",
                Action::Replace { .. } => "replace",
                Action::Start => "start",
                Action::Delete => "delete",
                Action::Check { .. } => "check",
            };
            seen.insert((kind_of(&s.id), change));
        }
        for id in &p.undeclared {
            seen.insert((kind_of(id), "kept"));
        }
        for id in desired.resources.keys() {
            if !p.steps.iter().any(|s| &s.id == id) {
                seen.insert((kind_of(id), "no-op"));
            }
        }
    }
    let mut missing = Vec::new();
    for (kind, changes) in [
        (
            "network",
            &["create", "replace", "delete", "kept", "no-op"][..],
        ),
        (
            "volume",
            &["create", "replace", "delete", "kept", "no-op"][..],
        ),
        (
            "service",
            &[
                "create", "update", "replace", "start", "delete", "kept", "no-op",
            ][..],
        ),
        (
            "process",
            &[
                "create", "update", "replace", "start", "delete", "kept", "no-op",
            ][..],
        ),
        ("database", &["create", "update", "check", "no-op"][..]),
        ("dashboard", &["create", "update", "check", "no-op"][..]),
        ("token", &["create", "replace", "no-op"][..]),
        ("datasource", &["create", "update", "no-op"][..]),
        ("alerting", &["create", "update", "no-op"][..]),
    ] {
        for change in changes {
            if !seen.contains(&(kind, *change)) {
                missing.push(format!("{kind} {change}"));
            }
        }
    }
    assert!(missing.is_empty(), "no case covers: {missing:?}");
}
