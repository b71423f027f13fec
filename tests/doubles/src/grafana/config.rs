//! Server settings for the `grafana-double` binary, read the way Grafana reads them:
//! `<homepath>/conf/defaults.ini`, `cfg:default.*` arguments, the `--config` file (or
//! `<homepath>/conf/custom.ini`), `GF_<SECTION>_<KEY>` environment variables, then `cfg:*`
//! arguments. Values may use `$__env{VAR}`, `$__file{path}` and `${VAR}`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::GrafanaConfig;
use crate::common::expand_grafana_macros;

/// A parsed INI file: section → key → raw value.
pub type Ini = BTreeMap<String, BTreeMap<String, String>>;

/// Parses Grafana-style INI text (`;`/`#` comments, `[section]`, `key = value`, optional quotes).
pub fn parse_ini(text: &str) -> Result<Ini, String> {
    let mut out: Ini = BTreeMap::new();
    let mut section = String::from("");
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
            continue;
        }
        if let Some(rest) = t.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(format!("line {}: unclosed section header: {t}", n + 1));
            };
            section = name.trim().to_owned();
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            return Err(format!(
                "line {}: key-value delimiter not found: {t}",
                n + 1
            ));
        };
        let mut v = v.trim();
        for q in ['"', '\''] {
            if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
                v = &v[1..v.len() - 1];
            }
        }
        out.entry(section.clone())
            .or_default()
            .insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(out)
}

/// Grafana's `EvalEnvVarExpression`: `${VAR}` (word characters only) from the environment.
fn eval_braced_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        let after = &rest[pos + 2..];
        match after.find('}') {
            Some(end)
                if end > 0
                    && after[..end]
                        .bytes()
                        .all(|b| b == b'_' || b.is_ascii_alphanumeric()) =>
            {
                out.push_str(&rest[..pos]);
                out.push_str(&env(&after[..end]).unwrap_or_default());
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..pos + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Settings the double needs from Grafana's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub provisioning: Option<PathBuf>,
    pub data: Option<PathBuf>,
    pub admin_user: String,
    pub admin_password: String,
    pub service_account_tokens: Vec<String>,
    pub version: String,
    /// `[auth.anonymous] enabled`.
    pub anonymous: bool,
}

impl ServerSettings {
    pub fn grafana_config(&self) -> GrafanaConfig {
        GrafanaConfig {
            admin_user: self.admin_user.clone(),
            admin_password: self.admin_password.clone(),
            service_account_tokens: self.service_account_tokens.clone(),
            provisioning_dir: self.provisioning.clone(),
            version: self.version.clone(),
            data_dir: self.data.clone(),
            anonymous: self.anonymous,
        }
    }
}

const KEYS: &[(&str, &str)] = &[
    ("server", "http_addr"),
    ("server", "http_port"),
    ("paths", "provisioning"),
    ("paths", "data"),
    ("security", "admin_user"),
    ("security", "admin_password"),
    ("auth.anonymous", "enabled"),
];

fn env_name(section: &str, key: &str) -> String {
    format!("GF_{}_{}", section, key)
        .to_ascii_uppercase()
        .replace(['.', '-'], "_")
}

fn apply_cfg_args(merged: &mut Ini, args: &[String], defaults: bool) -> Result<(), String> {
    for a in args {
        let Some(spec) = a.strip_prefix("cfg:") else {
            return Err(format!(
                "unexpected argument {a:?} (expected cfg:section.key=value)"
            ));
        };
        let (is_default, spec) = match spec.strip_prefix("default.") {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        if is_default != defaults {
            continue;
        }
        let Some((path, value)) = spec.split_once('=') else {
            return Err(format!("invalid argument {a:?}: missing '='"));
        };
        let Some((section, key)) = path.rsplit_once('.') else {
            return Err(format!("invalid argument {a:?}: expected section.key"));
        };
        merged
            .entry(section.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
    }
    Ok(())
}

fn merge(into: &mut Ini, from: Ini) {
    for (section, kv) in from {
        into.entry(section).or_default().extend(kv);
    }
}

/// Resolves the settings. `env` is the process environment in the binary.
pub fn load(
    config: Option<&Path>,
    homepath: Option<&Path>,
    cfg_args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerSettings, String> {
    let read = |p: &Path| -> Result<Ini, String> {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("failed to read config file {}: {e}", p.display()))?;
        parse_ini(&text).map_err(|e| format!("failed to parse config file {}: {e}", p.display()))
    };
    let mut merged: Ini = BTreeMap::new();
    if let Some(home) = homepath {
        let defaults = home.join("conf").join("defaults.ini");
        if defaults.is_file() {
            merge(&mut merged, read(&defaults)?);
        }
    }
    apply_cfg_args(&mut merged, cfg_args, true)?;
    match (config, homepath) {
        (Some(c), _) => merge(&mut merged, read(c)?),
        (None, Some(home)) => {
            let custom = home.join("conf").join("custom.ini");
            if custom.is_file() {
                merge(&mut merged, read(&custom)?);
            }
        }
        (None, None) => {}
    }
    for (section, key) in KEYS {
        if let Some(v) = env(&env_name(section, key)) {
            merged
                .entry((*section).to_owned())
                .or_default()
                .insert((*key).to_owned(), v);
        }
    }
    apply_cfg_args(&mut merged, cfg_args, false)?;

    let get = |section: &str, key: &str| -> Result<String, String> {
        let raw = merged
            .get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or_default();
        let v = expand_grafana_macros(&raw, env)?;
        Ok(eval_braced_env(&v, env))
    };
    let resolve = |p: String| -> Option<PathBuf> {
        if p.is_empty() {
            return None;
        }
        let pb = PathBuf::from(p);
        Some(match homepath {
            Some(home) if pb.is_relative() => home.join(pb),
            _ => pb,
        })
    };

    let addr_s = get("server", "http_addr")?;
    let ip: IpAddr = if addr_s.is_empty() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        addr_s
            .parse()
            .map_err(|_| format!("invalid [server] http_addr {addr_s:?}: expected an IP address"))?
    };
    let port_s = get("server", "http_port")?;
    let port: u16 = if port_s.is_empty() {
        3000
    } else {
        port_s
            .parse()
            .map_err(|_| format!("invalid [server] http_port {port_s:?}"))?
    };
    let provisioning = resolve(get("paths", "provisioning")?).or_else(|| {
        homepath
            .map(|h| h.join("conf").join("provisioning"))
            .filter(|p| p.is_dir())
    });
    let admin_user = Some(get("security", "admin_user")?)
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "admin".into());
    let admin_password = Some(get("security", "admin_password")?)
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "admin".into());
    let tokens = env("GF_DOUBLE_SERVICE_ACCOUNT_TOKENS")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(ServerSettings {
        listen: SocketAddr::new(ip, port),
        provisioning,
        data: resolve(get("paths", "data")?),
        admin_user,
        admin_password,
        service_account_tokens: tokens,
        version: env("GF_DOUBLE_VERSION").unwrap_or_else(|| "10.2.3".into()),
        anonymous: get("auth.anonymous", "enabled")?.eq_ignore_ascii_case("true"),
    })
}

/// Grafana's command line in clap's terms: drops the `server` subcommand and turns Go-style
/// `-config` into `--config`.
pub fn normalize_args(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    if let Some(argv0) = it.next() {
        out.push(argv0);
    }
    let mut first = true;
    for a in it {
        if first && a == "server" {
            first = false;
            continue;
        }
        first = false;
        let long = ["config", "homepath", "pidfile", "packaging"]
            .iter()
            .find(|f| a == format!("-{f}") || a.starts_with(&format!("-{f}=")));
        out.push(if long.is_some() { format!("-{a}") } else { a });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("hunter22".into()),
            "GF_SERVER_HTTP_PORT" => Some("3100".into()),
            _ => None,
        }
    }

    #[test]
    fn ini_and_env_overrides() {
        let dir = std::env::temp_dir().join(format!("gdbl-ini-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ini = dir.join("grafana.ini");
        std::fs::write(
            &ini,
            "; comment\n[server]\nhttp_addr = 127.0.0.1\nhttp_port = 3001\n[paths]\nprovisioning = /etc/prov\n[security]\nadmin_user = \"boss\"\nadmin_password = $__env{PW}\n",
        )
        .unwrap();
        let s = load(Some(&ini), None, &[], &env).unwrap();
        assert_eq!(s.listen, "127.0.0.1:3100".parse().unwrap());
        assert_eq!(s.provisioning, Some(PathBuf::from("/etc/prov")));
        assert_eq!(s.admin_user, "boss");
        assert_eq!(s.admin_password, "hunter22");
        let s = load(
            Some(&ini),
            None,
            &[
                "cfg:paths.provisioning=/x".into(),
                "cfg:default.paths.data=/d".into(),
            ],
            &env,
        )
        .unwrap();
        assert_eq!(s.provisioning, Some(PathBuf::from("/x")));
        assert_eq!(s.data, Some(PathBuf::from("/d")));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn defaults_to_loopback() {
        let s = load(None, None, &[], &|_| None).unwrap();
        assert_eq!(s.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(s.admin_password, "admin");
    }

    #[test]
    fn bad_ini_is_an_error() {
        assert!(parse_ini("[server\nx=1").is_err());
        assert!(parse_ini("[server]\nnonsense").is_err());
    }

    #[test]
    fn braced_env() {
        assert_eq!(eval_braced_env("a${PW}b${}c", &env), "ahunter22b${}c");
    }

    #[test]
    fn normalizes_grafana_command_lines() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            normalize_args(v(&[
                "grafana",
                "server",
                "-config=/a.ini",
                "--homepath",
                "/h",
                "cfg:x.y=1"
            ])),
            v(&[
                "grafana",
                "--config=/a.ini",
                "--homepath",
                "/h",
                "cfg:x.y=1"
            ])
        );
        assert_eq!(
            normalize_args(v(&["g", "-config", "/a"])),
            v(&["g", "--config", "/a"])
        );
    }
}
