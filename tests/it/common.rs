//! Shared helpers: temporary projects and running the real binary.

use std::path::{Path, PathBuf};
use std::process::Output;

/// Repository root (where stacks/ and dashboards-src/ live).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A throwaway project directory with a `stacks/` folder.
pub struct TempProject {
    pub dir: tempfile::TempDir,
}

impl TempProject {
    /// An empty project.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
        Self { dir }
    }

    /// A project holding a copy of the repository's stacks.
    pub fn with_repo_stacks() -> Self {
        let p = Self::new();
        for entry in std::fs::read_dir(repo().join("stacks")).expect("stacks") {
            let entry = entry.expect("entry");
            std::fs::copy(
                entry.path(),
                p.path().join("stacks").join(entry.file_name()),
            )
            .expect("copy");
        }
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file relative to the project.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Run promo-infra in this project.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = assert_cmd::Command::cargo_bin("promo-infra")
            .expect("binary")
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("SLACK_WEBHOOK_URL")
            .args(args)
            .output()
            .expect("run promo-infra");
        Run::from(out)
    }

    /// Run promo-infra in this project with extra environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = assert_cmd::Command::cargo_bin("promo-infra").expect("binary");
        cmd.current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("SLACK_WEBHOOK_URL")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run promo-infra"))
    }

    /// Every file under the project (relative paths, sorted) with its bytes.
    pub fn snapshot_tree(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read(&path).expect("read")));
        }
    }
}

/// Output of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A complete, valid manifest used as the base of bad-input cases.
pub const BASE: &str = r##"stack: shop
environment: preprod
influxdb:
  version: 2
  image: influxdb:2.7
  port: 8086
  org: shop-org
  bucket: k6
  retention: 30d
grafana:
  image: grafana/grafana:10.2.3
  port: 3000
  admin_user: admin
  home_dashboard: shop-marketing
control_api:
  enabled: true
  port: 5000
dashboards:
  - uid: shop-marketing
    template: marketing
    thresholds: { p95_ok_ms: 1000, p95_warn_ms: 2000, error_ok_pct: 0.1, error_warn_pct: 1 }
  - uid: shop-tech
    template: k6-technical
alerting:
  slack:
    webhook_url_env: SLACK_WEBHOOK_URL
    channel: "#alerts"
  rules:
    error_rate_critical_pct: 5
    p95_warning_ms: 3000
backup:
  schedule: "0 3 * * *"
  keep: { last: 3, daily: 7 }
k6:
  version: v0.47.0
  extensions: [github.com/grafana/xk6-output-influxdb@v0.4.1]
"##;
