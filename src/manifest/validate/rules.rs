//! The checks of one value: names, text, variables, URLs, paths, addresses and ports.
//!
//! Owns: the rules each kind of value follows and the wording of their problems.
//! May not: parse text, read files or the environment, print.

use std::net::IpAddr;

use crate::error::Problems;
use crate::manifest::Sp;

/// Record that `value` is refused: `message` at its position, `label` under it, `hint` below.
pub(super) fn refuse<T>(
    p: &mut Problems<'_>,
    value: &Sp<T>,
    message: String,
    label: &str,
    hint: impl Into<String>,
) {
    p.push(value.pos(), message, label, Some(hint.into()));
}

/// 1 to `max` bytes of ASCII letters, digits and `extra`, not starting with one of `not_first`.
pub(super) fn is_plain(value: &str, max: usize, extra: &str, not_first: &str) -> bool {
    !value.is_empty()
        && value.len() <= max
        && !value.starts_with(|c: char| not_first.contains(c))
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Upper bound of each `backup.keep` rule (so the policy's sum can never overflow either).
pub(super) const MAX_KEEP: u32 = 10_000;

/// Environment variables a secret name (`*_env`) may not name: the stack's own secrets, the
/// prefixes Grafana, InfluxDB, Docker, k6 and promo-infra read their settings from (a Slack
/// variable named `GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION` would override hardening), and the
/// variables every process depends on.
const RESERVED_ENV_PREFIXES: [&str; 7] = [
    "GF_",
    "INFLUXDB_",
    "INFLUXD_",
    "DOCKER_",
    "K6_",
    "PROMO_INFRA_",
    "LD_",
];
const RESERVED_ENV_NAMES: [&str; 16] = [
    crate::secrets::GRAFANA_ADMIN_PASSWORD,
    crate::secrets::GRAFANA_SECRET_KEY,
    crate::secrets::CONTROL_API_TOKEN,
    crate::secrets::CONTROL_API_STOP_PASSWORD,
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "TMPDIR",
    "TZ",
    "LANG",
    "IFS",
    "HOSTNAME",
    "NO_COLOR",
];

/// A character as an error message names it (`a line break`, `` `$` ``, `U+0007`).
pub(super) fn describe_char(c: char) -> String {
    match c {
        '\n' => "a line break".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        '`' => "a backtick".into(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c if crate::compile::escape::is_invisible_format(c) => {
            format!("the invisible formatting character U+{:04X}", u32::from(c))
        }
        c => format!("`{c}`"),
    }
}

/// Free text (titles, channel): one line, no control characters, at most `max` characters.
pub(super) fn check_text(p: &mut Problems<'_>, key: &str, value: &Sp<String>, max: usize) {
    if let Some(bad) = value
        .chars()
        .find(|c| c.is_control() || crate::compile::escape::is_invisible_format(*c))
    {
        p.push(
            value.pos(),
            format!("{key}: {} is not allowed here", describe_char(bad)),
            "control character",
            Some("write it on one line, without control or invisible formatting characters (direction overrides, zero-width)".to_string()),
        );
    } else if value.chars().count() > max {
        p.push(
            value.pos(),
            format!("{key}: longer than {max} characters"),
            "too long",
            Some(format!("shorten it to at most {max} characters")),
        );
    }
}

/// Whether `value` is a valid name; refused (and `false`) when not.
pub(super) fn check_name(p: &mut Problems<'_>, key: &str, value: &Sp<String>) -> bool {
    let ok = is_plain(value, 100, "-_.@", "-");
    if !ok {
        refuse(
            p,
            value,
            format!("{key}: `{}` is not a valid name", value.escape_debug()),
            "invalid name",
            "use 1-100 letters, digits, `-`, `_`, `.` or `@`, not starting with `-`",
        );
    }
    ok
}

fn check_env_name(p: &mut Problems<'_>, key: &str, value: &Sp<String>) -> bool {
    let mut chars = value.chars();
    let ok = value.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        p.push(
            value.pos(),
            format!(
                "{key}: `{}` is not a valid environment variable name",
                value.escape_debug()
            ),
            "invalid variable name",
            Some(
                "letters, digits and `_`, not starting with a digit, e.g. `SLACK_WEBHOOK_URL`"
                    .to_string(),
            ),
        );
    }
    ok
}

/// The name of a variable holding a secret the user provides: valid, and none of the
/// variables the stack itself uses (see [`RESERVED_ENV_NAMES`]).
pub(super) fn check_secret_env(p: &mut Problems<'_>, key: &str, value: &Sp<String>) {
    if !check_env_name(p, key, value) {
        return;
    }
    let upper = value.to_ascii_uppercase();
    let reserved = RESERVED_ENV_NAMES.contains(&upper.as_str())
        || RESERVED_ENV_PREFIXES
            .iter()
            .any(|pre| upper.starts_with(pre));
    if reserved {
        p.push(
            value.pos(),
            format!(
                "{key}: `{}` is a variable the stack itself uses or reserves",
                **value
            ),
            "reserved variable",
            Some(format!(
                "choose a name of your own such as `SLACK_WEBHOOK_URL`; names starting with {} and {} are reserved",
                RESERVED_ENV_PREFIXES.join(", "),
                RESERVED_ENV_NAMES.join(", ")
            )),
        );
    }
}

/// An http(s) URL in canonical form, with no credentials, query or fragment, and only
/// characters that need no quoting in any generated file (no `$`, quotes, `%`, spaces...).
pub(super) fn check_url(p: &mut Problems<'_>, key: &str, value: &Sp<String>, https_only: bool) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/[]".contains(c);
    let parsed = url::Url::parse(value).ok();
    let ok = parsed.as_ref().is_some_and(|u| {
        let scheme_ok = if https_only {
            u.scheme() == "https"
                || (u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
        } else {
            matches!(u.scheme(), "http" | "https")
        };
        scheme_ok
            && u.host_str().is_some_and(|h| !h.is_empty())
            && u.username().is_empty()
            && u.password().is_none()
            && u.query().is_none()
            && u.fragment().is_none()
    }) && value.len() <= 2000
        && value.chars().all(allowed);
    // As it is read: the scheme and host in lower case, no default port, no `.`/`..` segment
    // (Grafana's root_url, CORS origins and links compare the text).
    let canonical = parsed.as_ref().map(|u| {
        let c = u.as_str();
        if value.ends_with('/') || u.path() != "/" {
            c.to_string()
        } else {
            c.trim_end_matches('/').to_string()
        }
    });
    if ok && let Some(c) = canonical.filter(|c| c != value.as_str()) {
        refuse(
            p,
            value,
            format!(
                "{key}: `{}` is not written the way it is read: `{c}`",
                value.escape_debug()
            ),
            "not canonical",
            format!("write `{c}`"),
        );
        return;
    }
    if !ok {
        p.push(
            value.pos(),
            format!(
                "{key}: `{}` is not a valid {}URL",
                value.escape_debug(),
                if https_only { "https " } else { "" }
            ),
            "invalid URL",
            Some(
                if https_only {
                    "cloud APIs are only reached over https:// (plain http only on this machine's loopback); write `https://host[:port][/path]` with letters, digits, `-._~:/`, no credentials, query or fragment"
                } else {
                    "write `http(s)://host[:port][/path]` with letters, digits, `-._~:/`, no credentials, query or fragment"
                }
                .to_string(),
            ),
        );
    }
}

/// The project's directories that are not the user's to point a path into: generated files
/// (with `.env`), the manifests, the dashboard sources, promo-infra's cache, git's.
const PROJECT_OWN: [&str; 5] = [
    "generated",
    "stacks",
    "dashboards-src",
    ".promo-infra",
    ".git",
];

/// What a path field may be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PathRule {
    /// Relative to the project, no `..`, nothing starting with `-`; letters, digits, `._+@,=~-`.
    ProjectRelative,
    /// Absolute path on the production host; letters, digits, spaces, `%` and `._+@,=~-`.
    HostAbsolute,
    /// `backup.dir`: absolute (a separate disk) or relative to the project; same characters as
    /// host paths; no `..` anywhere.
    AnyPlain,
}

pub(super) fn check_path(p: &mut Problems<'_>, key: &str, value: &Sp<String>, rule: PathRule) {
    let host_chars = rule != PathRule::ProjectRelative;
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || "/._+@,=~-".contains(c) || (host_chars && " %".contains(c))
    };
    let absolute = value.starts_with('/');
    let trimmed = value.trim_start_matches('/').trim_end_matches('/');
    let components: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let problem: Option<String> = if value.is_empty() {
        Some("is empty".into())
    } else if value.len() > 1024 {
        Some("is longer than 1024 bytes".into())
    } else if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        Some(format!("contains {}", describe_char(bad)))
    } else if rule == PathRule::ProjectRelative && absolute {
        Some("must be relative to the project directory".into())
    } else if rule == PathRule::HostAbsolute && !absolute {
        Some("must be an absolute path".into())
    } else if components.is_empty() {
        Some("names no directory".into())
    } else if components.iter().any(|c| c.is_empty()) {
        Some("contains an empty component (`//`)".into())
    } else if components.contains(&"..") {
        Some("contains `..`".into())
    } else if components.contains(&".") {
        Some("contains a `.` component".into())
    } else if components
        .iter()
        .any(|c| c.starts_with(['-', ' ']) || c.ends_with(' '))
    {
        Some("has a component starting with `-` or starting/ending with a space".into())
    } else {
        components
            .iter()
            .enumerate()
            .find(|(i, c)| **c == ".git" || (*i == 0 && !absolute && PROJECT_OWN.contains(*c)))
            .map(|(_, own)| format!(
                "is inside `{own}`, which promo-infra or git owns (its files there would be overwritten or mixed with yours)"
            ))
    };
    if let Some(problem) = problem {
        let hint = match rule {
            PathRule::ProjectRelative => {
                "write a path inside the project (not under `generated/`, `stacks/` or `dashboards-src/`) with letters, digits and `._+@,=~-`, e.g. `data`"
            }
            PathRule::HostAbsolute => {
                "write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`"
            }
            PathRule::AnyPlain => {
                "write a plain path (letters, digits, spaces, `%`, `._+@,=~-`), absolute like `/mnt/backups` or relative to the project like `backups`, without `..`"
            }
        };
        p.push(
            value.pos(),
            format!("{key}: `{}` {problem}", value.escape_debug()),
            "not a plain path",
            Some(hint.to_string()),
        );
    }
}

/// `host:port` with a host name, an IPv4 address or a bracketed IPv6 address.
pub(super) fn check_host_port(p: &mut Problems<'_>, key: &str, value: &Sp<String>) {
    let ok = value.rsplit_once(':').is_some_and(|(host, port)| {
        let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !host.starts_with(['-', '.'])
        };
        host_ok && port.parse::<u16>().is_ok_and(|n| n > 0)
    });
    if !ok {
        p.push(
            value.pos(),
            format!("{key}: `{}` is not a host:port address", **value),
            "not host:port",
            Some("write the InfluxDB RPC bind-address, e.g. `127.0.0.1:8088`".to_string()),
        );
    }
}

pub(super) fn is_unix_user(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32
}

pub(super) fn check_ports(p: &mut Problems<'_>, ports: &[(&str, &Sp<u32>, &Sp<String>)]) {
    let mut used: Vec<(IpAddr, u32, &str)> = Vec::new();
    for (key, port, bind) in ports {
        let addr: Option<IpAddr> = bind.parse().ok();
        if addr.is_none() {
            let bind_key = key.replace(".port", ".bind");
            p.push(
                bind.pos(),
                format!("{bind_key}: `{}` is not an IP address", ***bind),
                "not an IP address",
                Some(
                    "use `127.0.0.1` (default, this host only) or `0.0.0.0` (every interface)"
                        .to_string(),
                ),
            );
        }
        if !(1..=65535).contains(&***port) {
            p.push(
                port.pos(),
                format!("{key}: {} is not a port", ***port),
                "must be 1-65535",
                Some("choose a free host port between 1 and 65535".to_string()),
            );
            continue;
        }
        let Some(addr) = addr else { continue };
        if let Some((_, _, other)) = used.iter().find(|(a, n, _)| {
            *n == ***port && (*a == addr || a.is_unspecified() || addr.is_unspecified())
        }) {
            p.push(
                port.pos(),
                format!("{key}: port {} is already used by {other}", ***port),
                "port clash",
                Some(format!("give {key} a port of its own")),
            );
        }
        used.push((addr, ***port, key));
    }
}
