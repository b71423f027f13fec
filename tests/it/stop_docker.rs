//! STOP in the layout a user gets by default: the docker target on the REAL engine, with the
//! control API in its container (`tests/fixtures/stacks/local.yaml`), and `promo-infra k6 run`
//! on the host with the stand-in k6. The STOP link is taken from the generated marketing
//! dashboard exactly as Grafana renders it (`${testid}` substituted), opened with Basic auth,
//! confirmed through the CSRF form: the host's k6 gets exactly one SIGINT (also when several
//! people press STOP at once) and `k6 run` reports "stopped by hand (STOP page, <user>)".
//!
//! The control API's image is built for this test only (`promo-infra-stop-it:<pid>`, FROM the
//! shared `promo-infra:0.1.0` with the binary under test copied in) so another test rebuilding
//! the shared tag meanwhile cannot swap the binary; it is removed at the end, like the stack
//! (`destroy --volumes`, also when the test fails). While the test runs, `secrets rotate` of a
//! secret it depends on is refused (the API would restart with a value `k6 run` does not
//! have). Without an engine the test prints why and passes by hand, but FAILS when `CI=true`.

use std::time::Duration;

use serde_json::Value;

use crate::common::{TestContext, repo};
use crate::engine::{LocalFixture, build_test_image, destroy, engine, remove_image};
use crate::standin::{Standins, run_dir, secret, spawn_promo, wait_until};
use crate::stop_session;

/// The stack and this test's image, removed on drop.
struct Stack {
    p: TestContext,
    name: String,
    image: String,
}

impl Drop for Stack {
    fn drop(&mut self) {
        destroy(&self.p, &self.name, &[]);
        remove_image(&self.image);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_link_of_the_dashboard_stops_a_host_k6_run_through_the_containerised_api() {
    if !engine() {
        return;
    }
    let pid = std::process::id();
    let image = format!("promo-infra-stop-it:{pid}");
    build_test_image(&image);
    let name = format!("it-stop-{pid}");
    let fixture = LocalFixture::new(&name).with_control_image(&image);
    let control_port = fixture.control_port;
    let p = TestContext::on_engine();
    p.write("stacks/promo.yaml", &fixture.manifest);
    // The README's example script, as a user runs it (the stand-in k6 does not execute it).
    p.write(
        "examples/checkout.js",
        &std::fs::read_to_string(repo().join("examples/checkout.js"))
            .expect("examples/checkout.js"),
    );
    let stack = Stack {
        p,
        name: name.clone(),
        image,
    };
    fixture.held.release();
    let r = stack
        .p
        .run(&["apply", "--auto-approve", "--health-timeout", "120"]);
    assert_eq!(r.code, 0, "apply failed:\n{}", r.all());

    // `k6 run` on the host, with the stand-in k6 that counts SIGINTs.
    let standins = Standins::new();
    let path = standins.path_env();
    let records = standins.records.path().display().to_string();
    let run = spawn_promo(
        &stack.p,
        &[
            "k6",
            "run",
            "examples/checkout.js",
            "--promo",
            "black-friday",
            "--require-stop",
        ],
        &[
            ("BASE_URL", "http://127.0.0.1:9"),
            ("PATH", path.as_str()),
            ("STANDIN_DIR", records.as_str()),
            ("STANDIN_MODE", "until-sigint"),
        ],
        "promo-infra k6 run",
    );
    let dir = run_dir(&stack.p, &name);
    wait_until("the stand-in k6", Duration::from_secs(30), || {
        dir.join("k6-run.json").exists() && standins.ready()
    });
    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{control_port}");
    let token = secret(&stack.p, &name, "CONTROL_API_TOKEN");
    let cur: Value = http
        .get(format!("{api}/api/tests/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let testid = cur["testid"]
        .as_str()
        .unwrap_or_else(|| panic!("{cur}"))
        .to_string();
    assert!(testid.starts_with("black-friday_"), "{cur}");

    // Rotating the token (or another secret the running test depends on) now would restart the
    // control API with a value the running `k6 run` does not have: refused, .env untouched.
    let env_path = format!("generated/{name}/.env");
    let env_before = stack.p.read(&env_path);
    for secret_name in [
        "CONTROL_API_TOKEN",
        "CONTROL_API_STOP_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ] {
        let r = stack
            .p
            .run(&["secrets", "rotate", secret_name, "--auto-approve"]);
        assert_eq!(r.code, 1, "{secret_name}: {}", r.all());
        assert!(
            r.stderr.contains(&format!(
                "{secret_name} cannot be rotated now: test {testid} is running"
            )),
            "{secret_name}: {}",
            r.all()
        );
        assert_eq!(
            stack.p.read(&env_path),
            env_before,
            "{secret_name}: .env untouched"
        );
    }
    // The API still knows the run (it did not restart).
    let r = http
        .get(format!("{api}/api/tests/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The link exactly as the dashboard renders it; Basic auth; the confirmation page.
    let dashboard: Value = serde_json::from_str(&stack.p.read(&format!(
        "generated/{name}/grafana/dashboards/promo-marketing.json"
    )))
    .expect("dashboard JSON");
    let link = stop_session::stop_link(&dashboard, &testid);
    assert_eq!(link, format!("{api}/stop?testid={testid}"));
    let pw = secret(&stack.p, &name, "CONTROL_API_STOP_PASSWORD");
    let mut forms = Vec::new();
    // Three people of the marketing team (sharing the STOP login) open the link.
    for user in ["marketing"; 3] {
        let (status, page, csrf) = stop_session::open(&http, &link, user, &pw).await;
        assert_eq!(status, 200, "{page}");
        // A whole HTML page (its CSRF token varies): the question it asks is in it.
        assert!(page.contains(&format!("Stop test {testid}?")), "{page}");
        forms.push((user, csrf));
    }
    assert_eq!(standins.signals(), "", "opening the page stops nothing");
    // ... and all press STOP at once.
    let mut tasks = Vec::new();
    for (user, csrf) in forms {
        tasks.push(tokio::spawn(stop_session::confirm(
            http.clone(),
            api.clone(),
            user,
            pw.clone(),
            testid.clone(),
            csrf,
        )));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        // A whole HTML page: its heading is in it (the page's text is compared exactly in
        // control.rs).
        assert!(body.contains("Test stopped"), "{body}");
    }
    assert_eq!(
        standins.signals(),
        "SIGINT\n",
        "the host's k6 got exactly one SIGINT"
    );
    let (code, out, err) = run.wait_output(Duration::from_secs(30));
    // Registered with the control API, stopped by the STOP page, exit code 105 (k6's).
    promo_snapshot!(
        @named "k6_run_stopped_by_the_stop_page",
        crate::common::Run::new(code, out, err, stack.p.path())
            .filter(&testid, "[TESTID]")
            .filter(&name, "[STACK]")
            .filter_regex(r"\b(from|to)=\d{13}\b", "$1=[EPOCH_MS]")
    );
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(&testid).join("outcome.json")).expect("outcome record"),
    )
    .unwrap();
    assert_eq!(rec["ending"], "stopped", "{rec}");
    assert_eq!(rec["stopped_by"], "STOP page, marketing", "{rec}");
    assert_eq!(
        standins.writes(),
        "ok 3\nok 2\n",
        "k6 flushed into the containerised InfluxDB after the graceful stop"
    );
    // The API knows the run ended.
    let r = http
        .get(format!("{api}/api/tests/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "error": format!("no test is running (test {testid} ended (stopped, k6 exit 105))"),
            "hint": format!(
                "start one with `promo-infra -f <stack file> k6 run SCRIPT` (the stack file of \
                 stack `{name}`): it registers the run with this API"
            ),
        })
    );
    drop(stack);
}
