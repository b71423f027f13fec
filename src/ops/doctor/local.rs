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
            "a new stack: run `promo-infra generate` to create it (mode 0600); a stack applied before: restore the .env it was applied with (its data keeps InfluxDB's and Grafana's admin secrets, which new ones do not open)",
        ),
    };
    (line, Some(values.unwrap_or_default()))
}

/// Every secret the stack uses is set, and none is a well-known default. A secret promo-infra
/// generates is fixed by `generate`; one the user provides by adding it to `.env` or exporting
/// it. A preprod stack's Slack webhook is optional on the targets that run without it (as for
/// `plan`): a warning.
pub(super) fn secret_values(ctx: &Ctx) -> Finding {
    const CHECK: &str = "secrets";
    let Some(values) = &ctx.values else {
        return Finding::skipped(CHECK, ".env");
    };
    let rows = match crate::ops::secrets_list(&ctx.project, &ctx.loaded) {
        Ok(rows) => rows,
        Err(e) => return Finding::from_error(CHECK, &e),
    };
    let m = &ctx.loaded.manifest;
    // A secret only the cloud target reads is needed only there.
    let needed = |r: &&crate::ops::SecretRow| {
        ctx.target == TargetKind::Cloud || r.used_by != [secrets::CLOUD_TARGET]
    };
    let provided: Vec<String> = secrets::catalog(m)
        .into_iter()
        .filter(|s| s.kind == secrets::SecretKind::External)
        .map(|s| s.name)
        .collect();
    let (external, generated): (Vec<&str>, Vec<&str>) = rows
        .iter()
        .filter(needed)
        .filter(|r| r.status == "missing")
        .map(|r| r.name.as_str())
        .partition(|name| provided.iter().any(|p| p == name));
    // The Slack webhook, when it is missing and the stack runs without it.
    let slack = secrets::slack_env(m)
        .filter(|name| external.contains(name) && secrets::slack_optional(m, ctx.target.as_str()));
    let required: Vec<&str> = external
        .into_iter()
        .filter(|name| Some(*name) != slack)
        .collect();
    let mut problems = Vec::new();
    if !generated.is_empty() || !required.is_empty() {
        let generate = (!generated.is_empty()).then(|| {
            let which = if required.is_empty() {
                "them".to_string()
            } else {
                generated.join(", ")
            };
            format!("a new stack: run `promo-infra generate` to create {which}; a stack applied before: restore {which} in .env as it was (its data keeps InfluxDB's and Grafana's admin secrets)")
        });
        let provide = required.iter().map(|name| {
            let why = if secrets::slack_env(m) != Some(*name) {
                "provided by you: promo-infra cannot generate it"
            } else if *m.environment == Environment::Prod {
                "required by `environment: prod`"
            } else {
                "the cloud target provisions the Slack contact point from it"
            };
            let shape = secrets::value_shape(m, name);
            format!("{} ({why})", secrets::add_or_export(name, shape, &ctx.env))
        });
        let fixes: Vec<String> = generate.into_iter().chain(provide).collect();
        let mut names = [generated, required].concat();
        names.sort_unstable();
        problems.push(Problem(
            Level::Fail,
            format!("not set: {}", names.join(", ")),
            fixes.join("; "),
        ));
    }
    if let Some(name) = slack {
        problems.push(Problem(
            Level::Warn,
            secrets::slack_unset(name),
            format!(
                "to send them to Slack, {}, then `promo-infra apply`",
                secrets::add_or_export(name, secrets::value_shape(m, name), &ctx.env)
            ),
        ));
    }
    if let Some(name) = defaults(values) {
        let prod = *m.environment == Environment::Prod;
        problems.push(Problem(
            if prod { Level::Fail } else { Level::Warn },
            format!("{name} is a well-known default password"),
            format!(
                "delete the {name} line in {} and run `promo-infra generate`, then `promo-infra apply`",
                ctx.env.display()
            ),
        ));
    }
    Problem::finding(CHECK, problems).unwrap_or_else(|| {
        Finding::ok(
            CHECK,
            format!("{} set, none a default", rows.iter().filter(needed).count()),
        )
    })
}

/// One problem a check found: its level, what, and what to do.
struct Problem(Level, String, String);

impl Problem {
    /// One line for all of `problems` (the worst level; findings and fixes in order), `None`
    /// when there is none.
    fn finding(check: &str, problems: Vec<Self>) -> Option<Finding> {
        let level = problems.iter().map(|p| p.0).max()?;
        let (findings, fixes): (Vec<String>, Vec<String>) =
            problems.into_iter().map(|p| (p.1, p.2)).unzip();
        Some(Finding::new(
            check,
            level,
            findings.join("; "),
            fixes.join("; "),
        ))
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
