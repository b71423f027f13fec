//! The stack manifest (`stacks/*.yaml`): typed, documented, and the source of the JSON Schema.
//!
//! Every key is documented here; the doc comments become the schema's descriptions, which is
//! what editors show while people type. Unknown keys are errors.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::span::Sp;

/// One monitoring stack: InfluxDB for k6 metrics, Grafana with dashboards and alerting, the
/// emergency-stop control API, backups and the k6 build.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Stack name, `[a-z0-9-]`: the compose project, the container prefix and the prefix of
    /// every Grafana uid promo-infra owns.
    #[schemars(regex(pattern = r"^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$"))]
    pub stack: Sp<String>,
    /// `prod` or `preprod`. `prod` refuses default admin credentials.
    pub environment: Sp<Environment>,
    /// Default language of dashboards, alert messages and the STOP page: `fr` or `en`.
    #[serde(default = "default_locale")]
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
    pub version: Sp<u8>,
    /// Container image, pinned (`influxdb:2.7`, `influxdb:1.8`).
    #[schemars(regex(
        pattern = r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
    ))]
    pub image: Sp<String>,
    /// Host port (1-65535).
    #[serde(default = "default_influx_port")]
    pub port: Sp<u32>,
    /// Host address the port is published on.
    #[serde(default = "default_bind")]
    pub bind: Sp<String>,
    /// Organisation (version 2 only).
    #[serde(default = "default_org")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.@][A-Za-z0-9_.@-]{0,99}$"))]
    pub org: Sp<String>,
    /// Bucket (version 2) or database (version 1) k6 writes to.
    #[serde(default = "default_bucket")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.@][A-Za-z0-9_.@-]{0,99}$"))]
    pub bucket: Sp<String>,
    /// How long metrics are kept: `30d`, `12h`, `4w`, `1h30m` or `infinite`. At least 1h, at
    /// most 2562047h (InfluxDB's 64-bit nanosecond limit).
    #[serde(default = "default_retention")]
    #[schemars(regex(pattern = r"^(?:[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Ee])?|(?:[0-9]+[mhdw])+)$"))]
    pub retention: Sp<String>,
    /// Admin user created at initialisation (its password is generated into `.env`).
    #[serde(default = "default_influx_admin")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.@][A-Za-z0-9_.@-]{0,99}$"))]
    pub admin_user: Sp<String>,
}

/// Grafana settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grafana {
    /// Container image, pinned (`grafana/grafana:10.2.3`).
    #[schemars(regex(
        pattern = r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
    ))]
    pub image: Sp<String>,
    /// Host port (1-65535).
    #[serde(default = "default_grafana_port")]
    pub port: Sp<u32>,
    /// Host address the port is published on.
    #[serde(default = "default_bind")]
    pub bind: Sp<String>,
    /// Admin login (its password is generated into `.env`). `admin` is refused in prod.
    #[serde(default = "default_admin_user")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.@][A-Za-z0-9_.@-]{0,99}$"))]
    pub admin_user: Sp<String>,
    /// Plugins installed at start (`GF_INSTALL_PLUGINS`).
    #[serde(default)]
    #[schemars(inner(regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")))]
    pub plugins: Vec<Sp<String>>,
    /// uid of the dashboard shown on Grafana's home page; one of `dashboards[].uid`.
    #[serde(default)]
    pub home_dashboard: Option<Sp<String>>,
    /// Public URL people open (used in links, CORS and Slack messages). Defaults to
    /// `http://<bind>:<port>`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^https?://[A-Za-z0-9._~:/\[\]-]+$"))]
    pub url: Option<Sp<String>>,
}

/// The emergency-stop control API.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlApi {
    /// Deploy the control API with the stack.
    #[serde(default = "default_true")]
    pub enabled: Sp<bool>,
    /// Container image holding the promo-infra binary.
    #[serde(default = "default_control_image")]
    #[schemars(regex(
        pattern = r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
    ))]
    pub image: Sp<String>,
    /// Host port (1-65535).
    #[serde(default = "default_control_port")]
    pub port: Sp<u32>,
    /// Host address the port is published on.
    #[serde(default = "default_bind")]
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
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,40}$"))]
    pub uid: Sp<String>,
    /// Template name: `dashboards-src/<template>.json.hbs` (built in: `marketing`, `k6-technical`).
    pub template: Sp<String>,
    /// Title shown in Grafana; defaults to the template's own title.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[^\u0000-\u001f\u007f]*$"))]
    #[schemars(length(min = 1, max = 200))]
    pub title: Option<Sp<String>>,
    /// Language: `fr` or `en`; defaults to the stack's `locale`.
    #[serde(default)]
    pub locale: Option<Sp<String>>,
    /// Traffic-light grades: green below the `ok` values, orange up to the `warn` values.
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// Health-grade thresholds of a dashboard.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// p95 response time (ms) under which the site is green.
    #[serde(default = "default_p95_ok")]
    pub p95_ok_ms: Sp<f64>,
    /// p95 response time (ms) up to which the site is orange; red beyond.
    #[serde(default = "default_p95_warn")]
    pub p95_warn_ms: Sp<f64>,
    /// Error rate (%) under which the site is green.
    #[serde(default = "default_err_ok")]
    pub error_ok_pct: Sp<f64>,
    /// Error rate (%) up to which the site is orange; red beyond.
    #[serde(default = "default_err_warn")]
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
    #[schemars(regex(
        pattern = r"^(?!GF_|INFLUXDB_|INFLUXD_|DOCKER_|K6_|PROMO_INFRA_|LD_|(?:GRAFANA_ADMIN_PASSWORD|GRAFANA_SECRET_KEY|CONTROL_API_TOKEN|CONTROL_API_STOP_PASSWORD|PATH|HOME|USER|LOGNAME|SHELL|PWD|TMPDIR|TZ|LANG|IFS|HOSTNAME|NO_COLOR)$)[A-Za-z_][A-Za-z0-9_]{0,127}$"
    ))]
    pub webhook_url_env: Sp<String>,
    /// Channel shown in messages (`#load-testing-alerts`): one line, at most 80 characters; a
    /// `$` is written `$$` in Grafana provisioning so it stays literal.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[^\u0000-\u001f\u007f]*$"))]
    #[schemars(length(min = 1, max = 80))]
    pub channel: Option<Sp<String>>,
}

/// Alert rule thresholds.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRules {
    /// Critical alert when the error rate (%) goes above this.
    #[serde(default = "default_err_crit")]
    pub error_rate_critical_pct: Sp<f64>,
    /// Warning when the p95 response time (ms) goes above this.
    #[serde(default = "default_p95_alert")]
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
pub struct Backup {
    /// Five-field cron schedule, evaluated in UTC (`0 3 * * *`): one line of digits, names,
    /// `*`, `,`, `/`, `-` and spaces.
    #[schemars(regex(pattern = r"^[A-Za-z0-9*,/ -]+$"))]
    pub schedule: Sp<String>,
    /// Directory backups are written to: relative to the project directory (`backups`) or
    /// absolute (`/mnt/backups`, a separate disk). Plain: letters, digits, spaces, `%`,
    /// `._+@,=~-`; no `..`.
    #[serde(default = "default_backup_dir")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9/._+@,=~ %-]+$"))]
    pub dir: Sp<String>,
    /// Rotation policy (restic `forget` semantics).
    #[serde(default)]
    pub keep: Keep,
    /// Absolute path of the project on the host that runs the cron job / systemd timer
    /// (letters, digits, spaces, `%`, `._+@,=~-`; quoted in the cron line and the unit).
    #[serde(default = "default_project_dir")]
    #[schemars(regex(pattern = r"^/[A-Za-z0-9/._+@,=~ %-]*$"))]
    pub project_dir: Sp<String>,
    /// User the cron job runs as.
    #[serde(default = "default_backup_user")]
    #[schemars(regex(pattern = r"^[a-z_][a-z0-9_-]{0,31}$"))]
    pub user: Sp<String>,
    /// Absolute path of the promo-infra binary on that host (same characters as `project_dir`).
    #[serde(default = "default_binary")]
    #[schemars(regex(pattern = r"^/[A-Za-z0-9/._+@,=~ %-]*$"))]
    pub binary: Sp<String>,
    /// InfluxDB 1.x only: the RPC address (`host:port`, the server's `bind-address`) that
    /// `influxd backup -portable` and `influxd restore -portable` connect to. Not published by
    /// the docker target unless you map it; ignored with version 2.
    #[serde(default = "default_influx_rpc")]
    pub influx_rpc: Sp<String>,
}

/// Rotation policy: how many backups to keep per bucket (each rule at most 10000).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    /// The n newest backups.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub last: Sp<u32>,
    /// The newest backup of each of the last n days that have one.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub daily: Sp<u32>,
    /// The newest backup of each of the last n ISO weeks that have one.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub weekly: Sp<u32>,
    /// The newest backup of each of the last n months that have one.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub monthly: Sp<u32>,
}

/// The k6 binary built with xk6.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K6 {
    /// k6 version (`v0.47.0`).
    #[schemars(regex(pattern = r"^v[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub version: Sp<String>,
    /// xk6 extensions, `module@version`.
    #[serde(default)]
    #[schemars(inner(regex(
        pattern = r"^[A-Za-z0-9_~][A-Za-z0-9._~/-]*@[A-Za-z0-9_+][A-Za-z0-9._+-]*$"
    )))]
    pub extensions: Vec<Sp<String>>,
    /// Where the built binary goes, relative to the project directory.
    #[serde(default = "default_k6_output")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._+@,=~][A-Za-z0-9/._+@,=~-]*$"))]
    pub output: Sp<String>,
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
#[serde(deny_unknown_fields)]
pub struct DockerTarget {
    /// Network name inside the compose project (created as `<stack>_<network>`).
    #[serde(default = "default_network")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"))]
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
#[serde(deny_unknown_fields)]
pub struct NativeTarget {
    /// Data, pid and log directory, relative to the project directory (letters, digits,
    /// `._+@,=~-`, no `..`, no spaces: it is written into influxdb.conf and grafana.ini).
    #[serde(default = "default_data_dir")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9._+@,=~][A-Za-z0-9/._+@,=~-]*$"))]
    pub data_dir: Sp<String>,
    /// Grafana's home path (`grafana server --homepath`): a plain absolute path.
    #[serde(default = "default_grafana_home")]
    #[schemars(regex(pattern = r"^/[A-Za-z0-9/._+@,=~ %-]*$"))]
    pub grafana_homepath: Sp<String>,
    /// Absolute path of the project on production hosts, for the generated systemd units.
    #[serde(default = "default_project_dir")]
    #[schemars(regex(pattern = r"^/[A-Za-z0-9/._+@,=~ %-]*$"))]
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
    #[schemars(regex(pattern = r"^https://[A-Za-z0-9._~:/\[\]-]+$"))]
    pub grafana_url: Sp<String>,
    /// Environment variable holding a Grafana service-account token.
    #[schemars(regex(
        pattern = r"^(?!GF_|INFLUXDB_|INFLUXD_|DOCKER_|K6_|PROMO_INFRA_|LD_|(?:GRAFANA_ADMIN_PASSWORD|GRAFANA_SECRET_KEY|CONTROL_API_TOKEN|CONTROL_API_STOP_PASSWORD|PATH|HOME|USER|LOGNAME|SHELL|PWD|TMPDIR|TZ|LANG|IFS|HOSTNAME|NO_COLOR)$)[A-Za-z_][A-Za-z0-9_]{0,127}$"
    ))]
    pub grafana_token_env: Sp<String>,
    /// InfluxDB Cloud URL.
    #[schemars(regex(pattern = r"^https://[A-Za-z0-9._~:/\[\]-]+$"))]
    pub influx_url: Sp<String>,
    /// Environment variable holding an InfluxDB Cloud token.
    #[schemars(regex(
        pattern = r"^(?!GF_|INFLUXDB_|INFLUXD_|DOCKER_|K6_|PROMO_INFRA_|LD_|(?:GRAFANA_ADMIN_PASSWORD|GRAFANA_SECRET_KEY|CONTROL_API_TOKEN|CONTROL_API_STOP_PASSWORD|PATH|HOME|USER|LOGNAME|SHELL|PWD|TMPDIR|TZ|LANG|IFS|HOSTNAME|NO_COLOR)$)[A-Za-z_][A-Za-z0-9_]{0,127}$"
    ))]
    pub influx_token_env: Sp<String>,
}

fn sp<T>(v: T) -> Sp<T> {
    Sp::new(v)
}
fn default_locale() -> Sp<String> {
    sp("fr".into())
}
fn default_influx_port() -> Sp<u32> {
    sp(8086)
}
fn default_grafana_port() -> Sp<u32> {
    sp(3000)
}
fn default_control_port() -> Sp<u32> {
    sp(5000)
}
fn default_bind() -> Sp<String> {
    sp("127.0.0.1".into())
}
fn default_org() -> Sp<String> {
    sp("promo-analyzer".into())
}
fn default_bucket() -> Sp<String> {
    sp("k6".into())
}
fn default_retention() -> Sp<String> {
    sp("30d".into())
}
fn default_influx_admin() -> Sp<String> {
    sp("promo-admin".into())
}
fn default_admin_user() -> Sp<String> {
    sp("admin".into())
}
fn default_true() -> Sp<bool> {
    sp(true)
}
fn default_control_image() -> Sp<String> {
    sp(format!("promo-infra:{}", env!("CARGO_PKG_VERSION")))
}
fn default_p95_ok() -> Sp<f64> {
    sp(1000.0)
}
fn default_p95_warn() -> Sp<f64> {
    sp(2000.0)
}
fn default_err_ok() -> Sp<f64> {
    sp(0.1)
}
fn default_err_warn() -> Sp<f64> {
    sp(1.0)
}
fn default_err_crit() -> Sp<f64> {
    sp(5.0)
}
fn default_p95_alert() -> Sp<f64> {
    sp(3000.0)
}
fn default_backup_dir() -> Sp<String> {
    sp("backups".into())
}
fn default_project_dir() -> Sp<String> {
    sp("/opt/promo-infra".into())
}
fn default_backup_user() -> Sp<String> {
    sp("root".into())
}
fn default_binary() -> Sp<String> {
    sp("/usr/local/bin/promo-infra".into())
}
fn default_influx_rpc() -> Sp<String> {
    sp("127.0.0.1:8088".into())
}
fn default_k6_output() -> Sp<String> {
    sp("bin/k6".into())
}
fn default_network() -> Sp<String> {
    sp("monitoring-net".into())
}
fn default_grafana_home() -> Sp<String> {
    sp("/usr/share/grafana".into())
}
fn default_data_dir() -> Sp<String> {
    sp("data".into())
}
