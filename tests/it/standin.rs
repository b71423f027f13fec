//! Stand-ins and helpers shared by the k6 and control-API tests: a stand-in `k6` (Python, put on
//! PATH) that records its arguments and environment, writes k6-shaped points into InfluxDB 1.x,
//! writes a `--summary-export` file and handles SIGINT like k6 (flush, summary, exit 105); a
//! stand-in `xk6`/`go`; a Slack webhook receiver; child processes killed by PID on drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestContext;

fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 must be installed (the stand-in k6 is a Python script)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const K6_STANDIN: &str = r#"
# Stand-in for k6 (NOT k6): records argv/env, writes k6-shaped points, exports a summary,
# stops gracefully on SIGINT like k6 (exit 105), or finishes with $STANDIN_EXIT.
import base64, json, os, signal, sys, time, urllib.request

rec = os.environ["STANDIN_DIR"]
args = sys.argv[1:]
with open(os.path.join(rec, "k6-call.json"), "w") as f:
    json.dump({"argv": args, "env": dict(os.environ), "pid": os.getpid()}, f)
if args[:1] == ["version"]:
    print("k6 v0.47.0 (stand-in)")
    sys.exit(0)

stop = {"sigint": False}
def on_int(signum, frame):
    if not os.environ.get("STANDIN_IGNORE_SIGINT"):
        stop["sigint"] = True
    with open(os.path.join(rec, "k6-signals.txt"), "a") as f:
        f.write("SIGINT\n")
signal.signal(signal.SIGINT, on_int)

out, tags, summary = None, {}, None
i = 0
while i < len(args):
    a = args[i]
    if a == "--out": out = args[i + 1]; i += 2; continue
    if a == "--tag":
        k, v = args[i + 1].split("=", 1); tags[k] = v; i += 2; continue
    if a == "--summary-export": summary = args[i + 1]; i += 2; continue
    i += 1

def esc(v):
    return v.replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")

sent = {"file": False}
def write_points(n):
    if not out or not out.startswith("influxdb="):
        return
    url = out[len("influxdb="):]
    base, db = url.rsplit("/", 1)
    ts = time.time_ns()
    common = ",".join(f"{k}={esc(v)}" for k, v in sorted(tags.items()))
    lines = []
    for j in range(n):
        t = ts + j
        lines.append(f"http_req_duration,{common},expected_response=true,method=GET,name=home,scenario=default,status=200 value={100 + j}.5 {t}")
        lines.append(f"http_req_failed,{common},expected_response=true,method=GET,name=home,scenario=default,status=200 value=0 {t}")
        lines.append(f"http_reqs,{common},expected_response=true,method=GET,name=home,scenario=default,status=200 value=1 {t}")
        lines.append(f"vus,{common} value=5 {t}")
    body = "\n".join(lines)
    # $STANDIN_POINTS: a file of line protocol (a fixture run, `__TESTID__` for its test id)
    # written once instead, so the run's numbers are known.
    points = os.environ.get("STANDIN_POINTS")
    if points:
        if sent["file"]:
            return
        sent["file"] = True
        with open(points) as f:
            body = f.read().replace("__TESTID__", tags.get("testid", ""))
        n = "file"
    req = urllib.request.Request(f"{base}/write?db={db}&precision=ns", data=body.encode(), method="POST")
    user, pw = os.environ.get("K6_INFLUXDB_USERNAME"), os.environ.get("K6_INFLUXDB_PASSWORD")
    if user:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode())
    try:
        urllib.request.urlopen(req, timeout=5).read()
        with open(os.path.join(rec, "k6-writes.txt"), "a") as f: f.write(f"ok {n}\n")
    except Exception as e:
        with open(os.path.join(rec, "k6-writes.txt"), "a") as f: f.write(f"failed {e}\n")

mode = os.environ.get("STANDIN_MODE", "finish")
deadline = time.time() + 60
write_points(3)
if mode == "until-sigint":
    with open(os.path.join(rec, "k6-ready"), "w") as f: f.write("ready")
    while not stop["sigint"] and time.time() < deadline:
        time.sleep(0.05)
write_points(2)  # the flush
p95 = float(os.environ.get("STANDIN_P95", "250"))
err = float(os.environ.get("STANDIN_ERR_RATE", "0"))
if summary:
    with open(summary, "w") as f:
        json.dump({"metrics": {
            "http_req_duration": {"avg": p95 / 2, "min": 1, "med": p95 / 2, "max": p95 * 2, "p(90)": p95 * 0.9, "p(95)": p95},
            "http_req_failed": {"passes": 0, "fails": 100, "value": err},
            "http_reqs": {"count": 100, "rate": 10},
        }, "root_group": {"name": "", "groups": {}, "checks": {}}}, f)
print("stand-in k6 done", flush=True)
sys.exit(105 if stop["sigint"] else int(os.environ.get("STANDIN_EXIT", "0")))
"#;

/// A directory with the stand-in `k6` (and room for its records).
pub struct Standins {
    pub bin: tempfile::TempDir,
    pub records: tempfile::TempDir,
}

impl Standins {
    pub fn new() -> Self {
        let bin = tempfile::tempdir().expect("bin dir");
        let records = tempfile::tempdir().expect("records dir");
        let k6 = bin.path().join("k6");
        std::fs::write(&k6, format!("#!{}\n{K6_STANDIN}", python())).expect("write k6");
        make_executable(&k6);
        Self { bin, records }
    }

    /// PATH with the stand-ins first.
    pub fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    pub fn call(&self) -> Value {
        let text = std::fs::read_to_string(self.records.path().join("k6-call.json"))
            .expect("the stand-in k6 was not run");
        serde_json::from_str(&text).expect("json")
    }

    pub fn signals(&self) -> String {
        std::fs::read_to_string(self.records.path().join("k6-signals.txt")).unwrap_or_default()
    }

    pub fn writes(&self) -> String {
        std::fs::read_to_string(self.records.path().join("k6-writes.txt")).unwrap_or_default()
    }

    pub fn ready(&self) -> bool {
        self.records.path().join("k6-ready").exists()
    }
}

pub fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A child process killed by PID (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    /// Wait (bounded) for exit; returns (code, stdout, stderr).
    pub fn wait_output(mut self, limit: Duration) -> (i32, String, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut out = String::new();
                let mut err = String::new();
                use std::io::Read;
                if let Some(mut o) = self.child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (status.code().unwrap_or(-1), out, err);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Start promo-infra in `p` (NO_COLOR, stdout/stderr piped to files so nothing blocks).
pub fn spawn_promo(
    p: &TestContext,
    args: &[&str],
    env: &[(&str, &str)],
    name: &'static str,
) -> Proc {
    let mut cmd = crate::common::promo();
    cmd.current_dir(p.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc {
        child: cmd.spawn().expect("spawn promo-infra"),
        name,
    }
}

/// Poll `f` every 50 ms until it is true, at most `limit`.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Slack incoming-webhook receiver on 127.0.0.1 (an axum server in this test process).
pub struct Webhook {
    pub url: String,
    pub received: Arc<Mutex<Vec<Value>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    pub async fn start() -> Self {
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let r = received.clone();
        let app = axum::Router::new().route(
            "/services/T000/B000/XXXX",
            axum::routing::post(move |body: axum::body::Bytes| {
                let r = r.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    r.lock().unwrap().push(v);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        crate::common::register_port(addr.port());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/services/T000/B000/XXXX"),
            received,
            _task: task,
        }
    }

    pub fn messages(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Every value of the project's `.env` (plus extra secrets) must be absent from `text`.
pub fn assert_no_secret(p: &TestContext, stack: &str, text: &str, context: &str) {
    let env = p.read(&format!("generated/{stack}/.env"));
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for line in env.lines() {
        if let Some((k, v)) = line.split_once('=')
            && !line.starts_with('#')
            && !v.is_empty()
        {
            values.insert(k.to_string(), v.to_string());
        }
    }
    assert!(!values.is_empty(), "no secrets to look for");
    for (k, v) in values {
        assert!(!text.contains(&v), "{context} printed the value of {k}");
    }
}

/// Read one secret from the project's `.env`.
pub fn secret(p: &TestContext, stack: &str, name: &str) -> String {
    p.read(&format!("generated/{stack}/.env"))
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("{name} not in .env"))
}

/// Append a line to the project's `.env`.
pub fn add_env(p: &TestContext, stack: &str, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(p.path().join(format!("generated/{stack}/.env")))
        .expect("open .env");
    writeln!(f, "{line}").expect("append");
}

pub fn run_dir(p: &TestContext, stack: &str) -> PathBuf {
    p.path().join(format!("generated/{stack}/run"))
}
