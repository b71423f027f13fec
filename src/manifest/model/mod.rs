//! The stack manifest (`stacks/*.yaml`): typed, documented, and the source of the JSON Schema.
//!
//! Owns: the manifest's types, their serde shape (names, defaults, unknown keys refused) and the
//! schemars attributes that put `validate`'s patterns, enums and ranges into the JSON Schema.
//! Every key is documented here; the doc comments become the schema's descriptions, which is
//! what editors show while people type. The stack-wide sections are here, the optional ones in
//! `sections`, the default values in `defaults`.
//! May not: validate across fields (that is `validate`), read files or the environment, print.

mod defaults;
mod sections;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::span::{Sp, unquoted};
use defaults::*;
pub use sections::*;

/// Container image reference, pinned: `[registry[:port]/]name:tag` (never `:latest`) and/or
/// `@sha256:<digest>`.
const IMAGE: &str = r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(?:@sha256:[a-f0-9]{64})?|@sha256:[a-f0-9]{64})$";
/// Org, bucket and user names.
pub(super) const NAME: &str = r"^[A-Za-z0-9_.@][A-Za-z0-9_.@-]{0,99}$";
/// A bucket (database) name: a name not starting with `.` (`validate` refuses more, by
/// InfluxDB version).
const BUCKET: &str = r"^[A-Za-z0-9_@][A-Za-z0-9_.@-]{0,99}$";
/// A Slack channel: [`ONE_LINE`] without `{` or `}` (Grafana renders it as a template).
const CHANNEL: &str = r"^[^\u0000-\u001f\u007f-\u009f{}]*[^\s\u0000-\u001f\u007f-\u009f{}][^\u0000-\u001f\u007f-\u009f{}]*$";
/// One line of text with at least one visible character and no control character.
const ONE_LINE: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";
/// An http(s) URL made of characters no generated file needs to quote.
pub(super) const HTTP_URL: &str = r"^https?://[A-Za-z0-9._~:/\[\]-]+$";
/// A retention: `30d`, `1h30m`, `infinite` (the bounds, 1h to 2562047h, are checked by `validate`).
const RETENTION: &str = r"^\s*(?:[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Ee])?|(?:[0-9]+[mhdw])+)\s*$";
/// An IPv4 address, or (loosely) an IPv6 one.
const IP: &str = r"^(?:(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$";

/// One monitoring stack: InfluxDB for k6 metrics, Grafana with dashboards and alerting, the
/// emergency-stop control API, backups and the k6 build.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "if" = { "properties": { "environment": { "const": "prod" } }, "required": ["environment"] },
    "then" = { "properties": { "grafana": {
        "properties": { "admin_user": { "not": { "const": "admin" } } },
        "required": ["admin_user"]
    } } }
))]
pub struct Manifest {
    /// Stack name, `[a-z0-9-]`: the compose project, the container prefix and the prefix of
    /// every Grafana uid promo-infra owns.
    #[schemars(pattern(r"^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$"))]
    pub stack: Sp<String>,
    /// `prod` or `preprod`. `prod` refuses default admin credentials.
    pub environment: Sp<Environment>,
    /// Default language of dashboards, alert messages and the STOP page: `fr` or `en`.
    #[serde(default = "default_locale")]
    #[schemars(extend("enum" = ["fr", "en"]))]
    pub locale: Sp<String>,
    /// The time-series database k6 writes to.
    pub influxdb: InfluxDb,
    /// Grafana: dashboards, alerting, the marketing view.
    pub grafana: Grafana,
    /// The emergency-stop control API (promo-infra's own binary).
    #[serde(default)]
    pub control_api: ControlApi,
    /// Dashboards rendered from `dashboards-src/<template>.json.hbs`.
    #[serde(default)]
    pub dashboards: Vec<Dashboard>,
    /// Slack alerts and the alert rules.
    #[serde(default)]
    pub alerting: Option<Alerting>,
    /// Scheduled backups of InfluxDB and their rotation.
    #[serde(default)]
    pub backup: Option<Backup>,
    /// The custom k6 binary built with xk6.
    #[serde(default)]
    pub k6: Option<K6>,
    /// Settings of each place the stack can run.
    #[serde(default)]
    pub targets: Targets,
}

/// Deployment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production: default credentials are refused.
    Prod,
    /// Pre-production.
    Preprod,
}

impl Environment {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prod => "prod",
            Self::Preprod => "preprod",
        }
    }
}

/// InfluxDB settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InfluxDb {
    /// Major version: `2` (buckets, tokens, Flux) or `1` (databases, retention policies, InfluxQL).
    #[schemars(extend("enum" = [1, 2]))]
    #[serde(deserialize_with = "unquoted")]
    pub version: Sp<u8>,
    /// Container image, pinned (`influxdb:2.7`, `influxdb:1.8`).
    #[schemars(pattern(IMAGE), length(max = 255))]
    pub image: Sp<String>,
    /// Host port (1-65535).
    #[schemars(range(min = 1, max = 65535))]
    #[serde(deserialize_with = "unquoted", default = "default_influx_port")]
    pub port: Sp<u32>,
    /// Host address the port is published on: an IPv4 or IPv6 address.
    #[schemars(pattern(IP))]
    #[serde(default = "default_bind")]
    pub bind: Sp<String>,
    /// Organisation (version 2 only).
    #[serde(default = "default_org")]
    #[schemars(pattern(NAME))]
    pub org: Sp<String>,
    /// Bucket (version 2) or database (version 1) k6 writes to.
    #[serde(default = "default_bucket")]
    #[schemars(pattern(BUCKET))]
    pub bucket: Sp<String>,
    /// How long metrics are kept: `30d`, `12h`, `4w`, `1h30m` or `infinite`. At least 1h, at
    /// most 2562047h (InfluxDB's 64-bit nanosecond limit).
    #[serde(default = "default_retention")]
    #[schemars(pattern(RETENTION))]
    pub retention: Sp<String>,
    /// Admin user created at initialisation (its password is generated into `.env`).
    #[serde(default = "default_influx_admin")]
    #[schemars(pattern(NAME))]
    pub admin_user: Sp<String>,
}

/// Grafana settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grafana {
    /// Container image, pinned (`grafana/grafana:10.2.3`).
    #[schemars(pattern(IMAGE), length(max = 255))]
    pub image: Sp<String>,
    /// Host port (1-65535).
    #[schemars(range(min = 1, max = 65535))]
    #[serde(deserialize_with = "unquoted", default = "default_grafana_port")]
    pub port: Sp<u32>,
    /// Host address the port is published on: an IPv4 or IPv6 address.
    #[schemars(pattern(IP))]
    #[serde(default = "default_bind")]
    pub bind: Sp<String>,
    /// Admin login (its password is generated into `.env`). `admin` is refused in prod.
    #[serde(default = "default_admin_user")]
    #[schemars(pattern(NAME))]
    pub admin_user: Sp<String>,
    /// Plugins installed at start (`GF_INSTALL_PLUGINS`).
    #[serde(default)]
    #[schemars(inner(pattern(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")))]
    pub plugins: Vec<Sp<String>>,
    /// uid of the dashboard shown on Grafana's home page; one of `dashboards[].uid`.
    #[serde(default)]
    pub home_dashboard: Option<Sp<String>>,
    /// Public URL people open (used in links, CORS and Slack messages). Defaults to
    /// `http://<bind>:<port>`.
    #[serde(default)]
    #[schemars(pattern(HTTP_URL), length(max = 2000))]
    pub url: Option<Sp<String>>,
}

/// The emergency-stop control API.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ControlApi {
    /// Deploy the control API with the stack.
    #[serde(deserialize_with = "unquoted")]
    pub enabled: Sp<bool>,
    /// Container image holding the promo-infra binary.
    #[schemars(pattern(IMAGE), length(max = 255))]
    pub image: Sp<String>,
    /// Host port (1-65535).
    #[schemars(range(min = 1, max = 65535))]
    #[serde(deserialize_with = "unquoted")]
    pub port: Sp<u32>,
    /// Host address the port is published on: an IPv4 or IPv6 address.
    #[schemars(pattern(IP))]
    pub bind: Sp<String>,
}

impl Default for ControlApi {
    fn default() -> Self {
        Self {
            enabled: default_true(),
            image: default_control_image(),
            port: default_control_port(),
            bind: default_bind(),
        }
    }
}

/// One dashboard rendered from a template in `dashboards-src/`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Grafana uid: `[A-Za-z0-9_-]`, at most 40 characters, unique in the stack.
    #[schemars(pattern(r"^[A-Za-z0-9_-]{1,40}$"))]
    pub uid: Sp<String>,
    /// Template name: `dashboards-src/<template>.json.hbs` (built in: `marketing`, `k6-technical`).
    pub template: Sp<String>,
    /// Title shown in Grafana; defaults to the template's own title.
    #[serde(default)]
    #[schemars(pattern(ONE_LINE), length(max = 200))]
    pub title: Option<Sp<String>>,
    /// Language: `fr` or `en`; defaults to the stack's `locale`.
    #[serde(default)]
    #[schemars(extend("enum" = ["fr", "en", null]))]
    pub locale: Option<Sp<String>>,
    /// Traffic-light grades: green below the `ok` values, orange up to the `warn` values.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// The measured capacity (VUs at which the site breaks), drawn as a dashed line on the
    /// marketing dashboard's users panel. Written by `promo-infra runs capacity TESTID --apply`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub capacity_vus: Option<Sp<u32>>,
}

/// Health-grade thresholds of a dashboard.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// p95 response time (ms) under which the site is green.
    #[serde(deserialize_with = "unquoted")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub p95_ok_ms: Sp<f64>,
    /// p95 response time (ms) up to which the site is orange; red beyond.
    #[serde(deserialize_with = "unquoted")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub p95_warn_ms: Sp<f64>,
    /// Error rate (%) under which the site is green.
    #[serde(deserialize_with = "unquoted")]
    #[schemars(range(max = 100), extend("exclusiveMinimum" = 0))]
    pub error_ok_pct: Sp<f64>,
    /// Error rate (%) up to which the site is orange; red beyond.
    #[serde(deserialize_with = "unquoted")]
    #[schemars(range(max = 100), extend("exclusiveMinimum" = 0))]
    pub error_warn_pct: Sp<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            p95_ok_ms: default_p95_ok(),
            p95_warn_ms: default_p95_warn(),
            error_ok_pct: default_err_ok(),
            error_warn_pct: default_err_warn(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// A section given in part takes each key it leaves out from its `Default` (the one place
    /// those defaults are written), and a section left out is its `Default` whole.
    #[test]
    fn keys_left_out_of_a_section_take_its_defaults() {
        let text = "stack: shop\nenvironment: preprod\ninfluxdb: { version: 2, image: influxdb:2.7 }\ngrafana: { image: grafana/grafana:10.2.3 }\ncontrol_api: { port: 5001 }\ndashboards:\n  - { uid: d, template: marketing, thresholds: { p95_ok_ms: 900 } }\nalerting: { rules: { p95_warning_ms: 2500 } }\ntargets: { native: { data_dir: state } }\n";
        let m = crate::manifest::parse("m.yaml", text).expect("parses");
        let c = &m.control_api;
        assert_eq!(
            (*c.enabled, *c.port, c.bind.as_str()),
            (true, 5001, "127.0.0.1")
        );
        assert_eq!(*c.image, concat!("promo-infra:", env!("CARGO_PKG_VERSION")));
        let t = &m.dashboards[0].thresholds;
        let grades = [
            *t.p95_ok_ms,
            *t.p95_warn_ms,
            *t.error_ok_pct,
            *t.error_warn_pct,
        ];
        assert_eq!(grades, [900.0, 2000.0, 0.1, 1.0]);
        let rules = &m.alerting.as_ref().expect("alerting").rules;
        assert_eq!(
            (*rules.error_rate_critical_pct, *rules.p95_warning_ms),
            (5.0, 2500.0)
        );
        let native = &m.targets.native;
        let paths = [
            &native.data_dir,
            &native.grafana_homepath,
            &native.project_dir,
        ];
        assert_eq!(
            paths.map(|p| p.as_str()),
            ["state", "/usr/share/grafana", "/opt/promo-infra"]
        );
        assert_eq!(*m.targets.docker.network, "monitoring-net");
    }
}
