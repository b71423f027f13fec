//! The backup tools: `influxd backup/restore -portable` (1.x) and `influx backup/restore` (2.x),
//! their command lines, and running them on this host or inside the stack's container.
//!
//! Owns: the argv of each tool, the bounded wait, and what a failure shows (the tool's last
//! lines, every secret value redacted, what to check).
//! May not: put a secret in argv (the 2.x token goes in the child's environment only), print
//! (the output goes to `tracing` at debug level), or decide what to back up or restore.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Settings, docker};
use crate::error::{Error, Result};
use crate::influx::blocking::Client as Influx;

/// `backup` or `restore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Take a backup.
    Backup,
    /// Restore one.
    Restore,
}

/// The argv (program first) of `op` on `database` (1.x through `rpc`), into or from `dir`;
/// `new_name` restores under another name.
pub(crate) fn argv(
    s: &Settings,
    op: Op,
    rpc: &str,
    (database, org): (&str, &str),
    new_name: Option<&str>,
    dir: &str,
) -> Vec<String> {
    let verb = match op {
        Op::Backup => "backup",
        Op::Restore => "restore",
    };
    let mut args: Vec<String> = if s.version == 1 {
        ["influxd", verb, "-portable", "-host", rpc, "-db", database]
            .map(String::from)
            .to_vec()
    } else {
        let url = s.http_url.as_str();
        [
            "influx", verb, "--host", url, "--org", org, "--bucket", database,
        ]
        .map(String::from)
        .to_vec()
    };
    if let Some(name) = new_name {
        let flag = if s.version == 1 {
            "-newdb"
        } else {
            "--new-bucket"
        };
        args.extend([flag.to_string(), name.to_string()]);
    }
    args.push(dir.to_string());
    args
}

/// The environment of a tool: the 2.x token, never in argv.
pub(crate) fn env(s: &Settings) -> Result<Vec<(&'static str, String)>> {
    if s.version == 1 {
        return Ok(Vec::new());
    }
    let token = s
        .token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Secrets {
            path: PathBuf::from(&s.env_display),
            message: format!(
                "{} is not set: `influx` needs the operator token",
                crate::secrets::INFLUX_ADMIN_TOKEN
            ),
            help: Some("run `promo-infra generate` to create it (or add it to .env)".into()),
        })?;
    Ok(vec![("INFLUX_TOKEN", token)])
}

/// `argv` as shown to the user: the host directory `dir` spelled `display`.
pub(crate) fn shown(argv: &[String], dir: &Path, display: &str) -> String {
    let dir = dir.to_string_lossy();
    argv.iter()
        .map(|a| if *a == dir { display } else { a.as_str() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `argv` run inside container `c`, as shown to the user.
pub(crate) fn shown_in(argv: &[String], c: &docker::Container) -> String {
    format!("{} (in container {})", argv.join(" "), c.name)
}

/// Run `argv` on this host with a bounded wait; stdout and stderr are captured and, on
/// failure, shown with every secret value redacted.
pub(crate) fn run_on_host(
    s: &Settings,
    argv: &[String],
    env: &[(&str, String)],
    shown: &str,
) -> Result<()> {
    tracing::debug!(command = shown, "running");
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::backup(format!("`{program}` is not installed (not found on PATH)")).with_help(
                if program == "influxd" {
                    "install Debian's `influxdb` package (scripts/setup.sh does)"
                } else {
                    "install the InfluxDB 2 CLI (`influx`, influxdata/influx-cli)"
                },
            )
        } else {
            Error::backup(format!("cannot start `{shown}`: {e}"))
        }
    })?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + s.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::backup(format!(
                    "`{shown}` did not finish within {} s; it was stopped",
                    s.timeout.as_secs()
                ))
                .with_help("check the server's load and logs, then run again"));
            }
            Err(e) => return Err(Error::backup(format!("cannot wait for `{shown}`: {e}"))),
        }
    };
    let mut output = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    output.push_str(&String::from_utf8_lossy(&err.join().unwrap_or_default()));
    let help = if s.version == 1 {
        format!(
            "`influxd backup/restore` talk to the RPC bind-address {} (backup.influx_rpc): check that InfluxDB listens there",
            s.rpc
        )
    } else {
        format!(
            "check the InfluxDB 2 server at {} and the token in {}",
            s.http_url, s.env_display
        )
    };
    outcome(
        s,
        shown,
        status.success(),
        &status.to_string(),
        output,
        help,
    )
}

/// Read a child's pipe to its end on a thread (so a full pipe never blocks the child).
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Run `argv` inside the stack's container (docker target), bounded by the timeout; a failure
/// shows the tool's last lines, secrets redacted.
pub(crate) fn run_in_container(
    s: &Settings,
    db: &Influx,
    c: &docker::Container,
    argv: &[String],
    shown: &str,
) -> Result<()> {
    let (code, output) = db.block_on(c.exec(argv, s.timeout))?;
    let help = format!(
        "`influxd backup/restore` talk to influxd's RPC address {} inside container {}: check `docker logs {}`",
        docker::CONTAINER_RPC,
        c.name,
        c.name
    );
    outcome(
        s,
        shown,
        code == 0,
        &format!("exit code {code}"),
        output,
        help,
    )
}

/// A finished tool: its output logged (secrets redacted), and on failure an error with its
/// last eight lines.
fn outcome(
    s: &Settings,
    shown: &str,
    success: bool,
    status: &str,
    mut output: String,
    help: String,
) -> Result<()> {
    for secret in s.secrets() {
        output = output.replace(secret, "(redacted)");
    }
    tracing::debug!(output = %output, status, "finished");
    if success {
        return Ok(());
    }
    let lines: Vec<&str> = output.lines().collect();
    let tail: Vec<String> = lines[lines.len().saturating_sub(8)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect();
    Err(Error::backup(format!("`{shown}` failed ({status}):\n{}", tail.join("\n"))).with_help(help))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_of_both_versions_hold_no_secret_and_show_the_display_dir() {
        let dir = "/abs/backups/shop/.tmp-1";
        let cases = [
            (
                1,
                Op::Restore,
                Some("k6_copy"),
                "backups/shop/1",
                "influxd restore -portable -host 127.0.0.1:8088 -db k6 -newdb k6_copy backups/shop/1",
            ),
            (
                2,
                Op::Backup,
                None,
                "backups/shop/.tmp-1",
                "influx backup --host http://127.0.0.1:8086 --org org --bucket k6 backups/shop/.tmp-1",
            ),
        ];
        for (version, op, new_name, display, want) in cases {
            let s = Settings::example(Path::new("/abs"), version, "http://127.0.0.1:8086");
            let argv = argv(&s, op, &s.rpc, ("k6", "org"), new_name, dir);
            assert_eq!(shown(&argv, Path::new(dir), display), want);
            assert!(argv.iter().all(|a| !a.contains("secret")), "{argv:?}");
            let token = (version == 2).then(|| ("INFLUX_TOKEN", "token-secret".to_string()));
            assert_eq!(env(&s).expect("env"), token.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_failed_tool_shows_its_last_eight_lines_with_secrets_redacted() {
        let s = Settings::example(Path::new("/abs"), 2, "http://127.0.0.1:8086");
        let output: String = (1..=10)
            .map(|n| format!("line {n} token-secret\n"))
            .collect();
        let err = outcome(
            &s,
            "influx backup",
            false,
            "exit code 1",
            output,
            "help".into(),
        )
        .expect_err("failed");
        let text = err.to_string();
        assert!(
            text.starts_with("`influx backup` failed (exit code 1):\n  line 3 (redacted)"),
            "{text}"
        );
        assert!(
            text.ends_with("  line 10 (redacted)") && !text.contains("line 2 "),
            "{text}"
        );
        assert!(matches!(err, Error::Backup { .. }), "{err:?}");
    }
}
