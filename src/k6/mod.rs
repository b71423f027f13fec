//! k6 around the stack: the custom binary (`k6 build`), the variables and flags of a run
//! (`k6 env`, `k6 exec`), and wrapped runs (`k6 run`) that the control API can stop: the
//! wrapper registers with the API and polls it, and signals its own child k6.
//!
//! | module | what |
//! |---|---|
//! | [`testid`] | unique test ids `<promo>_<yyyymmdd_hhmmss>_<8 hex>` (UTC, injectable clock) |
//! | [`settings`] | `K6_INFLUXDB_*` variables and `--out`/`--tag` flags for InfluxDB 1 or 2 |
//! | [`record`] | the local run record (one tracked run per run directory) |
//! | [`coordinator`] | register with the control API, poll for stops, acknowledge |
//! | [`grade`] | summary → p95 / error rate → grade A–F and score out of 100 |
//! | [`notify`] | Grafana annotations and Slack messages |
//! | [`build`] | `xk6 build` with verification and a skip when inputs are unchanged |
//! | [`run`] | `k6 run` and `k6 exec` |

pub mod build;
pub mod coordinator;
pub mod grade;
pub mod notify;
pub mod record;
pub mod run;
pub mod settings;
pub mod testid;

use std::path::{Path, PathBuf};

use crate::manifest::Manifest;
use crate::project::Project;

/// Default run directory of a stack: `generated/<stack>/run/` (git-ignored).
pub fn default_run_dir(project: &Project, m: &Manifest) -> PathBuf {
    let dir = project.generated_dir(&m.stack).join("run");
    // `-C .` (the default) would print as `./generated/...`.
    dir.strip_prefix(".").map_or(dir.clone(), Path::to_path_buf)
}

/// Find an executable on `PATH` (or use `name` as is when it contains a `/`).
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
