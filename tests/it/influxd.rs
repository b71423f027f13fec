//! A real `influxd` 1.x (Debian's package) started for one test on 127.0.0.1, killed by PID on drop.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{PortTaken, lost_port, with_ports};

/// A running influxd.
pub struct RealInfluxd {
    child: Child,
    _dir: tempfile::TempDir,
    http_port: u16,
    rpc_port: u16,
}

impl RealInfluxd {
    /// Start one, with HTTP auth on or off. Fails (does not skip) when influxd is missing.
    /// Its two ports are held until right before the spawn; when another process takes one in
    /// that instant, it starts again on fresh ports ([`with_ports`]).
    pub fn start(auth: bool) -> Self {
        with_ports(2, |ports| {
            let dir = tempfile::tempdir().expect("dir");
            let (http_port, rpc_port) = (ports[0].port(), ports[1].port());
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
            drop(ports);
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
            me.wait_ready()?;
            Ok(me)
        })
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

    /// Until it answers /ping; `Err` when it exited because a port was taken.
    fn wait_ready(&mut self) -> Result<(), PortTaken> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                if lost_port(&err) {
                    return Err(PortTaken(format!("influxd exited ({status}): {err}")));
                }
                panic!("influxd exited ({status}): {err}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_ok()
                && ping(self.http_port)
            {
                return Ok(());
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
