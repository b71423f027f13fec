//! The `.env` file of a stack: checked before every read or write, created once, completed
//! with missing generated secrets, and changed only by the two steps of a rotation.
//!
//! Owns: every read and write of `.env` (mode 0600, atomic). May not: print or log a value,
//! put a value or a line of the file in an error, read the environment but through
//! `crate::settings` (via [`super::env_var`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::{CLOUD_TARGET, SecretKind, SecretSpec, SecretValues, check_defaults, env_var};
use crate::error::{Error, Result};
use crate::manifest::Environment;

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
    random_hex: impl FnMut(usize) -> Result<String>,
) -> Result<EnvOutcome> {
    prepare_env(path, specs, environment, random_hex)?.commit()
}

/// What [`ensure_env`] would write, decided by reading only: `apply` plans with these values and
/// writes them only once the plan is approved.
#[derive(Debug)]
pub struct PreparedEnv {
    path: std::path::PathBuf,
    /// The whole new file, when it must be written.
    text: Option<String>,
    /// The file as it was read when this was decided (`None`: absent): checked again before
    /// writing, so a line added meanwhile is never lost.
    seen: Option<String>,
    /// Every value the file will hold (empty ones left out, as [`read_env`] does).
    values: SecretValues,
    outcome: EnvOutcome,
}

impl PreparedEnv {
    /// The values `.env` will hold once committed.
    pub fn values(&self) -> &SecretValues {
        &self.values
    }

    /// What committing does.
    pub fn outcome(&self) -> &EnvOutcome {
        &self.outcome
    }

    /// Write the file (atomically, mode 0600) when something changes.
    pub fn commit(self) -> Result<EnvOutcome> {
        if let Some(text) = &self.text {
            let now = match fs_err::read_to_string(&self.path) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("cannot read", &self.path, e)),
            };
            if now != self.seen {
                return Err(Error::Secrets {
                    path: self.path.clone(),
                    message: "changed since the plan was made (while it waited for an answer); not written, so nothing added to it meanwhile is lost".into(),
                    help: Some("run the command again: it reads .env as it is now".into()),
                });
            }
            write_env(&self.path, text)?;
        }
        Ok(self.outcome)
    }
}

/// Decide what [`ensure_env`] writes, without writing.
pub fn prepare_env(
    path: &Path,
    specs: &[SecretSpec],
    environment: Environment,
    mut random_hex: impl FnMut(usize) -> Result<String>,
) -> Result<PreparedEnv> {
    let existing = read_env(path)?;
    let mut outcome = EnvOutcome {
        created: existing.is_none(),
        ..EnvOutcome::default()
    };
    let current = existing.clone().unwrap_or_default();
    check_defaults(path, &current, environment)?;
    let mut values = current.clone();
    let seen = match existing {
        Some(_) => {
            Some(fs_err::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?)
        }
        None => None,
    };
    let mut text = if let Some(seen) = &seen {
        seen.clone()
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
        let value = random_hex(bytes)?;
        text.push_str(&format!("{}={}\n", spec.name, value));
        values.set(&spec.name, value);
        outcome.added.push(spec.name.clone());
    }
    let write = outcome.created || !outcome.added.is_empty();
    Ok(PreparedEnv {
        path: path.to_path_buf(),
        text: write.then_some(text),
        seen,
        values,
        outcome,
    })
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
    keepable(path, name, value)?;
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

/// Keep `name=value` in `.env` (replacing its line), in one atomic write: a value minted by a
/// service that shows it only once (the cloud target's InfluxDB tokens).
pub fn store_value(path: &Path, name: &str, value: &str) -> Result<()> {
    keepable(path, name, value)?;
    let text = read_checked(path)?;
    write_env(path, &replace_line(&text, name, Some(value)))
}

/// Refuse a value that `.env` cannot keep as one plain `NAME=value` line: a value minted by a
/// service (an InfluxDB token) is the service's answer, and a line break in it would add lines
/// (variables) to `.env`, which systemd's `EnvironmentFile=` and compose read; a quote, `$`,
/// `\`, `#` or a space is read differently by dotenvy, compose and systemd. The value is never
/// shown.
fn keepable(path: &Path, name: &str, value: &str) -> Result<()> {
    let plain = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '`' | '$' | '\\' | '#');
    if !value.is_empty() && value.chars().all(plain) {
        return Ok(());
    }
    Err(Error::Secrets {
        path: path.to_path_buf(),
        message: format!(
            "the new value of {name} ({} characters) is empty or holds a character a `.env` line cannot keep as it is (a line break or another control character, a space, a quote, `$`, `\\` or `#`); not written",
            value.chars().count()
        ),
        help: Some(
            "the value came from the service that minted it: check that the URL is the service's own (not a proxy rewriting answers), then run the command again; .env was not changed"
                .into(),
        ),
    })
}

/// Drop `name`'s line from `.env` (atomic; nothing to do when `.env` or the line is missing):
/// a minted value whose token was revoked (`destroy --target cloud`).
pub fn forget_value(path: &Path, name: &str) -> Result<()> {
    if !check_env_file(path)? {
        return Ok(());
    }
    let text = fs_err::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    let kept = replace_line(&text, name, None);
    if kept == text {
        return Ok(());
    }
    write_env(path, &kept)
}

/// `n` random bytes from the OS random source (getrandom), hex-encoded.
pub fn os_random_hex(n: usize) -> Result<String> {
    use rand::TryRng;
    let mut buf = vec![0u8; n];
    rand::rngs::SysRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| {
            Error::internal(format!(
                "the operating system's random source failed: {e}; no secret was generated (check that /dev/urandom, getrandom, is available)"
            ))
        })?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests;
