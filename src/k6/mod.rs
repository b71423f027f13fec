//! k6 around the stack: the custom binary (`k6 build`), the variables and flags of a run
//! (`k6 env`, `k6 exec`), and wrapped runs (`k6 run`) that the control API can stop: the
//! wrapper registers with the API and polls it, and signals its own child k6.
//!
//! | module | what |
//! |---|---|
//! | [`testid`] | unique test ids `<promo>_<yyyymmdd_hhmmss>_<8 hex>` (UTC, injectable clock) |
//! | [`settings`] | `K6_INFLUXDB_*` variables and `--out`/`--tag` flags for InfluxDB 1 or 2; run labels |
//! | [`record`] | the local run record (one tracked run per run directory) |
//! | [`coordinator`] | register with the control API, poll for stops, acknowledge |
//! | [`grade`] | summary → p95 / error rate → grade A–F and score out of 100 |
//! | [`notify`] | Grafana annotations and Slack messages |
//! | [`report`] | the words of a run's annotations and Slack message, the outcome record |
//! | `baseline` | `--baseline` names a run that exists (recorded, or with points in InfluxDB) |
//! | [`build`] | `xk6 build` with verification and a skip when inputs are unchanged |
//! | [`run`] | `k6 run` |
//! | `stop` | the STOP button from the wrapper's side: one SIGINT per stop |
//! | `preflight` | what `k6 run` warns about before k6 starts: its InfluxDB does not answer |
//! | [`exec`] | `k6 exec`, signals and exit codes of children |
//!
//! This file holds the entry points the `k6` command calls ([`build_k6`], [`env_report`],
//! [`exec_command`], [`run_test`]): each loads the stack and does one thing.
//! May not: print, read `std::env` (through [`crate::settings`]), talk to Docker.

mod baseline;
pub mod build;
pub mod coordinator;
pub mod exec;
pub mod grade;
pub mod notify;
mod preflight;
pub mod record;
pub mod report;
pub mod run;
pub mod settings;
mod stop;
pub mod testid;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::ops::{self, Selection};
use crate::project::Project;
use crate::secrets;
use settings::{K6Settings, LabelRequest, RunLabels};

/// Default run directory of a stack: `generated/<stack>/run/` (git-ignored).
pub fn default_run_dir(project: &Project, m: &Manifest) -> PathBuf {
    let dir = project.generated_dir(&m.stack).join("run");
    // `-C .` (the default) would print as `./generated/...`.
    dir.strip_prefix(".").map_or(dir.clone(), Path::to_path_buf)
}

/// Find an executable on `PATH` (or use `name` as is when it contains a `/`).
pub fn which(name: &str) -> Option<PathBuf> {
    which_in(name, &crate::settings::path_dirs())
}

/// [`which`] over `dirs`: the first regular file named `name` with an execute bit; a file
/// without one is skipped, as a shell does.
pub fn which_in(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A tokio runtime for one command (k6 runs, the control API).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))
}

/// `k6 build`: build (or skip) the stack's custom k6.
pub fn build_k6(
    project: &Project,
    selection: &Selection,
    force: bool,
) -> Result<build::BuildOutcome> {
    let (_, loaded) = ops::load_one(project, selection)?;
    runtime()?.block_on(build::build(project, &loaded.manifest, force))
}

/// What `k6 env` shows: the run's labels, variables and flags, and the command that runs it.
#[derive(Debug, Clone)]
pub struct EnvReport {
    /// Stack name.
    pub stack: String,
    /// The run's labels (its test id among them).
    pub labels: RunLabels,
    /// Variables (secrets marked, shown as `(sensitive)`) and flags.
    pub settings: K6Settings,
    /// `<k6> run <flags> SCRIPT`, with the stack's k6 binary.
    pub run_command: String,
}

/// `k6 env`: the variables and flags of a run of the selected stack.
pub fn env_report(
    project: &Project,
    selection: &Selection,
    labels: &LabelRequest,
) -> Result<EnvReport> {
    let (m, labels, settings) = prepare(project, selection, labels)?;
    let k6_bin = m.k6.as_ref().map_or("k6", |k| k.output.as_str());
    Ok(EnvReport {
        stack: m.stack.to_string(),
        run_command: format!("{k6_bin} run {} SCRIPT", settings.flags().join(" ")),
        labels,
        settings,
    })
}

/// `k6 exec`: run `argv` with the variables of a run in its environment; its exit code.
pub fn exec_command(
    project: &Project,
    selection: &Selection,
    labels: &LabelRequest,
    argv: &[String],
) -> Result<i32> {
    let (_, _, settings) = prepare(project, selection, labels)?;
    runtime()?.block_on(exec::exec(&settings, argv))
}

fn prepare(
    project: &Project,
    selection: &Selection,
    labels: &LabelRequest,
) -> Result<(Manifest, RunLabels, K6Settings)> {
    let (_, loaded) = ops::load_one(project, selection)?;
    let m = settings::for_target(&loaded.manifest, labels.target)?;
    let values = ops::secret_values(project, &m)?;
    let resolved = labels.resolve(&m.stack, *m.influxdb.version, testid::now)?;
    let settings = settings::settings(&m, &values, &resolved, labels.target)?;
    Ok((m, resolved, settings))
}

/// `k6 run`: a tracked, stoppable, graded run of the selected stack ([`run::run`]).
pub fn run_test(
    project: &Project,
    selection: &Selection,
    opts: &run::RunOptions,
    note: &(dyn Fn(run::Note) + Sync),
) -> Result<run::RunOutcome> {
    let (_, loaded) = ops::load_one(project, selection)?;
    let m = &settings::for_target(&loaded.manifest, opts.labels.target)?;
    let env_file = ops::env_path(project, m);
    let values = secrets::read_env(&env_file)?.ok_or_else(|| Error::Secrets {
        path: env_file.clone(),
        message: "does not exist".into(),
        help: Some("run `promo-infra generate` first".into()),
    })?;
    // The tokens you provide (Grafana Cloud's) may live in the environment only.
    let values = secrets::with_environment(values, &secrets::catalog(m));
    let now = testid::now()?;
    runtime()?.block_on(run::run(project, m, &values, opts, now, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_skips_a_file_without_the_execute_bit() {
        use std::os::unix::fs::PermissionsExt;
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let plain = first.path().join("k6");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let dirs = [first.path().to_path_buf(), second.path().to_path_buf()];
        assert_eq!(which_in("k6", &dirs), None, "not executable: not found");
        let runnable = second.path().join("k6");
        std::fs::write(&runnable, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&runnable, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(which_in("k6", &dirs), Some(runnable));
        assert_eq!(which_in(&plain.to_string_lossy(), &[]), None);
    }
}
