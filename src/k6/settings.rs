//! What a k6 run needs to write into the stack's InfluxDB: `K6_INFLUXDB_*` variables (secrets
//! included, passed through the environment only) and the `--out` / `--tag` flags; the labels
//! of a run (test id, promo, type, intensity) from what the user gave.
//!
//! Owns: the variable names and flag shapes of the xk6-influxdb (v2) and built-in (v1) outputs.
//! May not: print a secret, run a process, read the environment.

use serde::Serialize;

use super::testid;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::secrets::{self, SecretValues};

/// One environment variable for k6.
#[derive(Debug, Clone, Serialize)]
pub struct Var {
    /// Name.
    pub name: String,
    /// Value; for a sensitive variable this is never printed nor serialized.
    #[serde(skip)]
    pub value: String,
    /// Whether the value is a secret (printed as `(sensitive)`).
    pub sensitive: bool,
}

impl Var {
    fn plain(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }
    fn secret(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            sensitive: true,
        }
    }
    /// `NAME=value`, or `NAME=(sensitive)`.
    pub fn display(&self) -> String {
        if self.sensitive {
            format!("{}=(sensitive)", self.name)
        } else {
            format!("{}={}", self.name, self.value)
        }
    }
}

/// Labels of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunLabels {
    /// Test id.
    pub testid: String,
    /// Promotion name.
    pub promo: String,
    /// Promotion type (flash-sale, black-friday, baseline, ...).
    pub promo_type: String,
    /// Load intensity, passed to the script as `INTENSITY` (not a tag).
    pub intensity: Option<String>,
}

/// Variables and flags of a run.
#[derive(Debug, Clone, Serialize)]
pub struct K6Settings {
    /// InfluxDB major version of the stack.
    pub influxdb_version: u8,
    /// Environment variables, sorted by name.
    pub vars: Vec<Var>,
    /// `--out ...` arguments (never holding a secret).
    pub out: Vec<String>,
    /// `--tag name=value` pairs, in a fixed order.
    pub tags: Vec<(String, String)>,
    /// The InfluxDB k6 writes to (its base URL: `k6 run` checks it answers before k6 starts).
    #[serde(skip)]
    pub influx_url: String,
}

impl K6Settings {
    /// `--out X --tag a=b ...` as argv words.
    pub fn flags(&self) -> Vec<String> {
        let mut args = Vec::new();
        for o in &self.out {
            args.push("--out".to_string());
            args.push(o.clone());
        }
        for (k, v) in &self.tags {
            args.push("--tag".to_string());
            args.push(format!("{k}={v}"));
        }
        args
    }
    /// Every secret value these settings carry (to scan output for leaks).
    pub fn secret_values(&self) -> Vec<&str> {
        self.vars
            .iter()
            .filter(|v| v.sensitive)
            .map(|v| v.value.as_str())
            .collect()
    }
}

/// Where InfluxDB is reachable from this host: the one definition, shared with the native
/// target's Grafana datasource and with backups.
pub use crate::compile::native::influx_url;

/// The labels a user asked for (`--testid`, `--promo`, `--promo-type`, `--intensity`); each
/// may be left out.
#[derive(Debug, Clone, Default)]
pub struct LabelRequest {
    /// Test id (default: a new one, `<promo>_<yyyymmdd_hhmmss>_<8 hex>`).
    pub testid: Option<String>,
    /// Promotion name (default: the stack name).
    pub promo: Option<String>,
    /// Promotion type (default: `standard`).
    pub promo_type: Option<String>,
    /// Load intensity (the `INTENSITY` variable).
    pub intensity: Option<String>,
    /// Where the stack the run writes to runs (`cloud`: InfluxDB Cloud with k6's write-only
    /// token, annotations and links on Grafana Cloud).
    pub target: crate::targets::TargetKind,
}

/// `m` as seen from a run on `target`: on the cloud target, Grafana is the Grafana Cloud stack
/// (links, annotations). Refused when the manifest has no `targets.cloud`.
pub fn for_target(m: &Manifest, target: crate::targets::TargetKind) -> Result<Manifest> {
    let mut m = m.clone();
    if target == crate::targets::TargetKind::Cloud {
        let cloud = crate::compile::cloud::endpoints(&m).ok_or_else(|| {
            Error::usage(
                format!("stack `{}` has no `targets.cloud` section", *m.stack),
                "add it to the manifest (see README, \"The cloud target\"), or drop --target cloud",
            )
        })?;
        m.grafana.url = Some(crate::manifest::Sp::new(cloud.grafana_url));
    }
    Ok(m)
}

impl LabelRequest {
    /// Check what was given and fill in the defaults: the stack name as promo, `standard` as
    /// type, a new test id at `now()` (only read when no test id was given). On InfluxDB 2
    /// (`influxdb_version`), a test id Grafana 10.2 would mangle in Flux is refused.
    pub fn resolve(
        &self,
        stack: &str,
        influxdb_version: u8,
        now: impl FnOnce() -> Result<jiff::Timestamp>,
    ) -> Result<RunLabels> {
        let promo = self.promo.clone().unwrap_or_else(|| stack.to_string());
        testid::check_label("--promo", &promo)?;
        let promo_type = self.promo_type.clone().unwrap_or_else(|| "standard".into());
        testid::check_label("--promo-type", &promo_type)?;
        if let Some(i) = &self.intensity {
            testid::check_label("--intensity", i)?;
        }
        let id = match &self.testid {
            Some(t) if testid::is_testid(t) => t.clone(),
            Some(t) => {
                return Err(Error::usage(
                    format!("--testid `{t}` is not a usable test id"),
                    "use letters, digits, `_`, `-` and `.`, not starting with `.` (at most 120)",
                ));
            }
            None => testid::new(&promo, now()?, secrets::os_random_hex)?,
        };
        if influxdb_version == 2 {
            let flag = if self.testid.is_some() {
                "--testid"
            } else {
                "--promo"
            };
            testid::check_flux_safe(flag, &id)?;
        }
        Ok(RunLabels {
            testid: id,
            promo,
            promo_type,
            intensity: self.intensity.clone(),
        })
    }
}

fn need<'a>(values: &'a SecretValues, name: &str, stack: &str) -> Result<&'a str> {
    values.get(name).ok_or_else(|| Error::Secrets {
        path: format!("generated/{stack}/.env").into(),
        message: format!("{name} is missing (k6 needs it to write metrics)"),
        help: Some("run `promo-infra generate` to create it".into()),
    })
}

/// Where k6 writes and with which credentials: the stack's InfluxDB, or on the cloud target
/// InfluxDB Cloud with the write-only token apply minted (as the v2 token, or as the v1 password
/// InfluxDB Cloud takes on `/write` through the bucket's DBRP mapping).
struct Sink<'a> {
    url: String,
    org: String,
    token: &'a str,
    v1_user: &'static str,
    v1_password: &'a str,
}

fn sink<'a>(
    m: &Manifest,
    values: &'a SecretValues,
    target: crate::targets::TargetKind,
) -> Result<Sink<'a>> {
    if target == crate::targets::TargetKind::Cloud {
        let cloud = crate::compile::cloud::endpoints(m).ok_or_else(|| {
            Error::usage(
                format!("stack `{}` has no `targets.cloud` section", *m.stack),
                "add it to the manifest, or drop --target cloud",
            )
        })?;
        let name = crate::compile::cloud::K6_TOKEN;
        let token = values.get(name).ok_or_else(|| Error::Secrets {
            path: format!("generated/{}/.env", *m.stack).into(),
            message: format!("{name} is missing (k6's write-only InfluxDB Cloud token)"),
            help: Some(
                "run `promo-infra apply --target cloud`: it mints the token into .env".into(),
            ),
        })?;
        return Ok(Sink {
            url: cloud.influx_url,
            org: cloud.influx_org,
            token,
            v1_user: "k6",
            v1_password: token,
        });
    }
    let v2 = *m.influxdb.version == 2;
    Ok(Sink {
        url: influx_url(m),
        org: m.influxdb.org.to_string(),
        token: if v2 {
            values.get(secrets::INFLUX_K6_TOKEN).ok_or_else(|| {
                Error::Secrets {
                path: format!("generated/{}/.env", *m.stack).into(),
                message: format!(
                    "{} is missing (k6's write-only InfluxDB token)",
                    secrets::INFLUX_K6_TOKEN
                ),
                help: Some(
                    "run `promo-infra apply`: it creates the token in InfluxDB and keeps it in .env"
                        .into(),
                ),
            }
            })?
        } else {
            ""
        },
        v1_user: crate::compile::services::INFLUX_V1_WRITE_USER,
        v1_password: if v2 {
            ""
        } else {
            need(values, secrets::INFLUX_V1_WRITE_PASSWORD, &m.stack)?
        },
    })
}

/// The variables and flags of a run of `labels` against the stack of `m` on `target`.
pub fn settings(
    m: &Manifest,
    values: &SecretValues,
    labels: &RunLabels,
    target: crate::targets::TargetKind,
) -> Result<K6Settings> {
    let sink = sink(m, values, target)?;
    let influx_url = sink.url.clone();
    let mut vars = Vec::new();
    let out = if *m.influxdb.version == 2 {
        vars.push(Var::plain("K6_INFLUXDB_ADDR", sink.url));
        vars.push(Var::plain("K6_INFLUXDB_BUCKET", m.influxdb.bucket.as_str()));
        vars.push(Var::plain("K6_INFLUXDB_ORGANIZATION", sink.org));
        vars.push(Var::secret("K6_INFLUXDB_TOKEN", sink.token));
        vec!["xk6-influxdb".to_string()]
    } else {
        vars.push(Var::plain("K6_INFLUXDB_USERNAME", sink.v1_user));
        vars.push(Var::secret("K6_INFLUXDB_PASSWORD", sink.v1_password));
        vec![format!(
            "influxdb={}/{}",
            sink.url,
            m.influxdb.bucket.as_str()
        )]
    };
    // Variables the script reads with __ENV (k6 passes the process environment to scripts).
    vars.push(Var::plain("ENVIRONMENT", m.environment.as_str()));
    if let Some(i) = &labels.intensity {
        vars.push(Var::plain("INTENSITY", i.clone()));
    }
    vars.push(Var::plain("PROMO_NAME", labels.promo.clone()));
    vars.push(Var::plain("PROMO_TYPE", labels.promo_type.clone()));
    vars.push(Var::plain("TESTID", labels.testid.clone()));
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    let tags = vec![
        ("testid".to_string(), labels.testid.clone()),
        (
            "environment".to_string(),
            m.environment.as_str().to_string(),
        ),
        ("promo_type".to_string(), labels.promo_type.clone()),
        ("promo_name".to_string(), labels.promo.clone()),
    ];
    Ok(K6Settings {
        influxdb_version: *m.influxdb.version,
        vars,
        out,
        tags,
        influx_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn influx_url_of_a_wildcard_bind_is_loopback_of_the_same_family() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/promo.yaml"))
                .expect("the default stack");
        let mut m = crate::manifest::parse("promo.yaml", &text).expect("a valid manifest");
        let port = *m.influxdb.port;
        for (bind, want) in [
            ("::", format!("http://[::1]:{port}")),
            ("0.0.0.0", format!("http://127.0.0.1:{port}")),
            ("::1", format!("http://[::1]:{port}")),
        ] {
            m.influxdb.bind = crate::manifest::Sp::new(bind.to_string());
            assert_eq!(influx_url(&m), want, "bind {bind}");
        }
    }

    #[test]
    fn labels_default_to_the_stack_and_a_new_testid_and_refuse_bad_ones() {
        let now: jiff::Timestamp = "2026-11-27T09:30:00Z".parse().unwrap();
        let l = LabelRequest::default()
            .resolve("promo", 2, || Ok(now))
            .unwrap();
        assert_eq!(
            (l.promo.as_str(), l.promo_type.as_str()),
            ("promo", "standard")
        );
        assert!(
            l.testid.starts_with("promo_20261127_093000_"),
            "{}",
            l.testid
        );
        let bad = LabelRequest {
            testid: Some("a b".into()),
            ..Default::default()
        };
        let err = bad.resolve("promo", 2, || Ok(now)).unwrap_err();
        assert_eq!(err.to_string(), "--testid `a b` is not a usable test id");
        // `.bucket` is refused on InfluxDB 2 only (Grafana 10.2's Flux macros), with its flag.
        let dotted = LabelRequest {
            testid: Some("sale.bucket_1".into()),
            ..Default::default()
        };
        assert!(dotted.resolve("promo", 1, || Ok(now)).is_ok());
        let err = dotted.resolve("promo", 2, || Ok(now)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--testid: test id `sale.bucket_1` contains `.bucket`")
        );
        let promo = LabelRequest {
            promo: Some("sale.organization".into()),
            ..Default::default()
        };
        let err = promo.resolve("promo", 2, || Ok(now)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--promo: test id `sale.organization_20261127_093000_")
        );
    }
}
