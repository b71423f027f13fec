//! The `grafana-double` and `influxdb2-double` binaries: Grafana's and the InfluxDB image's
//! ways of being configured, the startup log line, errors, and graceful SIGTERM/SIGINT.
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{
    KillOnDrop, client, logfmt_value, run_bounded, send, stderr_lines, wait_exit, wait_for_line,
};
use serde_json::json;

const GRAFANA: &str = env!("CARGO_BIN_EXE_grafana-double");
const INFLUX: &str = env!("CARGO_BIN_EXE_influxdb2-double");

fn clean(cmd: &mut Command) -> &mut Command {
    for k in [
        "GF_SERVER_HTTP_PORT",
        "GF_SERVER_HTTP_ADDR",
        "GF_SECURITY_ADMIN_USER",
        "GF_SECURITY_ADMIN_PASSWORD",
        "GF_PATHS_PROVISIONING",
        "GF_PATHS_DATA",
        "GF_DOUBLE_SERVICE_ACCOUNT_TOKENS",
        "GF_DOUBLE_VERSION",
        "INFLUXD_HTTP_BIND_ADDRESS",
        "DOCKER_INFLUXDB_INIT_MODE",
    ] {
        cmd.env_remove(k);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn grafana_command_line_via_symlink_with_ini_env_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let link = p.join("grafana");
    std::os::unix::fs::symlink(GRAFANA, &link).unwrap();
    write(
        &p.join("prov/datasources/ds.yaml"),
        "apiVersion: 1\ndatasources:\n  - name: InfluxDB\n    type: influxdb\n    uid: influx-k6\n    url: http://influxdb:8086\n    secureJsonData:\n      token: $PDBL_BIN_TOKEN\n",
    );
    write(
        &p.join("grafana.ini"),
        &format!(
            "[server]\nhttp_addr = 127.0.0.1\nhttp_port = 0\n\n[paths]\nprovisioning = {}\n\n[security]\nadmin_user = admin\nadmin_password = $__env{{PDBL_BIN_PW}}\n",
            p.join("prov").display()
        ),
    );
    let pidfile = p.join("grafana.pid");
    let mut cmd = Command::new(&link);
    clean(&mut cmd)
        .args(["server", "--config"])
        .arg(p.join("grafana.ini"))
        .arg("--homepath")
        .arg(p)
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--packaging=docker")
        .env("PDBL_BIN_PW", "from-env-pw")
        .env("PDBL_BIN_TOKEN", "tok")
        .env("GF_SECURITY_ADMIN_USER", "boss")
        .env("GF_DOUBLE_SERVICE_ACCOUNT_TOKENS", "glsa_a, glsa_b");
    let mut child = KillOnDrop(cmd.spawn().expect("spawn grafana-double"));
    let lines = stderr_lines(child.0.stderr.take().unwrap());
    let listen = wait_for_line(&lines, "HTTP Server Listen", 20)
        .unwrap_or_else(|seen| panic!("no listen line; stderr: {seen:#?}"));
    assert!(listen.contains("logger=http.server"), "{listen}");
    let addr = logfmt_value(&listen, "address").unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        child.0.id().to_string()
    );

    let c = client();
    let (st, body) = send(c.get(format!("http://{addr}/api/health"))).await;
    assert_eq!((st, body["database"].clone()), (200, json!("ok")));
    let (st, ds) = send(
        c.get(format!("http://{addr}/api/datasources/uid/influx-k6"))
            .basic_auth("boss", Some("from-env-pw")),
    )
    .await;
    assert_eq!(
        st, 200,
        "env override of admin_user and $__env{{}} password"
    );
    assert_eq!(ds["readOnly"], true);
    let (st, _) = send(
        c.get(format!("http://{addr}/api/search"))
            .bearer_auth("glsa_b"),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(
        c.get(format!("http://{addr}/api/search"))
            .basic_auth("admin", Some("from-env-pw")),
    )
    .await;
    assert_eq!(st, 401);

    signal(child.0.id(), "-TERM");
    let status = wait_exit(&mut child.0, 10).expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(wait_for_line(&lines, "Shutdown started", 5).is_ok());
    assert!(!pidfile.exists(), "pidfile removed on exit");
}

#[tokio::test]
async fn grafana_env_only_like_the_docker_image() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("prov/dashboards/p.yaml"),
        &format!(
            "apiVersion: 1\nproviders:\n  - name: p\n    folder: Marketing\n    options:\n      path: {}\n",
            dir.path().join("d").display()
        ),
    );
    write(
        &dir.path().join("d/m.json"),
        r#"{"uid": "m", "title": "M"}"#,
    );
    let mut cmd = Command::new(GRAFANA);
    clean(&mut cmd)
        .arg("server")
        .arg("cfg:default.log.mode=console")
        .env("GF_SERVER_HTTP_PORT", "0")
        .env("GF_PATHS_PROVISIONING", dir.path().join("prov"))
        .env("GF_SECURITY_ADMIN_PASSWORD", "pw-from-env");
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let lines = stderr_lines(child.0.stderr.take().unwrap());
    let listen =
        wait_for_line(&lines, "HTTP Server Listen", 20).unwrap_or_else(|seen| panic!("{seen:#?}"));
    let addr = logfmt_value(&listen, "address").unwrap();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "no GF_SERVER_HTTP_ADDR: loopback only ({addr})"
    );
    let (st, d) = send(
        client()
            .get(format!("http://{addr}/api/dashboards/uid/m"))
            .basic_auth("admin", Some("pw-from-env")),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(d["meta"]["folderTitle"], "Marketing");
    signal(child.0.id(), "-INT");
    let status = wait_exit(&mut child.0, 10).expect("exits after SIGINT");
    assert!(status.success());
}

#[test]
fn grafana_invalid_provisioning_exits_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("prov/alerting/a.yaml"),
        "apiVersion: 1\ngroups:\n  - name: g\n    folder: F\n    interval: 60s\n    rules:\n      - uid: r\n        title: R\n        condition: A\n        data:\n          - refId: A\n            datasourceUid: influx\n            relativeTimeRange: {from: 0, to: 0}\n            model: {}\n",
    );
    let mut cmd = Command::new(GRAFANA);
    clean(&mut cmd)
        .args(["server", "cfg:server.http_port=0"])
        .arg(format!(
            "cfg:paths.provisioning={}",
            dir.path().join("prov").display()
        ));
    let (code, stderr) = run_bounded(&mut cmd, 20);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid relative time range [From: 0s, To: 0s]"),
        "{stderr}"
    );
    assert!(stderr.contains("Error: ✗"), "{stderr}");

    let mut cmd = Command::new(GRAFANA);
    clean(&mut cmd).args(["server", "--config", "/nonexistent/grafana.ini"]);
    let (code, stderr) = run_bounded(&mut cmd, 20);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("failed to read config file"), "{stderr}");
}

#[tokio::test]
async fn influxdb2_env_setup_write_and_sigint() {
    let (mut child, addr) = start_influx_with_setup(
        &[
            ("INFLUXD_HTTP_BIND_ADDRESS", "127.0.0.1:0"),
            ("DOCKER_INFLUXDB_INIT_RETENTION", "30d"),
        ],
        &[],
    );
    let c = client();
    let (st, b) = send(
        c.get(format!("http://{addr}/api/v2/buckets?name=k6"))
            .header("Authorization", "Token admintoken"),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        b["buckets"][0]["retentionRules"][0]["everySeconds"],
        2_592_000
    );
    let resp = c
        .post(format!("http://{addr}/api/v2/write?org=promo&bucket=k6"))
        .header("Authorization", "Token admintoken")
        .body("vus value=3i")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (_, pts) = send(c.get(format!("http://{addr}/__double/points?bucket=k6"))).await;
    assert_eq!(pts["measurements"]["vus"], 1);
    signal(child.0.id(), "-INT");
    let status = wait_exit(&mut child.0, 10).expect("exits after SIGINT");
    assert!(status.success());
}

#[test]
fn influxdb2_incomplete_setup_env_is_an_error() {
    let mut cmd = Command::new(INFLUX);
    clean(&mut cmd)
        .env("INFLUXD_HTTP_BIND_ADDRESS", "127.0.0.1:0")
        .env("DOCKER_INFLUXDB_INIT_MODE", "setup")
        .env("DOCKER_INFLUXDB_INIT_USERNAME", "admin");
    let (code, stderr) = run_bounded(&mut cmd, 20);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("DOCKER_INFLUXDB_INIT_PASSWORD"), "{stderr}");
}

#[tokio::test]
async fn influxdb2_cloud_serverless_flag_refuses_flux() {
    let (child, addr) = start_influx_with_setup(
        &[],
        &["--cloud-serverless", "--http-bind-address", "127.0.0.1:0"],
    );
    let (st, b) = send(
        client()
            .post(format!("http://{addr}/api/v2/query"))
            .header("Authorization", "Token admintoken")
            .json(&serde_json::json!({"query": "from(bucket: \"k6\") |> range(start: -1h)"})),
    )
    .await;
    assert_eq!(
        (st, b["code"].clone()),
        (501, serde_json::json!("not implemented"))
    );
    drop(child); // killed: the signal handling is the SIGINT test's subject
}

/// Starts `influxdb2-double` with onboarding (org `promo`, bucket `k6`, token `admintoken`) plus
/// `env` and `args`; returns the child and its listen address.
fn start_influx_with_setup(env: &[(&str, &str)], args: &[&str]) -> (KillOnDrop, String) {
    let mut cmd = Command::new(INFLUX);
    clean(&mut cmd)
        .args(args)
        .env("DOCKER_INFLUXDB_INIT_MODE", "setup")
        .env("DOCKER_INFLUXDB_INIT_USERNAME", "admin")
        .env("DOCKER_INFLUXDB_INIT_PASSWORD", "password123")
        .env("DOCKER_INFLUXDB_INIT_ORG", "promo")
        .env("DOCKER_INFLUXDB_INIT_BUCKET", "k6")
        .env("DOCKER_INFLUXDB_INIT_ADMIN_TOKEN", "admintoken")
        .envs(env.iter().copied());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let lines = stderr_lines(child.0.stderr.take().unwrap());
    let listen =
        wait_for_line(&lines, "msg=\"Listening\"", 20).unwrap_or_else(|seen| panic!("{seen:#?}"));
    let addr = logfmt_value(&listen, "addr").unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    (child, addr)
}
