//! The native target against real processes: Debian's `influxd` 1.6, and the Grafana API double
//! started as `grafana server --config … --homepath …` through a stand-in `grafana` on PATH.

use std::path::{Path, PathBuf};
use std::time::Duration;

use promo_infra::compile;
use promo_infra::desired::{Desired, ResourceKind};
use promo_infra::ops::{self, Selection};
use promo_infra::plan::{self, Action};
use promo_infra::project::Project;
use promo_infra::targets::native::NativeTarget;
use promo_infra::targets::{self, Context, Target, TargetKind};

use crate::common::{HeldPorts, TestContext};

/// A port no other test of this process gets; let go at once (the target under test starts
/// its programs in-process, right after).
fn free_port() -> u16 {
    crate::common::free_port().port()
}

/// `grafana-double`, built on demand (a no-op when current).
pub fn grafana_double() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "-q",
            "-p",
            "promo-doubles",
            "--bin",
            "grafana-double",
        ])
        .status()
        .expect("cargo build grafana-double");
    assert!(status.success(), "building the Grafana double failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("debug/grafana-double")
}

/// A PATH where `grafana` is the double and everything else is the system's.
pub fn search_path(bin: &Path) -> std::ffi::OsString {
    std::os::unix::fs::symlink(grafana_double(), bin.join("grafana")).expect("symlink");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_promo-infra"), bin.join("promo-infra"))
        .expect("symlink");
    let mut paths = vec![bin.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).expect("join")
}

/// Ports of one test stack, chosen once.
#[derive(Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) influx: u16,
    pub(crate) grafana: u16,
    pub(crate) rpc: u16,
    pub(crate) control: u16,
}

impl Ports {
    /// Four fresh ports, held until `release()` right before the first apply starts the
    /// programs that bind them.
    pub(crate) fn free() -> (Self, HeldPorts) {
        let held = HeldPorts::default();
        let ports = Self {
            influx: held.take(),
            grafana: held.take(),
            rpc: held.take(),
            control: held.take(),
        };
        (ports, held)
    }
}

/// A stack on `ports` whose Grafana home page is dashboard `home` (`m` or `t`): changing it
/// changes Grafana's configuration only.
pub(crate) fn manifest(ports: Ports, home: &str) -> String {
    let Ports {
        influx: influx_port,
        grafana: grafana_port,
        rpc: rpc_port,
        control: control_port,
    } = ports;
    format!(
        "stack: native-it\nenvironment: preprod\nlocale: en\n\
         influxdb:\n  version: 1\n  image: influxdb:1.8\n  port: {influx_port}\n  bucket: k6\n  retention: 4w\n\
         grafana:\n  image: grafana/grafana:10.2.3\n  port: {grafana_port}\n  admin_user: ops\n  home_dashboard: {home}\n\
         control_api:\n  enabled: true\n  port: {control_port}\n\
         dashboards:\n  - uid: m\n    template: marketing\n  - uid: t\n    template: k6-technical\n\
         backup:\n  schedule: \"0 3 * * *\"\n  keep: {{ last: 3 }}\n  influx_rpc: 127.0.0.1:{rpc_port}\n"
    )
}

pub(crate) struct Stack {
    pub(crate) project: TestContext,
    bin: tempfile::TempDir,
    path: std::ffi::OsString,
}

/// Idempotence: `desired` observed again on `target` plans no change (the plan shown if not).
async fn replans_empty(target: &NativeTarget, desired: &Desired) {
    let observed = target.observe(desired).await.expect("observe");
    let again = plan::plan(desired, &observed, "native", false);
    assert!(again.is_empty(), "{}", plan::render(&again));
}

impl Stack {
    pub(crate) fn new(text: &str) -> Self {
        let project = TestContext::new();
        project.write("stacks/native-it.yaml", text);
        let bin = tempfile::tempdir().expect("bin");
        let path = search_path(bin.path());
        Self { project, bin, path }
    }

    /// The directory first on the PATH its commands run with (`grafana` is the double there).
    pub(crate) fn bin(&self) -> &Path {
        self.bin.path()
    }

    /// generate (files + .env), then compile for the native target with the stack's secrets.
    fn desired(&self) -> (Desired, NativeTarget) {
        // Through the binary, which sees no Docker engine (the test process's would be asked
        // for the stack's kept volumes, as `generate` does when it makes secrets).
        let generated = self.project.run(&["generate"]);
        assert_eq!(generated.code, 0, "{}", generated.all());
        let project = Project::new(self.project.path());
        let (templates, loaded) = ops::load_one(&project, &Selection::AllStacks).expect("load");
        let secrets = ops::secret_values(&project, &loaded.manifest).expect("secrets");
        let desired = compile::compile_for(&loaded, &templates, &secrets, TargetKind::Native)
            .expect("compile");
        let ctx = Context {
            stack: loaded.stack().to_string(),
            generated_dir: project.generated_dir(loaded.stack()),
            manifest_path: loaded.rel_path.clone(),
            secrets,
            health_timeout: Duration::from_secs(30),
        };
        let target = NativeTarget::new(
            ctx,
            self.project.path(),
            &compile::native::data_dir(&loaded.manifest),
        )
        .with_search_path(self.path.clone());
        (desired, target)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = &self.bin;
        // Stop whatever a failed test left running (by the pids in its own pidfiles).
        let run = self.project.path().join("data/native-it/run");
        for entry in std::fs::read_dir(&run).into_iter().flatten().flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            let Some(pid) = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["pid"].as_i64())
            else {
                continue;
            };
            let cmdline =
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            // Clean-up of what a failed test left (a process's command line, not output).
            if cmdline.contains("native-it")
                || cmdline.contains("grafana")
                || cmdline.contains("influxd")
                || cmdline.contains("control-api")
            {
                let _ = std::process::Command::new("kill")
                    .arg(pid.to_string())
                    .status();
            }
        }
    }
}

async fn converge(desired: &Desired, target: &NativeTarget) -> plan::Plan {
    let observed = target.observe(desired).await.expect("observe");
    let p = plan::plan(desired, &observed, "native", false);
    targets::apply(target, desired, &p).await.expect("apply");
    p
}

pub(crate) fn pid_of(project: &Path, name: &str) -> i32 {
    let text = std::fs::read_to_string(project.join(format!("data/native-it/run/{name}.pid")))
        .expect("pidfile");
    serde_json::from_str::<serde_json::Value>(&text).expect("json")["pid"]
        .as_i64()
        .expect("pid") as i32
}

#[tokio::test(flavor = "multi_thread")]
async fn native_lifecycle_with_real_influxd() {
    let (ports, held) = Ports::free();
    let ip = ports.influx;
    let stack = Stack::new(&manifest(ports, "m"));
    let (desired, target) = stack.desired();

    // Cold apply to healthy.
    held.release();
    let first = converge(&desired, &target).await;
    // 3 processes, the database, the dashboards' folder and its dashboards.
    let dashboards = desired
        .resources
        .keys()
        .filter(|id| id.kind == promo_infra::desired::ResourceKind::Dashboard)
        .count();
    assert_eq!(
        first.summary().add,
        5 + dashboards,
        "{}",
        plan::render(&first)
    );
    let status = target.status(&desired).await.expect("status");
    assert_eq!(
        status.len(),
        3,
        "influxdb, grafana and the control API: {status:?}"
    );
    for s in &status {
        assert_eq!(
            (s.state.as_str(), s.health.as_str()),
            ("running", "healthy"),
            "{s:?}"
        );
        assert!(s.up_to_date, "{s:?}");
    }
    // The version the real influxd reports (third-party; its patch level varies).
    assert!(
        status
            .iter()
            .any(|s| s.service == "influxdb" && s.version.contains("1.6")),
        "{status:?}"
    );

    // Re-plan right after apply: no changes.
    replans_empty(&target, &desired).await;

    // Data written through the least-privilege k6 user.
    let env = std::fs::read_to_string(stack.project.path().join("generated/native-it/.env"))
        .expect(".env");
    let k6_pw = env
        .lines()
        .find_map(|l| l.strip_prefix("INFLUXDB_K6_PASSWORD="))
        .expect("k6 password")
        .to_string();
    let admin_pw = env
        .lines()
        .find_map(|l| l.strip_prefix("INFLUXDB_ADMIN_PASSWORD="))
        .expect("admin password")
        .to_string();
    let http = reqwest::Client::new();
    let w = http
        .post(format!("http://127.0.0.1:{ip}/write?db=k6"))
        .basic_auth("k6", Some(&k6_pw))
        .body("http_reqs,testid=native,name=a value=1\nhttp_reqs,testid=native,name=b value=1")
        .send()
        .await
        .expect("write");
    assert_eq!(w.status().as_u16(), 204);
    let count = || async {
        let body: serde_json::Value = http
            .post(format!("http://127.0.0.1:{ip}/query"))
            .basic_auth("promo-admin", Some(&admin_pw))
            .form(&[("db", "k6"), ("q", "SELECT count(value) FROM http_reqs")])
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        body["results"][0]["series"][0]["values"][0][1].as_i64()
    };
    assert_eq!(count().await, Some(2));

    // The home dashboard is Grafana's org preference, set through its API: the two dashboards
    // are updated in place and no process restarts.
    let influx_pid = pid_of(stack.project.path(), "influxdb");
    let grafana_pid = pid_of(stack.project.path(), "grafana");
    stack
        .project
        .write("stacks/native-it.yaml", &manifest(ports, "t"));
    let (desired2, target2) = stack.desired();
    let change = converge(&desired2, &target2).await;
    let replaced: Vec<String> = change
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Replace { .. }))
        .map(|s| s.id.to_string())
        .collect();
    assert!(replaced.is_empty(), "{}", plan::render(&change));
    let updated: Vec<String> = change
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Update { .. }))
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(
        updated,
        ["dashboard.m", "dashboard.t"],
        "{}",
        plan::render(&change)
    );
    assert_eq!(
        pid_of(stack.project.path(), "influxdb"),
        influx_pid,
        "InfluxDB must not restart"
    );
    assert_eq!(
        pid_of(stack.project.path(), "grafana"),
        grafana_pid,
        "Grafana must not restart"
    );
    assert!(
        plan::plan(
            &desired2,
            &target2.observe(&desired2).await.expect("observe"),
            "native",
            false
        )
        .is_empty()
    );

    // An InfluxDB-only change (its RPC address lives only in influxdb.conf) restarts InfluxDB only.
    let grafana_pid = pid_of(stack.project.path(), "grafana");
    let rp2 = free_port();
    stack.project.write(
        "stacks/native-it.yaml",
        &manifest(Ports { rpc: rp2, ..ports }, "t"),
    );
    let (desired2, target2) = stack.desired();
    let change = converge(&desired2, &target2).await;
    let replaced: Vec<String> = change
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Replace { .. }))
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(replaced, ["service.influxdb"], "{}", plan::render(&change));
    assert_eq!(
        pid_of(stack.project.path(), "grafana"),
        grafana_pid,
        "Grafana must not restart"
    );
    assert_eq!(count().await, Some(2), "data survives the InfluxDB restart");

    // destroy keeps data; a later apply finds it.
    let removed = target2
        .destroy(&desired2, false)
        .await
        .expect("destroy")
        .removed;
    assert_eq!(
        removed,
        ["process control-api", "process grafana", "process influxdb"]
    );
    assert!(
        target2
            .observe(&desired2)
            .await
            .expect("observe")
            .resources
            .is_empty()
    );
    converge(&desired2, &target2).await;
    assert_eq!(
        count().await,
        Some(2),
        "data survives destroy without --volumes"
    );

    // destroy --volumes removes the data directory.
    target2
        .destroy(&desired2, true)
        .await
        .expect("destroy --volumes");
    assert!(!stack.project.path().join("data/native-it").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recycled_pid_is_never_signalled() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let (desired, target) = stack.desired();
    // Another program now has the pid the pidfile names.
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    let run = stack.project.path().join("data/native-it/run");
    std::fs::create_dir_all(&run).expect("run dir");
    let stale = serde_json::json!({
        "pid": other.id(), "start_ticks": 1, "program": "/usr/bin/influxd", "hash": "x", "canonical": null
    });
    std::fs::write(run.join("influxdb.pid"), stale.to_string()).expect("pidfile");

    held.release();
    let observed = target.observe(&desired).await.expect("observe");
    // Its process is gone (stopped, as `status` says): it is planned to run again, never
    // taken for the program that has its pid now.
    let services: Vec<(String, bool)> = observed
        .resources
        .values()
        .filter(|o| o.id.kind == ResourceKind::Service)
        .map(|o| (o.id.name.clone(), o.converged))
        .collect();
    assert_eq!(
        services,
        [("influxdb".to_string(), false)],
        "a pidfile whose pid belongs to another program names a stopped process, not a live one"
    );
    let p = plan::plan(&desired, &observed, "native", false);
    targets::apply(&target, &desired, &p).await.expect("apply");
    target.destroy(&desired, true).await.expect("destroy");
    assert!(
        other.try_wait().expect("wait").is_none(),
        "the unrelated process must still run"
    );
    other.kill().expect("kill sleep");
    let _ = other.wait();
}

/// On the stack's own InfluxDB 2 (docker and native alike, through `targets::common`), k6 gets a
/// token of its own, write-only on the bucket, kept in `.env`; re-observed it plans nothing; the
/// double's authorization checks refuse it a read.
#[tokio::test]
async fn influx2_k6_gets_a_write_only_token_of_its_own() {
    use promo_doubles::influx2::{self, Influx2Config};
    use promo_infra::desired::ResourceSpec;
    let server = influx2::spawn(Influx2Config::default())
        .await
        .expect("influx2 double");
    let port = server.url().rsplit(':').next().expect("port").to_string();
    let text = format!(
        "stack: v2\nenvironment: preprod\ninfluxdb:\n  version: 2\n  image: influxdb:2.7\n  port: {port}\n  org: shop\n  bucket: k6\n  retention: 30d\ngrafana:\n  image: grafana/grafana:10.2.3\n"
    );
    let manifest = promo_infra::manifest::parse("v2.yaml", &text).expect("manifest");
    let loaded = promo_infra::manifest::Loaded {
        manifest,
        source: promo_infra::error::Source::new("v2.yaml", text.as_str()),
        rel_path: "stacks/v2.yaml".into(),
    };
    let dir = tempfile::tempdir().expect("dir");
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        format!(
            "INFLUXDB_ADMIN_PASSWORD={}\nINFLUXDB_ADMIN_TOKEN={}\n",
            "ab".repeat(16),
            "cd".repeat(32)
        ),
    )
    .expect(".env");
    std::fs::set_permissions(&env, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let compile = |secrets: &promo_infra::secrets::SecretValues| {
        compile::compile_for(
            &loaded,
            &compile::Templates::builtin(),
            secrets,
            TargetKind::Native,
        )
        .expect("compile")
    };
    let secrets = || {
        promo_infra::secrets::read_env(&env)
            .expect("read .env")
            .expect(".env")
    };
    let ctx = |secrets| Context {
        stack: "v2".into(),
        generated_dir: dir.path().to_path_buf(),
        manifest_path: "stacks/v2.yaml".into(),
        secrets,
        health_timeout: Duration::from_secs(5),
    };
    let desired = compile(&secrets());
    let db = desired
        .resources
        .values()
        .find_map(|r| match &r.spec {
            ResourceSpec::Database(d) => Some(d.clone()),
            _ => None,
        })
        .expect("database");
    let tokens: Vec<_> = desired
        .resources
        .values()
        .filter_map(|r| match &r.spec {
            ResourceSpec::Token(t) => Some((r.clone(), t.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        tokens
            .iter()
            .map(|(r, t)| (r.id.to_string(), t.permissions.clone(), t.secret.clone()))
            .collect::<Vec<_>>(),
        [
            (
                "token.grafana-read".to_string(),
                vec!["read:buckets/k6".to_string()],
                "INFLUXDB_GRAFANA_TOKEN".to_string()
            ),
            (
                "token.k6-write".to_string(),
                vec!["write:buckets/k6".to_string()],
                "INFLUXDB_K6_TOKEN".to_string()
            ),
        ]
    );
    let grafana = desired
        .resources
        .get(&promo_infra::desired::ResourceId::new(
            ResourceKind::Service,
            "grafana",
        ))
        .expect("grafana");
    assert!(
        grafana.depends_on.contains(&tokens[0].0.id),
        "Grafana starts after its token is minted: {:?}",
        grafana.depends_on
    );
    let token = &tokens[1].0;
    let c = ctx(secrets());
    targets::common::apply_database(&c, &desired, &db)
        .await
        .expect("setup");
    assert!(
        targets::common::read_databases(
            &c,
            &desired,
            "native",
            targets::grafana_api::Attempts::Retried
        )
        .await
        .expect("observe")
        .iter()
        .all(|o| o.id != token.id),
        "not minted yet"
    );
    for (token, spec) in &tokens {
        targets::common::mint_token(&c, &desired, "native", token, spec)
            .await
            .expect("mint");
    }
    // What the next plan sees: everything as declared.
    let values = secrets();
    let k6 = values
        .get("INFLUXDB_K6_TOKEN")
        .expect("in .env")
        .to_string();
    let desired = compile(&values);
    let observed = targets::common::read_databases(
        &ctx(values),
        &desired,
        "native",
        targets::grafana_api::Attempts::Retried,
    )
    .await
    .expect("observe");
    let mut o = plan::Observed::default();
    for r in observed {
        o.resources.insert(r.id.clone(), r);
    }
    let replan = plan::plan(&desired, &o, "native", false);
    assert!(
        replan.steps.iter().all(|s| matches!(
            s.id.kind,
            ResourceKind::Service | ResourceKind::Folder | ResourceKind::Dashboard
        )),
        "database and token converged: {:?}",
        replan.steps
    );
    // A busy InfluxDB (503s, as under a load test's writes) is read again, then an error: never
    // "no database, no tokens", which planned the bucket created, new tokens and Grafana replaced.
    let desired = &desired;
    let read = |c| async move {
        targets::common::read_databases(
            &c,
            desired,
            "native",
            targets::grafana_api::Attempts::Retried,
        )
        .await
    };
    server
        .state()
        .inject_fault(promo_doubles::common::FaultSpec::server_error(503, 2));
    let again = read(ctx(secrets())).await.expect("read after two 503s");
    assert_eq!(again.len(), 3, "database and both tokens: {again:?}");
    server
        .state()
        .inject_fault(promo_doubles::common::FaultSpec::server_error(503, 1000));
    let busy = read(ctx(secrets()))
        .await
        .expect_err("InfluxDB never answers");
    assert!(busy.to_string().contains("503"), "{busy}");
    server.state().clear_faults();
    // Least privilege, as the double checks it: k6's token writes, and may not read.
    let http = reqwest::Client::new();
    let status = |req: reqwest::RequestBuilder| async {
        req.header("Authorization", format!("Token {k6}"))
            .send()
            .await
            .expect("double answers")
            .status()
            .as_u16()
    };
    let url = server.url();
    assert_eq!(
        status(
            http.post(format!("{url}/api/v2/write?org=shop&bucket=k6"))
                .body("http_reqs value=1 1700000000000000000")
        )
        .await,
        204
    );
    let auths = server.state().authorizations();
    let minted = auths
        .iter()
        .find(|a| a.token == k6)
        .expect("k6's authorization");
    let bucket = server.state().bucket("k6").expect("bucket");
    assert_eq!(
        minted.permissions,
        [
            serde_json::json!({ "action": "write", "resource": { "type": "buckets", "id": bucket.id, "orgID": bucket.org_id } })
        ],
        "write on the bucket, nothing else"
    );
    // The bucket as a token sees it.
    let bucket_seen_by = |token: String| {
        let req = http
            .get(format!("{url}/api/v2/buckets?name=k6"))
            .header("Authorization", format!("Token {token}"));
        async move {
            let listed: serde_json::Value = req
                .send()
                .await
                .expect("double answers")
                .json()
                .await
                .expect("json");
            listed["buckets"].clone()
        }
    };
    assert_eq!(
        bucket_seen_by(k6.clone()).await,
        serde_json::json!([]),
        "it cannot read the bucket"
    );
    // Grafana's token reads the bucket, and may not write.
    let grafana_token = secrets()
        .get("INFLUXDB_GRAFANA_TOKEN")
        .expect("in .env")
        .to_string();
    assert_eq!(
        bucket_seen_by(grafana_token.clone()).await[0]["name"],
        "k6",
        "Grafana reads the bucket"
    );
    let write = http
        .post(format!("{url}/api/v2/write?org=shop&bucket=k6"))
        .header("Authorization", format!("Token {grafana_token}"))
        .body("http_reqs value=1 1700000000000000000")
        .send()
        .await
        .expect("double answers")
        .status()
        .as_u16();
    assert_eq!(write, 403, "Grafana's token may not write");
}

#[tokio::test]
async fn influx2_bucket_is_set_up_and_converges() {
    use promo_doubles::influx2::{self, Influx2Config};
    let server = influx2::spawn(Influx2Config::default())
        .await
        .expect("influx2 double");
    let text = "stack: v2\nenvironment: preprod\ninfluxdb:\n  version: 2\n  image: influxdb:2.7\n  org: shop\n  bucket: k6\n  retention: 30d\ngrafana:\n  image: grafana/grafana:10.2.3\n";
    let manifest = promo_infra::manifest::parse("v2.yaml", text).expect("manifest");
    let loaded = promo_infra::manifest::Loaded {
        manifest,
        source: promo_infra::error::Source::new("v2.yaml", text),
        rel_path: "stacks/v2.yaml".into(),
    };
    let secrets = promo_infra::secrets::SecretValues::from_pairs([
        ("INFLUXDB_ADMIN_PASSWORD".to_string(), "ab".repeat(16)),
        ("INFLUXDB_ADMIN_TOKEN".to_string(), "cd".repeat(32)),
    ]);
    let desired = compile::compile_for(
        &loaded,
        &compile::Templates::builtin(),
        &secrets,
        TargetKind::Native,
    )
    .expect("compile");
    let (id, spec) = desired
        .resources
        .values()
        .find_map(|r| match &r.spec {
            promo_infra::desired::ResourceSpec::Database(s) => Some((r.id.clone(), s.clone())),
            _ => None,
        })
        .expect("database");
    let ep = promo_infra::influx::Endpoint { url: server.url() };
    assert!(
        promo_infra::influx::observe(&ep, &spec, &secrets)
            .await
            .expect("observe")
            .is_none(),
        "not set up yet"
    );
    promo_infra::influx::apply(&ep, &spec, &secrets)
        .await
        .expect("setup");
    assert_eq!(
        server.operator_token().as_deref(),
        Some("cd".repeat(32).as_str())
    );
    let found = promo_infra::influx::observe(&ep, &spec, &secrets)
        .await
        .expect("observe")
        .expect("bucket");
    let observed = promo_infra::influx::observed_resource(&id, found);
    assert_eq!(
        observed.hash.as_deref(),
        Some(desired.resources[&id].hash.as_str()),
        "re-plan empty"
    );

    // Retention change: PATCHed in place.
    let spec12 = promo_infra::desired::DatabaseSpec {
        retention: "12h".into(),
        ..spec.clone()
    };
    promo_infra::influx::apply(&ep, &spec12, &secrets)
        .await
        .expect("patch");
    let found = promo_infra::influx::observe(&ep, &spec12, &secrets)
        .await
        .expect("observe")
        .expect("bucket");
    assert_eq!(found.retention, "12h");

    // Finite to infinite: fails on the old code, which PATCHed an empty rule list (InfluxDB 2
    // keeps the retention then, and so does the double).
    let spec_inf = promo_infra::desired::DatabaseSpec {
        retention: "INF".into(),
        ..spec.clone()
    };
    promo_infra::influx::apply(&ep, &spec_inf, &secrets)
        .await
        .expect("patch");
    let found = promo_infra::influx::observe(&ep, &spec_inf, &secrets)
        .await
        .expect("observe")
        .expect("bucket");
    assert_eq!(found.retention, "INF");
}

/// The same target through the command line, as users drive it.
#[test]
fn cli_apply_plan_status_destroy_with_target_native() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let run = |extra: &[&str]| {
        held.release();
        cli(&stack, extra)
    };

    // Without a terminal and without --auto-approve, apply refuses and starts nothing.
    let r = promo_snapshot!(
        @named "cli_apply_refused_without_a_terminal",
        run(&["apply", "--target", "native"])
    );
    assert!(
        !stack
            .project
            .path()
            .join("data/native-it/run/influxdb.pid")
            .exists(),
        "{}",
        r.all()
    );

    promo_snapshot!(
        @named "cli_apply",
        run(&["apply", "--target", "native", "--auto-approve"]).sorted_stderr()
    );
    promo_snapshot!(run(&["plan", "--target", "native", "--detailed-exitcode"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    No changes. Stack `native-it` on target native matches the configuration.

    ----- stderr -----
    ");
    // Grafana and InfluxDB moved to other ports in the manifest: what they hold (database,
    // folder, dashboards) is read where they still run, so the plan restarts them and creates
    // nothing; back to the applied ports, nothing to do.
    let moved = Ports {
        influx: free_port(),
        grafana: free_port(),
        ..ports
    };
    stack
        .project
        .write("stacks/native-it.yaml", &manifest(moved, "m"));
    let plan = run(&["plan", "--target", "native", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).expect("plan json");
    let steps: Vec<String> = plan["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            format!(
                "{} {}.{}",
                text(&s["action"]),
                text(&s["id"]["kind"]),
                text(&s["id"]["name"])
            )
        })
        .collect();
    assert!(
        steps.iter().all(|s| !s.starts_with("create")),
        "nothing is created when it exists where the services run: {steps:?}"
    );
    assert!(
        steps.contains(&"replace service.grafana".to_string())
            && steps.contains(&"replace service.influxdb".to_string()),
        "{steps:?}"
    );
    stack
        .project
        .write("stacks/native-it.yaml", &manifest(ports, "m"));
    assert_eq!(
        run(&["plan", "--target", "native", "--detailed-exitcode"]).code,
        0
    );

    let r = run(&["status", "--target", "native", "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let status: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("status json");
    let services = status["services"].as_array().expect("array");
    assert_eq!(services.len(), 3, "{}", r.stdout);
    assert!(
        services
            .iter()
            .all(|s| s["health"] == "healthy" && s["state"] == "running"),
        "{}",
        r.stdout
    );

    promo_snapshot!(run(&["destroy", "--target", "native", "--auto-approve"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will destroy on stack `native-it` (target native):

      - service.control-api
      - service.grafana
      - service.influxdb

    Data directories are kept (data/native-it/…; use --volumes to remove them too).
      - process control-api
      - process grafana
      - process influxdb
    ✓ Destroy complete: 3 object(s) removed; data directories kept (data/native-it/…).

    ----- stderr -----
    ");
    // After destroy the processes are planned again; what they hold is kept in their data
    // directories but cannot be read while they do not run: known after apply, not created.
    promo_snapshot!(
        @named "cli_plan_after_destroy",
        run(&["plan", "--target", "native", "--detailed-exitcode"])
    );
    assert!(
        stack
            .project
            .path()
            .join("data/native-it/influxdb")
            .exists(),
        "data kept without --volumes"
    );
    // apply reads them once their process runs and says what it did: the database is found
    // as declared (unchanged), never "created"; the re-plan is empty.
    let r = promo_snapshot!(
        @named "cli_apply_after_destroy",
        run(&["apply", "--target", "native", "--auto-approve"]).sorted_stderr()
    );
    assert!(
        r.stdout
            .contains("✓ database.k6: unchanged (checked once its service ran)"),
        "{}",
        r.all()
    );
    assert_eq!(
        run(&["plan", "--target", "native", "--detailed-exitcode"]).code,
        0
    );
    without_a_terminal_rotate_and_rollback_point_at_their_own_preview(&stack, ports, &run);
    assert_eq!(
        run(&["destroy", "--target", "native", "--auto-approve"]).code,
        0
    );
    promo_snapshot!(
        run(&["destroy", "--target", "native", "--volumes", "--auto-approve"]),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `native-it` has nothing to destroy on target native.
      - data [TEMP]/data/native-it
    ✓ Destroy complete: 1 object(s) removed.

    ----- stderr -----
    "
    );
    assert!(!stack.project.path().join("data/native-it").exists());
}

/// Without a terminal, `secrets rotate` and `dashboards rollback` show what they would do and
/// refuse, pointing at what they showed (and at `dashboards history`), not at
/// `promo-infra plan`, which shows neither a rotation nor a rollback (the old help); nothing
/// changes.
fn without_a_terminal_rotate_and_rollback_point_at_their_own_preview(
    stack: &Stack,
    ports: Ports,
    run: &dyn Fn(&[&str]) -> crate::common::Run,
) {
    let env = "generated/native-it/.env";
    let before = stack.project.read(env);
    let rotate = run(&[
        "secrets",
        "rotate",
        "CONTROL_API_TOKEN",
        "--target",
        "native",
    ]);
    let refusal: Vec<&str> = rotate.stderr.lines().collect();
    assert_eq!(
        (rotate.code, refusal.as_slice()),
        (
            1,
            [
                "  x secrets rotate needs confirmation, but stdin is not a terminal",
                "  help: review the rotation described above (its live change, .env, and the services it restarts), then re-run with --auto-approve; nothing was changed",
            ]
            .as_slice()
        ),
        "{}",
        rotate.all()
    );
    assert!(
        rotate
            .stdout
            .contains("promo-infra will rotate CONTROL_API_TOKEN"),
        "the preview the help points at: {}",
        rotate.all()
    );
    assert_eq!(stack.project.read(env), before, "rotate changed .env");

    // Someone edits the dashboard in Grafana's UI: version 2, to roll back from.
    let grafana = promo_infra::grafana::Client::new(
        &format!("http://127.0.0.1:{}", ports.grafana),
        promo_infra::grafana::Auth::Basic {
            user: "ops".into(),
            password: promo_infra::control::Secret::new(
                before
                    .lines()
                    .find_map(|l| l.strip_prefix("GRAFANA_ADMIN_PASSWORD="))
                    .expect("password")
                    .to_string(),
            ),
        },
        1,
    )
    .expect("client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, body) = rt
        .block_on(grafana.request(
            reqwest::Method::POST,
            "/__double/ui-edit/m",
            Some(&serde_json::json!({"title": "Edited in the UI"})),
        ))
        .expect("ui edit");
    assert!(status.is_success(), "{status} {body}");
    promo_snapshot!(run(&["dashboards", "rollback", "m", "--to", "1", "--target", "native"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----
    Rolling back m to version 1 changes, from Grafana's dashboard now:

          ~ title: "Edited in the UI" → "Promo load test – marketing view"

    ----- stderr -----
      x dashboards rollback needs confirmation, but stdin is not a terminal
      help: review the changes listed above (`promo-infra -f stacks/native-it.yaml dashboards history m --target native` lists its versions), then re-run with --auto-approve; nothing was changed
    "#);
    let (now, _) = rt
        .block_on(grafana.dashboard("m"))
        .expect("get")
        .expect("there");
    assert_eq!(now["title"], "Edited in the UI", "rollback changed Grafana");
}

/// A one-process stack run by the native target: `program args…`, healthy when `health_url`
/// answers 2xx, waited for `timeout`.
fn one_process(
    dir: &Path,
    program: &str,
    args: &[&str],
    health_url: &str,
    timeout: Duration,
) -> (Desired, NativeTarget, promo_infra::desired::ResourceId) {
    use promo_infra::desired::{ProcessSpec, Resource, ResourceId, ResourceSpec};
    let id = ResourceId::new(ResourceKind::Service, "grafana");
    let spec = ProcessSpec {
        name: "grafana".into(),
        program: program.into(),
        args: args.iter().map(|a| (*a).to_string()).collect(),
        env: Default::default(),
        health_url: health_url.into(),
        url: health_url.into(),
        depends_on: vec![],
        config_digest: Default::default(),
        reload_digest: Default::default(),
    };
    let mut desired = Desired {
        stack: "native-start".into(),
        ..Desired::default()
    };
    desired.add(Resource::new(
        id.clone(),
        vec![],
        ResourceSpec::Process(Box::new(spec)),
        &Default::default(),
    ));
    let ctx = Context {
        stack: "native-start".into(),
        generated_dir: dir.join("generated/native-start"),
        manifest_path: "stacks/native-start.yaml".into(),
        secrets: Default::default(),
        health_timeout: timeout,
    };
    (
        desired,
        NativeTarget::new(ctx, dir, "data/native-start"),
        id,
    )
}

/// Pids of running (not zombie) processes whose command line is exactly `argv`.
fn pids_running(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        })
        .collect()
}

/// A process that starts but never becomes healthy is stopped, not left orphaned (before: the
/// error was reported and the process kept running with nobody owning it).
#[tokio::test(flavor = "multi_thread")]
async fn a_start_that_never_becomes_healthy_stops_what_it_started() {
    let project = tempfile::tempdir().expect("dir");
    let marker = format!("{}.{}", 300, std::process::id());
    let health = format!("http://127.0.0.1:{}/api/health", free_port());
    let (desired, target, id) = one_process(
        project.path(),
        "sleep",
        &[&marker],
        &health,
        Duration::from_secs(2),
    );
    let sleep = which_sleep();
    let step = plan::Step::new(id, Action::Create);
    let err = target
        .execute(&step, &desired)
        .await
        .expect_err("never healthy")
        .to_string();
    let left = pids_running(&[&sleep, &marker]);
    for pid in &left {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    assert!(
        left.is_empty(),
        "the failed start left {left:?} running: {err}"
    );
    promo_snapshot!(crate::common::Text::new(err, project.path()), @"grafana did not become healthy within 2s: http://127.0.0.1:[PORT]/api/health answered: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111); it was stopped; log: (no log output)");
    assert!(
        !project
            .path()
            .join("data/native-start/run/grafana.pid")
            .exists(),
        "the pidfile of a stopped process must go"
    );
    // Its status: stopped (it ran; its log is there to read), not missing as a service never
    // started is.
    let rows = target.status(&desired).await.expect("status");
    assert_eq!(
        rows.iter()
            .map(|r| (r.service.as_str(), r.state.as_str()))
            .collect::<Vec<_>>(),
        [("grafana", "stopped")]
    );
}

fn which_sleep() -> String {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("sleep"))
        .find(|p| p.is_file())
        .expect("sleep on PATH")
        .display()
        .to_string()
}

/// A program that exits at once is reported as exited, with its exit status, without waiting
/// for the health timeout; and a program that runs is never reported as exited: its identity is
/// checked after the exec (before: a check racing the exec saw `sh`, reported "exited while
/// starting" and left the program running).
#[tokio::test(flavor = "multi_thread")]
async fn start_reports_exits_exactly_and_never_a_running_program_as_exited() {
    let project = tempfile::tempdir().expect("dir");
    let health = format!("http://127.0.0.1:{}/api/health", free_port());
    let (desired, target, id) = one_process(
        project.path(),
        "false",
        &[],
        &health,
        Duration::from_secs(30),
    );
    let step = plan::Step::new(id, Action::Create);
    let err = target
        .execute(&step, &desired)
        .await
        .expect_err("false exits")
        .to_string();
    // It reports the exit, not a health timeout (30 s): what a fast failure means.
    promo_snapshot!(crate::common::Text::new(err, project.path()), @"grafana exited while starting (exit status: 1): (no log output)");

    // A program that becomes healthy: started repeatedly, always found running and healthy.
    for round in 0..5 {
        let port = free_port();
        let health = format!("http://127.0.0.1:{port}/");
        let (desired, target, id) = one_process(
            project.path(),
            "python3",
            &[
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ],
            &health,
            Duration::from_secs(30),
        );
        let step = plan::Step::new(id, Action::Create);
        target
            .execute(&step, &desired)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let rec = target.live("grafana").expect("recorded and live");
        assert!(rec.program.ends_with("/python3"), "{rec:?}");
        target.destroy(&desired, false).await.expect("stop");
        assert!(target.live("grafana").is_none());
    }
}

/// Without a terminal, `apply` prints a line per event on stderr (CI logs are not silent while
/// services start); `logs` prefixes each line with its service, `--tail` bounds it, `--follow`
/// streams new lines until Ctrl-C; `restart` starts the same program again (new pid) and waits
/// until it is healthy.
#[test]
fn cli_events_logs_and_restart_with_target_native() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let dir = stack.project.path();
    let cmd = |args: &[&str]| {
        let mut all = vec!["-f", "stacks/native-it.yaml"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--target", "native"]);
        stack.project.cmd(&all).env("PATH", &stack.path)
    };
    held.release();
    let apply = cmd(&["apply", "--auto-approve"]).run();
    assert_eq!(apply.code, 0, "{}", apply.all());
    // Steps of one wave run concurrently: their lines interleave, each step's pair in order.
    let mut events: Vec<String> = apply
        .stderr
        .lines()
        .map(|l| match l.rfind(" (") {
            Some(i) if l.ends_with("s)") => format!("{} (T)", &l[..i]),
            _ => l.to_string(),
        })
        .collect();
    let position = |line: &str| events.iter().position(|l| l == line);
    for id in ["service.influxdb", "service.grafana", "service.control-api"] {
        let (start, end) = (
            position(&format!("{id}: creating")),
            position(&format!("{id}: created and healthy (T)")),
        );
        assert!(start.is_some() && start < end, "{events:?}");
    }
    events.sort();
    assert_eq!(
        events,
        [
            "dashboard.m: created (T)",
            "dashboard.m: creating",
            "dashboard.t: created (T)",
            "dashboard.t: creating",
            "database.k6: created (T)",
            "database.k6: creating",
            "folder.native-it: created (T)",
            "folder.native-it: creating",
            "service.control-api: created and healthy (T)",
            "service.control-api: creating",
            "service.grafana: created and healthy (T)",
            "service.grafana: creating",
            "service.influxdb: created and healthy (T)",
            "service.influxdb: creating",
        ]
    );

    // Service by service in name order, each line prefixed, at most --tail lines each.
    let logs = cmd(&["logs", "--tail", "1"]).run();
    assert_eq!(logs.code, 0, "{}", logs.all());
    let prefixes: Vec<&str> = logs.stdout.lines().map(|l| &l[..14]).collect();
    assert_eq!(
        prefixes,
        ["control-api | ", "grafana     | ", "influxdb    | "],
        "{}",
        logs.stdout
    );

    // --follow: a line written after it started shows up; Ctrl-C ends it with success. The
    // follower's start is not observable, so lines are appended (bounded) until one arrives.
    let mut follow = cmd(&["logs", "--follow", "--tail", "0", "grafana"])
        .command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logs --follow");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let log = dir.join("data/native-it/log/grafana.log");
    let mut first = None;
    for attempt in 0..40 {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("log");
        std::io::Write::write_all(
            &mut f,
            format!("written by the test {attempt}\n").as_bytes(),
        )
        .expect("append");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            first = Some(line);
            break;
        }
    }
    let pid = nix::unistd::Pid::from_raw(follow.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = follow.wait().expect("wait");
    reader.join().expect("reader");
    let first = first.expect("no appended line reached `logs --follow` in 20 s");
    assert_eq!(status.code(), Some(0), "Ctrl-C ends --follow with success");
    assert!(
        first.starts_with("grafana | written by the test "),
        "prefixed like compose: {first}"
    );

    let before = pid_of(dir, "grafana");
    crate::verbs::restarted_grafana(cmd(&["restart", "grafana"]).run());
    assert_ne!(pid_of(dir, "grafana"), before, "a new process");
    promo_snapshot!(cmd(&["restart", "grafan"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stack `native-it` (stacks/native-it.yaml) has no service `grafan`
      help: services: control-api, grafana, influxdb
    ");
    let destroyed = cmd(&["destroy", "--auto-approve"]).run();
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
}

/// Whether `pid` runs (not a zombie).
fn runs(pid: i32) -> bool {
    promo_infra::targets::native::proc_stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// `destroy` stops every process of the stack its plan lists, also one the manifest no longer
/// declares (the control API disabled since, kept until `--prune`), and `--volumes` never
/// removes the pidfile of a process that still runs (before: only the declared services were
/// stopped, "2 objects removed", and `--volumes` then deleted the control API's pidfile while
/// it ran on, untracked, holding its port).
#[tokio::test(flavor = "multi_thread")]
async fn destroy_stops_a_process_the_manifest_no_longer_declares() {
    let (ports, held) = Ports::free();
    let with_api = manifest(ports, "m");
    let stack = Stack::new(&with_api);
    let (desired, target) = stack.desired();
    held.release();
    converge(&desired, &target).await;
    let api = pid_of(stack.project.path(), "control-api");

    let without_api = with_api.replace(
        "control_api:\n  enabled: true",
        "control_api:\n  enabled: false",
    );
    assert_ne!(without_api, with_api);
    stack.project.write("stacks/native-it.yaml", &without_api);
    let (desired2, target2) = stack.desired();
    let kept = converge(&desired2, &target2).await;
    assert!(
        kept.steps
            .iter()
            .all(|s| s.id.kind != ResourceKind::Service),
        "kept until --prune: {}",
        plan::render(&kept)
    );
    assert!(runs(api), "the control API still runs until --prune");
    let listed: Vec<String> = target2
        .observe(&desired2)
        .await
        .expect("observe")
        .resources
        .keys()
        .filter(|id| id.kind == ResourceKind::Service)
        .map(ToString::to_string)
        .collect();
    assert!(
        listed.contains(&"service.control-api".to_string()),
        "{listed:?}"
    );

    let removed = target2
        .destroy(&desired2, false)
        .await
        .expect("destroy")
        .removed;
    assert_eq!(
        removed,
        ["process control-api", "process grafana", "process influxdb"],
        "what the plan listed is what is stopped, dependents first"
    );
    assert!(!runs(api), "the control API (pid {api}) must be stopped");

    // Again with --volumes straight away: every process stops before its data goes.
    converge(&desired, &target).await;
    let api = pid_of(stack.project.path(), "control-api");
    let removed = target2
        .destroy(&desired2, true)
        .await
        .expect("destroy --volumes")
        .removed;
    assert!(
        removed.contains(&"process control-api".to_string()),
        "{removed:?}"
    );
    assert!(!runs(api), "the control API (pid {api}) must be stopped");
    assert!(!stack.project.path().join("data/native-it").exists());
}

/// The `NAME=value` variables of a running process (`/proc/<pid>/environ`).
fn environ_of(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .expect("environ")
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// The HTTP status InfluxDB answers an anonymous `SHOW DATABASES` with.
fn anonymous_query_status(port: u16) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(
        b"GET /query?q=SHOW%20DATABASES HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .expect("request");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"))
}

/// A native process's environment is its own, not the caller's (before: every process inherited
/// the shell's, so `INFLUXDB_HTTP_AUTH_ENABLED=false promo-infra apply` gave an InfluxDB that
/// answered anonymously, and Grafana got the shell's `GF_SECURITY_ADMIN_PASSWORD`): cleared, then
/// PATH, HOME, TZ, the project directory and the variables the stack declares for it.
#[test]
fn native_processes_do_not_inherit_the_callers_environment() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let dir = stack.project.path();
    held.release();
    let out = crate::common::promo()
        .current_dir(dir)
        .env("PATH", &stack.path)
        .env("INFLUXDB_HTTP_AUTH_ENABLED", "false")
        .env("GF_SECURITY_ADMIN_PASSWORD", "from-the-shell")
        .env("PROMO_INFRA_TEST_CANARY", "leaked")
        .args(["-f", "stacks/native-it.yaml", "apply", "--target", "native"])
        .arg("--auto-approve")
        .output()
        .expect("apply");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["influxdb", "grafana", "control-api"] {
        let vars = environ_of(pid_of(dir, name));
        let names: Vec<&str> = vars.iter().filter_map(|v| v.split('=').next()).collect();
        for leaked in [
            "INFLUXDB_HTTP_AUTH_ENABLED",
            "GF_SECURITY_ADMIN_PASSWORD",
            "PROMO_INFRA_TEST_CANARY",
        ] {
            assert!(!names.contains(&leaked), "{name} got {leaked}: {names:?}");
        }
        assert!(names.contains(&"PATH") && names.contains(&"PROMO_INFRA_PROJECT_DIR"));
    }
    // influxd: PATH, HOME (when set), the project directory; nothing else.
    let influx = environ_of(pid_of(dir, "influxdb"));
    assert!(
        influx
            .iter()
            .all(|v| ["PATH=", "HOME=", "TZ=", "PROMO_INFRA_PROJECT_DIR="]
                .iter()
                .any(|p| v.starts_with(p))),
        "{influx:?}"
    );
    assert_eq!(
        anonymous_query_status(ports.influx),
        401,
        "InfluxDB keeps its authentication whatever the caller's environment says"
    );
    let destroyed = crate::common::promo()
        .current_dir(dir)
        .env("PATH", &stack.path)
        .args([
            "-f",
            "stacks/native-it.yaml",
            "destroy",
            "--target",
            "native",
        ])
        .arg("--auto-approve")
        .output()
        .expect("destroy");
    assert!(
        destroyed.status.success(),
        "{}",
        String::from_utf8_lossy(&destroyed.stderr)
    );
}

/// A `native-it` apply on the command line, with the stand-in Grafana on PATH.
/// `destroy --volumes` of the stack, which must succeed.
pub(crate) fn destroyed_with_volumes(stack: &Stack) {
    let r = cli(
        stack,
        &[
            "destroy",
            "--target",
            "native",
            "--volumes",
            "--auto-approve",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
}

pub(crate) fn cli(stack: &Stack, args: &[&str]) -> crate::common::Run {
    let out = cli_command(stack, args).output().expect("run");
    crate::common::Run::new(
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        stack.project.path(),
    )
}

/// The command line of [`cli`], to spawn it.
pub(crate) fn cli_command(stack: &Stack, args: &[&str]) -> std::process::Command {
    let mut cmd = crate::common::promo();
    cmd.current_dir(stack.project.path())
        .env("PATH", &stack.path)
        .args(["-f", "stacks/native-it.yaml"])
        .args(args);
    cmd
}

/// InfluxDB's RPC bind (`backup.influx_rpc`) is checked before anything changes, like the HTTP
/// ports: key, file:line:col and holder (before: apply failed mid-way with "influxdb exited while
/// starting … bind: address already in use"). The process that holds it now because it is the
/// InfluxDB being replaced is no conflict; the default RPC address on a service's port is.
#[test]
fn the_influx_rpc_port_is_checked_before_apply_changes_anything() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    held.release();
    let holder = std::net::TcpListener::bind(("127.0.0.1", ports.rpc)).expect("hold the RPC port");
    let r = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let me = std::process::id();
    let line = format!(
        "backup.influx_rpc = 127.0.0.1:{rpc} (stacks/native-it.yaml:26:15): 127.0.0.1:{rpc} is already in use by pid {me} (",
        rpc = ports.rpc
    );
    assert!(r.stderr.contains(&line), "{}", r.all());
    assert!(r.stderr.contains("nothing was changed"), "{}", r.all());
    assert!(
        !stack.project.path().join("data/native-it/run").exists(),
        "nothing was started: {}",
        r.all()
    );
    drop(holder);

    // Applied; then InfluxDB moves to another HTTP port: the replaced influxd holds the RPC
    // port until it is stopped, which is no conflict.
    let r = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let moved = Ports {
        influx: free_port(),
        ..ports
    };
    stack
        .project
        .write("stacks/native-it.yaml", &manifest(moved, "m"));
    let r = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("service.influxdb"), "{}", r.all());
    destroyed_with_volumes(&stack);

    // Without a `backup:` section the RPC address is InfluxDB's default, 127.0.0.1:8088: on
    // Grafana's port it is refused before anything starts.
    let text = manifest(ports, "m");
    let cut = text.find("backup:\n").expect("backup section");
    let default_rpc =
        text[..cut].replace(&format!("  port: {}\n", ports.grafana), "  port: 8088\n");
    stack.project.write("stacks/native-it.yaml", &default_rpc);
    let r = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let clash = r
        .stderr
        .lines()
        .find(|l| l.contains("is also where"))
        .unwrap_or_else(|| panic!("{}", r.all()));
    assert!(
        clash.contains("backup.influx_rpc = 127.0.0.1:8088 (stacks/native-it.yaml: the default)")
            && clash.contains("grafana.port = 8088 (stacks/native-it.yaml:12:9)"),
        "{}",
        r.all()
    );
    assert!(!stack.project.path().join("data/native-it/run").exists());
}

/// `restart grafana influxdb` restarts InfluxDB first, then Grafana, which depends on it
/// (before: name order, the dependent first, so Grafana came up against an InfluxDB about to go).
#[test]
fn restart_follows_dependency_order() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    held.release();
    let r = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = cli(
        &stack,
        &["restart", "--target", "native", "grafana", "influxdb"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let done: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("✓ ")?.split(':').next())
        .collect();
    assert_eq!(done, ["service.influxdb", "service.grafana"], "{}", r.all());
    destroyed_with_volumes(&stack);
}

/// `status` of a process that stopped by itself (its pidfile left): stopped, and its
/// configuration is what the pidfile records — current here, not "outdated" (before: every
/// service without a live process was reported outdated). `destroy` names it among what it
/// removed, as the preview (observe) lists it.
#[tokio::test(flavor = "multi_thread")]
async fn status_of_a_crashed_process_reads_its_configuration_from_its_pidfile() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let (desired, target) = stack.desired();
    held.release();
    converge(&desired, &target).await;
    let pid = pid_of(stack.project.path(), "influxdb");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL our influxd");
    for _ in 0..100 {
        if target.live("influxdb").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = target.status(&desired).await.expect("status");
    let influx = status
        .iter()
        .find(|s| s.service == "influxdb")
        .expect("influxdb");
    assert_eq!(influx.state, "stopped", "{influx:?}");
    assert!(influx.up_to_date, "{influx:?}");
    // destroy lists it (observe sees it stopped) and says what went of it.
    let removed = target
        .destroy(&desired, false)
        .await
        .expect("destroy")
        .removed;
    assert_eq!(
        removed,
        [
            "process control-api",
            "process grafana",
            "process influxdb (already stopped: its pidfile)"
        ]
    );
    target.destroy(&desired, true).await.expect("destroy");
}

/// SIGKILL `name`'s process (ours, by its pidfile) and wait until the target sees it gone; its
/// pidfile stays, as after a crash.
async fn kill_behind_our_back(stack: &Stack, target: &NativeTarget, name: &str) -> i32 {
    let pid = pid_of(stack.project.path(), name);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL our process");
    for _ in 0..100 {
        if target.live(name).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(target.live(name).is_none(), "{name} (pid {pid}) still runs");
    pid
}

/// What apply did, one line per resource.
fn did(done: &[targets::Done]) -> Vec<String> {
    done.iter()
        .map(|d| {
            let checked = if d.checked { " (checked)" } else { "" };
            format!("{} {:?}{checked}", d.id, d.did)
        })
        .collect()
}

/// A process killed behind promo-infra's back (its pidfile left) is planned as started — what
/// `status` calls it, `stopped` — as docker's stopped container, not created anew (before:
/// `+ service.influxdb will be created` with every attribute): apply starts it again from the
/// configuration and data it had (the database found unchanged), and the re-plan is empty.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_process_is_planned_started_and_started_again_from_its_data() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let (desired, target) = stack.desired();
    held.release();
    converge(&desired, &target).await;
    let killed = kill_behind_our_back(&stack, &target, "influxdb").await;
    let status = target.status(&desired).await.expect("status");
    let influx = status.iter().find(|s| s.service == "influxdb");
    assert_eq!(
        influx.map(|s| (s.state.as_str(), s.health.as_str())),
        Some(("stopped", "-")),
        "{status:?}"
    );

    let observed = target.observe(&desired).await.expect("observe");
    let p = plan::plan(&desired, &observed, "native", false);
    promo_snapshot!(crate::common::Text::new(plan::render(&p), stack.project.path()), @"
    promo-infra will perform the following actions on stack `native-it` (target native):

      # service.influxdb will be started
      ~ service.influxdb

      # database.k6 will be checked once service.influxdb runs (it cannot be read while influxdb is stopped)
      ~ database.k6 (known after apply)

    Plan: 0 to add, 1 to change, 0 to destroy, 1 known after apply.
    ");
    let done = targets::apply(&target, &desired, &p).await.expect("apply");
    assert_eq!(
        did(&done),
        [
            "service.influxdb Started",
            "database.k6 Unchanged (checked)"
        ]
    );
    let again = pid_of(stack.project.path(), "influxdb");
    assert!(
        again != killed && target.live("influxdb").is_some(),
        "influxdb runs again, as a new process (pid {again}, killed {killed})"
    );
    replans_empty(&target, &desired).await;
    target.destroy(&desired, true).await.expect("destroy");
}

/// A killed Grafana whose port another program took meanwhile: the plan starts it again, and
/// apply refuses before it changes anything, naming `grafana.port` and the holder (before:
/// processes found down were not in the port check, and the start failed mid-apply with
/// Grafana's log tail). Once the port is free, apply starts it and the re-plan is empty.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_process_whose_port_was_taken_is_refused_before_any_change() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let (desired, target) = stack.desired();
    held.release();
    converge(&desired, &target).await;
    kill_behind_our_back(&stack, &target, "grafana").await;
    let influxd = pid_of(stack.project.path(), "influxdb");
    // The killed process's socket closes a moment after its pid is gone (bounded wait).
    let taker = (0..100)
        .find_map(|_| {
            std::net::TcpListener::bind(("127.0.0.1", ports.grafana))
                .inspect_err(|_| std::thread::sleep(Duration::from_millis(50)))
                .ok()
        })
        .expect("take Grafana's port once the killed Grafana let it go");
    let run = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let refusal = run
        .stderr_from("  x cannot apply")
        .filter(&ports.grafana.to_string(), "[GRAFANA_PORT]");
    promo_snapshot!(refusal, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot apply: 1 host port(s) already in use; nothing was changed
      |   - grafana.port = [GRAFANA_PORT] (stacks/native-it.yaml:12:9): 127.0.0.1:[GRAFANA_PORT] is already in use by pid [PID] (it-[ID])
      help: stop what holds the port, or choose another port in the manifest, then apply again
    ");
    assert!(
        target.live("grafana").is_none(),
        "the refused apply started Grafana"
    );
    assert_eq!(pid_of(stack.project.path(), "influxdb"), influxd);
    drop(taker);
    let run = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}", run.all());
    replans_empty(&target, &desired).await;
    target.destroy(&desired, true).await.expect("destroy");
}

/// A killed Grafana whose only change is one it re-reads in place (an alert threshold: its
/// alerting provisioning): planned updated in place, and apply starts it with the new files
/// (before this target observed a killed process, the same change was a create; observed as
/// stopped, the in-place reload would have asked a Grafana that does not run).
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_grafana_with_an_in_place_change_is_started_with_it() {
    let (ports, held) = Ports::free();
    let alerting = |ms: u32| {
        format!(
            "{}alerting:\n  rules:\n    p95_warning_ms: {ms}\n",
            manifest(ports, "m")
        )
    };
    let stack = Stack::new(&alerting(3000));
    let (desired, target) = stack.desired();
    held.release();
    converge(&desired, &target).await;
    kill_behind_our_back(&stack, &target, "grafana").await;
    stack
        .project
        .write("stacks/native-it.yaml", &alerting(2500));
    let (desired, target) = stack.desired();
    let observed = target.observe(&desired).await.expect("observe");
    let p = plan::plan(&desired, &observed, "native", false);
    promo_snapshot!(crate::common::Text::new(plan::render(&p), stack.project.path()), @r#"
    promo-infra will perform the following actions on stack `native-it` (target native):

      # service.grafana will be updated in place
      ~ service.grafana
          ~ reload_digest.native/grafana/provisioning/alerting: "[HASH]" → "[HASH]"

      # folder.native-it will be checked once service.grafana runs (it cannot be read while grafana is stopped)
      ~ folder.native-it (known after apply)

      # dashboard.m will be checked once service.grafana runs (it cannot be read while grafana is stopped)
      ~ dashboard.m (known after apply)

      # dashboard.t will be checked once service.grafana runs (it cannot be read while grafana is stopped)
      ~ dashboard.t (known after apply)

    Plan: 0 to add, 1 to change, 0 to destroy, 3 known after apply.
    "#);
    let done = targets::apply(&target, &desired, &p).await.expect("apply");
    // The marketing dashboard draws the p95 threshold: read once Grafana runs, it is updated.
    assert_eq!(
        did(&done),
        [
            "service.grafana Updated",
            "folder.native-it Unchanged (checked)",
            "dashboard.m Updated (checked)",
            "dashboard.t Unchanged (checked)"
        ]
    );
    assert!(target.live("grafana").is_some(), "grafana runs again");
    // It loaded the new threshold (the double's alerting API, third-party to promo-infra).
    let password = stack
        .project
        .read("generated/native-it/.env")
        .lines()
        .find_map(|l| {
            l.strip_prefix("GRAFANA_ADMIN_PASSWORD=")
                .map(str::to_string)
        })
        .expect("password");
    let rules: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/api/v1/provisioning/alert-rules",
            ports.grafana
        ))
        .basic_auth("ops", Some(password))
        .send()
        .await
        .expect("Grafana double answers")
        .json()
        .await
        .expect("alert rules JSON");
    let p95 = rules
        .as_array()
        .and_then(|r| r.iter().find(|r| r["uid"] == "native-it-p95"))
        .map(ToString::to_string)
        .unwrap_or_else(|| panic!("no p95 rule: {rules}"));
    assert!(
        p95.contains("2500") && !p95.contains("3000"),
        "the p95 rule has the new threshold: {p95}"
    );
    replans_empty(&target, &desired).await;
    target.destroy(&desired, true).await.expect("destroy");
}
