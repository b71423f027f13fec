//! Unit tests of the in-memory engine: what each step records, and the engine rules it
//! enforces.

use std::collections::BTreeMap;

use super::*;
use crate::desired::{DatabaseSpec, ProcessSpec};
use crate::plan::plan;

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn run(fake: &FakeTarget, id: ResourceId, action: Action, d: &Desired) -> Result<()> {
    block_on(fake.execute(&Step::new(id, action), d))
}

fn net() -> Resource {
    Resource::new(
        ResourceId::new(ResourceKind::Network, "net"),
        Vec::new(),
        ResourceSpec::Network {
            name: "s_net".into(),
        },
        &BTreeMap::new(),
    )
}

/// A held service (its hash, whether it runs, what it uses) that answers when it runs.
fn service(hash: Option<&str>, running: bool, uses: Vec<ResourceId>) -> Held {
    Held {
        hash: hash.map(str::to_string),
        canonical: Value::Null,
        running,
        answers: true,
        uses,
    }
}

/// What apply reports of `id` planned as a check and found as declared.
fn checked_unchanged(id: ResourceId) -> Vec<crate::targets::Done> {
    vec![crate::targets::Done {
        id,
        did: crate::targets::Did::Unchanged,
        checked: true,
        tokens_minted: None,
    }]
}

fn db(retention: &str) -> Resource {
    Resource::new(
        ResourceId::new(ResourceKind::Database, "k6"),
        vec![ResourceId::new(ResourceKind::Service, "influxdb")],
        ResourceSpec::Database(DatabaseSpec {
            version: 2,
            name: "k6".into(),
            org: Some("o".into()),
            retention: retention.into(),
            shard_duration: String::new(),
            users: Vec::new(),
            dbrp: None,
        }),
        &BTreeMap::new(),
    )
}

/// Grafana's folder `s`, held by `service.grafana`.
fn folder() -> Resource {
    Resource::new(
        ResourceId::new(ResourceKind::Folder, "s"),
        vec![ResourceId::new(ResourceKind::Service, "grafana")],
        ResourceSpec::Folder(crate::desired::FolderSpec {
            uid: "s".into(),
            title: "S".into(),
        }),
        &BTreeMap::new(),
    )
}

#[test]
fn create_records_the_step_and_replan_is_empty() {
    let fake = FakeTarget::new(Flavour::Docker);
    let d = Desired::of(vec![net()]);
    let p = plan(
        &d,
        &block_on(fake.observe(&d)).expect("observe"),
        "docker",
        false,
    );
    block_on(crate::targets::apply(&fake, &d, &p)).expect("apply");
    assert_eq!(fake.journal(), vec!["create network.net".to_string()]);
    assert_eq!(fake.held()[&net().id], Held::recorded(&net()));
    assert!(
        plan(
            &d,
            &block_on(fake.observe(&d)).expect("observe"),
            "docker",
            false
        )
        .is_empty()
    );
}

#[test]
fn a_database_needs_influxdb_running_and_is_invisible_without_it() {
    let fake = FakeTarget::new(Flavour::Docker);
    let d = Desired::of(vec![db("720h")]);
    fake.seed(db("24h").id, Held::recorded(&db("24h")));
    // No InfluxDB: the database cannot be seen, and cannot be converged.
    assert!(
        block_on(fake.observe(&d))
            .expect("observe")
            .resources
            .is_empty()
    );
    let err = run(&fake, db("720h").id, Action::Create, &d).expect_err("no influxdb");
    assert!(err.to_string().contains("InfluxDB is not running"), "{err}");
}

#[test]
fn a_network_in_use_cannot_be_deleted() {
    let fake = FakeTarget::new(Flavour::Docker);
    fake.seed(net().id, Held::recorded(&net()));
    fake.seed(
        ResourceId::new(ResourceKind::Service, "grafana"),
        service(None, true, vec![net().id]),
    );
    let err = run(&fake, net().id, Action::Delete, &Desired::of(Vec::new())).expect_err("in use");
    assert!(err.to_string().contains("still uses it"), "{err}");
    assert!(fake.held().contains_key(&net().id));
}

#[test]
fn start_of_nothing_fails_and_delete_of_nothing_succeeds() {
    let fake = FakeTarget::new(Flavour::Docker);
    let d = Desired::of(vec![net()]);
    assert!(run(&fake, net().id, Action::Start, &d).is_err());
    run(&fake, net().id, Action::Delete, &d).expect("idempotent delete");
}

#[test]
fn native_does_not_hold_networks() {
    let fake = FakeTarget::new(Flavour::Native);
    let d = Desired::of(vec![net()]);
    assert!(run(&fake, net().id, Action::Create, &d).is_err());
    assert!(fake.held().is_empty());
}

#[test]
fn destroy_keeps_data_unless_volumes() {
    let fake = FakeTarget::new(Flavour::Docker);
    let volume = ResourceId::new(ResourceKind::Volume, "data");
    fake.seed(net().id, Held::recorded(&net()));
    fake.seed(volume.clone(), Held::recorded(&net()));
    fake.seed(
        ResourceId::new(ResourceKind::Service, "influxdb"),
        service(None, false, vec![net().id, volume]),
    );
    fake.seed(db("720h").id, Held::recorded(&db("720h")));
    let d = Desired::of(Vec::new());
    let removed = block_on(fake.destroy(&d, false)).expect("destroy");
    assert_eq!(removed.removed, vec!["service influxdb", "network net"]);
    let kept: Vec<ResourceKind> = fake.held().keys().map(|id| id.kind).collect();
    assert_eq!(kept, vec![ResourceKind::Volume, ResourceKind::Database]);
    let removed = block_on(fake.destroy(&d, true)).expect("destroy volumes");
    assert_eq!(removed.removed, vec!["volume data", "database k6"]);
    assert!(fake.held().is_empty());
}

#[test]
fn status_tells_running_stopped_missing_and_up_to_date() {
    let process = |name: &str, args: &[&str]| {
        Resource::new(
            ResourceId::new(ResourceKind::Service, name),
            Vec::new(),
            ResourceSpec::Process(Box::new(ProcessSpec {
                args: args.iter().map(|a| a.to_string()).collect(),
                health_url: "http://127.0.0.1:1/health".into(),
                url: "http://127.0.0.1:1".into(),
                ..ProcessSpec::named(name)
            })),
            &BTreeMap::new(),
        )
    };
    let fake = FakeTarget::new(Flavour::Native);
    fake.seed(process("a", &[]).id, Held::recorded(&process("a", &[])));
    fake.seed(
        process("b", &["old"]).id,
        Held::recorded(&process("b", &["old"])),
    );
    let mut stopped = Held::recorded(&process("c", &[]));
    stopped.running = false;
    fake.seed(process("c", &[]).id, stopped);
    let d = Desired::of(vec![
        process("a", &[]),
        process("b", &["new"]),
        process("c", &[]),
        process("d", &[]),
    ]);
    let rows: Vec<(String, String, bool)> = block_on(fake.status(&d))
        .expect("status")
        .into_iter()
        .map(|s| (s.service, s.state, s.up_to_date))
        .collect();
    let row = |n: &str, s: &str, u: bool| (n.to_string(), s.to_string(), u);
    assert_eq!(
        rows,
        vec![
            row("a", "running", true),
            row("b", "running", false),
            row("c", "stopped", false),
            row("d", "missing", false),
        ]
    );
}

/// Fails on the old code: a service's `Update` was refused ("cannot be changed in place").
#[test]
fn a_reloadable_change_updates_the_service_in_place_and_nothing_else_does() {
    let grafana = |dashboards: &str, arg: &str| {
        Resource::new(
            ResourceId::new(ResourceKind::Service, "grafana"),
            Vec::new(),
            ResourceSpec::Process(Box::new(ProcessSpec {
                args: vec![arg.into()],
                health_url: "http://127.0.0.1:1/api/health".into(),
                url: "http://127.0.0.1:1".into(),
                reload_digest: BTreeMap::from([("grafana/dashboards".into(), dashboards.into())]),
                ..ProcessSpec::named("grafana")
            })),
            &BTreeMap::new(),
        )
    };
    let fake = FakeTarget::new(Flavour::Native);
    let old = grafana("aaa", "x");
    fake.seed(old.id.clone(), Held::recorded(&old));
    let d = Desired::of(vec![grafana("bbb", "x")]);
    let replan = |d: &Desired| {
        plan(
            d,
            &block_on(fake.observe(d)).expect("observe"),
            "native",
            false,
        )
    };
    let p = replan(&d);
    assert!(matches!(p.steps[0].action, Action::Update { .. }), "{p:?}");
    block_on(crate::targets::apply(&fake, &d, &p)).expect("apply");
    assert_eq!(fake.journal(), vec!["update service.grafana".to_string()]);
    let again = replan(&d);
    assert!(again.is_empty(), "{again:?}");
    // Another field too: replaced, and an update forced anyway is refused.
    let d2 = Desired::of(vec![grafana("ccc", "y")]);
    let p2 = replan(&d2);
    let Action::Replace { changes } = &p2.steps[0].action else {
        panic!("replace expected: {p2:?}")
    };
    let forced = Action::Update {
        changes: changes.clone(),
    };
    assert!(run(&fake, old.id.clone(), forced, &d2).is_err());
}

#[test]
fn a_check_is_read_again_when_it_runs_and_fails_naming_its_service_while_still_unread() {
    let fake = FakeTarget::new(Flavour::Docker);
    let influx = ResourceId::new(ResourceKind::Service, "influxdb");
    fake.seed(influx.clone(), service(Some("h"), false, Vec::new()));
    fake.seed(db("720h").id, Held::recorded(&db("720h")));
    let d = Desired::of(vec![db("720h")]);
    let p = plan(
        &d,
        &block_on(fake.observe(&d)).expect("observe"),
        "docker",
        false,
    );
    assert_eq!(p.steps, database_check(crate::plan::Unread::Stopped).steps);
    // Nothing starts InfluxDB here: read again with backoff, then an error that names it.
    let err = block_on(crate::targets::apply(&fake, &d, &p)).expect_err("still unread");
    assert_eq!(
        err.to_string(),
        "database.k6: cannot be read while influxdb is stopped, although service.influxdb was started"
    );
    assert!(
        matches!(&err, Error::Influx { help: Some(h), .. } if h.contains("promo-infra logs influxdb")),
        "{err:?}"
    );
    assert!(fake.journal().is_empty(), "nothing executed");
    // Running: found as declared, reported unchanged, nothing executed.
    assert!(fake.edit(&influx, |h| h.running = true));
    let done = block_on(crate::targets::apply(&fake, &d, &p)).expect("apply");
    assert_eq!(done, checked_unchanged(db("720h").id));
    assert!(fake.journal().is_empty(), "nothing executed");
}

/// The fake, but a read fails with the error `fails` gives for what it was asked to read (a
/// read of another service, or the engine's), as a target's observe can while a check is read
/// again.
struct FailingReads<F>(FakeTarget, F);

#[async_trait::async_trait(?Send)]
impl<F: Fn(&Desired) -> Option<Error>> crate::targets::Target for FailingReads<F> {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn observe(&self, d: &Desired) -> Result<crate::plan::Observed> {
        match (self.1)(d) {
            Some(e) => Err(e),
            None => self.0.observe(d).await,
        }
    }
    async fn execute(&self, step: &Step, d: &Desired) -> Result<()> {
        self.0.execute(step, d).await
    }
    async fn status(&self, d: &Desired) -> Result<Vec<crate::targets::ServiceStatus>> {
        self.0.status(d).await
    }
    async fn destroy(&self, d: &Desired, volumes: bool) -> Result<crate::targets::Destroyed> {
        self.0.destroy(d, volumes).await
    }
}

/// A plan of one step: the check of database `k6`, held by InfluxDB, unread for `why`.
fn database_check(why: crate::plan::Unread) -> crate::plan::Plan {
    let service = ResourceId::new(ResourceKind::Service, "influxdb");
    crate::plan::Plan {
        steps: vec![Step::new(db("720h").id, Action::Check { service, why })],
        ..crate::plan::Plan::default()
    }
}

/// Fails without the fix: the other read's failure came back as "InfluxDB: …" with the help
/// to read InfluxDB's logs, blaming the checked database.
#[test]
fn a_checks_read_failing_for_another_reason_is_passed_on_as_it_is() {
    let fake = FakeTarget::new(Flavour::Docker);
    // Every read fails, for the engine's reason.
    let reads_fail = FailingReads(fake, |_: &Desired| {
        Some(Error::transient(
            "grafana at http://127.0.0.1:3000: connection reset",
        ))
    });
    let d = Desired::of(vec![db("720h")]);
    let p = database_check(crate::plan::Unread::Stopped);
    let err = block_on(crate::targets::apply(&reads_fail, &d, &p)).expect_err("reads fail");
    assert!(
        matches!(&err, Error::Transient { message, .. } if message.starts_with("grafana at")),
        "{err:?}"
    );
}

/// Fails without the fix: the database's check read the whole stack again, Grafana's objects
/// too, and failed with Grafana's "does not answer" although InfluxDB held the database.
#[test]
fn a_check_reads_only_what_its_service_holds() {
    let fake = FakeTarget::new(Flavour::Native);
    let influx = ResourceId::new(ResourceKind::Service, "influxdb");
    fake.seed(db("720h").id, Held::recorded(&db("720h")));
    fake.seed(influx, service(Some("h"), true, Vec::new()));
    let folder = folder();
    let d = Desired::of(vec![db("720h"), folder]);
    // Grafana is still starting (its process runs, nothing listens yet): a read that includes
    // its objects fails, as native's did in the apply after `destroy`, where InfluxDB's
    // database check ran while Grafana was being started.
    let grafana_starting = FailingReads(fake, |d: &Desired| {
        d.resources
            .keys()
            .any(|id| id.kind == ResourceKind::Folder)
            .then(|| {
                Error::grafana(
                    "GET http://127.0.0.1:3000/api/folders/s: Grafana does not answer: connection refused",
                )
            })
    });
    let p = database_check(crate::plan::Unread::NotRunning);
    let done = block_on(crate::targets::apply(&grafana_starting, &d, &p)).expect("apply");
    assert_eq!(done, checked_unchanged(db("720h").id));
}

/// Each of N dashboard checks reads again its own dashboard (and the folder it is in), not the
/// N dashboards Grafana holds: N checks made N² reads (each a GET of every dashboard on docker
/// and native), which at a stack's hundred dashboards is ten thousand requests after a Grafana
/// restart. Fails without the fix: every check's read asked for all three dashboards.
#[test]
fn each_dashboard_check_reads_its_own_dashboard_only() {
    let fake = FakeTarget::new(Flavour::Docker);
    let grafana = ResourceId::new(ResourceKind::Service, "grafana");
    let folder = folder();
    let dashboard = |uid: &str| {
        Resource::new(
            ResourceId::new(ResourceKind::Dashboard, uid),
            vec![folder.id.clone()],
            ResourceSpec::Dashboard(crate::desired::DashboardSpec {
                uid: uid.into(),
                title: uid.into(),
                folder_uid: "s".into(),
                home: false,
                settings: String::new(),
                panels: BTreeMap::new(),
                file: String::new(),
            }),
            &BTreeMap::new(),
        )
    };
    let dashboards = [dashboard("a"), dashboard("b"), dashboard("c")];
    fake.seed(grafana.clone(), service(Some("h"), true, Vec::new()));
    for r in dashboards.iter().chain([&folder]) {
        fake.seed(r.id.clone(), Held::recorded(r));
    }
    let d = Desired::of(
        dashboards
            .iter()
            .chain([&folder])
            .cloned()
            .collect::<Vec<_>>(),
    );
    // Grafana was stopped when planned: the folder and each dashboard are checked.
    let p = crate::plan::Plan {
        steps: d
            .resources
            .keys()
            .map(|id| {
                let why = crate::plan::Unread::Stopped;
                let service = grafana.clone();
                Step::new(id.clone(), Action::Check { service, why })
            })
            .collect(),
        ..crate::plan::Plan::default()
    };
    let asked = std::cell::RefCell::new(Vec::new());
    let recording = FailingReads(fake, |d: &Desired| {
        let mut read: Vec<String> = d
            .resources
            .keys()
            .filter(|id| matches!(id.kind, ResourceKind::Dashboard | ResourceKind::Folder))
            .map(ToString::to_string)
            .collect();
        read.sort();
        asked.borrow_mut().push(read.join(" "));
        None
    });
    let done = block_on(crate::targets::apply(&recording, &d, &p)).expect("apply");
    assert!(
        done.iter()
            .all(|d| d.did == crate::targets::Did::Unchanged && d.checked),
        "{done:?}"
    );
    let mut asked = asked.into_inner();
    asked.sort();
    assert_eq!(
        asked,
        [
            "dashboard.a folder.s",
            "dashboard.b folder.s",
            "dashboard.c folder.s",
            "folder.s"
        ]
    );
}
