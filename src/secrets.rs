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
        use sha2::Digest;
        self.get(name)
            .map(|v| hex::encode(sha2::Sha256::digest(v.as_bytes())))
    }
}

/// A secret from the process environment; an empty variable is not set.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Check what is at the `.env` path before reading or writing it: `Ok(false)` when nothing is
/// there yet, `Ok(true)` for a private regular file, an error (what, where, what to do) for a
/// symbolic link (dangling or not), a directory, another kind of file, or a file group or others
/// may read or write.
pub fn check_env_file(path: &Path) -> Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("cannot inspect", path, e)),
    };
    let refuse = |message: String, help: String| Error::Secrets {
        path: path.to_path_buf(),
        message,
        help: Some(help),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        let dangling = std::fs::metadata(path).is_err();
        return Err(refuse(
            format!(
                "is a symbolic link to {target}{}; promo-infra does not read, replace or regenerate secrets through a link",
                if dangling {
                    ", which does not exist"
                } else {
                    ""
                }
            ),
            if dangling {
                "mount the secret store the link points to (the running services still use the secrets kept there), or replace the link with the real file (mode 0600); nothing was changed".to_string()
            } else {
                format!(
                    "replace the link with the file itself: `mv {target} {}` and `chmod 600` it; nothing was changed",
                    path.display()
                )
            },
        ));
    }
    if ft.is_dir() {
        return Err(refuse(
            "is a directory, not a file of NAME=value lines".into(),
            "move the directory away (if it holds the real .env, move that file here with mode 0600); nothing was changed".into(),
        ));
    }
    if !ft.is_file() {
        return Err(refuse(
            "is not a regular file".into(),
            "replace it with a regular file of NAME=value lines, mode 0600; nothing was changed"
                .into(),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(refuse(
                format!(
                    "has mode {mode:04o}: group or others may read or change the secrets in it"
                ),
                format!(
                    "`chmod 600 {}` (and rotate the secrets if others may have read them: `promo-infra secrets rotate NAME`); nothing was changed",
                    path.display()
                ),
            ));
        }
    }
    Ok(true)
}

/// Read `.env`: `Ok(None)` when it does not exist yet. Refuses what [`check_env_file`] refuses.
/// Empty values are left out: they are missing.
pub fn read_env(path: &Path) -> Result<Option<SecretValues>> {
    if !check_env_file(path)? {
        return Ok(None);
    }
    let iter = dotenvy::from_path_iter(path).map_err(|e| secrets_error(path, &e))?;
    let mut map = BTreeMap::new();
    for item in iter {
        let (k, v) = item.map_err(|e| secrets_error(path, &e))?;
        if v.is_empty() {
            map.remove(&k);
        } else {
            map.insert(k, v);
        }
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
}

/// The key of a `.env` line (`NAME=...` or `export NAME=...`), if it has one.
fn line_key(line: &str) -> Option<&str> {
    let l = line.trim_start();
    if l.starts_with('#') {
        return None;
    }
    let l = l.strip_prefix("export ").unwrap_or(l);
    l.split_once('=').map(|(k, _)| k.trim())
}

/// Create `.env` or add the missing generated keys (an empty value is missing: its line is
/// replaced); never changes a non-empty value. Refuses a `.env` that is a link, a directory or
/// readable by others ([`check_env_file`]).
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
    check_defaults(path, &current, environment)?;
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
                if env_var(&spec.name).is_none() && spec.used_by != [CLOUD_TARGET] {
                    outcome.missing_external.push(spec.name.clone());
                }
                continue;
            }
        };
        // An empty `NAME=` line is a missing value: drop it, the new line replaces it.
        text = text
            .lines()
            .filter(|l| line_key(l) != Some(spec.name.as_str()))
            .map(|l| format!("{l}\n"))
            .collect();
        text.push_str(&format!("{}={}\n", spec.name, random_hex(bytes)?));
        outcome.added.push(spec.name.clone());
    }
    if outcome.created || !outcome.added.is_empty() {
        write_env(path, &text)?;
    }
    Ok(outcome)
}

/// Write `.env` atomically (temp file in the same directory, fsync, rename, fsync of the
/// directory), mode 0600.
fn write_env(path: &Path, text: &str) -> Result<()> {
    crate::writer::write_atomic(path, text.as_bytes(), Some(0o600))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Name of the `.env` line that holds a rotation's new value until the live change is known to
/// have been made (see [`write_pending`]).
pub fn pending_name(name: &str) -> String {
    format!("PROMO_INFRA_ROTATING_{name}")
}

/// A new random value for a generated secret; refuses the ones the user provides.
pub fn new_value(
    spec: &SecretSpec,
    random_hex: impl FnOnce(usize) -> Result<String>,
) -> Result<String> {
    match spec.kind {
        SecretKind::Token => random_hex(32),
        SecretKind::Password => random_hex(16),
        SecretKind::External => Err(provided_by_you(&spec.name)),
    }
}

/// The refusal to generate or rotate a secret the user provides.
pub fn provided_by_you(name: &str) -> Error {
    Error::usage(
        format!("`{name}` is provided by you, promo-infra cannot generate or rotate it"),
        "change it where it comes from (your environment or the stack's .env), then `promo-infra apply`; nothing was changed",
    )
}

/// `.env`'s text with the lines of `name` removed and `name=value` appended (when given).
fn replace_line(text: &str, name: &str, value: Option<&str>) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| line_key(l) != Some(name))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(v) = value {
        out.push_str(&format!("{name}={v}\n"));
    }
    out
}

fn read_checked(path: &Path) -> Result<String> {
    if !check_env_file(path)? {
        return Err(Error::Secrets {
            path: path.to_path_buf(),
            message: "does not exist".into(),
            help: Some("run `promo-infra apply` (or `generate`) first; nothing was changed".into()),
        });
    }
    fs_err::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))
}

/// Rotation, step 1 (before the live change): keep the new value in `.env` beside the current
/// one, as `PROMO_INFRA_ROTATING_<NAME>`. A crash after the live change then cannot lose the
/// only value the service accepts: the next `secrets rotate NAME` finds it and resumes with it.
pub fn write_pending(path: &Path, name: &str, value: &str) -> Result<()> {
    let text = read_checked(path)?;
    write_env(path, &replace_line(&text, &pending_name(name), Some(value)))
}

/// Rotation, step 3 (after the live change): `NAME=<new value>` and the pending line removed,
/// in one atomic write.
pub fn commit_pending(path: &Path, name: &str) -> Result<()> {
    let text = read_checked(path)?;
    let pending = pending_name(name);
    let values = read_env(path)?.unwrap_or_default();
    let Some(new) = values.get(&pending).map(str::to_string) else {
        return Err(Error::Secrets {
            path: path.to_path_buf(),
            message: format!("{pending} disappeared during the rotation of {name}"),
            help: Some(format!(
                "the service may already use the new value: restore {pending} from a backup of .env, or reset the secret by hand; then `promo-infra apply`"
            )),
        });
    };
    let text = replace_line(&text, &pending, None);
    write_env(path, &replace_line(&text, name, Some(&new)))
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

/// The note `plan` shows up front when a preprod stack's Slack webhook is not set.
pub fn slack_unset_note(name: &str, env_path: &Path) -> String {
    format!(
        "alerts have nowhere to go: {name} is not set, so Grafana gets no Slack contact point \
         (the alert rules still run and show on the dashboards). To send them to Slack, add \
         `{name}=https://hooks.slack.com/...` to {} or export {name}, then apply",
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
            generated_missing.push(spec.name);
            continue;
        }
        let is_slack = slack.is_some_and(|s| s.webhook_url_env.as_str() == spec.name);
        if is_slack && *m.environment != Environment::Prod && matches!(target, "docker" | "native")
        {
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
                "add `{}=...` to {} or export {}, then run the command again; nothing was changed",
                spec.name,
                env_path.display(),
                spec.name
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

#[cfg(test)]
mod tests {
    use super::*;

    fn private_env(dir: &Path, text: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(".env");
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    #[test]
    fn a_rotation_keeps_both_values_until_it_commits_the_new_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = private_env(dir.path(), "# header\nA=old\nexport B=b\n");
        write_pending(&path, "A", "new").expect("pending");
        let mid = read_env(&path).expect("read").expect("exists");
        assert_eq!(mid.get("A"), Some("old"), "the working value stays");
        assert_eq!(mid.get("PROMO_INFRA_ROTATING_A"), Some("new"));
        commit_pending(&path, "A").expect("commit");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "# header\nexport B=b\nA=new\n");
        // Committing again without a pending value is an error, never a blank secret.
        let err = commit_pending(&path, "A").expect_err("no pending value");
        assert!(
            format!("{err:?}").contains("PROMO_INFRA_ROTATING_A"),
            "{err:?}"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    }

    #[test]
    fn empty_values_are_missing_everywhere() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = private_env(dir.path(), "A=\nB=\"\"\nC=x\n");
        let v = read_env(&path).expect("read").expect("exists");
        assert_eq!(v.get("A"), None);
        assert_eq!(v.get("B"), None);
        assert_eq!(v.get("C"), Some("x"));
        let from = SecretValues::from_pairs([("A".to_string(), String::new())]);
        assert_eq!(from.get("A"), None);
        assert_eq!(line_key("export A=1"), Some("A"));
        assert_eq!(line_key("  A = 1"), Some("A"));
        assert_eq!(line_key("# A=1"), None);
    }
}
