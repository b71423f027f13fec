//! A real `influxd` 1.x (Debian's package) started for one test on 127.0.0.1, killed by PID on drop.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running influxd.
pub struct RealInfluxd {
    child: Child,
    _dir: tempfile::TempDir,
    http_port: u16,
    rpc_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl RealInfluxd {
    /// Start one, with HTTP auth on or off. Fails (does not skip) when influxd is missing.
    pub fn start(auth: bool) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (http_port, rpc_port) = (free_port(), free_port());
        let root = dir.path().display();
        let config = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc_port}\"\n\
             [meta]\n  dir = \"{root}/meta\"\n\
             [data]\n  dir = \"{root}/data\"\n  wal-dir = \"{root}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{http_port}\"\n  auth-enabled = {auth}\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n"
        );
        let config_path: PathBuf = dir.path().join("influxdb.conf");
        std::fs::write(&config_path, config).expect("config");
        let child = Command::new("influxd")
            .arg("-config")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect(
                "influxd must be installed (apt-get install influxdb; scripts/setup.sh does it)",
            );
        let mut me = Self {
            child,
            _dir: dir,
            http_port,
            rpc_port,
        };
        me.wait_ready();
        me
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The RPC bind-address `influxd backup/restore -host` talk to.
    pub fn rpc(&self) -> String {
        format!("127.0.0.1:{}", self.rpc_port)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("influxd exited ({status}): {err}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_ok()
                && ping(self.http_port)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "influxd did not answer /ping on port {} within 20 s",
            self.http_port
        );
    }
}

fn ping(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 32];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"204")
}

impl Drop for RealInfluxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
