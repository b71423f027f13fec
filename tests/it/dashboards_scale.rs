//! `dashboards push` and `dashboards diff` of many dashboards (issue 14, `just bench`): 20
//! dashboards against the Grafana API double with a per-request latency. The double counts the
//! requests (by route) and the most in flight at once: a push costs one folder GET, one folder
//! POST and one GET + one POST per dashboard, a re-push and a diff one GET per dashboard; at most
//! `--concurrency` requests are in flight (8 by default, 1 = one at a time); the output is in the
//! manifest's order (not sorted, not in the order the answers came).

use std::collections::BTreeMap;

use promo_doubles::grafana::{GrafanaConfig, GrafanaHandle, SpawnOptions, spawn_with};

use crate::common::{Run, TestContext, free_port};

/// Dashboards in the test stack.
const N: usize = 20;

/// `stacks/promo.yaml` with Grafana on `port` and `n` dashboards, uids in a scrambled order
/// (`d-00`, `d-07`, `d-14`, `d-01`, …) so that the manifest's order is neither sorted nor
/// reversed; each has its own title (Grafana refuses two of one title in a folder).
fn manifest(base: &str, port: u16, n: usize) -> String {
    let head = &base[..base.find("\ndashboards:\n").expect("dashboards") + 1];
    let tail = &base[base.find("\nalerting:\n").expect("alerting") + 1..];
    let mut dashboards = String::from("dashboards:\n");
    for i in 0..n {
        let uid = format!("d-{:02}", (i * 7) % n);
        let template = if i % 2 == 0 {
            "marketing"
        } else {
            "k6-technical"
        };
        dashboards.push_str(&format!(
            "  - uid: {uid}\n    template: {template}\n    title: \"Dashboard {uid}\"\n"
        ));
    }
    format!("{head}{dashboards}{tail}")
        .replacen("  port: 3000", &format!("  port: {port}"), 1)
        .replacen("  home_dashboard: promo-marketing\n", "", 1)
}

fn run(p: &TestContext, args: &[&str]) -> Run {
    p.run(args)
        .filter_regex(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:[PORT]")
}

/// Requests by route since the last reset, then reset.
fn take_requests(g: &GrafanaHandle) -> (BTreeMap<String, u64>, u64) {
    let stats = g.state().pace().stats();
    g.state().pace().reset();
    (stats.by_route, stats.max_in_flight)
}

fn routes(counts: &[(&str, u64)]) -> BTreeMap<String, u64> {
    counts.iter().map(|(r, n)| ((*r).to_string(), *n)).collect()
}

#[test]
fn many_dashboards_are_pushed_and_diffed_concurrently_in_the_manifests_order() {
    let p = TestContext::with_repo_stacks();
    let guard = free_port();
    let port = guard.port();
    p.write(
        "stacks/promo.yaml",
        &manifest(&p.read("stacks/promo.yaml"), port, N),
    );
    let g = p.run(&["-f", "stacks/promo.yaml", "generate"]);
    assert_eq!(g.code, 0, "{}", g.all());
    let password = p
        .read("generated/promo/.env")
        .lines()
        .find_map(|l| l.strip_prefix("GRAFANA_ADMIN_PASSWORD=").map(String::from))
        .expect("password in .env");
    drop(guard);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let double = rt
        .block_on(spawn_with(
            GrafanaConfig {
                admin_password: password,
                ..GrafanaConfig::default()
            },
            SpawnOptions {
                addr: format!("127.0.0.1:{port}").parse().expect("addr"),
                ..SpawnOptions::default()
            },
        ))
        .expect("grafana double");
    // A round trip of 20 ms, so that requests of one batch overlap in the double.
    double
        .state()
        .pace()
        .set_latency(std::time::Duration::from_millis(20));
    let n = N as u64;
    let get_dashboard = "GET /api/dashboards/uid/{uid}";

    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "push"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      d-00: uploaded (version 1)
      d-07: uploaded (version 1)
      d-14: uploaded (version 1)
      d-01: uploaded (version 1)
      d-08: uploaded (version 1)
      d-15: uploaded (version 1)
      d-02: uploaded (version 1)
      d-09: uploaded (version 1)
      d-16: uploaded (version 1)
      d-03: uploaded (version 1)
      d-10: uploaded (version 1)
      d-17: uploaded (version 1)
      d-04: uploaded (version 1)
      d-11: uploaded (version 1)
      d-18: uploaded (version 1)
      d-05: uploaded (version 1)
      d-12: uploaded (version 1)
      d-19: uploaded (version 1)
      d-06: uploaded (version 1)
      d-13: uploaded (version 1)

    ----- stderr -----
    ");
    let (requests, most) = take_requests(&double);
    assert_eq!(
        requests,
        routes(&[
            ("GET /api/folders/{uid}", 1),
            ("POST /api/folders", 1),
            (get_dashboard, n),
            ("POST /api/dashboards/db", n),
        ])
    );
    // Never more than the default limit (8); more than one (one at a time before issue 14).
    assert!((2..=8).contains(&most), "{most} requests in flight");

    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "push"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      d-00: unchanged
      d-07: unchanged
      d-14: unchanged
      d-01: unchanged
      d-08: unchanged
      d-15: unchanged
      d-02: unchanged
      d-09: unchanged
      d-16: unchanged
      d-03: unchanged
      d-10: unchanged
      d-17: unchanged
      d-04: unchanged
      d-11: unchanged
      d-18: unchanged
      d-05: unchanged
      d-12: unchanged
      d-19: unchanged
      d-06: unchanged
      d-13: unchanged

    ----- stderr -----
    ");
    let (requests, most) = take_requests(&double);
    assert_eq!(
        requests,
        routes(&[("GET /api/folders/{uid}", 1), (get_dashboard, n)])
    );
    assert!((2..=8).contains(&most), "{most} requests in flight");

    // One at a time: the same requests, never two at once.
    let once = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "push",
            "--concurrency",
            "1",
        ],
    );
    assert_eq!(once.code, 0, "{}", once.all());
    assert_eq!(take_requests(&double), (requests, 1));

    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "diff", "--detailed-exitcode", "--concurrency", "3"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    Dashboards of stack `promo` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      d-00 ("Dashboard d-00"): same
      d-07 ("Dashboard d-07"): same
      d-14 ("Dashboard d-14"): same
      d-01 ("Dashboard d-01"): same
      d-08 ("Dashboard d-08"): same
      d-15 ("Dashboard d-15"): same
      d-02 ("Dashboard d-02"): same
      d-09 ("Dashboard d-09"): same
      d-16 ("Dashboard d-16"): same
      d-03 ("Dashboard d-03"): same
      d-10 ("Dashboard d-10"): same
      d-17 ("Dashboard d-17"): same
      d-04 ("Dashboard d-04"): same
      d-11 ("Dashboard d-11"): same
      d-18 ("Dashboard d-18"): same
      d-05 ("Dashboard d-05"): same
      d-12 ("Dashboard d-12"): same
      d-19 ("Dashboard d-19"): same
      d-06 ("Dashboard d-06"): same
      d-13 ("Dashboard d-13"): same

    0 of 20 dashboard(s) differ.

    ----- stderr -----
    "#);
    let (requests, most) = take_requests(&double);
    assert_eq!(requests, routes(&[(get_dashboard, n)]));
    assert!((2..=3).contains(&most), "{most} requests in flight");
    rt.block_on(double.shutdown());
}
