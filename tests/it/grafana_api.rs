//! The Grafana API layer (`promo_infra::grafana`, issue 14 item 1) against the Grafana API
//! double: a dashboard saved and read back has no diff; a concurrent edit is never overwritten;
//! 429 with `Retry-After` is waited out (bounded); errors name the URL and never the password;
//! the versions API in both of Grafana's shapes.

use promo_doubles::common::FaultSpec;
use promo_doubles::grafana::{GrafanaConfig, spawn};
use promo_infra::control::Secret;
use promo_infra::grafana::{Auth, Client, diff::diff};
use serde_json::json;

const PASSWORD: &str = "s3cret-admin-pw";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn config(version: &str) -> GrafanaConfig {
    GrafanaConfig {
        admin_password: PASSWORD.into(),
        version: version.into(),
        ..GrafanaConfig::default()
    }
}

fn admin(url: &str) -> Client {
    let auth = Auth::Basic {
        user: "admin".into(),
        password: Secret::new(PASSWORD),
    };
    Client::new(url, auth, 4).expect("client")
}

fn dashboard(title: &str) -> serde_json::Value {
    json!({
        "uid": "promo-marketing", "title": title, "schemaVersion": 39, "tags": ["promo-infra"],
        "panels": [{"id": 1, "title": "Response time", "type": "timeseries",
                    "fieldConfig": {"defaults": {"unit": "ms"}}}]
    })
}

#[test]
fn saved_and_read_back_has_no_diff_and_a_concurrent_edit_is_refused() {
    rt().block_on(async {
        let g = spawn(config("10.2.3")).await.expect("double");
        let c = admin(&g.url());
        c.create_folder("promo", "promo-infra: promo")
            .await
            .expect("folder");
        let ours = dashboard("Promo");
        let saved = c
            .save_dashboard(&ours, Some("promo"), true, "promo-infra push")
            .await
            .expect("save");
        assert_eq!(saved.version, 1);
        let (live, folder) = c
            .dashboard("promo-marketing")
            .await
            .expect("get")
            .expect("there");
        assert_eq!(folder.as_deref(), Some("promo"));
        assert_eq!(diff(&ours, &live), vec![], "no perpetual diff");

        // Someone saves in the UI (version 2); a save based on version 1 is refused.
        let mut theirs = live.clone();
        theirs["panels"][0]["fieldConfig"]["defaults"]["unit"] = json!("s");
        c.save_dashboard(&theirs, Some("promo"), false, "")
            .await
            .expect("the UI's save");
        let mut stale = ours.clone();
        stale["version"] = json!(1);
        let err = c
            .save_dashboard(&stale, Some("promo"), false, "promo-infra push")
            .await
            .expect_err("a concurrent edit must not be overwritten");
        let text = format!("{err}");
        assert!(
            text.starts_with(&format!("POST {}/api/dashboards/db: 412", g.url())),
            "{text}"
        );
        assert_eq!(
            diff(
                &ours,
                &c.dashboard("promo-marketing")
                    .await
                    .expect("get")
                    .expect("there")
                    .0
            )
            .iter()
            .map(|c| c.line())
            .collect::<Vec<_>>(),
            vec![r#"~ panel "Response time" › fieldConfig.defaults.unit: "ms" → "s""#]
        );
        g.shutdown().await;
    });
}

#[test]
fn too_many_requests_is_waited_out_and_errors_never_show_the_password() {
    rt().block_on(async {
        let g = spawn(config("10.2.3")).await.expect("double");
        let c = admin(&g.url());
        g.state()
            .inject_fault(FaultSpec::too_many_requests(2).on_path("/api/dashboards/uid"));
        assert_eq!(
            c.dashboard("nope").await.expect("served after two 429s"),
            None
        );

        // A Retry-After longer than the client waits: Grafana's answer, not a hang.
        g.state().inject_fault(FaultSpec {
            retry_after: Some(3600),
            ..FaultSpec::too_many_requests(1).on_path("/api/dashboards/uid")
        });
        let err = c.dashboard("nope").await.expect_err("not waited an hour");
        assert!(
            format!("{err}").contains(": 429 Too Many Requests"),
            "{err}"
        );

        // A server that keeps answering 503 with `Retry-After: 1`: the client's 4 attempts,
        // then its error (it retried for as long as the server asked: 100 s here).
        g.state().clear_requests();
        g.state().inject_fault(
            FaultSpec {
                retry_after: Some(1),
                ..FaultSpec::server_error(503, 100)
            }
            .on_path("/api/dashboards/uid"),
        );
        let err = c.dashboard("nope").await.expect_err("503 for ever");
        g.state().clear_faults();
        assert!(format!("{err}").contains(": 503"), "{err}");
        let tries = g
            .state()
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/api/dashboards/uid"))
            .count();
        assert_eq!(tries, 4, "attempts on a server asking to retry for ever");

        let wrong = Client::new(
            &g.url(),
            Auth::Basic {
                user: "admin".into(),
                password: Secret::new("wrong-pw-123"),
            },
            1,
        )
        .expect("client");
        let err = wrong.dashboard("promo-marketing").await.expect_err("401");
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains(&format!(
                "GET {}/api/dashboards/uid/promo-marketing: 401",
                g.url()
            )),
            "{shown}"
        );
        assert!(
            !shown.contains("wrong-pw-123") && !shown.contains(PASSWORD),
            "{shown}"
        );
        // What to do names the credentials this client sends: the admin's password, or the
        // cloud target's service-account token.
        let help = |err: &promo_infra::error::Error| match err {
            promo_infra::error::Error::Grafana { help, .. } => help.clone(),
            other => panic!("not a Grafana error: {other:?}"),
        };
        assert_eq!(
            help(&err).as_deref(),
            Some("Grafana refused the credentials: check GRAFANA_ADMIN_PASSWORD in generated/<stack>/.env")
        );
        let token = Client::new(&g.url(), Auth::Token(Secret::new("glsa_wrong_0123")), 1)
            .expect("client");
        let err = token.dashboard("promo-marketing").await.expect_err("401");
        assert_eq!(
            help(&err).as_deref(),
            Some("Grafana refused the token: the variable targets.cloud.grafana_token_env names must hold a service-account token (glsa_…)")
        );
        assert!(!format!("{err} {err:?}").contains("glsa_wrong_0123"));
        g.shutdown().await;
    });
}

#[test]
fn versions_in_both_shapes() {
    for version in ["10.2.3", "12.0.0"] {
        rt().block_on(async {
            let g = spawn(config(version)).await.expect("double");
            let c = admin(&g.url());
            for title in ["One", "Two", "Three"] {
                c.save_dashboard(&dashboard(title), None, true, &format!("save {title}"))
                    .await
                    .expect("save");
            }
            let history = c.versions("promo-marketing").await.expect("versions");
            assert_eq!(
                history
                    .iter()
                    .map(|v| (v.version, v.message.as_str()))
                    .collect::<Vec<_>>(),
                vec![(3, "save Three"), (2, "save Two"), (1, "save One")],
                "Grafana {version}"
            );
            assert_eq!(
                c.version("promo-marketing", 2).await.expect("v2")["title"],
                "Two"
            );
            g.shutdown().await;
        });
    }
}

/// A check's read again (`plan::scoped_to`: its dashboard and folder, `Desired::partial`) asks
/// Grafana for its own dashboard only. Fails without the fix: the sweep for undeclared tagged
/// dashboards fetched every other dashboard of the stack, so N dashboard checks after a
/// Grafana restart still made N² dashboard reads.
#[test]
fn a_checks_read_asks_for_its_own_dashboard_only() {
    use promo_infra::desired::{
        DashboardSpec, Desired, FolderSpec, Resource, ResourceId, ResourceKind, ResourceSpec,
    };
    use std::collections::BTreeMap;
    rt().block_on(async {
        let g = spawn(config("10.2.3")).await.expect("double");
        let c = admin(&g.url());
        c.create_folder("promo", "promo-infra: promo")
            .await
            .expect("folder");
        let grafana = ResourceId::new(ResourceKind::Service, "grafana");
        let folder = Resource::new(
            ResourceId::new(ResourceKind::Folder, "promo"),
            vec![grafana.clone()],
            ResourceSpec::Folder(FolderSpec {
                uid: "promo".into(),
                title: "promo-infra: promo".into(),
            }),
            &BTreeMap::new(),
        );
        let mut desired = Desired::default();
        desired.add(folder.clone());
        for uid in ["a", "b", "c"] {
            let model = json!({"uid": uid, "title": uid, "tags": ["promo-infra"], "panels": []});
            c.save_dashboard(&model, Some("promo"), true, "promo-infra push")
                .await
                .expect("save");
            desired.add(Resource::new(
                ResourceId::new(ResourceKind::Dashboard, uid),
                vec![folder.id.clone()],
                ResourceSpec::Dashboard(DashboardSpec {
                    uid: uid.into(),
                    title: uid.into(),
                    folder_uid: "promo".into(),
                    home: false,
                    settings: String::new(),
                    panels: BTreeMap::new(),
                    file: String::new(),
                }),
                &BTreeMap::new(),
            ));
        }
        let dashboard_reads = || {
            let mut read: Vec<String> = g
                .state()
                .requests()
                .iter()
                .filter_map(|r| {
                    r.path
                        .strip_prefix("/api/dashboards/uid/")
                        .map(String::from)
                })
                .collect();
            read.sort();
            g.state().clear_requests();
            read
        };
        g.state().clear_requests();
        let whole = promo_infra::targets::grafana_api::read(&c, &desired)
            .await
            .expect("read");
        assert_eq!(whole.len(), 4, "the folder and three dashboards: {whole:?}");
        assert_eq!(dashboard_reads(), ["a", "b", "c"]);
        let a = ResourceId::new(ResourceKind::Dashboard, "a");
        let scoped = promo_infra::plan::scoped_to(&desired, &a, &grafana);
        let part = promo_infra::targets::grafana_api::read(&c, &scoped)
            .await
            .expect("read");
        assert_eq!(part.len(), 2, "the folder and dashboard a: {part:?}");
        assert_eq!(dashboard_reads(), ["a"]);
    });
}
