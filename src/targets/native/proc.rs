//! What the native target reads from `/proc` and the filesystem about processes: identity
//! (`/proc/<pid>/stat`, `cmdline`), programs on PATH, log tails, versions, uptimes.
//!
//! Owns: the low-level process helpers of the native target, and what a pidfile records.
//! May not: print, read the environment (PATH is passed in), or start anything but
//! `PROGRAM --version`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::targets::common;

/// What a pidfile records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidRecord {
    /// Process id.
    pub pid: i32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
    /// Program as started (argv[0]).
    pub program: String,
    /// Content hash of the resource it runs.
    pub hash: String,
    /// Canonical form of the resource (secret fingerprints only).
    pub canonical: serde_json::Value,
}

/// A client for health checks: 2 s per request (health URLs are this host's, plain HTTP).
pub(super) fn http_client() -> Result<reqwest::Client> {
    crate::net::plain_client()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))
}

/// Stop a child that failed to start: SIGTERM to its process group, SIGKILL after `grace`,
/// then reap it.
pub(super) async fn abandon(child: &mut std::process::Child, pid: i32, grace: Duration) {
    use nix::sys::signal::{Signal, killpg};
    let group = nix::unistd::Pid::from_raw(pid);
    if matches!(child.try_wait(), Ok(None)) {
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Whatever is left of the group (the program, or children it started) is killed.
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

/// `(state, start ticks)` from `/proc/<pid>/stat`: the one parser, also used by
/// [`crate::k6::record`].
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

pub(super) fn proc_argv0(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    raw.split(|b| *b == 0)
        .next()
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

pub(super) fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

pub(super) fn which(
    program: &str,
    path: Option<&std::ffi::OsStr>,
) -> std::result::Result<PathBuf, ()> {
    std::env::split_paths(path.ok_or(())?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

pub(super) fn tail(log: &Path) -> String {
    let text = fs_err::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        "(no log output)".into()
    } else {
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

pub(super) fn version_of(program: &str) -> String {
    let arg = if basename(program) == "influxd" {
        "version"
    } else {
        "--version"
    };
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "-".into())
}

/// How long the process started at `start_ticks` (clock ticks since boot) has run.
pub(super) fn uptime(start_ticks: u64) -> String {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100);
    let btime = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines().find_map(|l| {
            l.strip_prefix("btime ")
                .and_then(|v| v.trim().parse::<i64>().ok())
        })
    });
    let Some(btime) = btime else {
        return "-".into();
    };
    let started =
        btime.saturating_add(i64::try_from(start_ticks / ticks.max(1) as u64).unwrap_or(i64::MAX));
    common::uptime(jiff::Timestamp::now().as_second().saturating_sub(started))
}
