//! Helpers shared by the benchmarks (`benches/*.rs`, harness = false).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Build the release binary once and return its path.
#[allow(dead_code)]
pub fn release_binary(repo: &Path) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .current_dir(repo)
        .args(["build", "--release", "--quiet", "--bin", "promo-infra"])
        .status()
        .expect("cargo build");
    assert!(status.success());
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), PathBuf::from);
    target.join("release/promo-infra")
}

/// Replace the section between `<!-- bench:NAME -->` markers in BENCHMARKS.md.
pub fn update_benchmarks(path: &Path, name: &str, body: &str) {
    let begin = format!("<!-- bench:{name}:begin -->");
    let end = format!("<!-- bench:{name}:end -->");
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let section = format!("{begin}\n{body}{end}");
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{}\n{section}\n", text.trim_end()),
    };
    std::fs::write(path, new).expect("write BENCHMARKS.md");
}

/// One command's cost against a paced double: wall time, the double's busy span, its request
/// count and the most requests in flight.
#[allow(dead_code)]
#[derive(Clone, Copy, Default)]
pub struct Cost {
    pub wall: Duration,
    pub busy: Duration,
    pub requests: u64,
    pub max_in_flight: u64,
}

/// The sample of median wall time.
#[allow(dead_code)]
pub fn median(mut samples: Vec<Cost>) -> Cost {
    samples.sort_by_key(|c| c.wall);
    samples[samples.len() / 2]
}

/// The manifest `base` with its `dashboards:` section (up to `alerting:`) replaced by `n`
/// dashboards of their own titles (Grafana refuses two of one title in a folder), alternating
/// the built-in templates, and no home dashboard.
#[allow(dead_code)]
pub fn with_dashboards(base: &str, n: usize) -> String {
    let head = &base[..base.find("\ndashboards:\n").expect("dashboards") + 1];
    let tail = &base[base.find("\nalerting:\n").expect("alerting") + 1..];
    let dashboards: String = (0..n)
        .map(|i| {
            let template = if i % 2 == 0 { "marketing" } else { "k6-technical" };
            format!("  - uid: bench-{i:03}\n    template: {template}\n    title: \"Bench dashboard {i:03}\"\n")
        })
        .collect();
    format!("{head}dashboards:\n{dashboards}{tail}").replacen(
        "  home_dashboard: promo-marketing\n",
        "",
        1,
    )
}
