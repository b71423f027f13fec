//! The native target: `influxd`, `grafana` and the control API as supervised processes on this
//! host, started detached from generated configuration, with pidfiles and log files under
//! `<targets.native.data_dir>/<stack>/`.
//!
//! A pidfile records the pid, the process start time (from `/proc/<pid>/stat`) and the program;
//! a pid that now belongs to another program (recycled) is detected and never signalled.
//!
//! Owns: starting, supervising (pidfiles, logs) and stopping the stack's processes.
//! May not: print (progress lines only), read the environment except through
//! [`crate::settings`], or signal a process whose identity does not match its pidfile.

mod destroy;
mod health;
mod inplace;
mod observe;
mod proc;
mod running;
mod services;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use self::health::{Health, health_url};
pub use self::proc::{PidRecord, proc_stat};
use self::proc::{abandon, basename, http_client, proc_argv0, tail, uptime, version_of, which};
use super::common;
use super::grafana_api;
use super::{Context, LogLine, LogQuery, Progress, ServiceStatus, Target};
use crate::compile::native::PROJECT_DIR_ENV;
use crate::desired::{Desired, EnvValue, ProcessSpec, Resource, ResourceKind, ResourceSpec};
use crate::error::{Error, Result};
use crate::plan::{Action, Observed, Step};

/// The variables a native process gets from the caller's environment besides `PATH` (the one
/// programs are looked up on): where its user's home is and the local time zone. Everything else
/// it gets is declared by the stack (its `ProcessSpec::env`: plain values and the secrets it
/// reads) plus `PROMO_INFRA_PROJECT_DIR`.
pub const INHERITED: [&str; 2] = ["HOME", "TZ"];

/// The native target of one stack.
#[derive(Debug, Clone)]
pub struct NativeTarget {
    ctx: Context,
    project_dir: PathBuf,
    data_dir: PathBuf,
    search_path: Option<std::ffi::OsString>,
    progress: Progress,
}

impl NativeTarget {
    /// For a stack whose project directory is `project_dir` and data directory (relative to
    /// it) is `data_dir` (`data/<stack>`).
    pub fn new(ctx: Context, project_dir: &Path, data_dir: &str) -> Self {
        Self {
            data_dir: project_dir.join(data_dir),
            project_dir: project_dir.to_path_buf(),
            ctx,
            search_path: None,
            progress: Progress::hidden(),
        }
    }

    /// Show a progress line per process while it starts.
    #[must_use]
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Look programs up on this PATH (and give it to them) instead of the inherited one.
    #[must_use]
    pub fn with_search_path(mut self, path: std::ffi::OsString) -> Self {
        self.search_path = Some(path);
        self
    }

    fn path_var(&self) -> Option<std::ffi::OsString> {
        self.search_path
            .clone()
            .or_else(|| crate::settings::var_os("PATH"))
    }

    fn pidfile(&self, name: &str) -> PathBuf {
        self.data_dir.join("run").join(format!("{name}.pid"))
    }

    fn logfile(&self, name: &str) -> PathBuf {
        self.data_dir.join("log").join(format!("{name}.log"))
    }

    /// The live process recorded for `name`, if its pid still runs the same program started at
    /// the same time.
    pub fn live(&self, name: &str) -> Option<PidRecord> {
        let rec = self.recorded_as(name)?;
        let (state, start) = proc_stat(rec.pid)?;
        if state == 'Z' || start != rec.start_ticks {
            return None;
        }
        let argv0 = proc_argv0(rec.pid)?;
        (basename(&argv0) == basename(&rec.program)).then_some(rec)
    }

    /// What the pidfile of `name` records, whether or not its process still runs.
    fn recorded_as(&self, name: &str) -> Option<PidRecord> {
        let text = fs_err::read_to_string(self.pidfile(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn resolve_program(&self, program: &str) -> Result<PathBuf> {
        let path = self.path_var();
        if program == "promo-infra" {
            if let Ok(p) = which(program, path.as_deref()) {
                return Ok(p);
            }
            return crate::settings::current_exe()
                .map_err(|e| Error::io("cannot find", "promo-infra", e));
        }
        which(program, path.as_deref()).map_err(|()| {
            Error::native(format!("`{program}` is not installed (not found on PATH)"))
                .with_help(match program {
                "influxd" => {
                    "install InfluxDB (Debian: apt-get install influxdb), or use --target docker"
                        .into()
                }
                "grafana" => {
                    "install Grafana so that `grafana server` is on PATH, or use --target docker"
                        .into()
                }
                _ => format!("put `{program}` on PATH"),
            })
        })
    }

    async fn start(&self, resource: &Resource, p: &ProcessSpec) -> Result<()> {
        for dir in ["run", "log", "influxdb", "grafana"] {
            let d = self.data_dir.join(dir);
            fs_err::create_dir_all(&d).map_err(|e| Error::io("cannot create directory", &d, e))?;
        }
        let program = self.resolve_program(&p.program)?;
        let log = self.logfile(&p.name);
        let log_file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| Error::io("cannot open the log file", &log, e))?
            .into_parts()
            .0;
        let log_err = log_file
            .try_clone()
            .map_err(|e| Error::io("cannot open the log file", &log, e))?;
        // The program is started directly (no shell in between): `spawn` returns only once the
        // exec has happened (std waits on a close-on-exec pipe, or vfork semantics), so the pid
        // is the program's from the first moment and its identity is never checked against a
        // process that has not exec'd yet. Its own process group keeps a Ctrl-C of promo-infra
        // from reaching it; it outlives promo-infra (re-parented to init when we exit).
        // Its environment is its own, not the caller's: cleared, then only what
        // [`INHERITED`] names, the project directory and its declared variables (a shell's
        // `INFLUXDB_HTTP_AUTH_ENABLED=false` or `GF_SECURITY_ADMIN_PASSWORD` never reaches it).
        let mut cmd = Command::new(&program);
        cmd.args(&p.args)
            .current_dir(&self.project_dir)
            .env_clear()
            .env("PATH", self.path_var().unwrap_or_default());
        for name in INHERITED {
            if let Some(value) = crate::settings::var_os(name) {
                cmd.env(name, value);
            }
        }
        cmd.env(PROJECT_DIR_ENV, &self.project_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err));
        for (k, v) in &p.env {
            let value = match v {
                EnvValue::Plain(v) => v.clone(),
                EnvValue::Secret(name) => common::secret(&self.ctx, name).ok_or_else(|| {
                    Error::usage(
                        format!("{} needs secret {name}, which is not set", p.name),
                        format!(
                            "run `promo-infra generate`, or set {name} in .env / the environment"
                        ),
                    )
                })?,
            };
            cmd.env(k, value);
        }
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::native(format!(
                "cannot start {} ({}): {e}",
                p.name,
                program.display()
            ))
            .with_help(format!("check that {} is executable", program.display()))
        })?;
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        let started = match proc_stat(pid) {
            Some((_, start_ticks)) => self.record(&p.name, &program, pid, start_ticks, resource),
            None => Err(
                Error::native(format!("{} exited at once: {}", p.name, tail(&log)))
                    .with_help(format!("see {}", log.display())),
            ),
        };
        let result = match started {
            Ok(()) => self.wait_healthy(p, &log, &mut child).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            // A failed start leaves nothing behind: stop what was started (its whole process
            // group; it is our child, not yet reaped, so the pid cannot have been recycled).
            abandon(&mut child, pid, Duration::from_secs(5)).await;
            let _ = fs_err::remove_file(self.pidfile(&p.name));
        }
        result
    }

    pub(super) fn record(
        &self,
        name: &str,
        program: &Path,
        pid: i32,
        start_ticks: u64,
        resource: &Resource,
    ) -> Result<()> {
        let rec = PidRecord {
            pid,
            start_ticks,
            program: program.display().to_string(),
            hash: resource.hash.clone(),
            canonical: resource.canonical.clone(),
        };
        crate::writer::write_atomic(
            &self.pidfile(name),
            serde_json::to_string_pretty(&rec)
                .unwrap_or_default()
                .as_bytes(),
            Some(0o644),
        )
    }

    /// Wait until the process `p` just started as our `child` answers its health URL; it is
    /// our child, so whether it exited is known exactly, without guessing.
    async fn wait_healthy(
        &self,
        p: &ProcessSpec,
        log: &Path,
        child: &mut std::process::Child,
    ) -> Result<()> {
        let exited = || {
            let status = child.try_wait().ok().flatten()?;
            Some(
                Error::native(format!(
                    "{} exited while starting ({status}): {}",
                    p.name,
                    tail(log)
                ))
                .with_help(format!("see {}", log.display())),
            )
        };
        self.wait_answering(p, &p.health_url, exited, |answered| {
            Error::native(format!(
                "{} did not become healthy within {:?}: {} answered: {answered}; it was stopped; log: {}",
                p.name,
                self.ctx.health_timeout,
                p.health_url,
                tail(log)
            ))
            .with_help(format!("see {}", log.display()))
        })
        .await
    }

    /// SIGTERM (and SIGCONT, for a stopped one), then SIGKILL after `grace`; only a process
    /// whose identity matches its pidfile.
    async fn stop(&self, name: &str, grace: Duration) -> Result<bool> {
        let Some(rec) = self.live(name) else {
            let _ = fs_err::remove_file(self.pidfile(name));
            return Ok(false);
        };
        let pid = nix::unistd::Pid::from_raw(rec.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        // A stopped process (SIGSTOP, Ctrl-Z) handles SIGTERM only once continued: without
        // this it "ignored" it for the whole grace and was killed without shutting down.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.live(name).is_none() {
                let _ = fs_err::remove_file(self.pidfile(name));
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if self.live(name).is_some() {
            tracing::warn!(
                "{name} (pid {}) ignored SIGTERM for {grace:?}: sending SIGKILL",
                rec.pid
            );
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.live(name).is_some() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The pidfile of a process that still runs is its only record: it stays.
            if self.live(name).is_some() {
                return Err(Error::native(format!(
                    "{name} (pid {}) still runs 5 s after SIGKILL",
                    rec.pid
                ))
                .with_help(format!(
                    "see `ps -o pid,stat,cmd -p {}`; its pidfile {} is kept",
                    rec.pid,
                    self.pidfile(name).display()
                )));
            }
        }
        let _ = fs_err::remove_file(self.pidfile(name));
        Ok(true)
    }
}

#[async_trait::async_trait(?Send)]
impl Target for NativeTarget {
    fn name(&self) -> &'static str {
        "native"
    }

    async fn observe(&self, desired: &Desired) -> Result<Observed> {
        self.observe_all(desired, true).await
    }

    async fn observe_to_destroy(&self, desired: &Desired) -> Result<Observed> {
        self.observe_all(desired, false).await
    }

    async fn execute(&self, step: &Step, desired: &Desired) -> Result<()> {
        if step.action == Action::Delete {
            if matches!(step.id.kind, ResourceKind::Folder | ResourceKind::Dashboard) {
                return grafana_api::delete(&self.ctx, desired, &step.id).await;
            }
            return self
                .stop(&step.id.name, Duration::from_secs(10))
                .await
                .map(|_| ());
        }
        let r = desired.resources.get(&step.id).ok_or_else(|| {
            Error::internal(format!(
                "{}: the plan refers to a resource the stack does not declare",
                step.id
            ))
        })?;
        match (&step.action, &r.spec) {
            (Action::Update { changes }, ResourceSpec::Process(p)) => {
                self.reload(r, p, changes).await
            }
            (action, ResourceSpec::Process(p)) => {
                // A start is planned for a process that runs but did not answer: it is waited
                // for, not restarted; one that ended since is started again.
                if *action == Action::Start
                    && let Some(rec) = self.live(&p.name)
                {
                    return self.await_running(p, &rec).await;
                }
                self.stop(&p.name, Duration::from_secs(10)).await?;
                self.start(&common::as_created(&self.ctx, r), p).await
            }
            (_, ResourceSpec::Database(spec)) => {
                common::apply_database(&self.ctx, desired, spec).await
            }
            (_, ResourceSpec::Folder(_) | ResourceSpec::Dashboard(_)) => {
                grafana_api::execute(&self.ctx, desired, step, r).await
            }
            (_, ResourceSpec::Token(t)) => {
                common::mint_token(&self.ctx, desired, "native", r, t).await
            }
            (_, other) => Err(Error::internal(format!(
                "the native target cannot {:?} {} ({other:?})",
                step.action, step.id
            ))),
        }
    }

    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>> {
        let client = http_client()?;
        let mut out = Vec::new();
        for r in desired.resources.values() {
            let ResourceSpec::Process(p) = &r.spec else {
                continue;
            };
            let live = self.live(&p.name);
            let health = match &live {
                None => "-".to_string(),
                Some(rec) => Health::of(&client, health_url(rec, &p.health_url))
                    .await
                    .word(),
            };
            let program = self
                .resolve_program(&p.program)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| p.program.clone());
            // A process that ran keeps its pidfile until it is stopped (`destroy`, or a start
            // that failed), its log for good: without either, this service was never started
            // here, as docker's "missing".
            let recorded = live.clone().or_else(|| self.recorded_as(&p.name));
            let ran = recorded.is_some() || self.logfile(&p.name).exists();
            out.push(ServiceStatus {
                service: p.name.clone(),
                state: match (&live, ran) {
                    (Some(_), _) => "running".into(),
                    (None, true) => "stopped".into(),
                    (None, false) => "missing".into(),
                },
                health,
                version: version_of(&program),
                image: program,
                url: p.url.clone(),
                uptime: live
                    .as_ref()
                    .map_or_else(|| "-".into(), |rec| uptime(rec.start_ticks)),
                // A process that stopped by itself (crashed: its pidfile is left) ran what its
                // pidfile records: its configuration is known, current or not.
                up_to_date: recorded.is_some_and(|rec| rec.hash == r.hash),
            });
        }
        Ok(out)
    }

    async fn logs(&self, _: &Desired, q: &LogQuery, sink: &mut dyn FnMut(LogLine)) -> Result<()> {
        services::logs(self, q, sink).await
    }

    async fn restart(&self, desired: &Desired, service: &str) -> Result<()> {
        services::restart(self, desired, service).await
    }

    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<crate::targets::Destroyed> {
        self.destroy_all(desired, volumes).await.map(Into::into)
    }
}
