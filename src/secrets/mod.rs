//! Secrets: which ones a stack needs, and the `.env` file that holds them.
//!
//! Values come from the OS random source (tokens: 32 bytes hex, passwords: 16 bytes hex, so no
//! `$`, `#` or quote can surprise compose interpolation). They are created once, never
//! regenerated, live only in `generated/<stack>/.env` (mode 0600) and are never printed.
//!
//! Safety rules of `.env` (checked by every command that reads it, before anything is written):
//! - an EMPTY value (`NAME=`) is a missing value: generated when promo-infra can generate it,
//!   never counted as set;
//! - a `.env` that is a symbolic link (dangling or not), a directory or anything but a regular
//!   file, or that is readable or writable by group or others, is REFUSED with what to do. It is
//!   never followed, replaced, tightened or regenerated: a secret store that is not mounted must
//!   not turn into a fresh set of secrets the running services do not know.
//!
//! Owns: the catalog of a stack's secrets, their values in memory, and (in `env_file`) the
//! `.env` file: its safety checks, creation, additions and the two-step rotation.
//! May not: print or log a value, put a value in an error, read any file but `.env`; the
//! environment is read through `crate::settings`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::manifest::{Environment, Manifest};

mod env_file;

pub use env_file::*;

/// How a secret comes to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// 32 random bytes, hex.
    Token,
    /// 16 random bytes, hex.
    Password,
    /// Provided by the user (environment or `.env`), never generated.
    External,
}

impl SecretKind {
    /// Human name.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Token => "generated token (32 bytes)",
            Self::Password => "generated password (16 bytes)",
            Self::External => "provided by you",
        }
    }
}

/// One secret the stack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// Variable name in `.env`.
    pub name: String,
    /// Generated or external.
    pub kind: SecretKind,
    /// Where it is used (services, files).
    pub used_by: Vec<&'static str>,
}

/// Secret names of the InfluxDB 1.x read-only (Grafana) and write-only (k6) users.
pub const INFLUX_V1_READ_PASSWORD: &str = "INFLUXDB_GRAFANA_PASSWORD";
/// See [`INFLUX_V1_READ_PASSWORD`].
pub const INFLUX_V1_WRITE_PASSWORD: &str = "INFLUXDB_K6_PASSWORD";
/// InfluxDB admin password.
pub const INFLUX_ADMIN_PASSWORD: &str = "INFLUXDB_ADMIN_PASSWORD";
/// InfluxDB 2.x operator token.
pub const INFLUX_ADMIN_TOKEN: &str = "INFLUXDB_ADMIN_TOKEN";
/// k6's write-only InfluxDB 2.x token on the docker and native targets (minted by apply).
pub const INFLUX_K6_TOKEN: &str = "INFLUXDB_K6_TOKEN";
/// Grafana's read-only InfluxDB 2.x token on the docker and native targets (minted by apply).
pub const INFLUX_GRAFANA_TOKEN: &str = "INFLUXDB_GRAFANA_TOKEN";
/// k6's write-only InfluxDB Cloud token (minted by apply).
pub const INFLUX_CLOUD_K6_TOKEN: &str = "INFLUXDB_CLOUD_K6_TOKEN";
/// Grafana's read-only InfluxDB Cloud token (minted by apply).
pub const INFLUX_CLOUD_GRAFANA_TOKEN: &str = "INFLUXDB_CLOUD_GRAFANA_TOKEN";
/// The docker and native targets' tokens, minted by apply in the stack's InfluxDB 2.
pub const MINTED_LOCAL: [&str; 2] = [INFLUX_GRAFANA_TOKEN, INFLUX_K6_TOKEN];
/// The cloud target's tokens, minted by apply in InfluxDB Cloud.
pub const MINTED_CLOUD: [&str; 2] = [INFLUX_CLOUD_GRAFANA_TOKEN, INFLUX_CLOUD_K6_TOKEN];

/// The tokens apply mints for `m` (never generated: InfluxDB draws their values), with where
/// each is used: the stack's own InfluxDB 2's, and the cloud target's.
pub fn minted(m: &Manifest) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out = Vec::new();
    if *m.influxdb.version == 2 {
        out.push((INFLUX_GRAFANA_TOKEN, vec!["grafana (datasource)"]));
        out.push((INFLUX_K6_TOKEN, vec!["k6"]));
    }
    if m.targets.cloud.is_some() {
        out.push((
            INFLUX_CLOUD_GRAFANA_TOKEN,
            vec![CLOUD_TARGET, "grafana (datasource)"],
        ));
        out.push((INFLUX_CLOUD_K6_TOKEN, vec![CLOUD_TARGET, "k6"]));
    }
    out
}

/// Whether `name` holds a token apply mints (its value changes during an apply: read it from
/// `.env` as it is on disk, not as the command started with).
pub fn is_minted(name: &str) -> bool {
    MINTED_LOCAL.contains(&name) || MINTED_CLOUD.contains(&name)
}
/// Grafana admin password.
pub const GRAFANA_ADMIN_PASSWORD: &str = "GRAFANA_ADMIN_PASSWORD";
/// Grafana `secret_key` (encrypts datasource secrets at rest).
pub const GRAFANA_SECRET_KEY: &str = "GRAFANA_SECRET_KEY";
/// Bearer token of the control API.
pub const CONTROL_API_TOKEN: &str = "CONTROL_API_TOKEN";
/// HTTP Basic password of the STOP page.
pub const CONTROL_API_STOP_PASSWORD: &str = "CONTROL_API_STOP_PASSWORD";

/// Generated secrets a service's data is made with, by service: InfluxDB keeps its admin user
/// (and InfluxDB 2 its operator token) in its data, Grafana its admin password and what it
/// encrypted with its secret key. A new value does not open data made with the old one.
pub const KEPT_IN_DATA: [(&str, &str); 4] = [
    (INFLUX_ADMIN_PASSWORD, "influxdb"),
    (INFLUX_ADMIN_TOKEN, "influxdb"),
    (GRAFANA_ADMIN_PASSWORD, "grafana"),
    (GRAFANA_SECRET_KEY, "grafana"),
];

/// `used_by` of the cloud target's tokens.
pub const CLOUD_TARGET: &str = "cloud target";

/// The secrets a manifest needs, sorted by name.
pub fn catalog(m: &Manifest) -> Vec<SecretSpec> {
    let mut out = vec![
        SecretSpec {
            name: INFLUX_ADMIN_PASSWORD.into(),
            kind: SecretKind::Password,
            used_by: vec!["influxdb", "backup"],
        },
        SecretSpec {
            name: GRAFANA_ADMIN_PASSWORD.into(),
            kind: SecretKind::Password,
            used_by: vec![
                "grafana",
                "control-api (annotations)",
                "k6 run (annotations)",
            ],
        },
        SecretSpec {
            name: GRAFANA_SECRET_KEY.into(),
            kind: SecretKind::Token,
            used_by: vec!["grafana"],
        },
    ];
    if *m.influxdb.version == 2 {
        out.push(SecretSpec {
            name: INFLUX_ADMIN_TOKEN.into(),
            kind: SecretKind::Token,
            used_by: vec!["influxdb", "backup", "apply (mints the scoped tokens)"],
        });
    } else {
        out.push(SecretSpec {
            name: INFLUX_V1_READ_PASSWORD.into(),
            kind: SecretKind::Password,
            used_by: vec!["influxdb", "grafana (datasource)"],
        });
        out.push(SecretSpec {
            name: INFLUX_V1_WRITE_PASSWORD.into(),
            kind: SecretKind::Password,
            used_by: vec!["influxdb", "k6"],
        });
    }
    if *m.control_api.enabled {
        out.push(SecretSpec {
            name: CONTROL_API_TOKEN.into(),
            kind: SecretKind::Token,
            used_by: vec!["control-api", "k6 run"],
        });
        out.push(SecretSpec {
            name: CONTROL_API_STOP_PASSWORD.into(),
            kind: SecretKind::Password,
            used_by: vec!["control-api (STOP page)"],
        });
    }
    if let Some(slack) = m.alerting.as_ref().and_then(|a| a.slack.as_ref()) {
        out.push(SecretSpec {
            name: slack.webhook_url_env.to_string(),
            kind: SecretKind::External,
            used_by: vec!["grafana (alerting)", "k6 run"],
        });
    }
    if let Some(cloud) = &m.targets.cloud {
        for env in [&cloud.grafana_token_env, &cloud.influx_token_env] {
            out.push(SecretSpec {
                name: env.to_string(),
                kind: SecretKind::External,
                used_by: vec![CLOUD_TARGET],
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// Secret values, keyed by name. `Debug` never shows a value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues(pub(super) BTreeMap<String, String>);

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretValues {
    /// The value of a secret, if known. An empty value is not a value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    /// Set (or replace) one value in memory (`secrets rotate` plans with the new value).
    pub fn set(&mut self, name: &str, value: String) {
        self.0.insert(name.to_string(), value);
    }
    /// Names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
    /// Every value (to scan output for leaks in tests and to redact logs).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }
    /// Build from pairs (tests, the environment). Empty values are dropped: they are missing.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Self(pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect())
    }
    /// sha256 of a value, to detect rotation without storing it.
    pub fn fingerprint(&self, name: &str) -> Option<String> {
        self.get(name).map(fingerprint)
    }
}

/// The fingerprint of a secret value (its sha256, hex): what plans and records keep instead of
/// the value.
pub fn fingerprint(value: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(value.as_bytes()))
}

/// A secret from the process environment; an empty variable is not set.
pub fn env_var(name: &str) -> Option<String> {
    crate::settings::non_empty(name)
}

const DEFAULT_PASSWORDS: [&str; 5] = ["admin", "password", "changeme", "secret", "grafana"];

/// Whether `value` is a well-known default password (any case).
pub fn is_default_password(value: &str) -> bool {
    DEFAULT_PASSWORDS.contains(&value.to_ascii_lowercase().as_str())
}

/// Refuse well-known default passwords in `.env` for `environment: prod`.
pub fn check_defaults(path: &Path, values: &SecretValues, environment: Environment) -> Result<()> {
    if environment != Environment::Prod {
        return Ok(());
    }
    for name in [GRAFANA_ADMIN_PASSWORD, INFLUX_ADMIN_PASSWORD] {
        if values.get(name).is_some_and(is_default_password) {
            return Err(Error::Secrets {
                path: path.to_path_buf(),
                message: format!(
                    "{name} is a well-known default password, refused for `environment: prod`"
                ),
                help: Some(format!(
                    "delete the {name} line and run `promo-infra generate` to get a random one"
                )),
            });
        }
    }
    Ok(())
}

/// `values` completed with the secrets the user provides (Slack webhook, cloud tokens) from the
/// process environment, when `.env` does not set them. `.env` wins.
pub fn with_environment(mut values: SecretValues, specs: &[SecretSpec]) -> SecretValues {
    for spec in specs {
        if spec.kind == SecretKind::External
            && values.get(&spec.name).is_none()
            && let Some(v) = env_var(&spec.name)
        {
            values.set(&spec.name, v);
        }
    }
    values
}

/// What a preprod stack without its Slack webhook `name` loses (`plan`'s note, `doctor`'s
/// warning).
pub fn slack_unset(name: &str) -> String {
    format!(
        "alerts have nowhere to go: {name} is not set, so Grafana gets no Slack contact point \
         (the alert rules still run and show on the dashboards)"
    )
}

/// How to provide the secret `name` that promo-infra cannot generate: `value` is the shape of
/// its value (`...`, or the Slack webhook's URL).
pub fn add_or_export(name: &str, value: &str, env_path: &Path) -> String {
    format!(
        "add `{name}={value}` to {} or export {name}",
        env_path.display()
    )
}

/// The shape of the value of the provided secret `name`, for [`add_or_export`].
pub fn value_shape(m: &Manifest, name: &str) -> &'static str {
    if slack_env(m) == Some(name) {
        SLACK_URL_SHAPE
    } else {
        "..."
    }
}

const SLACK_URL_SHAPE: &str = "https://hooks.slack.com/...";

/// The name of the Slack webhook's secret, when the stack sends alerts to Slack.
pub fn slack_env(m: &Manifest) -> Option<&str> {
    m.alerting
        .as_ref()
        .and_then(|a| a.slack.as_ref())
        .map(|s| s.webhook_url_env.as_str())
}

/// Whether the stack runs without its Slack webhook on `target`: only a preprod stack, and
/// only on the docker and native targets (the cloud target provisions the contact point from it).
pub fn slack_optional(m: &Manifest, target: &str) -> bool {
    *m.environment != Environment::Prod && matches!(target, "docker" | "native")
}

/// The note `plan` shows up front when a preprod stack's Slack webhook is not set.
pub fn slack_unset_note(name: &str, env_path: &Path) -> String {
    format!(
        "{}. To send them to Slack, {}, then apply",
        slack_unset(name),
        add_or_export(name, SLACK_URL_SHAPE, env_path)
    )
}

/// The warning `generate` gives for a secret the user provides (the Slack webhook) that is
/// neither in `.env` nor in the environment: on a preprod stack, [`slack_unset_note`] (the
/// stack runs, its alerts go nowhere); on prod, that `plan` and `apply` refuse without it
/// ([`check_for_plan`]).
pub fn missing_external_note(name: &str, env_path: &Path, environment: Environment) -> String {
    if environment != Environment::Prod {
        return slack_unset_note(name, env_path);
    }
    format!(
        "{name} is not set: it is required by `environment: prod`, and `promo-infra plan` and \
         `promo-infra apply` refuse to run without it. Add `{name}=https://hooks.slack.com/...` \
         to {} or export {name}",
        env_path.display()
    )
}

/// Every secret the plan of `target` needs, checked BEFORE the plan is shown (never after an
/// approval). Returns the notes to show above the plan; refuses (terraform's "No value for
/// required variable") when a secret the user must provide is missing and the stack cannot run
/// without it: the Slack webhook in `environment: prod` or on the native target, any other
/// provided secret always. Generated secrets that are missing are noted: apply generates them.
pub fn check_for_plan(
    m: &Manifest,
    manifest_path: &str,
    env_path: &Path,
    values: &SecretValues,
    target: &str,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let slack = m.alerting.as_ref().and_then(|a| a.slack.as_ref());
    let mut generated_missing = Vec::new();
    for spec in catalog(m) {
        if values.get(&spec.name).is_some() || env_var(&spec.name).is_some() {
            continue;
        }
        if spec.used_by == [CLOUD_TARGET] && target != "cloud" {
            continue;
        }
        if spec.kind != SecretKind::External {
            // The cloud target's resources use none of the generated secrets.
            if target != "cloud" {
                generated_missing.push(spec.name);
            }
            continue;
        }
        let is_slack = slack.is_some_and(|s| s.webhook_url_env.as_str() == spec.name);
        if is_slack && slack_optional(m, target) {
            notes.push(slack_unset_note(&spec.name, env_path));
            continue;
        }
        let at = slack
            .filter(|_| is_slack)
            .and_then(|s| s.webhook_url_env.pos())
            .map(|p| {
                format!(
                    " ({manifest_path}:{}:{}: alerting.slack.webhook_url_env)",
                    p.line, p.column
                )
            })
            .unwrap_or_default();
        let why = if !is_slack {
            "it is provided by you and promo-infra cannot generate it".to_string()
        } else if *m.environment == Environment::Prod {
            "`environment: prod` sends alerts to Slack and cannot run without the webhook"
                .to_string()
        } else {
            format!(
                "the {target} target provisions the Slack contact point from it (only the docker and native targets run a preprod stack without Slack)"
            )
        };
        return Err(Error::Secrets {
            path: env_path.to_path_buf(),
            message: format!("No value for required secret {}{at}: {why}", spec.name),
            help: Some(format!(
                "{}, then run the command again; nothing was changed",
                add_or_export(&spec.name, "...", env_path)
            )),
        });
    }
    if !generated_missing.is_empty() {
        notes.push(format!(
            "{} not in {} yet: apply generates {} first, so services show as changed until then",
            generated_missing.join(", "),
            env_path.display(),
            if generated_missing.len() == 1 {
                "it"
            } else {
                "them"
            }
        ));
    }
    Ok(notes)
}
