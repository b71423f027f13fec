//! The service verbs: `output` (what a stack offers and where its secrets are, from the
//! manifest alone), `logs` and `restart` (through the [`Target`](crate::targets::Target)), and
//! the names the shell completions offer.
//!
//! Owns: the output names and their order, which services a verb may name.
//! May not: print, read the environment, contain per-target code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Selection;
use super::deploy::{DEFAULT_HEALTH_TIMEOUT, Stack, runtime};
use crate::compile;
use crate::desired::{Desired, Order, dependency_order};
use crate::error::{Error, Result};
use crate::lock::StackLock;
use crate::manifest::Manifest;
use crate::net::{self, Audience};
use crate::project::Project;
use crate::secrets;
use crate::targets::{LogLine, LogQuery, Progress, TargetKind};

/// One output: a value, or for a secret where it is (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OutputValue {
    /// A value anyone may see (URL, user name, path).
    Plain {
        /// The value.
        value: String,
    },
    /// A secret: the `.env` key holding it and the file.
    Sensitive {
        /// Always true.
        sensitive: bool,
        /// Key in the file (`GRAFANA_ADMIN_PASSWORD`).
        env_key: String,
        /// `generated/<stack>/.env`.
        file: String,
    },
}

/// `output`: what a stack offers, by output name (sorted).
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    /// Shape version of the JSON.
    pub format_version: &'static str,
    /// Stack.
    pub stack: String,
    /// Outputs by name.
    pub outputs: BTreeMap<String, OutputValue>,
}

impl Outputs {
    /// The output `name`, or a usage error listing the names.
    pub fn get(&self, name: &str) -> Result<&OutputValue> {
        self.outputs.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.outputs.keys().map(String::as_str).collect();
            Error::usage(
                format!("stack `{}` has no output `{name}`", self.stack),
                format!("outputs: {}", names.join(", ")),
            )
        })
    }
}

/// `output`: URLs, logins and where the secrets are, from the manifest (no engine needed).
pub fn output(project: &Project, selection: &Selection) -> Result<Outputs> {
    let (_, loaded) = super::load_one(project, selection)?;
    Ok(outputs(&loaded.manifest))
}

/// The outputs of one manifest.
pub fn outputs(m: &Manifest) -> Outputs {
    let env_file = format!("generated/{}/.env", *m.stack);
    let mut out = BTreeMap::new();
    let mut plain = |name: &str, value: String| {
        out.insert(name.to_string(), OutputValue::Plain { value });
    };
    let influx = compile::native::influx_url(m);
    plain("grafana_url", compile::services::grafana_url(m));
    plain("grafana_admin_user", m.grafana.admin_user.to_string());
    plain("influxdb_url", influx.clone());
    plain("influxdb_admin_user", m.influxdb.admin_user.to_string());
    plain("secrets_file", env_file.clone());
    let mut secret = vec![
        ("grafana_admin_password", secrets::GRAFANA_ADMIN_PASSWORD),
        ("influxdb_admin_password", secrets::INFLUX_ADMIN_PASSWORD),
    ];
    let bucket = m.influxdb.bucket.as_str();
    if *m.influxdb.version == 2 {
        plain("k6_out", format!("xk6-influxdb={influx}"));
        secret.push(("influxdb_admin_token", secrets::INFLUX_ADMIN_TOKEN));
    } else {
        plain("k6_out", format!("influxdb={influx}/{bucket}"));
        plain(
            "k6_influxdb_user",
            compile::services::INFLUX_V1_WRITE_USER.to_string(),
        );
        secret.push(("k6_influxdb_password", secrets::INFLUX_V1_WRITE_PASSWORD));
    }
    if *m.control_api.enabled {
        let port = compile::valid_port(*m.control_api.port);
        let url = net::url(&m.control_api.bind, port, Audience::Browser);
        plain("stop_page_url", format!("{url}/stop"));
        plain("control_api_url", url);
        secret.push(("control_api_token", secrets::CONTROL_API_TOKEN));
        secret.push(("stop_page_password", secrets::CONTROL_API_STOP_PASSWORD));
    }
    for (name, key) in secret {
        out.insert(
            name.to_string(),
            OutputValue::Sensitive {
                sensitive: true,
                env_key: key.to_string(),
                file: env_file.clone(),
            },
        );
    }
    Outputs {
        format_version: crate::ops::FORMAT_VERSION,
        stack: m.stack.to_string(),
        outputs: out,
    }
}

/// The services of a compiled stack (containers or processes), sorted.
pub fn service_names(desired: &Desired) -> Vec<String> {
    desired.service_dependencies().into_keys().collect()
}

/// `asked`, checked against the stack's services (every one when empty), sorted, deduplicated.
fn services(s: &Stack, asked: &[String]) -> Result<Vec<String>> {
    let all = service_names(&s.desired);
    if asked.is_empty() {
        return Ok(all);
    }
    let mut picked = Vec::new();
    for name in asked {
        if !all.contains(name) {
            return Err(Error::usage(
                format!(
                    "stack `{}` ({}) has no service `{name}`",
                    s.desired.stack, s.loaded.rel_path
                ),
                format!("services: {}", all.join(", ")),
            ));
        }
        picked.push(name.clone());
    }
    picked.sort();
    picked.dedup();
    Ok(picked)
}

/// What `logs` shows.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Services (every one when empty).
    pub services: Vec<String>,
    /// Last lines per service.
    pub tail: Option<usize>,
    /// Stream new lines until `stop` resolves.
    pub follow: bool,
}

/// `logs`, loaded and checked: [`Logs::services`] says what will be shown (for the caller's
/// layout), [`Logs::stream`] shows it.
pub struct Logs {
    stack: Stack,
    query: LogQuery,
}

/// `logs`: load the stack and check the services asked for (every one when none is).
pub fn logs(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    opts: &LogsOptions,
) -> Result<Logs> {
    let stack = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let query = LogQuery {
        services: services(&stack, &opts.services)?,
        tail: opts.tail,
        follow: opts.follow,
    };
    Ok(Logs { stack, query })
}

impl Logs {
    /// The services shown, in order.
    pub fn services(&self) -> &[String] {
        &self.query.services
    }

    /// The lines to `sink`, service by service in name order; with `follow`, new lines as they
    /// come until Ctrl-C.
    pub fn stream(self, sink: &mut dyn FnMut(LogLine)) -> Result<()> {
        let t = self.stack.target(Progress::hidden())?;
        let (desired, query) = (&self.stack.desired, &self.query);
        runtime()?.block_on(async {
            tokio::select! {
                r = t.logs(desired, query, sink) => r,
                _ = tokio::signal::ctrl_c(), if query.follow => Ok(()),
            }
        })
    }
}

/// One service `restart` restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restarted {
    /// Service.
    pub service: String,
    /// From the restart request to healthy.
    pub took: Duration,
}

/// `restart SERVICE…`: restart each in place (no recreate), one after the other in dependency
/// order (a service after those it depends on: InfluxDB before Grafana before the control API;
/// ties by name), waiting until healthy; `on_done` hears each as it is healthy. Holds the
/// stack's lock.
pub fn restart(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    names: &[String],
    progress: Progress,
    on_done: &mut dyn FnMut(&Restarted),
) -> Result<Vec<Restarted>> {
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let names = dependency_order(
        &s.desired.service_dependencies(),
        services(&s, names)?,
        Order::DependenciesFirst,
    );
    let dir: PathBuf = project.generated_dir(&s.desired.stack);
    let (_lock, _) = StackLock::acquire(&dir, &s.desired.stack, "restart")?;
    let t = s.target(progress)?;
    runtime()?.block_on(async {
        let mut done = Vec::new();
        for service in names {
            let start = Instant::now();
            t.restart(&s.desired, &service).await?;
            let r = Restarted {
                service,
                took: start.elapsed(),
            };
            on_done(&r);
            done.push(r);
        }
        Ok(done)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails on the old code, which restarted in name order: Grafana before the InfluxDB it
    /// depends on.
    #[test]
    fn restart_goes_in_dependency_order() {
        use crate::desired::{ProcessSpec, Resource, ResourceId, ResourceKind, ResourceSpec};
        let mut desired = Desired::default();
        for (name, deps) in [
            ("control-api", vec!["grafana"]),
            ("grafana", vec!["influxdb"]),
            ("influxdb", vec![]),
        ] {
            let spec = ProcessSpec {
                depends_on: deps.into_iter().map(String::from).collect(),
                ..ProcessSpec::named(name)
            };
            desired.add(Resource::new(
                ResourceId::new(ResourceKind::Service, name),
                vec![],
                ResourceSpec::Process(Box::new(spec)),
                &BTreeMap::new(),
            ));
        }
        let deps = desired.service_dependencies();
        let in_order = |list: &[&str]| {
            let names = list.iter().map(|s| (*s).to_string());
            dependency_order(&deps, names, Order::DependenciesFirst)
        };
        assert_eq!(in_order(&["grafana", "influxdb"]), ["influxdb", "grafana"]);
        assert_eq!(
            in_order(&["control-api", "grafana", "influxdb"]),
            ["influxdb", "grafana", "control-api"]
        );
    }

    #[test]
    fn an_unknown_output_name_lists_the_names() {
        let o = Outputs {
            format_version: crate::ops::FORMAT_VERSION,
            stack: "s".into(),
            outputs: BTreeMap::from([(
                "grafana_url".to_string(),
                OutputValue::Plain {
                    value: "http://localhost:3000".into(),
                },
            )]),
        };
        assert!(o.get("grafana_url").is_ok());
        let err = o.get("nope").expect_err("unknown");
        assert_eq!(err.to_string(), "stack `s` has no output `nope`");
        assert!(matches!(
            err,
            Error::Usage { help: Some(h), .. } if h == "outputs: grafana_url"
        ));
    }
}
