//! Helpers shared by the integration tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr};
use std::sync::mpsc;
use std::time::Duration;

use promo_doubles::influx2::Influx2Setup;
use serde_json::Value;

/// A client with bounded timeouts.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// Status and JSON body (Null for an empty or non-JSON body).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Forwards a child's stderr lines to a channel (and keeps a copy for failure messages).
pub fn stderr_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a stderr line containing `needle`; returns it or the lines seen.
pub fn wait_for_line(
    rx: &mpsc::Receiver<String>,
    needle: &str,
    secs: u64,
) -> Result<String, Vec<String>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Ok(line),
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    Err(seen)
}

/// Extracts `key=value` from a logfmt line.
pub fn logfmt_value(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
}

/// Waits (bounded) for a child to exit.
pub fn wait_exit(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Kills a child that is still running (test cleanup).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs a command that is expected to exit, bounded: (exit code, stderr). Killed on timeout.
pub fn run_bounded(cmd: &mut std::process::Command, secs: u64) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let rx = stderr_lines(child.stderr.take().expect("stderr"));
    let status = wait_exit(&mut child, secs);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut text = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        text.push_str(&line);
        text.push('\n');
    }
    (status.and_then(|s| s.code()), text)
}

/// The onboarding the InfluxDB 2 tests use: org `promo`, bucket `k6` kept 7 days, `token`.
pub fn influx2_setup(token: &str) -> Influx2Setup {
    Influx2Setup {
        username: "admin".into(),
        password: "password123".into(),
        org: "promo".into(),
        bucket: "k6".into(),
        retention_seconds: 7 * 86_400,
        token: Some(token.into()),
    }
}
