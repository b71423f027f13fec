//! Checks of this host: `.env` is private, the secrets are set and not defaults, the engine
//! answers (docker) or the binaries are installed (native), and each manifest port is free or
//! held by the stack's own service.
//!
//! Owns: those checks' wording. May not: change anything, print, read the environment but
//! through `crate::settings`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Ctx, Finding, Level};
use crate::manifest::Environment;
use crate::ops::ports;
use crate::secrets::{self, SecretValues};
use crate::targets::{ServiceStatus, TargetKind};

/// Name of the engine line.
pub(super) fn engine_name(target: TargetKind) -> &'static str {
    match target {
        TargetKind::Docker => "Docker engine",
        _ => "binaries",
    }
}

/// `.env` exists and is a private regular file; its values when it can be read (`None` when it
/// cannot: the checks that need it are skipped).
pub(super) fn env_file(path: &Path) -> (Finding, Option<SecretValues>) {
    const CHECK: &str = ".env";
    let values = match secrets::read_env(path) {
        Ok(values) => values,
        Err(e) => return (Finding::from_error(CHECK, &e), None),
    };
    let line = match &values {
        Some(_) => {
            let mode = std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            Finding::ok(
                CHECK,
                format!("{} is private (mode {mode:04o})", path.display()),
            )
        }
        None => Finding::new(
            CHECK,
            Level::Fail,
            format!("{} does not exist", path.display()),
            "run `promo-infra generate` to create it (mode 0600)",
        ),
    };
    (line, Some(values.unwrap_or_default()))
}

/// Every secret the stack uses is set, and none is a well-known default.
pub(super) fn secret_values(ctx: &Ctx) -> Finding {
    const CHECK: &str = "secrets";
    let Some(values) = &ctx.values else {
        return Finding::skipped(CHECK, ".env");
    };
    let rows = match crate::ops::secrets_list(&ctx.project, &ctx.loaded) {
        Ok(rows) => rows,
        Err(e) => return Finding::from_error(CHECK, &e),
    };
    // A secret only the cloud target reads is needed only there.
    let needed = |r: &&crate::ops::SecretRow| {
        ctx.target == crate::targets::TargetKind::Cloud
            || r.used_by != [crate::secrets::CLOUD_TARGET]
    };
    let missing: Vec<&str> = rows
        .iter()
        .filter(needed)
        .filter(|r| r.status == "missing")
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Finding::new(
            CHECK,
            Level::Fail,
            format!("not set: {}", missing.join(", ")),
            "run `promo-infra generate` for generated ones; export or add to .env the ones you provide (`promo-infra secrets list`)",
        );
    }
    let prod = *ctx.loaded.manifest.environment == Environment::Prod;
    match defaults(values) {
        Some(name) => Finding::new(
            CHECK,
            if prod { Level::Fail } else { Level::Warn },
            format!("{name} is a well-known default password"),
            format!(
                "delete the {name} line in {} and run `promo-infra generate`, then `promo-infra apply`",
                ctx.env.display()
            ),
        ),
        None => Finding::ok(
            CHECK,
            format!("{} set, none a default", rows.iter().filter(needed).count()),
        ),
    }
}

/// The first secret whose value is a well-known default.
fn defaults(values: &SecretValues) -> Option<&str> {
    values.names().find(|name| {
        values
            .get(name)
            .is_some_and(crate::secrets::is_default_password)
    })
}

/// Docker: the engine answers at `DOCKER_HOST` (or the local socket). Native: `influxd` and
/// Grafana are installed (on `PATH`, executable).
pub(super) fn engine(ctx: &Ctx) -> Vec<Finding> {
    match ctx.target {
        TargetKind::Docker => vec![docker_engine()],
        _ => native_binaries(),
    }
}

fn docker_engine() -> Finding {
    use crate::targets::docker::engine;
    const CHECK: &str = "Docker engine";
    let host = engine::docker_host();
    let fix = "start the engine (`systemctl start docker`, or `just setup`), or point DOCKER_HOST at a running one";
    let docker = match engine::connect() {
        Ok(d) => d,
        Err(e) => return Finding::from_error(CHECK, &e),
    };
    let version = super::live::block_on(docker.version())
        .map_err(|e| e.to_string())
        .and_then(|v| v.map_err(|e| engine::describe(&e)));
    match version {
        Ok(v) => Finding::ok(
            CHECK,
            format!(
                "answers at {host} (Docker {})",
                v.version.as_deref().unwrap_or("?")
            ),
        ),
        Err(why) => Finding::new(
            CHECK,
            Level::Fail,
            format!("does not answer at {host}: {why}"),
            fix,
        ),
    }
}

fn native_binaries() -> Vec<Finding> {
    let wanted: [(&str, &[&str], &str); 2] = [
        (
            "influxd",
            &["influxd"],
            "install InfluxDB (Debian: apt-get install influxdb), or use --target docker",
        ),
        (
            "grafana",
            &["grafana", "grafana-server"],
            "install Grafana so that `grafana server` is on PATH, or use --target docker",
        ),
    ];
    wanted
        .iter()
        .map(|(label, names, fix)| {
            let check = format!("binary {label}");
            match names.iter().find_map(|n| crate::k6::which(n)) {
                Some(path) => Finding::ok(check, format!("{} is executable", path.display())),
                None => Finding::new(
                    check,
                    Level::Fail,
                    format!(
                        "{} not found on PATH (or not executable)",
                        names.join(" / ")
                    ),
                    *fix,
                ),
            }
        })
        .collect()
}

/// Each manifest port: free, or used by the stack's own running service; anything else holding
/// it is named (pid and program) with the manifest key to change. `rows`: the services' status
/// (`None` when unknown: then any listener is reported as a warning).
pub(super) fn ports(ctx: &Ctx, rows: Option<&[ServiceStatus]>) -> Vec<Finding> {
    let m = &ctx.loaded.manifest;
    let mut services = vec![
        ("influxdb", &m.influxdb.bind, *m.influxdb.port),
        ("grafana", &m.grafana.bind, *m.grafana.port),
    ];
    if *m.control_api.enabled {
        services.push(("control-api", &m.control_api.bind, *m.control_api.port));
    }
    services
        .into_iter()
        .map(|(service, bind, port)| {
            let check = format!("port {service}");
            let (key, at) = ports::manifest_key(&ctx.loaded, service);
            let (Some(ip), Ok(port)) = (ports::parse_ip(bind), u16::try_from(port)) else {
                return Finding::new(
                    check,
                    Level::Fail,
                    format!("{key} ({at}): `{}:{port}` is not an address", bind.as_str()),
                    "fix the manifest (`promo-infra validate`)",
                );
            };
            let addr = std::net::SocketAddr::new(ip, port);
            let ours = rows.map(|rows| {
                rows.iter()
                    .find(|r| r.service == service && r.state == "running")
                    .map(|r| {
                        if r.up_to_date {
                            Ours::AsDeclared
                        } else {
                            Ours::Drifted
                        }
                    })
                    .unwrap_or(Ours::NotRunning)
            });
            port_line(service, &key, &at, addr, ours)
        })
        .collect()
}

/// The stack's own service, for a port check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ours {
    /// Runs as the manifest says: it was started with this port, so it is what listens there.
    AsDeclared,
    /// Runs, but not as the manifest says (the port may be one of the changes).
    Drifted,
    /// Does not run.
    NotRunning,
}

/// `ours`: the service's state, `None` when unknown (then any listener is a warning).
fn port_line(
    service: &str,
    key: &str,
    at: &str,
    addr: std::net::SocketAddr,
    ours: Option<Ours>,
) -> Finding {
    let check = format!("port {service}");
    let Some(holder) = ports::holder_of(addr) else {
        return Finding::ok(
            check,
            format!("{key} = {} ({at}): {addr} is free", addr.port()),
        );
    };
    let fix = format!(
        "stop what holds the port, or choose another port for {key} in the manifest, then `promo-infra apply`"
    );
    match ours {
        Some(Ours::AsDeclared) => Finding::ok(
            check,
            format!("{key} = {}: {addr} is used by our {service}", addr.port()),
        ),
        Some(Ours::Drifted) => Finding::new(
            check,
            Level::Warn,
            format!(
                "{key} = {} ({at}): {addr} is in use by {holder}; our {service} runs, but not as the manifest says, so it may be something else",
                addr.port()
            ),
            format!("`promo-infra plan` shows what changed; if the port did: {fix}"),
        ),
        Some(Ours::NotRunning) | None => Finding::new(
            check,
            if ours.is_none() {
                Level::Warn
            } else {
                Level::Fail
            },
            format!(
                "{key} = {} ({at}): {addr} is in use by {holder}",
                addr.port()
            ),
            fix,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_is_ours_only_when_our_service_runs_as_declared() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = held.local_addr().expect("addr");
        let line = |ours| {
            port_line(
                "grafana",
                "grafana.port",
                "stacks/promo.yaml:9:9",
                addr,
                ours,
            )
        };
        let ok = line(Some(Ours::AsDeclared));
        assert_eq!(ok.level, Level::Ok, "{ok:?}");
        assert!(ok.finding.contains("is used by our grafana"), "{ok:?}");
        // Running, but from an older manifest: the port may have changed, so the holder is
        // named, never vouched for.
        let drifted = line(Some(Ours::Drifted));
        assert_eq!(drifted.level, Level::Warn, "{drifted:?}");
        assert!(drifted.finding.contains("is in use by pid "), "{drifted:?}");
        assert!(drifted.fix.contains("promo-infra plan"), "{drifted:?}");
        assert_eq!(line(Some(Ours::NotRunning)).level, Level::Fail);
        assert_eq!(line(None).level, Level::Warn);
        drop(held);
        let free = line(Some(Ours::NotRunning));
        assert_eq!(free.level, Level::Ok, "{free:?}");
        assert!(free.finding.ends_with("is free"), "{free:?}");
    }

    #[test]
    fn a_default_password_is_found_by_name_whatever_its_case() {
        let v = SecretValues::from_pairs([
            ("A".to_string(), "f00d".to_string()),
            ("B".to_string(), "ChangeMe".to_string()),
        ]);
        assert_eq!(defaults(&v), Some("B"));
        let v = SecretValues::from_pairs([("A".to_string(), "f00d".to_string())]);
        assert_eq!(defaults(&v), None);
    }
}
