//! Bounded fuzzing of the manifest loader and the compiler (issue 10, item 7), with proptest:
//! byte flips, truncations, injected payloads (shell, systemd, ini, `$`, newlines, non-UTF-8),
//! deleted and duplicated lines, over the repository's stacks and the test base manifest.
//!
//! For every mutated manifest: no panic; the result is either a valid manifest or manifest
//! errors, and EVERY error carries a line and column; and when it is valid, nothing it says
//! changes the shape of a generated file (one cron job line, only the expected systemd keys,
//! the fixed sections and keys of influxdb.conf / grafana.ini, and no `$` reference in compose
//! or Grafana provisioning other than the stack's own secrets).
//!
//! `cargo test --test it fuzz::` runs a short bounded run (256 cases per property);
//! `just fuzz` runs many more (PROPTEST_CASES, time-bounded).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use promo_infra::compile::{self, Templates};
use promo_infra::error::Error;
use promo_infra::manifest;
use promo_infra::project::Project;
use promo_infra::secrets::SecretValues;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

use crate::common::{BASE, repo};

fn templates() -> &'static (Templates, BTreeSet<String>) {
    static T: OnceLock<(Templates, BTreeSet<String>)> = OnceLock::new();
    T.get_or_init(|| {
        let t = promo_infra::ops::templates(&Project::new(repo())).expect("templates");
        let names = t.names();
        (t, names)
    })
}

fn seeds() -> Vec<String> {
    let mut out = vec![BASE.to_string()];
    for name in ["promo.yaml", "promo-v1.yaml"] {
        out.push(std::fs::read_to_string(repo().join("stacks").join(name)).expect("stack"));
    }
    out
}

/// Payloads aimed at every output syntax.
const PAYLOADS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"$(id)",
    b"`id`",
    b"; touch /tmp/pwned",
    b"%",
    b"%n",
    b"$GF_SECURITY_ADMIN_PASSWORD",
    b"${GRAFANA_ADMIN_PASSWORD}",
    b"$__file{/etc/shadow}",
    b"\nExecStartPre=/bin/sh -c id\n",
    b"\n[evil]\nkey = 1\n",
    b"\n* * * * * root id\n",
    b"\"",
    b"'",
    b"\\",
    b"..",
    b"/../../",
    b"\x00",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"\t",
    b"#",
    b": ",
    b"- ",
    b"&a ",
    b"*a",
    b"!!binary ",
    b"{",
    b"[",
    b"]",
    b"}",
    b"? ",
    b"|\n",
    b">-\n",
    b"99999999999999999999",
    b"-1",
    b"1e400",
    b".nan",
    b"::1",
    b"4294967295",
    b"2562048h",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    Truncate(usize),
    Insert(usize, usize),
    ReplaceValue(usize, usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    AppendToValue(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0..PAYLOADS.len()).prop_map(|(i, p)| Mutation::Insert(i, p)),
        (any::<usize>(), 0..PAYLOADS.len()).prop_map(|(i, p)| Mutation::ReplaceValue(i, p)),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

/// Mostly value-level payloads: the YAML stays valid, so the payload reaches validation and,
/// when it is allowed, the generated files.
fn value_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0..PAYLOADS.len(), any::<usize>())
            .prop_map(|(i, p, at)| Mutation::AppendToValue(i, p, at)),
        1 => mutation(),
    ]
}

fn line_bounds(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.push((start, bytes.len()));
    }
    out
}

fn apply(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let n = bytes.len().max(1);
    match *m {
        Mutation::FlipBit(i, bit) => {
            if !bytes.is_empty() {
                bytes[i % n] ^= 1 << bit;
            }
        }
        Mutation::Truncate(i) => bytes.truncate(i % n),
        Mutation::Insert(i, p) => {
            let at = i % (bytes.len() + 1);
            bytes.splice(at..at, PAYLOADS[p].iter().copied());
        }
        Mutation::ReplaceValue(i, p) => {
            let lines = line_bounds(&bytes);
            if let Some(&(s, e)) = lines.get(i % lines.len().max(1)) {
                let line = &bytes[s..e];
                if let Some(colon) = line.windows(2).position(|w| w == b": ") {
                    let end = if bytes[e - 1] == b'\n' { e - 1 } else { e };
                    let from = s + colon + 2;
                    if from <= end {
                        let mut value = b"\"x".to_vec();
                        value.extend_from_slice(PAYLOADS[p]);
                        value.push(b'"');
                        bytes.splice(from..end, value);
                    }
                }
            }
        }
        Mutation::AppendToValue(i, p, at) => {
            // Insert the payload inside the line's scalar value, written as a YAML
            // double-quoted string (escapes for quotes, backslashes and control bytes).
            let lines = line_bounds(&bytes);
            if let Some(&(s, e)) = lines.get(i % lines.len().max(1)) {
                let line = bytes[s..e].to_vec();
                if let Some(colon) = line.windows(2).position(|w| w == b": ") {
                    let end = if bytes[e - 1] == b'\n' { e - 1 } else { e };
                    let from = s + colon + 2;
                    let old: Vec<u8> = bytes[from..end]
                        .iter()
                        .copied()
                        .filter(|b| *b != b'"')
                        .collect();
                    if !old.starts_with(b"{") && !old.starts_with(b"[") && !old.is_empty() {
                        let cut = at % (old.len() + 1);
                        let mut raw = old[..cut].to_vec();
                        raw.extend_from_slice(PAYLOADS[p]);
                        raw.extend_from_slice(&old[cut..]);
                        let mut value = b"\"".to_vec();
                        for b in raw {
                            match b {
                                b'"' => value.extend_from_slice(b"\\\""),
                                b'\\' => value.extend_from_slice(b"\\\\"),
                                b if b < 0x20 || b == 0x7f => {
                                    value.extend_from_slice(format!("\\x{b:02x}").as_bytes())
                                }
                                b => value.push(b),
                            }
                        }
                        value.push(b'"');
                        bytes.splice(from..end, value);
                    }
                }
            }
        }
        Mutation::DeleteLine(i) => {
            let lines = line_bounds(&bytes);
            if let Some(&(s, e)) = lines.get(i % lines.len().max(1)) {
                bytes.drain(s..e);
            }
        }
        Mutation::DuplicateLine(i) => {
            let lines = line_bounds(&bytes);
            if let Some(&(s, e)) = lines.get(i % lines.len().max(1)) {
                let copy = bytes[s..e].to_vec();
                bytes.splice(e..e, copy);
            }
        }
    }
    bytes
}

/// Key path shape of an ini/TOML/systemd file: `[section]` and `key` per non-comment line.
fn ini_shape(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| {
            if l.starts_with('[') {
                l.to_string()
            } else {
                l.split('=').next().unwrap_or("").trim().to_string()
            }
        })
        .collect()
}

const SYSTEMD_KEYS: &[&str] = &[
    "[Unit]",
    "[Service]",
    "[Timer]",
    "[Install]",
    "Description",
    "Wants",
    "After",
    "Type",
    "User",
    "WorkingDirectory",
    "EnvironmentFile",
    "UnsetEnvironment",
    "Environment",
    "ExecStart",
    "Restart",
    "RestartSec",
    "NoNewPrivileges",
    "WantedBy",
    "OnCalendar",
    "Persistent",
    "Unit",
];

/// `$NAME` / `${NAME…}` references left after removing `$$` (a literal `$`).
fn dollar_refs(text: &str) -> Vec<String> {
    let stripped = text.replace("$$", "");
    let mut out = Vec::new();
    let mut rest = stripped.as_str();
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
    }
    out
}

/// A line of compose / provisioning YAML may reference a variable only as a whole value
/// (`token: $INFLUXDB_ADMIN_TOKEN`, compose `KEY: ${NAME:?…}`), the dashboards path prefix
/// `$PROMO_INFRA_PROJECT_DIR/`, or `$values` in a rule summary (not interpolated); anything
/// else the manifest put there would be expanded by compose or Grafana.
fn line_refs_are_the_stacks_own(line: &str, allowed: &BTreeSet<String>) -> bool {
    let stripped = line.replace("$$", "");
    if !stripped.contains('$') {
        return true;
    }
    let refs = dollar_refs(&stripped);
    let value = stripped
        .split_once(": ")
        .map_or(stripped.as_str(), |(_, v)| v);
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    // Rule summaries (possibly folded over several lines) carry `{{ humanize $values.B.Value }}`.
    if stripped.contains("humanize $values.B.Value") {
        return refs.iter().all(|r| r == "values");
    }
    match refs.as_slice() {
        [r] if allowed.contains(r) => {
            value == format!("${r}")
                || value.starts_with(&format!("${{{r}:?"))
                || (r == "PROMO_INFRA_PROJECT_DIR"
                    && value.starts_with("$PROMO_INFRA_PROJECT_DIR/"))
        }
        _ => false,
    }
}

/// Check the invariants of every generated file of a valid manifest.
fn check_shapes(loaded: &manifest::Loaded) -> Result<(), TestCaseError> {
    let (t, _) = templates();
    let desired = match compile::compile(loaded, t, &SecretValues::default()) {
        Ok(d) => d,
        // A template error is a clear error too (never a panic); the templates are fixed here.
        Err(e) => return Err(TestCaseError::fail(format!("compile failed: {e}"))),
    };
    let mut allowed: BTreeSet<String> = promo_infra::secrets::catalog(&loaded.manifest)
        .iter()
        .map(|s| s.name.clone())
        .collect();
    allowed.insert("PROMO_INFRA_PROJECT_DIR".into());
    // Grafana's InfluxDB 2 token, which apply mints into `.env`.
    if *loaded.manifest.influxdb.version == 2 {
        allowed.insert(promo_infra::secrets::INFLUX_GRAFANA_TOKEN.into());
    }
    if let Some(slack) = loaded
        .manifest
        .alerting
        .as_ref()
        .and_then(|a| a.slack.as_ref())
    {
        allowed.insert(slack.webhook_url_env.to_string());
    }
    let files: BTreeMap<&str, String> = desired
        .files
        .iter()
        .map(|(p, f)| (p.as_str(), String::from_utf8_lossy(f.bytes()).into_owned()))
        .collect();
    for (path, text) in &files {
        if path.starts_with("cron/") {
            let jobs: Vec<&str> = text
                .lines()
                .filter(|l| {
                    !l.trim().is_empty()
                        && !l.starts_with('#')
                        && !["SHELL=", "PATH=", "CRON_TZ="]
                            .iter()
                            .any(|v| l.starts_with(v))
                })
                .collect();
            prop_assert_eq!(jobs.len(), 1, "{}: one job line\n{}", path, text);
            prop_assert_eq!(
                text.lines().count(),
                7,
                "{}: fixed line count\n{}",
                path,
                text
            );
            let unescaped = jobs[0].replace("\\%", "");
            prop_assert!(!unescaped.contains('%'), "{}: bare % in {}", path, jobs[0]);
        } else if path.starts_with("systemd/") {
            for key in ini_shape(text) {
                prop_assert!(
                    SYSTEMD_KEYS.contains(&key.as_str()),
                    "{}: unexpected `{}`\n{}",
                    path,
                    key,
                    text
                );
            }
            // The names a unit unsets are variable names only (never a manifest value).
            for line in text
                .lines()
                .filter_map(|l| l.strip_prefix("UnsetEnvironment="))
            {
                prop_assert!(
                    line.split(' ').all(|n| !n.is_empty()
                        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')),
                    "{}: UnsetEnvironment holds more than variable names: {}",
                    path,
                    line
                );
            }
            prop_assert_eq!(
                text.lines().filter(|l| l.starts_with("ExecStart=")).count(),
                usize::from(path.ends_with(".service")),
                "{}",
                path
            );
        } else if *path == "native/influxdb.conf" {
            prop_assert_eq!(
                ini_shape(text),
                vec![
                    "reporting-disabled",
                    "bind-address",
                    "[meta]",
                    "dir",
                    "[data]",
                    "dir",
                    "wal-dir",
                    "query-log-enabled",
                    "[http]",
                    "bind-address",
                    "auth-enabled",
                    "log-enabled",
                    "[monitor]",
                    "store-enabled"
                ],
                "{}",
                text
            );
        } else if *path == "native/grafana.ini" {
            let shape = ini_shape(text);
            let expected = [
                "[paths]",
                "data",
                "logs",
                "plugins",
                "provisioning",
                "[server]",
                "http_addr",
                "http_port",
                "root_url",
                "[security]",
                "admin_user",
                "admin_password",
                "secret_key",
                "disable_gravatar",
                "[auth.anonymous]",
                "enabled",
                "[users]",
                "allow_sign_up",
                "[analytics]",
                "reporting_enabled",
                "check_for_updates",
            ];
            prop_assert_eq!(&shape[..expected.len().min(shape.len())], &expected[..]);
            prop_assert!(
                shape.len() == expected.len()
                    || shape[expected.len()..] == ["[dashboards]", "default_home_dashboard_path"],
                "{}",
                text
            );
            for l in text.lines().filter(|l| !l.starts_with(';')) {
                let refs = dollar_refs(&l.replace("$__env{", "${"));
                for r in refs {
                    prop_assert!(allowed.contains(&r), "grafana.ini: ${} in {}", r, l);
                }
            }
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            let doc: Result<serde_json::Value, _> = serde_saphyr::from_str(text);
            prop_assert!(doc.is_ok(), "{} is not YAML: {:?}", path, doc.err());
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                prop_assert!(
                    line_refs_are_the_stacks_own(line, &allowed),
                    "{}: a `$` reference would be interpolated in `{}`",
                    path,
                    line
                );
            }
        }
    }
    Ok(())
}

fn config() -> Config {
    Config {
        // PROPTEST_CASES overrides this (`just fuzz`).
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_manifests_are_valid_or_errors_with_a_position(
        seed in 0usize..3,
        mutations in proptest::collection::vec(value_mutation(), 1..4),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[seed % seeds.len()].clone().into_bytes();
        for m in &mutations {
            bytes = apply(bytes, m);
        }
        let (_, names) = templates();
        match manifest::from_bytes("stacks/shop.yaml", bytes, names) {
            Ok(loaded) => check_shapes(&loaded)?,
            Err(Error::Manifest(errs)) => {
                prop_assert!(!errs.errors.is_empty());
                for e in &errs.errors {
                    prop_assert!(
                        e.line_col.is_some_and(|(l, c)| l >= 1 && c >= 1),
                        "error without a position: {}", e.message
                    );
                    prop_assert!(!e.message.is_empty());
                }
            }
            Err(other) => prop_assert!(false, "not a manifest error: {other}"),
        }
    }
}
