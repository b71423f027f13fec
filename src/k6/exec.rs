//! `k6 exec`: any command with the k6 variables (secrets included) in its environment, and the
//! pieces every k6 child shares: the wrapper's own signal handlers and the exit code of a
//! child.
//!
//! Owns: running a user's command, forwarding SIGTERM, the 128+signal exit code.
//! May not: print, put a secret in argv, read the environment.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use super::settings::K6Settings;
use crate::error::{Error, Result};

/// The wrapper's Ctrl+C (SIGINT) and SIGTERM, caught so the wrapper decides what its child
/// gets.
pub(super) struct Signals {
    /// Ctrl+C.
    pub sigint: tokio::signal::unix::Signal,
    /// `kill`, systemd, Docker.
    pub sigterm: tokio::signal::unix::Signal,
}

impl Signals {
    /// Catch SIGINT and SIGTERM from now on.
    pub fn catch() -> Result<Self> {
        let handler = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| Error::internal(format!("cannot handle {name}: {e}")))
        };
        Ok(Self {
            sigint: handler(SignalKind::interrupt(), "Ctrl+C")?,
            sigterm: handler(SignalKind::terminate(), "SIGTERM")?,
        })
    }
}

/// Send `sig` to `pid` (ignoring a child that is already gone).
pub(super) fn send(pid: i32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid), sig);
}

/// A child's exit code, 128+signal when a signal ended it (as shells report it).
pub(super) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// `k6 exec`: run `argv` with the k6 variables in its environment and return its exit code.
/// The command stays in this terminal's process group (Ctrl+C reaches it directly, and this
/// wrapper ignores it); SIGTERM is forwarded.
pub async fn exec(k6s: &K6Settings, argv: &[String]) -> Result<i32> {
    let (prog, args) = argv.split_first().ok_or_else(|| {
        Error::usage(
            "no command given",
            "put the command after `--`: promo-infra k6 exec -- k6 run script.js",
        )
    })?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args);
    for v in &k6s.vars {
        cmd.env(&v.name, &v.value);
    }
    let mut signals = Signals::catch()?;
    let mut child = cmd.spawn().map_err(|e| {
        Error::usage(
            format!("cannot run `{prog}`: {e}"),
            "check the command after `--` (is it in PATH?)",
        )
    })?;
    let pid = child.id().map_or(0, |p| p as i32);
    let status = loop {
        tokio::select! {
            st = child.wait() => break st,
            _ = signals.sigint.recv() => {}
            _ = signals.sigterm.recv() => send(pid, Signal::SIGTERM),
        }
    }
    .map_err(|e| Error::k6(format!("waiting for `{prog}` (pid {pid}) failed: {e}")))?;
    Ok(exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_ends_as_128_plus_its_number() {
        let st = std::process::Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .status()
            .expect("sh");
        assert_eq!(exit_code(st), 128 + 15);
        let st = std::process::Command::new("sh")
            .args(["-c", "exit 99"])
            .status()
            .expect("sh");
        assert_eq!(exit_code(st), 99);
    }
}
