//! Secrets: which ones a stack needs, and the `.env` file that holds them.
//!
//! Values come from the OS random source (tokens: 32 bytes hex, passwords: 16 bytes hex, so no
//! `$`, `#` or quote can surprise compose interpolation). They are created once, never
//! regenerated, live only in `generated/<stack>/.env` (mode 0600) and are never printed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::manifest::{Environment, Manifest};

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
/// Grafana admin password.
pub const GRAFANA_ADMIN_PASSWORD: &str = "GRAFANA_ADMIN_PASSWORD";
/// Grafana `secret_key` (encrypts datasource secrets at rest).
pub const GRAFANA_SECRET_KEY: &str = "GRAFANA_SECRET_KEY";
/// Bearer token of the control API.
pub const CONTROL_API_TOKEN: &str = "CONTROL_API_TOKEN";
/// HTTP Basic password of the STOP page.
pub const CONTROL_API_STOP_PASSWORD: &str = "CONTROL_API_STOP_PASSWORD";

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
            used_by: vec!["influxdb", "grafana (datasource)", "k6", "backup"],
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
pub struct SecretValues(BTreeMap<String, String>);

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretValues {
    /// The value of a secret, if known.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    /// Names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
    /// Every value (to scan output for leaks in tests and to redact logs).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }
    /// Build from pairs (tests, the environment).
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Self(pairs.into_iter().collect())
    }
    /// sha256 of a value, to detect rotation without storing it.
    pub fn fingerprint(&self, name: &str) -> Option<String> {
        use sha2::Digest;
        self.get(name)
            .map(|v| hex::encode(sha2::Sha256::digest(v.as_bytes())))
    }
}

/// Read `.env`: `Ok(None)` when it does not exist yet.
pub fn read_env(path: &Path) -> Result<Option<SecretValues>> {
    if !path.exists() {
        return Ok(None);
    }
    let iter = dotenvy::from_path_iter(path).map_err(|e| secrets_error(path, &e))?;
    let mut map = BTreeMap::new();
    for item in iter {
        let (k, v) = item.map_err(|e| secrets_error(path, &e))?;
        map.insert(k, v);
    }
    Ok(Some(SecretValues(map)))
}

fn secrets_error(path: &Path, e: &dotenvy::Error) -> Error {
    // dotenvy's parse errors quote the offending line, which may hold a secret: keep only the
    // kind of failure and the position.
    let message = match e {
        dotenvy::Error::LineParse(_, index) => format!("cannot parse the line at byte {index}"),
        dotenvy::Error::Io(io) => io.to_string(),
        _ => "cannot parse it".to_string(),
    };
    Error::Secrets {
        path: path.to_path_buf(),
        message,
        help: Some("each line must be NAME=value; fix or remove the line".into()),
    }
}

/// What [`ensure_env`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvOutcome {
    /// The file did not exist and was created.
    pub created: bool,
    /// Keys that were missing and were generated.
    pub added: Vec<String>,
    /// External secrets that are neither in `.env` nor in the environment.
    pub missing_external: Vec<String>,
    /// The file's mode was wider than 0600 and was tightened.
    pub tightened: bool,
}

/// Create `.env` or add the missing generated keys; never changes an existing value.
pub fn ensure_env(
    path: &Path,
    specs: &[SecretSpec],
    environment: Environment,
    mut random_hex: impl FnMut(usize) -> Result<String>,
) -> Result<EnvOutcome> {
    let existing = read_env(path)?;
    let mut outcome = EnvOutcome {
        created: existing.is_none(),
        ..EnvOutcome::default()
    };
    let current = existing.clone().unwrap_or_default();
    let mut text = if existing.is_some() {
        fs_err::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?
    } else {
        "# Secrets of this stack, generated by promo-infra. Keep this file private (mode 0600);\n\
         # it is git-ignored. Rotate a value with `promo-infra secrets rotate NAME`.\n"
            .to_string()
    };
    for spec in specs {
        if current.get(&spec.name).is_some() {
            continue;
        }
        let bytes = match spec.kind {
            SecretKind::Token => 32,
            SecretKind::Password => 16,
            SecretKind::External => {
                // Cloud tokens are only needed by the cloud target, which checks them itself.
                if std::env::var_os(&spec.name).is_none() && spec.used_by != [CLOUD_TARGET] {
                    outcome.missing_external.push(spec.name.clone());
                }
                continue;
            }
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{}={}\n", spec.name, random_hex(bytes)?));
        outcome.added.push(spec.name.clone());
    }
    check_defaults(path, &current, environment)?;
    let mode_ok = mode_is_private(path);
    if outcome.created || !outcome.added.is_empty() || !mode_ok {
        crate::writer::write_atomic(path, text.as_bytes(), Some(0o600))?;
        outcome.tightened = existing.is_some() && !mode_ok;
    }
    Ok(outcome)
}

/// Replace one generated secret with a new random value. Returns the new value.
pub fn rotate(
    path: &Path,
    spec: &SecretSpec,
    random_hex: impl FnOnce(usize) -> Result<String>,
) -> Result<String> {
    let bytes = match spec.kind {
        SecretKind::Token => 32,
        SecretKind::Password => 16,
        SecretKind::External => {
            return Err(Error::usage(
                format!(
                    "`{}` is provided by you, promo-infra cannot generate it",
                    spec.name
                ),
                format!(
                    "change it where it comes from (your environment or {})",
                    path.display()
                ),
            ));
        }
    };
    let text = fs_err::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    let value = random_hex(bytes)?;
    let prefix = format!("{}=", spec.name);
    let mut found = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with(&prefix) {
            out.push_str(&prefix);
            out.push_str(&value);
            found = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !found {
        out.push_str(&format!("{prefix}{value}\n"));
    }
    crate::writer::write_atomic(path, out.as_bytes(), Some(0o600))?;
    Ok(value)
}

/// `n` random bytes from the OS random source (getrandom), hex-encoded.
pub fn os_random_hex(n: usize) -> Result<String> {
    use rand::TryRng;
    let mut buf = vec![0u8; n];
    rand::rngs::SysRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::Usage {
            message: format!("the operating system's random source failed: {e}"),
            help: Some(
                "no secret was generated; check that /dev/urandom (getrandom) is available".into(),
            ),
        })?;
    Ok(hex::encode(buf))
}

const DEFAULT_PASSWORDS: [&str; 5] = ["admin", "password", "changeme", "secret", "grafana"];

/// Refuse well-known default passwords in `.env` for `environment: prod`.
pub fn check_defaults(path: &Path, values: &SecretValues, environment: Environment) -> Result<()> {
    if environment != Environment::Prod {
        return Ok(());
    }
    for name in [GRAFANA_ADMIN_PASSWORD, INFLUX_ADMIN_PASSWORD] {
        if values
            .get(name)
            .is_some_and(|v| DEFAULT_PASSWORDS.contains(&v.to_ascii_lowercase().as_str()))
        {
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

#[cfg(unix)]
fn mode_is_private(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
fn mode_is_private(_: &Path) -> bool {
    true
}
