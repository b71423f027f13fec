//! Helpers shared by the benchmarks (`benches/*.rs`, harness = false).

use std::path::{Path, PathBuf};
use std::process::Command;

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
