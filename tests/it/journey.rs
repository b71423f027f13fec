//! The Black Friday journey of issue 11 (item 6), end to end, in the layout a user gets by
//! default, following the user — once on the docker target (the REAL engine, the local images
//! of `just images`) and once on the native target (real influxd 1.6, the Grafana API double as
//! `grafana` on PATH, the control API as a native process):
//!
//!  1. apply a stack with an `alerting:` section and NO Slack webhook (preprod): the
//!     plan says up front that alerts have nowhere to go; every service healthy;
//!  2. set the webhook in `generated/<stack>/.env` (as the README says), re-apply;
//!  3. `promo-infra k6 run examples/checkout.js --promo black-friday` on the HOST, the stand-in
//!     k6 on PATH;
//!  4. the STOP link taken from the marketing dashboard as the stack's running Grafana serves it,
//!     `${testid}` substituted with the `var-testid` of the dashboard link `k6 run` printed;
//!  5. opened in a real headless Chromium, Basic credentials, confirmed;
//!  6. the host k6 got ONE SIGINT, `k6 run` reported "stopped by hand", Slack got the grade;
//!  7. `backup run` → DROP DATABASE (InfluxDB admin) → `backup restore` → the points are back
//!     for Grafana's READ user, and k6's WRITE user can write;
//!  8. The marketing team edits the dashboard in Grafana: plan names the panel, apply refuses to
//!     overwrite it, `dashboards diff` shows it, `dashboards pull` + `generate` keep it; then
//!     plan and diff are empty.
//!  9. `destroy --volumes` leaves nothing of the stack.
//!
//! Each assertion names its journey step. Every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{HeldPorts, Run, TestContext, repo};
use crate::engine::LocalFixture;
use crate::standin::{
    Proc, Standins, Webhook, add_env, assert_no_secret, run_dir, secret, wait_until,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Docker,
    Native,
}

/// One journey's project, ports and PATH.
struct Journey {
    p: TestContext,
    name: String,
    target: Target,
    influx_port: u16,
    grafana_port: u16,
    control_port: u16,
    /// The stack's ports, held until its first command.
    held: HeldPorts,
    /// PATH for every promo-infra command (the native target finds `grafana` there).
    path: String,
    /// The docker journey's own control API image (removed at the end).
    image: Option<String>,
    /// `backup.dir`: an absolute directory outside the project.
    backups: tempfile::TempDir,
    _bin: tempfile::TempDir,
}

impl Journey {
    fn target_args(&self) -> &'static [&'static str] {
        match self.target {
            Target::Docker => &[],
            Target::Native => &["--target", "native"],
        }
    }

    /// `promo-infra <cmd> [--target native] <rest>`.
    fn run(&self, cmd: &[&str], rest: &[&str]) -> Run {
        let args: Vec<&str> = cmd
            .iter()
            .chain(self.target_args())
            .chain(rest)
            .copied()
            .collect();
        self.held.release();
        let run = self
            .p
            .run_env(&args, &[("PATH", self.path.as_str())])
            .filter(&self.name, "[STACK]");
        match &self.image {
            // In the status table the tag's cell is padded to the column: the padding varies
            // with the length of the pid in the tag.
            Some(tag) => run
                .filter_regex(&format!("{} +", tag.replace('.', r"\.")), "[IMAGE]  ")
                .filter(tag, "[IMAGE]"),
            None => run,
        }
    }

    /// `docker` or `native`: the journey's snapshots are the target's own.
    fn label(&self) -> &'static str {
        match self.target {
            Target::Docker => "docker",
            Target::Native => "native",
        }
    }

    fn status_json(&self) -> Value {
        let r = self.run(&["status"], &["--json"]);
        assert_eq!(r.code, 0, "status: {}", r.all());
        serde_json::from_str(r.stdout.trim()).expect("status json")
    }

    fn assert_healthy(&self, step: &str) {
        let s = self.status_json();
        let rows = s["services"].as_array().expect("rows");
        assert_eq!(rows.len(), 3, "{step}: three services: {s}");
        for row in rows {
            assert!(
                row["state"] == "running" && row["health"] == "healthy",
                "{step}: every service running and healthy: {s}"
            );
        }
    }

    fn influx_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.influx_port)
    }

    /// Pids recorded in the native target's pidfiles.
    fn native_pids(&self) -> Vec<i32> {
        let run = self.p.path().join(format!("data/{}/run", self.name));
        std::fs::read_dir(&run)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| serde_json::from_str::<Value>(&t).ok()?["pid"].as_i64())
            .map(|p| p as i32)
            .collect()
    }
}

impl Drop for Journey {
    fn drop(&mut self) {
        let r = self.run(&["destroy"], &["--volumes", "--auto-approve"]);
        if r.code != 0 {
            eprintln!("cleanup of stack {} failed:\n{}", self.name, r.all());
        }
        if self.target == Target::Native {
            // What a failed test left running, by the pids of its own pidfiles.
            for pid in self.native_pids() {
                if running(pid) {
                    let _ = Command::new("kill").arg(pid.to_string()).status();
                }
            }
        }
        if let Some(image) = &self.image {
            crate::engine::remove_image(image);
        }
    }
}

/// Whether `pid` is a live (not zombie) process.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// `alerting:` of stacks/promo.yaml (webhook_url_env: SLACK_WEBHOOK_URL), as it is there.
fn alerting_section() -> String {
    let promo = std::fs::read_to_string(repo().join("stacks/promo.yaml")).expect("promo.yaml");
    let mut lines = promo.lines().skip_while(|l| *l != "alerting:");
    let mut section = format!("{}\n", lines.next().expect("alerting: in promo.yaml"));
    for l in lines.take_while(|l| l.starts_with(' ')) {
        section.push_str(l);
        section.push('\n');
    }
    // A precondition on the repository's own manifest (a file, not output).
    assert!(
        section.contains("webhook_url_env: SLACK_WEBHOOK_URL"),
        "{section}"
    );
    section
}

fn setup(target: Target) -> Journey {
    let pid = std::process::id();
    let name = match target {
        Target::Docker => format!("it-journey-{pid}"),
        Target::Native => format!("it-journey-native-{pid}"),
    };
    let LocalFixture {
        mut manifest,
        influx_port,
        grafana_port,
        control_port,
        held,
    } = LocalFixture::new(&name);
    manifest.push_str(&alerting_section());
    // What `backup run` asks a stack without one to add, with the backups on "another disk":
    // an absolute directory outside the project.
    let backups = tempfile::tempdir().expect("backup dir");
    manifest.push_str(&format!(
        "backup:\n  schedule: \"0 3 * * *\"\n  dir: {}\n  keep: {{ last: 3, daily: 7 }}\n",
        backups.path().display()
    ));
    let bin = tempfile::tempdir().expect("bin dir");
    let mut image = None;
    match target {
        Target::Docker => {
            // This journey's own control API image holding the binary under test.
            let tag = format!("promo-infra-journey-it:{pid}");
            crate::engine::build_test_image(&tag);
            manifest = manifest.replace("image: promo-infra:0.1.0", &format!("image: {tag}"));
            // A precondition on the test's own manifest (not output).
            assert!(manifest.contains(&format!("image: {tag}")));
            image = Some(tag);
        }
        Target::Native => {
            // influxd's RPC (backup/restore) on a port of its own.
            manifest.push_str(&format!("  influx_rpc: 127.0.0.1:{}\n", held.take()));
            std::os::unix::fs::symlink(crate::native::grafana_double(), bin.path().join("grafana"))
                .expect("symlink grafana");
            std::os::unix::fs::symlink(
                env!("CARGO_BIN_EXE_promo-infra"),
                bin.path().join("promo-infra"),
            )
            .expect("symlink promo-infra");
        }
    }
    let p = TestContext::on_engine();
    p.write("stacks/promo.yaml", &manifest);
    // The README's example script, as a user runs it (the stand-in k6 does not execute it).
    p.write(
        "examples/checkout.js",
        &std::fs::read_to_string(repo().join("examples/checkout.js"))
            .expect("examples/checkout.js"),
    );
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Journey {
        p,
        name,
        target,
        influx_port,
        grafana_port,
        control_port,
        held,
        path,
        image,
        backups,
        _bin: bin,
    }
}

/// Steps 1 and 2: apply without the webhook (preprod, on either target), then with it.
async fn apply_steps(j: &Journey, hook: &Webhook) {
    // Step 1: the "nowhere to go" note comes before the plan; every service comes up.
    promo_snapshot!(
        @named format!("{}_step1_apply_without_webhook", j.label()),
        j.run(&["apply"], &["--auto-approve", "--health-timeout", "120"]).sorted_stderr()
    );
    j.assert_healthy("step 1 (apply without a webhook)");
    add_env(&j.p, &j.name, &format!("SLACK_WEBHOOK_URL={}", hook.url));
    // Step 2: Grafana changes to get the Slack contact point; no "nowhere to go" note.
    promo_snapshot!(
        @named format!("{}_step2_apply_with_webhook", j.label()),
        j.run(&["apply"], &["--auto-approve", "--health-timeout", "120"])
    );
    j.assert_healthy("step 2 (apply with the webhook)");
    let r = j.run(&["plan"], &["--detailed-exitcode"]);
    assert_eq!(r.code, 0, "step 2: nothing left to do:\n{}", r.all());
}

/// Step 3: `k6 run` on the host, stdout/stderr into files (read while it runs).
fn start_k6_run(j: &Journey, standins: &Standins, logs: &Path) -> Proc {
    let records = standins.records.path().display().to_string();
    let path = format!("{}:{}", standins.bin.path().display(), j.path);
    let out = std::fs::File::create(logs.join("out")).expect("out file");
    let err = std::fs::File::create(logs.join("err")).expect("err file");
    let child = crate::common::promo_on_engine()
        .current_dir(j.p.path())
        .args([
            "k6",
            "run",
            "examples/checkout.js",
            "--promo",
            "black-friday",
            "--require-stop",
        ])
        .env("BASE_URL", "http://127.0.0.1:9")
        .env("PATH", path)
        .env("STANDIN_DIR", records)
        .env("STANDIN_MODE", "until-sigint")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn promo-infra k6 run");
    Proc {
        child,
        name: "promo-infra k6 run",
    }
}

/// Step 4: the testid of the dashboard link `k6 run` printed (`var-testid=`).
fn printed_testid(logs: &Path) -> String {
    let mut testid = String::new();
    wait_until(
        "step 4: the dashboard link printed by k6 run",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(logs.join("err")).unwrap_or_default()
                + &std::fs::read_to_string(logs.join("out")).unwrap_or_default();
            let found = text
                .lines()
                // Reading the test id out of a line while k6 still runs (the whole output is
                // compared at step 6).
                .find(|l| l.contains("dashboard: "))
                .and_then(|l| l.split("var-testid=").nth(1))
                .and_then(|r| r.split('&').next());
            if let Some(t) = found {
                testid = t.to_string();
            }
            found.is_some()
        },
    );
    assert!(testid.starts_with("black-friday_"), "step 4: {testid}");
    testid
}

/// Step 4: the STOP link of the marketing dashboard as the stack's Grafana serves it.
async fn stop_link_from_grafana(j: &Journey, testid: &str) -> String {
    let pw = secret(&j.p, &j.name, "GRAFANA_ADMIN_PASSWORD");
    let r = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/api/dashboards/uid/promo-marketing",
            j.grafana_port
        ))
        .basic_auth("promo-admin", Some(&pw))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("step 4: GET the dashboard from Grafana");
    assert_eq!(
        r.status(),
        200,
        "step 4: GET /api/dashboards/uid/promo-marketing"
    );
    let v: Value = r.json().await.expect("step 4: dashboard JSON");
    // Grafana's variable interpolation of the text panel.
    let link = crate::stop_session::stop_link(&v["dashboard"], testid);
    assert_eq!(
        link,
        format!("http://127.0.0.1:{}/stop?testid={testid}", j.control_port),
        "step 4: the STOP link points at the stack's control API"
    );
    link
}

/// Step 5: a real headless Chromium opens the link, authenticates, confirms. Returns the
/// page's heading and message after the click.
async fn press_stop_in_chromium(link: &str, password: &str) -> (String, String) {
    let browser = crate::stop_session::Browser::start().await;
    let client = &browser.client;
    // HTTP Basic: any user name, the STOP password (what the browser's login prompt sends).
    let url = link.replacen("http://", &format!("http://marketing:{password}@"), 1);
    let result = async {
        client.goto(&url).await?;
        let heading = client
            .find(fantoccini::Locator::Id("heading"))
            .await?
            .text()
            .await?;
        client
            .find(fantoccini::Locator::Id("stop"))
            .await?
            .click()
            .await?;
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while text != "Test stopped" && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Ok(h) = client.find(fantoccini::Locator::Id("heading")).await {
                text = h.text().await.unwrap_or_default();
            }
        }
        let message = client
            .find(fantoccini::Locator::Id("message"))
            .await?
            .text()
            .await?;
        Ok::<_, fantoccini::error::CmdError>((heading, text, message))
    }
    .await;
    browser.close().await;
    let (first, heading, message) = result.expect("step 5: browser steps");
    assert!(
        first.starts_with("Stop test "),
        "step 5: the confirmation page: {first}"
    );
    (heading, message)
}

/// InfluxQL as `user` (password from `.env`) on the stack's database.
async fn influx_query(j: &Journey, user: &str, secret_name: &str, db: &str, q: &str) -> Value {
    let pw = secret(&j.p, &j.name, secret_name);
    reqwest::Client::new()
        .post(format!("{}/query", j.influx_url()))
        .basic_auth(user, Some(&pw))
        .form(&[("q", q), ("db", db)])
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("InfluxDB query")
        .json()
        .await
        .expect("InfluxDB JSON")
}

/// Points of the run, counted as Grafana's READ user.
async fn points_as_grafana(j: &Journey, testid: &str) -> Result<u64, String> {
    let v = influx_query(
        j,
        "grafana",
        "INFLUXDB_GRAFANA_PASSWORD",
        "k6",
        &format!("SELECT count(\"value\") FROM \"http_reqs\" WHERE \"testid\" = '{testid}'"),
    )
    .await;
    if let Some(e) = v["error"].as_str().or(v["results"][0]["error"].as_str()) {
        return Err(e.to_string());
    }
    v["results"][0]["series"][0]["values"][0][1]
        .as_u64()
        .ok_or_else(|| format!("no points: {v}"))
}

/// Step 7.
async fn backup_drop_restore(j: &Journey, testid: &str) {
    let before = points_as_grafana(j, testid)
        .await
        .unwrap_or_else(|e| panic!("step 7: Grafana reads the run's points: {e}"));
    assert_eq!(before, 5, "step 7: the stand-in wrote 3 + 2 points");
    let r = j.run(&["backup", "run"], &[]);
    assert_eq!(r.code, 0, "step 7: backup run failed:\n{}", r.all());
    // `list` only reads `backup.dir`: it takes no `--target`.
    let list = j.p.run(&["backup", "list", "--json"]);
    assert_eq!(list.code, 0, "step 7: backup list:\n{}", list.all());
    let doc: Value = serde_json::from_str(&list.stdout).expect("step 7: backup list json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    let entries = v.as_array().expect("step 7: array");
    assert_eq!(entries.len(), 1, "step 7: one backup: {v}");
    assert_eq!(entries[0]["status"], "ok", "step 7: {v}");
    let id = entries[0]["id"].as_str().expect("id").to_string();
    assert!(
        j.backups
            .path()
            .join(&j.name)
            .join(&id)
            .join("promo-infra-backup.json")
            .is_file(),
        "step 7: the backup is in the absolute backup.dir {}",
        j.backups.path().display()
    );

    let dropped = influx_query(
        j,
        "promo-admin",
        "INFLUXDB_ADMIN_PASSWORD",
        "",
        "DROP DATABASE \"k6\"",
    )
    .await;
    assert!(
        dropped["error"].is_null() && dropped["results"][0]["error"].is_null(),
        "step 7: DROP DATABASE as the admin: {dropped}"
    );
    assert!(
        points_as_grafana(j, testid).await.is_err(),
        "step 7: the points are gone after the drop"
    );

    // Step 7: restore converges the privileges (grafana READ, k6 WRITE).
    promo_snapshot!(
        @named format!("{}_step7_backup_restore", j.label()),
        j.run(&["backup", "restore", &id], &[]).filter(&id, "[BACKUP]")
    );
    assert_eq!(
        points_as_grafana(j, testid).await,
        Ok(before),
        "step 7: the run's points are back, readable by Grafana's READ user"
    );
    let pw = secret(&j.p, &j.name, "INFLUXDB_K6_PASSWORD");
    let w = reqwest::Client::new()
        .post(format!("{}/write?db=k6", j.influx_url()))
        .basic_auth("k6", Some(&pw))
        .body(format!("vus,testid={testid}-after value=1"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("step 7: write as k6");
    assert_eq!(
        w.status().as_u16(),
        204,
        "step 7: k6's WRITE user can write"
    );
}

/// Step 8: the marketing team edits the dashboard in the stack's Grafana (as the UI saves);
/// plan names the panel, apply refuses to overwrite the edit, `dashboards diff` shows the
/// field, `dashboards pull` keeps it as an overlay that `generate` applies; then plan and diff
/// are empty (dashboards are API-managed on both targets).
async fn ui_edit_is_kept(j: &Journey) {
    let pw = secret(&j.p, &j.name, "GRAFANA_ADMIN_PASSWORD");
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/__double/ui-edit/promo-marketing",
            j.grafana_port
        ))
        .basic_auth("promo-admin", Some(&pw))
        .json(&serde_json::json!({"description": "Edited in the UI by marketing"}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("step 8: save the dashboard as the UI does");
    assert_eq!(r.status(), 200, "step 8: the UI edit is saved");
    let grafana = format!("http://127.0.0.1:{}", j.grafana_port);
    let show = |r: Run| r.filter(&grafana, "http://127.0.0.1:[GRAFANA_PORT]");
    promo_snapshot!(
        @named format!("{}_step8_plan_after_ui_edit", j.label()),
        show(j.run(&["plan"], &["--detailed-exitcode"]))
    );
    promo_snapshot!(
        @named format!("{}_step8_apply_refuses_to_overwrite", j.label()),
        show(j.run(&["apply"], &["--auto-approve"]))
    );
    promo_snapshot!(
        @named format!("{}_step8_dashboards_diff", j.label()),
        show(j.run(&["dashboards", "diff"], &["promo-marketing", "--detailed-exitcode"]))
    );
    let r = j.run(&["dashboards", "pull"], &["promo-marketing"]);
    assert_eq!(r.code, 0, "step 8: dashboards pull:\n{}", r.all());
    for args in [&["generate"][..], &["generate", "--check"][..]] {
        let r = j.p.run_env(args, &[("PATH", j.path.as_str())]);
        assert_eq!(r.code, 0, "step 8: {args:?}:\n{}", r.all());
    }
    let r = j.run(&["plan"], &["--detailed-exitcode"]);
    assert_eq!(
        r.code,
        0,
        "step 8: nothing to apply after pull:\n{}",
        r.all()
    );
    let r = j.run(&["dashboards", "diff"], &["--detailed-exitcode"]);
    assert_eq!(
        r.code,
        0,
        "step 8: Grafana has what is generated:\n{}",
        r.all()
    );
}

/// Step 9.
fn destroy_leaves_nothing(j: &Journey) {
    let pids = j.native_pids();
    if j.target == Target::Native {
        assert_eq!(
            pids.len(),
            3,
            "step 9: three native processes before destroy"
        );
    }
    let r = j.run(&["destroy"], &["--volumes", "--auto-approve"]);
    assert_eq!(r.code, 0, "step 9: destroy --volumes failed:\n{}", r.all());
    match j.target {
        Target::Docker => {
            let label = format!("label=io.promo-infra.stack={}", j.name);
            let compose = format!("label=com.docker.compose.project={}", j.name);
            for args in [
                vec!["ps", "-a", "-q", "--filter", &label],
                vec!["ps", "-a", "-q", "--filter", &compose],
                vec!["volume", "ls", "-q", "--filter", &label],
                vec!["volume", "ls", "-q", "--filter", &compose],
                vec!["network", "ls", "-q", "--filter", &label],
                vec!["network", "ls", "-q", "--filter", &compose],
            ] {
                let left = crate::docker::docker(&args);
                assert!(
                    left.trim().is_empty(),
                    "step 9: `docker {}` still lists: {left}",
                    args.join(" ")
                );
            }
        }
        Target::Native => {
            let deadline = Instant::now() + Duration::from_secs(15);
            while pids.iter().any(|&p| running(p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let alive: Vec<i32> = pids.iter().copied().filter(|&p| running(p)).collect();
            assert!(
                alive.is_empty(),
                "step 9: processes still running: {alive:?}"
            );
            let data: PathBuf = j.p.path().join(format!("data/{}", j.name));
            assert!(!data.exists(), "step 9: {} still exists", data.display());
        }
    }
}

async fn journey(target: Target) {
    let hook = Webhook::start().await;
    let j = setup(target);
    apply_steps(&j, &hook).await;

    // Step 3.
    let standins = Standins::new();
    let logs = tempfile::tempdir().expect("logs");
    let run = start_k6_run(&j, &standins, logs.path());
    wait_until(
        "step 3: the stand-in k6 started by k6 run",
        Duration::from_secs(30),
        || run_dir(&j.p, &j.name).join("k6-run.json").exists() && standins.ready(),
    );

    // Step 4.
    let testid = printed_testid(logs.path());
    let link = stop_link_from_grafana(&j, &testid).await;

    // Step 5.
    assert_eq!(
        standins.signals(),
        "",
        "step 5: nothing stopped before STOP"
    );
    let pw = secret(&j.p, &j.name, "CONTROL_API_STOP_PASSWORD");
    let (heading, message) = press_stop_in_chromium(&link, &pw).await;
    assert_eq!(heading, "Test stopped", "step 5: {message}");
    assert_eq!(
        message.replace(&testid, "[TESTID]"),
        "The test is stopped. A \"stopped by hand\" annotation was added to the dashboard. \
         ([TESTID])",
        "step 5"
    );

    // Step 6.
    let (code, _, _) = run.wait_output(Duration::from_secs(60));
    let out = std::fs::read_to_string(logs.path().join("out")).unwrap_or_default();
    let err = std::fs::read_to_string(logs.path().join("err")).unwrap_or_default();
    assert_eq!(
        standins.signals(),
        "SIGINT\n",
        "step 6: the host's k6 got exactly one SIGINT"
    );
    assert_eq!(
        code, 105,
        "step 6: k6 run exits with k6's code:\n{out}\n{err}"
    );
    // Step 6: k6 run reports who stopped it.
    promo_snapshot!(
        @named format!("{}_step6_k6_run", j.label()),
        Run::new(code, out.clone(), err.clone(), j.p.path())
            .filter(&testid, "[TESTID]")
            .filter(&j.name, "[STACK]")
            .filter_regex(r"\b(from|to)=\d{13}\b", "$1=[EPOCH_MS]")
    );
    assert_eq!(
        standins.writes(),
        "ok 3\nok 2\n",
        "step 6: k6 flushed after the graceful stop"
    );
    assert_no_secret(&j.p, &j.name, &format!("{out}{err}"), "step 6: k6 run");
    let msgs = hook.messages();
    assert_eq!(msgs.len(), 1, "step 6: one Slack message: {msgs:?}");
    // Step 6: the Slack message with the grade.
    promo_snapshot!(
        @named format!("{}_step6_slack_message", j.label()),
        crate::common::Text::new(
            msgs[0]
                .replace(&testid, "[TESTID]")
                .replace(&j.name, "[STACK]"),
            j.p.path()
        )
        .filter_regex(r"\b(from|to)=\d{13}\b", "$1=[EPOCH_MS]")
    );

    // Step 7.
    backup_drop_restore(&j, &testid).await;

    // Step 8.
    ui_edit_is_kept(&j).await;

    // Step 9.
    destroy_leaves_nothing(&j);
    drop(j);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn black_friday_journey_on_docker() {
    if !crate::docker::engine() {
        return;
    }
    journey(Target::Docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn black_friday_journey_on_native() {
    journey(Target::Native).await;
}
