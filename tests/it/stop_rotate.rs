//! What a running test's STOP button survives, with the control [`Rig`] (the control API on the
//! host, `k6 run` with the stand-in k6, the Grafana double): `secrets rotate` of a secret the
//! running test depends on is refused while the control API reports the test (nothing changed);
//! a token changed under a running `k6 run` anyway is named as such by the wrapper; the STOP
//! page says what became of the "stopped by hand" annotation (posted, failed, not configured).

use std::time::Duration;

use crate::control::Rig;
use crate::standin::{secret, wait_until};
use crate::stop_session;

fn signal(pid: i32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status();
}

/// Fails on the old code: the rotation went ahead, the control API restarted with the new
/// token and forgot the run, and the wrapper only said it "lost contact".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_a_secret_the_running_test_needs_is_refused_and_a_changed_token_is_named() {
    let mut rig = Rig::start("en", false).await;
    rig.start_control().await;
    let run = rig.start_run(&[]);
    let cur = rig.current_with_pid().await;
    let testid = cur["testid"].as_str().expect("testid").to_string();
    let env_path = "generated/shop/.env";
    let env_before = rig.p.read(env_path);

    for name in [
        "CONTROL_API_TOKEN",
        "CONTROL_API_STOP_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ] {
        let r = rig.p.run(&[
            "-f",
            "stacks/shop.yaml",
            "secrets",
            "rotate",
            name,
            "--auto-approve",
        ]);
        assert_eq!(r.code, 1, "{name}: {}", r.all());
        assert!(
            r.stderr.contains(&format!(
                "{name} cannot be rotated now: test {testid} is running"
            )),
            "{name}: {}",
            r.all()
        );
        assert!(
            r.stderr
                .contains("wait for the test to end, or stop it first"),
            "{name}: {}",
            r.all()
        );
        assert_eq!(rig.p.read(env_path), env_before, "{name}: .env untouched");
        if name == "CONTROL_API_TOKEN" {
            promo_snapshot!(@named "rotate_token_refused_while_a_test_runs", r.filter(&testid, "[TESTID]"));
        }
    }
    // Nothing restarted: the run is still known, with the same token.
    let still = rig.current_with_pid().await;
    assert_eq!(still["testid"], cur["testid"]);
    assert_eq!(rig.standins.signals(), "", "k6 got nothing");

    // The token changed under the running `k6 run` anyway (an old promo-infra, .env edited by
    // hand, the API unreachable when rotating): the API restarts with the new token.
    let old = rig.token();
    let new = "f".repeat(64);
    rig.p.write(env_path, &env_before.replace(&old, &new));
    let control = rig.control.take().expect("control API");
    signal(control.pid(), "-TERM");
    let (code, _, cerr) = control.wait_output(Duration::from_secs(10));
    assert_eq!(code, 0, "{cerr}");
    rig.start_control().await;
    // The API does not know the run (the wrapper's polls are refused) ...
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = http
        .get(rig.api("/api/tests/current"))
        .bearer_auth(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // ... and Ctrl+C where k6 runs stops it, as the wrapper's warning says.
    signal(run.pid(), "-INT");
    wait_until("k6's SIGINT", Duration::from_secs(10), || {
        rig.standins.signals() == "SIGINT\n"
    });
    promo_snapshot!(rig.outcome(run).filter_regex(
        r"client error \((SendRequest|Connect)\): [^()]*(\(os error \d+\))?",
        "client error ([CONNECTION LOST])",
    ));
}

/// Press STOP on the page of the running test: (status, the page's message, test id and
/// Grafana URL replaced).
async fn press_stop(rig: &Rig) -> (u16, String) {
    let testid = rig.current_with_pid().await["testid"]
        .as_str()
        .expect("testid")
        .to_string();
    let pw = secret(&rig.p, "shop", "CONTROL_API_STOP_PASSWORD");
    let http = reqwest::Client::new();
    let link = rig.api(&format!("/stop?testid={testid}"));
    let (status, page, csrf) = stop_session::open(&http, &link, "marketing", &pw).await;
    assert_eq!(status, 200, "{page}");
    let (status, body) =
        stop_session::confirm(http, rig.api(""), "marketing", pw, testid.clone(), csrf).await;
    let message = body
        .split("<p id=\"message\">")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .unwrap_or_else(|| panic!("no message in {body}"))
        .replace(&testid, "[TESTID]")
        .replace(&rig.grafana.url(), "[GRAFANA]");
    (status, message)
}

/// Fails on the old code: the page said the annotation "was added" whatever happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stop_page_says_what_became_of_the_annotation() {
    // Posted (English).
    let mut rig = Rig::start("en", false).await;
    rig.start_control().await;
    let run = rig.start_run(&[]);
    let (status, text) = press_stop(&rig).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        text,
        "The test is stopped. A &quot;stopped by hand&quot; annotation was added to the dashboard. ([TESTID])"
    );
    drop(rig.outcome(run));

    // Grafana refuses the control API's password (changed in Grafana, not in .env).
    let mut rig = Rig::start("en", false).await;
    let env_path = "generated/shop/.env";
    let env = rig.p.read(env_path);
    let pw = secret(&rig.p, "shop", "GRAFANA_ADMIN_PASSWORD");
    rig.p.write(env_path, &env.replace(&pw, &"0".repeat(32)));
    rig.start_control().await;
    let run = rig.start_run(&[]);
    let (status, text) = press_stop(&rig).await;
    assert_eq!(status, 200, "{text}");
    insta::assert_snapshot!("stop_page_annotation_failed_en", text);
    drop(rig.outcome(run));

    // No Grafana credentials at all (French page).
    let mut rig = Rig::start("fr", false).await;
    let env = rig.p.read(env_path);
    let kept: Vec<&str> = env
        .lines()
        .filter(|l| !l.starts_with("GRAFANA_ADMIN_PASSWORD="))
        .collect();
    rig.p.write(env_path, &format!("{}\n", kept.join("\n")));
    rig.start_control().await;
    let run = rig.start_run(&[]);
    let (status, text) = press_stop(&rig).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        text,
        "Le test est arrêté. Aucune annotation n&#x27;a été ajoutée au tableau de bord : l&#x27;API de contrôle n&#x27;a pas d&#x27;accès à Grafana. ([TESTID])"
    );
    drop(rig.outcome(run));
}
