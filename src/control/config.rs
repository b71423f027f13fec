//! What the control API runs with: its address, secrets, the Grafana origin and client, its
//! time limits; read from a manifest and its `.env` (on the host) or from the environment (the
//! container mode, selected by `PROMO_INFRA_STACK`).
//!
//! Owns: [`ControlConfig`], [`Timing`], the names of the container-mode variables ([`env`]),
//! the checks of the secrets' presence and length.
//! May not: serve HTTP, print, read `std::env` directly (it goes through [`crate::settings`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::grafana::{Auth, Client};
use crate::manifest::Manifest;
use crate::ops::{self, Selection};
use crate::project::Project;
use crate::secrets::{self, SecretValues};

/// Default grace period between SIGINT and an escalation.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15);
/// Default lease of a registered run (renewed by every poll).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Default wait for the wrapper's acknowledgement of a stop.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variables of the container mode.
pub mod env {
    /// Bearer token of the API.
    pub const TOKEN: &str = "CONTROL_API_TOKEN";
    /// Basic password of the STOP page.
    pub const STOP_PASSWORD: &str = "CONTROL_API_STOP_PASSWORD";
    /// Origin allowed to call the API from a browser (Grafana).
    pub const CORS_ORIGIN: &str = "PROMO_INFRA_CORS_ORIGIN";
    /// Grafana base URL, for the "stopped by hand" annotation.
    pub const GRAFANA_URL: &str = "PROMO_INFRA_GRAFANA_URL";
    /// Grafana user for annotations.
    pub const GRAFANA_USER: &str = "PROMO_INFRA_GRAFANA_USER";
    /// Grafana password for annotations (the admin password of the stack).
    pub const GRAFANA_PASSWORD: &str = crate::secrets::GRAFANA_ADMIN_PASSWORD;
    /// `fr` or `en`.
    pub const LOCALE: &str = "PROMO_INFRA_LOCALE";
    /// Stack name; its presence selects the container (environment) mode.
    pub const STACK: &str = "PROMO_INFRA_STACK";
}

/// A secret value: its `Debug` shows `(sensitive)`, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(sensitive)")
    }
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer token.
    pub token: Secret,
    /// STOP page password.
    pub stop_password: Secret,
    /// Browser origin allowed on `/api/` (Grafana's), if any.
    pub cors_origin: Option<String>,
    /// Where "stopped by hand" annotations go.
    pub grafana: Option<Client>,
    /// `fr` or `en`.
    pub locale: String,
    /// Stack name.
    pub stack: String,
    /// The stack file the API was started with (`-f`, project-relative), when it was: the
    /// container and service modes know only the stack's name.
    pub manifest: Option<String>,
    /// Time limits.
    pub timing: Timing,
}

/// Time limits of the API.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Grace period between SIGINT and an escalation.
    pub grace: Duration,
    /// Lease of a registered run.
    pub lease: Duration,
    /// Wait for the wrapper's acknowledgement of a stop.
    pub ack_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            lease: DEFAULT_LEASE,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
        }
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

fn parse_listen(s: &str) -> Result<SocketAddr> {
    s.parse().map_err(|_| {
        Error::usage(
            format!("--listen `{s}` is not an address:port"),
            "e.g. --listen 127.0.0.1:5000 (or 0.0.0.0:5000 inside a container)",
        )
    })
}

fn check_secret(name: &str, value: Option<&str>, origin: &str) -> Result<Secret> {
    match value {
        Some(v) if v.len() >= 16 => Ok(Secret::new(v)),
        Some(_) => Err(Error::control(format!(
            "{name} from {origin} is shorter than 16 characters"
        ))
        .with_help("use the generated value (`promo-infra generate` creates it)")),
        None => Err(Error::control(format!("{name} is not set ({origin})")).with_help(
            "run `promo-infra generate` to create it in generated/<stack>/.env, or pass it in the environment",
        )),
    }
}

/// Configuration from a manifest and its `.env` (running on the host).
pub fn config_from_manifest(
    m: &Manifest,
    values: &SecretValues,
    listen: Option<&str>,
    timing: Timing,
) -> Result<ControlConfig> {
    let env_file = format!("generated/{}/.env", *m.stack);
    let listen = match listen {
        Some(l) => parse_listen(l)?,
        None => parse_listen(&crate::compile::escape::host_port(
            m.control_api.bind.as_str(),
            *m.control_api.port,
        ))?,
    };
    let secret = |name| check_secret(name, values.get(name), &env_file);
    Ok(ControlConfig {
        listen,
        token: secret(secrets::CONTROL_API_TOKEN)?,
        stop_password: secret(secrets::CONTROL_API_STOP_PASSWORD)?,
        cors_origin: origin_of(&crate::compile::services::grafana_url(m)),
        grafana: crate::k6::report::grafana_client(m, values, crate::targets::TargetKind::Docker)?,
        locale: m.locale.to_string(),
        stack: m.stack.to_string(),
        manifest: None,
        timing,
    })
}

/// Configuration from the environment (the container / service mode, selected by
/// `PROMO_INFRA_STACK`).
pub fn config_from_env(
    lookup: impl Fn(&str) -> Option<String>,
    listen: Option<&str>,
    timing: Timing,
) -> Result<ControlConfig> {
    let origin = "the environment";
    let grafana = match (lookup(env::GRAFANA_URL), lookup(env::GRAFANA_PASSWORD)) {
        (Some(url), Some(password)) => Some(crate::k6::report::annotation_client(
            &url,
            Auth::Basic {
                user: lookup(env::GRAFANA_USER).unwrap_or_else(|| "admin".into()),
                password: Secret::new(password),
            },
        )?),
        _ => None,
    };
    let secret = |name| check_secret(name, lookup(name).as_deref(), origin);
    Ok(ControlConfig {
        listen: parse_listen(listen.unwrap_or("127.0.0.1:5000"))?,
        token: secret(env::TOKEN)?,
        stop_password: secret(env::STOP_PASSWORD)?,
        cors_origin: lookup(env::CORS_ORIGIN).and_then(|o| origin_of(&o)),
        grafana,
        locale: lookup(env::LOCALE).unwrap_or_else(|| "fr".into()),
        stack: lookup(env::STACK).unwrap_or_default(),
        manifest: None,
        timing,
    })
}

/// The configuration `promo-infra control-api` runs with: from the environment when no `-f`
/// was given and `PROMO_INFRA_STACK` is set (the container), else from the manifest (`files`,
/// or the default stack) and its `.env`.
pub fn resolve(
    project: &Project,
    files: &[PathBuf],
    listen: Option<&str>,
    timing: Timing,
) -> Result<ControlConfig> {
    if files.is_empty() && crate::settings::var_os(env::STACK).is_some() {
        return config_from_env(crate::settings::non_empty, listen, timing);
    }
    let selection = if files.is_empty() {
        Selection::Default
    } else {
        Selection::Files(files.to_vec())
    };
    let (_, loaded) = ops::load_one(project, &selection)?;
    let values = ops::secret_values(project, &loaded.manifest)?;
    let mut cfg = config_from_manifest(&loaded.manifest, &values, listen, timing)?;
    cfg.manifest = Some(loaded.rel_path.clone());
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let lookup = |k: &str| match k {
            env::TOKEN => Some("t0ken-t0ken-t0ken-1".to_string()),
            env::STOP_PASSWORD => Some("passw0rd-passw0rd-2".to_string()),
            env::GRAFANA_URL => Some("http://grafana:3000/".to_string()),
            env::GRAFANA_PASSWORD => Some("grafana-secret-3".to_string()),
            env::STACK => Some("promo".to_string()),
            _ => None,
        };
        let cfg = config_from_env(lookup, None, Timing::default()).unwrap();
        let text = format!("{cfg:?}");
        for secret in [
            "t0ken-t0ken-t0ken-1",
            "passw0rd-passw0rd-2",
            "grafana-secret-3",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("(sensitive)"), "{text}");
        assert_eq!(cfg.grafana.unwrap().url(), "http://grafana:3000");
    }

    #[test]
    fn a_missing_or_short_secret_is_a_control_error_naming_it() {
        let err = config_from_env(|_| None, None, Timing::default()).unwrap_err();
        assert!(matches!(err, Error::Control { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "CONTROL_API_TOKEN is not set (the environment)"
        );
        let short = |k: &str| (k == env::TOKEN).then(|| "short".to_string());
        let err = config_from_env(short, None, Timing::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CONTROL_API_TOKEN from the environment is shorter than 16 characters"
        );
    }

    #[test]
    fn a_manifest_bind_on_every_ipv6_address_is_a_listen_address() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/promo.yaml"))
                .expect("the default stack")
                .replace(
                    "control_api:\n  enabled: true\n",
                    "control_api:\n  enabled: true\n  bind: \"::\"\n",
                );
        let m = crate::manifest::parse("promo.yaml", &text).expect("a valid manifest");
        let values = SecretValues::from_pairs([
            (secrets::CONTROL_API_TOKEN.to_string(), "a".repeat(32)),
            (
                secrets::CONTROL_API_STOP_PASSWORD.to_string(),
                "b".repeat(32),
            ),
        ]);
        let cfg = config_from_manifest(&m, &values, None, Timing::default()).unwrap();
        assert_eq!(
            cfg.listen.to_string(),
            format!("[::]:{}", *m.control_api.port)
        );
    }
}
