//! `just bench` (cloud part, issue 15): `apply --target cloud` of a stack with 100 dashboards
//! against the Grafana API double as Grafana Cloud (every request waits a fixed latency, a
//! network round trip) and the InfluxDB 2 double as InfluxDB Cloud. Scenarios, on fresh doubles
//! each run: the cold apply (plan included: it reads every dashboard first), then apply again
//! (nothing to change).
//!
//! "Rounds" as in `benches/dashboards.rs`: the growth of Grafana's busy span when every request
//! waits the latency, over the same command without latency, divided by the latency. The bound
//! is issue 14's: 3 × ⌈100 / 8⌉ = 39 rounds. Written into BENCHMARKS.md (`bench:cloud`). Runs
//! the promo-infra binary of the bench's own profile (`cargo bench`: release; `cargo test
//! --bench cloud`: debug).
// Benchmarks and tests report on stdout/stderr and read their environment (CI, DOCKER_HOST).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use promo_doubles::grafana::GrafanaConfig;
use promo_doubles::influx2::{Influx2Config, Influx2Setup, Product};
use support::{Cost, median, update_benchmarks, with_dashboards};

/// Dashboards in the stack.
const N: usize = 100;
/// Requests in flight against one Grafana (`targets::grafana_api::CONCURRENCY`).
const C: usize = 8;
/// Grafana's latency per request.
const LATENCY: Duration = Duration::from_millis(50);
/// Runs per latency; medians are reported.
const RUNS: usize = 3;
const TOKEN: &str = "glsa_bench_0123456789abcdef";
const OPERATOR: &str = "bench-operator-token-0123456789";

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_promo-infra"));
    let base = std::fs::read_to_string(repo.join("stacks/promo-v1.yaml")).expect("promo-v1.yaml");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // costs[latency?][scenario] = samples
    let mut costs = vec![vec![Vec::new(); 2]; 2];
    for (li, latency) in [(0, LATENCY), (1, Duration::ZERO)]
        .into_iter()
        .cycle()
        .take(2 * RUNS)
    {
        let work = tempfile::tempdir().expect("temp dir");
        let dir = work.path();
        let (grafana, influx) = rt.block_on(async {
            let g = promo_doubles::grafana::spawn(GrafanaConfig {
                service_account_tokens: vec![TOKEN.into()],
                ..GrafanaConfig::default()
            })
            .await
            .expect("Grafana double");
            let i = promo_doubles::influx2::spawn_as(
                Influx2Config {
                    setup: Some(Influx2Setup {
                        username: "owner".into(),
                        password: "owner-password-123".into(),
                        org: "promo-analyzer".into(),
                        bucket: "other".into(),
                        retention_seconds: 0,
                        token: Some(OPERATOR.into()),
                    }),
                    ..Influx2Config::default()
                },
                Product::CloudServerless,
            )
            .await
            .expect("InfluxDB double");
            (g, i)
        });
        std::fs::create_dir_all(dir.join("stacks")).expect("mkdir");
        std::fs::write(
            dir.join("stacks/bench.yaml"),
            manifest(&base, &grafana.url(), &influx.url()),
        )
        .expect("write");
        grafana.state().pace().set_latency(latency);
        for (si, args) in [
            ["apply", "--target", "cloud", "--auto-approve"],
            ["apply", "--target", "cloud", "--auto-approve"],
        ]
        .iter()
        .enumerate()
        {
            grafana.state().pace().reset();
            let wall = run(&bin, dir, args);
            let stats = grafana.state().pace().stats();
            costs[li][si].push(Cost {
                wall,
                busy: Duration::from_millis(stats.busy_ms),
                requests: stats.requests,
                max_in_flight: stats.max_in_flight,
            });
        }
        rt.block_on(async {
            grafana.shutdown().await;
            influx.shutdown().await;
        });
    }
    let medians: Vec<Vec<Cost>> = costs
        .into_iter()
        .map(|per_s| per_s.into_iter().map(median).collect())
        .collect();
    let report = report(&medians);
    println!("{report}");
    update_benchmarks(&repo.join("BENCHMARKS.md"), "cloud", &report);
}

/// `stacks/promo-v1.yaml` on the doubles, with `N` dashboards of their own titles.
fn manifest(base: &str, grafana: &str, influx: &str) -> String {
    with_dashboards(base, N).replace(
            "targets:\n  docker: { network: monitoring-net }\n",
            &format!(
                "targets:\n  docker: {{ network: monitoring-net }}\n  cloud:\n    grafana_url: {grafana}\n    grafana_token_env: GRAFANA_CLOUD_TOKEN\n    influx_url: {influx}\n    influx_org: promo-analyzer\n    influx_token_env: INFLUX_CLOUD_TOKEN\n"
            ),
        )
}

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(bin)
        .current_dir(dir)
        .env("GRAFANA_CLOUD_TOKEN", TOKEN)
        .env("INFLUX_CLOUD_TOKEN", OPERATOR)
        .env(
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/X",
        )
        .args(["-f", "stacks/bench.yaml"])
        .args(args)
        .output()
        .expect("run promo-infra");
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wall
}

fn report(m: &[Vec<Cost>]) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug build (`cargo test --bench cloud`)"
    } else {
        "release build (`cargo bench --bench cloud`)"
    };
    let bound = 3 * N.div_ceil(C);
    let rounds = |si: usize| {
        (m[0][si].busy.as_secs_f64() - m[1][si].busy.as_secs_f64()).max(0.0) / LATENCY.as_secs_f64()
    };
    let mut out = format!(
        "### Cloud target: apply of {N} dashboards (Grafana Cloud double, {} ms per request)\n\n\
         Median of {RUNS} runs per row, {profile}, fresh doubles each run; the apply includes its plan \
         (every dashboard read first). Rounds as in the dashboards table.\n\n\
         | scenario | wall | Grafana requests | max in flight | busy (no latency) | rounds | bound 3 × ⌈{N}/{C}⌉ |\n|---|---|---|---|---|---|---|\n",
        LATENCY.as_millis()
    );
    for (si, name) in ["apply, cold", "apply again, nothing to change"]
        .iter()
        .enumerate()
    {
        let r = rounds(si);
        out.push_str(&format!(
            "| {name} | {:.2} s | {} | {} | {:.2} s | {r:.1} | {bound}: {} |\n",
            m[0][si].wall.as_secs_f64(),
            m[0][si].requests,
            m[0][si].max_in_flight,
            m[1][si].busy.as_secs_f64(),
            if r <= bound as f64 { "met" } else { "NOT met" }
        ));
    }
    out
}
