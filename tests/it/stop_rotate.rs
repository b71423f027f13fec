//! The STOP page with the control [`Rig`] (the control API on the host, `k6 run` with the
//! stand-in k6, the Grafana double): it says what became of the "stopped by hand" annotation
//! (posted, failed, not configured).

use crate::control::Rig;
use crate::standin::secret;
use crate::stop_session;

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
