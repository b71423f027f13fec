//! Pre-flight of host ports: before `apply` changes anything, every host port a service to be
//! created, replaced or started again (found down: an exited container, a killed process) will
//! listen on must be free — or held by that very service, which the replace stops first. That
//! is its HTTP port and, on the native target, what else its process binds (InfluxDB 1.x's RPC
//! address, `backup.influx_rpc`); two of them on one port clash too. A conflict names the
//! manifest key (`grafana.port` at file:line:col), the address, and who holds it (pid and
//! program from `/proc`, or a Docker container's proxy), with what to do. Without it, Docker
//! fails mid-apply with a raw 500 and the stack is half created.
//!
//! Owns: which ports a plan binds and whether they are free on this host.
//! May not: print, change anything, talk to an engine.

use std::net::{IpAddr, Ipv4Addr, TcpListener};

use serde_json::Value;

use crate::desired::{Desired, ResourceKind, ResourceSpec};
use crate::error::{Error, Result};
use crate::manifest::{Loaded, Manifest, Sp};
use crate::plan::{Action, Observed, Plan};

/// A host port a service will listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Service name.
    pub service: String,
    /// Address it binds (`127.0.0.1`, `::`).
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// The manifest key and value of a bind other than the service's port
    /// (`backup.influx_rpc`, `127.0.0.1:8088`); `None` for its port.
    pub other: Option<(&'static str, String)>,
    /// Ports the replaced service holds now: a process holding one of them holds this one too
    /// (its RPC bind, not in its recorded form) and is stopped before its replacement starts.
    pub freed_with: Vec<u16>,
}

/// The ports the services the plan creates, replaces or starts again from down will bind, but
/// those the replaced resource itself holds now (it is stopped before its replacement starts).
/// A service that runs and is started only to be waited for holds its own ports: not asked.
pub fn wanted(plan: &Plan, desired: &Desired, observed: &Observed, m: &Manifest) -> Vec<Wanted> {
    let mut out = Vec::new();
    for step in &plan.steps {
        let down = observed.stopped.contains(&step.id);
        let binds = match step.action {
            Action::Create | Action::Replace { .. } => true,
            Action::Start => down,
            _ => false,
        };
        if step.id.kind != ResourceKind::Service || !binds {
            continue;
        }
        let Some(resource) = desired.resources.get(&step.id) else {
            continue;
        };
        // A service found down holds nothing: what it recorded is not held now.
        let held_now: Vec<u16> = observed
            .resources
            .get(&step.id)
            .filter(|_| !down)
            .map(|o| {
                listens(&o.canonical)
                    .into_iter()
                    .map(|(_, port)| port)
                    .collect()
            })
            .unwrap_or_default();
        for (ip, port) in listens(&resource.canonical) {
            // The replaced container/process publishes it now: it goes away first.
            if held_now.contains(&port) {
                continue;
            }
            out.push(Wanted {
                service: step.id.name.clone(),
                ip,
                port,
                other: None,
                freed_with: Vec::new(),
            });
        }
        if !matches!(resource.spec, ResourceSpec::Process(_)) {
            continue;
        }
        for (key, value) in crate::compile::native::other_binds(m, &step.id.name) {
            let Some((ip, port)) = value
                .rsplit_once(':')
                .and_then(|(host, port)| Some((parse_ip(host)?, port.parse().ok()?)))
            else {
                continue;
            };
            out.push(Wanted {
                service: step.id.name.clone(),
                ip,
                port,
                other: Some((key, value)),
                freed_with: held_now.clone(),
            });
        }
    }
    out
}

/// `(address, port)` a service listens on, from its canonical form — the same for what is
/// wanted and what runs: a container's `ports[]`, a process's `url`.
fn listens(canonical: &Value) -> Vec<(IpAddr, u16)> {
    let published = canonical["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let ip = parse_ip(p["host_ip"].as_str()?)?;
            Some((ip, u16::try_from(p["host_port"].as_u64()?).ok()?))
        });
    let url = canonical["url"].as_str().and_then(|u| {
        let u = reqwest::Url::parse(u).ok()?;
        Some((parse_ip(u.host_str()?)?, u.port_or_known_default()?))
    });
    published.chain(url).collect()
}

pub(crate) fn parse_ip(host: &str) -> Option<IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        _ => host.parse().ok(),
    }
}

/// Refuse the apply when a wanted port is taken, or wanted twice, naming every conflict at once.
pub fn check(wanted: &[Wanted], loaded: &Loaded) -> Result<()> {
    let named = |w: &Wanted| match &w.other {
        None => {
            let (key, at) = manifest_key(loaded, &w.service);
            format!("{key} = {} ({at})", w.port)
        }
        Some((key, value)) => format!("{key} = {value} ({})", key_at(loaded, key)),
    };
    let mut conflicts: Vec<String> = wanted
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let twice = wanted[..i].iter().find(|o| {
                o.port == w.port && (o.ip == w.ip || o.ip.is_unspecified() || w.ip.is_unspecified())
            })?;
            Some(format!(
                "{}: {} is also where {} listens",
                named(w),
                std::net::SocketAddr::new(w.ip, w.port),
                named(twice)
            ))
        })
        .collect();
    conflicts.extend(
        wanted
            .iter()
            .filter(|w| in_use(w.ip, w.port) && !freed(w))
            .map(|w| {
                format!(
                    "{}: {addr} is already in use by {holder}",
                    named(w),
                    addr = std::net::SocketAddr::new(w.ip, w.port),
                    holder = holder(w.port)
                )
            }),
    );
    if conflicts.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        format!(
            "cannot apply: {} host port(s) already in use; nothing was changed\n  - {}",
            conflicts.len(),
            conflicts.join("\n  - ")
        ),
        "stop what holds the port, or choose another port in the manifest, then apply again",
    ))
}

/// Whether the process holding `w`'s port is the replaced service's (it holds one of the ports
/// the service has now), which the replace stops first.
fn freed(w: &Wanted) -> bool {
    let pid = |port| listening_inode(port).and_then(pid_of_socket);
    !w.freed_with.is_empty()
        && pid(w.port).is_some_and(|holder| w.freed_with.iter().any(|p| pid(*p) == Some(holder)))
}

/// Where manifest key `key` (other than a service's port) is: `file:line:col`, or the default.
fn key_at(loaded: &Loaded, key: &str) -> String {
    let pos = match key {
        "backup.influx_rpc" => loaded
            .manifest
            .backup
            .as_ref()
            .and_then(|b| b.influx_rpc.pos()),
        _ => None,
    };
    match pos {
        Some(p) => format!("{}:{}:{}", loaded.rel_path, p.line, p.column),
        None => format!("{}: the default", loaded.rel_path),
    }
}

/// Who holds `addr` when something listens there (`doctor`'s port check).
pub(crate) fn holder_of(addr: std::net::SocketAddr) -> Option<String> {
    in_use(addr.ip(), addr.port()).then(|| holder(addr.port()))
}

/// Whether binding `ip:port` fails because something listens there (other failures, such as a
/// privileged port for a non-root user, are left to the engine, which may be allowed to).
fn in_use(ip: IpAddr, port: u16) -> bool {
    matches!(
        TcpListener::bind((ip, port)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
    )
}

/// The manifest key of a service's port and where it is (`stacks/promo.yaml:8:9`, or "default"
/// when the manifest leaves it to the default).
pub(crate) fn manifest_key(loaded: &Loaded, service: &str) -> (String, String) {
    let m = &loaded.manifest;
    let (key, port): (&str, &Sp<u32>) = match service {
        "influxdb" => ("influxdb.port", &m.influxdb.port),
        "grafana" => ("grafana.port", &m.grafana.port),
        "control-api" => ("control_api.port", &m.control_api.port),
        other => return (format!("service `{other}`"), loaded.rel_path.clone()),
    };
    let at = match port.pos() {
        Some(p) => format!("{}:{}:{}", loaded.rel_path, p.line, p.column),
        None => format!("{}: the default", loaded.rel_path),
    };
    (key.to_string(), at)
}

/// Who listens on `port`: `pid 4242 (nginx)`, a Docker container's published port, or
/// "another process" when `/proc` does not say (another user's process, another namespace).
fn holder(port: u16) -> String {
    let Some(pid) = listening_inode(port).and_then(pid_of_socket) else {
        return "another process".to_string();
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    if comm == "docker-proxy" {
        format!(
            "a Docker container's published port (docker-proxy, pid {pid}; `docker ps --filter publish={port}` names it)"
        )
    } else {
        format!("pid {pid} ({comm})")
    }
}

/// The socket inode listening on `port`, from `/proc/net/tcp` and `/proc/net/tcp6`.
fn listening_inode(port: u16) -> Option<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            listening_inode_in(&text, port)
        })
}

/// Parse one `/proc/net/tcp*` table: `sl local_address rem_address st … inode`, the local port
/// in hex after the `:`, state `0A` = LISTEN.
fn listening_inode_in(table: &str, port: u16) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local = fields.get(1)?;
        let (_, hex_port) = local.rsplit_once(':')?;
        let listening = fields.get(3) == Some(&"0A");
        (listening && u16::from_str_radix(hex_port, 16).ok()? == port)
            .then(|| fields.get(9)?.parse().ok())
            .flatten()
    })
}

/// The process with an open descriptor on socket `inode`.
fn pid_of_socket(inode: u64) -> Option<u32> {
    let target = format!("socket:[{inode}]");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
            fds.flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str())
                })
                .then_some(pid)
        })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    #[test]
    fn the_proc_table_gives_the_listening_inode_of_a_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 91234 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0BB8 0100007F:A0B2 01 00000000:00000000 00:00000000 00000000     0        0 91299 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inode_in(table, 3000), Some(91234));
        assert_eq!(listening_inode_in(table, 3001), None);
    }

    #[test]
    fn a_port_held_by_this_test_is_in_use_and_its_holder_is_this_process() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert!(in_use(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        assert!(in_use(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
        let me = std::process::id();
        assert!(
            holder(port).starts_with(&format!("pid {me} (")),
            "{}",
            holder(port)
        );
        drop(listener);
        assert!(!in_use(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }

    #[test]
    fn listens_of_a_container_and_of_a_process() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let container = serde_json::json!({"ports": [{"host_ip": "127.0.0.1", "host_port": 3000, "container_port": 3000}]});
        assert_eq!(listens(&container), vec![(lo, 3000)]);
        let process = serde_json::json!({"url": "http://127.0.0.1:8086"});
        assert_eq!(listens(&process), vec![(lo, 8086)]);
        assert!(listens(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn addresses_from_specs() {
        assert_eq!(parse_ip("::"), Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        assert_eq!(parse_ip("[::1]"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(parse_ip("127.0.0.1"), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
