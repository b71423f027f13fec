//! The optional sections of the manifest: alerting, backups, k6, and per-target settings.
//!
//! Owns: their types, serde shape and schema attributes (see the parent module).
//! May not: validate across fields, read files or the environment, print.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults::*;
use crate::manifest::Sp;
use crate::manifest::span::unquoted;

/// A variable holding a secret the user provides: not one the stack itself uses or reserves
/// (the same lists as `validate`).
const SECRET_ENV: &str = r"^(?!(?i:GF_|INFLUXDB_|INFLUXD_|DOCKER_|K6_|PROMO_INFRA_|LD_|(?:GRAFANA_ADMIN_PASSWORD|GRAFANA_SECRET_KEY|CONTROL_API_TOKEN|CONTROL_API_STOP_PASSWORD|PATH|HOME|USER|LOGNAME|SHELL|PWD|TMPDIR|TZ|LANG|IFS|HOSTNAME|NO_COLOR)$))[A-Za-z_][A-Za-z0-9_]{0,127}$";
/// An https URL made of characters no generated file needs to quote; plain http only to this
/// machine's loopback (a local proxy, or the doubles the tests run).
const HTTPS_URL: &str = r"^(?:https://[A-Za-z0-9._~:/\[\]-]+|http://(?:127\.0\.0\.1|localhost|\[::1\])(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:/[A-Za-z0-9._~:/-]*)?)$";
/// A plain absolute path on the host that runs the stack.
const HOST_PATH: &str = r"^/[A-Za-z0-9/._+@,=~ %-]*$";
/// A plain path inside the project.
const PROJECT_PATH: &str = r"^[A-Za-z0-9._+@,=~][A-Za-z0-9/._+@,=~-]*$";
/// A plain path, absolute or inside the project.
const ANY_PATH: &str = r"^[A-Za-z0-9/._+@,=~ %-]+$";
/// Five cron fields (the values' ranges are checked by `validate`).
const CRON: &str = r"^ *[A-Za-z0-9*,/-]+(?: +[A-Za-z0-9*,/-]+){4} *$";
/// `host:port` (a name, an IPv4 address or a bracketed IPv6 address; port 1-65535).
const HOST_PORT: &str = r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$";

/// Alerting: where alerts go and when they fire.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alerting {
    /// Slack incoming-webhook contact point.
    #[serde(default)]
    pub slack: Option<Slack>,
    /// Rule thresholds.
    #[serde(default)]
    pub rules: AlertRules,
}

/// Slack contact point; the webhook URL is a secret read from the environment or `.env`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    /// Name of the environment variable holding the webhook URL. Not one the stack itself
    /// uses: `GF_*`, `INFLUXDB_*`, `DOCKER_*`, `K6_*`, `PROMO_INFRA_*`, `LD_*`, the generated
    /// secrets, `PATH`, `HOME`... are refused.
    #[schemars(pattern(SECRET_ENV))]
    pub webhook_url_env: Sp<String>,
    /// Channel shown in messages (`#load-testing-alerts`): one line, at most 80 characters,
    /// no `{` or `}` (Grafana renders the channel as a template); a `$` is written `$$` in
    /// Grafana provisioning so it stays literal.
    #[serde(default)]
    #[schemars(pattern(super::CHANNEL), length(max = 80))]
    pub channel: Option<Sp<String>>,
}

/// Alert rule thresholds.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRules {
    /// Critical alert when the error rate (%) goes above this.
    #[serde(deserialize_with = "unquoted")]
    #[schemars(range(max = 100), extend("exclusiveMinimum" = 0))]
    pub error_rate_critical_pct: Sp<f64>,
    /// Warning when the p95 response time (ms) goes above this.
    #[serde(deserialize_with = "unquoted")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub p95_warning_ms: Sp<f64>,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            error_rate_critical_pct: default_err_crit(),
            p95_warning_ms: default_p95_alert(),
        }
    }
}

/// Scheduled backups.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// An absent `keep` keeps nothing, which `validate` refuses: the schema requires it.
#[schemars(extend("required" = ["schedule", "keep"]))]
pub struct Backup {
    /// Five-field cron schedule, evaluated in UTC (`0 3 * * *`): one line of digits, names,
    /// `*`, `,`, `/`, `-` and spaces.
    #[schemars(pattern(CRON))]
    pub schedule: Sp<String>,
    /// Directory backups are written to: relative to the project directory (`backups`) or
    /// absolute (`/mnt/backups`, a separate disk). Plain: letters, digits, spaces, `%`,
    /// `._+@,=~-`; no `..`.
    #[serde(default = "default_backup_dir")]
    #[schemars(pattern(ANY_PATH))]
    pub dir: Sp<String>,
    /// Rotation policy (restic `forget` semantics).
    #[serde(default)]
    pub keep: Keep,
    /// Absolute path of the project on the host that runs the cron job / systemd timer
    /// (letters, digits, spaces, `%`, `._+@,=~-`; quoted in the cron line and the unit).
    #[serde(default = "default_project_dir")]
    #[schemars(pattern(HOST_PATH))]
    pub project_dir: Sp<String>,
    /// User the cron job runs as.
    #[serde(default = "default_backup_user")]
    #[schemars(pattern(r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub user: Sp<String>,
    /// Absolute path of the promo-infra binary on that host (same characters as `project_dir`).
    #[serde(default = "default_binary")]
    #[schemars(pattern(HOST_PATH))]
    pub binary: Sp<String>,
    /// InfluxDB 1.x only: the RPC address (`host:port`, the server's `bind-address`) that
    /// `influxd backup -portable` and `influxd restore -portable` connect to. Not published by
    /// the docker target unless you map it; ignored with version 2.
    #[serde(default = "default_influx_rpc")]
    #[schemars(pattern(HOST_PORT))]
    pub influx_rpc: Sp<String>,
}

/// Rotation policy: how many backups to keep per bucket (each rule at most 10000).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    { "properties": { "last": { "minimum": 1 } }, "required": ["last"] },
    { "properties": { "daily": { "minimum": 1 } }, "required": ["daily"] },
    { "properties": { "weekly": { "minimum": 1 } }, "required": ["weekly"] },
    { "properties": { "monthly": { "minimum": 1 } }, "required": ["monthly"] }
]))]
pub struct Keep {
    /// The n newest backups.
    #[serde(deserialize_with = "unquoted", default)]
    #[schemars(range(max = 10_000))]
    pub last: Sp<u32>,
    /// The newest backup of each of the last n days that have one.
    #[serde(deserialize_with = "unquoted", default)]
    #[schemars(range(max = 10_000))]
    pub daily: Sp<u32>,
    /// The newest backup of each of the last n ISO weeks that have one.
    #[serde(deserialize_with = "unquoted", default)]
    #[schemars(range(max = 10_000))]
    pub weekly: Sp<u32>,
    /// The newest backup of each of the last n months that have one.
    #[serde(deserialize_with = "unquoted", default)]
    #[schemars(range(max = 10_000))]
    pub monthly: Sp<u32>,
}

/// The k6 binary built with xk6.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K6 {
    /// k6 version (`v0.47.0`).
    #[schemars(pattern(r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub version: Sp<String>,
    /// xk6 extensions, `module@version`.
    #[serde(default)]
    #[schemars(inner(
        pattern(r"^[A-Za-z0-9_~][A-Za-z0-9._~/-]*@[A-Za-z0-9_+][A-Za-z0-9._+-]*$"),
        length(max = 300)
    ))]
    pub extensions: Vec<Sp<String>>,
    /// Where the built binary goes, relative to the project directory.
    #[serde(default = "default_k6_output")]
    #[schemars(pattern(PROJECT_PATH))]
    pub output: Sp<String>,
    /// Where `k6 run` writes each run's report (`<report_dir>/<testid>/report.html` and
    /// `report.png`), relative to the project directory; the completion Slack message names it.
    /// Unset: no report at the end of a run (`promo-infra runs report` makes one any time).
    #[serde(default)]
    #[schemars(pattern(PROJECT_PATH))]
    pub report_dir: Option<Sp<String>>,
    /// Where `report_dir` is served over http(s) (a web server or a bucket's site you run), so
    /// the completion Slack message links `<report_url>/<testid>/report.html` instead of naming
    /// a path on this machine. Needs `report_dir`.
    #[serde(default)]
    #[schemars(pattern(super::HTTP_URL), length(max = 2000))]
    pub report_url: Option<Sp<String>>,
}

/// Per-target settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Docker Engine target.
    #[serde(default)]
    pub docker: DockerTarget,
    /// Native processes / systemd target.
    #[serde(default)]
    pub native: NativeTarget,
    /// Grafana Cloud + InfluxDB Cloud target.
    #[serde(default)]
    pub cloud: Option<CloudTarget>,
}

/// Docker target settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DockerTarget {
    /// Network name inside the compose project (created as `<stack>_<network>`).
    #[schemars(pattern(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"))]
    pub network: Sp<String>,
}

impl Default for DockerTarget {
    fn default() -> Self {
        Self {
            network: default_network(),
        }
    }
}

/// Native target settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NativeTarget {
    /// Data, pid and log directory, relative to the project directory (letters, digits,
    /// `._+@,=~-`, no `..`, no spaces: it is written into influxdb.conf and grafana.ini).
    #[schemars(pattern(PROJECT_PATH))]
    pub data_dir: Sp<String>,
    /// Grafana's home path (`grafana server --homepath`): a plain absolute path.
    #[schemars(pattern(HOST_PATH))]
    pub grafana_homepath: Sp<String>,
    /// Absolute path of the project on production hosts, for the generated systemd units.
    #[schemars(pattern(HOST_PATH))]
    pub project_dir: Sp<String>,
}

impl Default for NativeTarget {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            grafana_homepath: default_grafana_home(),
            project_dir: default_project_dir(),
        }
    }
}

/// Cloud target settings; tokens are read from the named environment variables.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudTarget {
    /// Grafana Cloud stack URL (`https://<stack>.grafana.net`).
    #[schemars(pattern(HTTPS_URL), length(max = 2000))]
    pub grafana_url: Sp<String>,
    /// Environment variable holding a Grafana service-account token.
    #[schemars(pattern(SECRET_ENV))]
    pub grafana_token_env: Sp<String>,
    /// InfluxDB Cloud URL.
    #[schemars(pattern(HTTPS_URL), length(max = 2000))]
    pub influx_url: Sp<String>,
    /// Environment variable holding an InfluxDB Cloud token allowed to manage buckets, DBRP
    /// mappings and authorizations (it mints k6's write-only and Grafana's read-only tokens).
    #[schemars(pattern(SECRET_ENV))]
    pub influx_token_env: Sp<String>,
    /// InfluxDB Cloud organisation (default: `influxdb.org`).
    #[serde(default)]
    #[schemars(pattern(super::NAME))]
    pub influx_org: Option<Sp<String>>,
    /// Leave the alert rules, contact point, template and policy editable in Grafana's UI
    /// (sent as `X-Disable-Provenance`). Default `false`: they are locked there, so the
    /// manifest stays their only source.
    #[serde(default)]
    pub alerting_editable: bool,
    /// For an InfluxDB that Grafana Cloud cannot reach directly (a private network): the id of
    /// the Private Data Source Connect network whose agent runs there. The datasource then goes
    /// through it (`enableSecureSocksProxy`).
    #[serde(default)]
    #[schemars(pattern(super::NAME))]
    pub pdc_network_id: Option<Sp<String>>,
}
