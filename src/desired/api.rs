//! The resources managed through services' HTTP APIs rather than run: InfluxDB tokens, Grafana
//! datasources, folders, dashboards and alerting objects, and where the cloud target finds its
//! services.
//!
//! Owns: those specs (part of [`super`]'s model). May not: do IO, or hold a secret value.

use std::collections::BTreeMap;

use serde::Serialize;

use super::EnvValue;

/// A scoped InfluxDB 2 / Cloud token. InfluxDB shows a token's value only in the answer that
/// creates it, so it goes to `.env` then; its permissions cannot change: a change replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenSpec {
    /// Description, which also finds it among the organisation's authorizations.
    pub description: String,
    /// `action:buckets/<bucket name>` (`write:buckets/k6-metrics`), sorted.
    pub permissions: Vec<String>,
    /// The `.env` variable that holds its value.
    pub secret: String,
}

/// A secure field of a Grafana datasource: `prefix` followed by a secret's value (write-only in
/// Grafana: compared through the fingerprint of the value last sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecureField {
    /// Text before the value (`Token ` for an `Authorization` header).
    pub prefix: String,
    /// The secret.
    pub value: EnvValue,
}

/// A Grafana datasource managed through Grafana's HTTP API (the cloud target).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasourceSpec {
    /// Uid.
    pub uid: String,
    /// Name.
    pub name: String,
    /// Plugin type (`influxdb`).
    pub kind: String,
    /// URL Grafana queries.
    pub url: String,
    /// The `jsonData` fields this tool sets (others Grafana keeps are not compared).
    pub json_data: BTreeMap<String, serde_json::Value>,
    /// The `secureJsonData` fields, by name.
    pub secure: BTreeMap<String, SecureField>,
}

/// A Grafana alerting object managed through the alerting provisioning API (the cloud target):
/// a rule group, contact point, notification template or the stack's notification route.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertingSpec {
    /// `rule_group`, `contact_point`, `template` or `policy` (the stack's route of the
    /// notification policy tree).
    pub object: String,
    /// Its name (the group, the contact point's uid, the template's name; the stack for its
    /// policy route).
    pub name: String,
    /// The body this tool sends, as the API takes it; secrets as `{"secret": NAME}`. Compared
    /// with what Grafana answers, field by field, on the fields present here.
    pub content: serde_json::Value,
}

/// A Grafana folder managed through Grafana's HTTP API, with a stable uid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderSpec {
    /// Uid (the stack's name: stable, so links and alert rules can name it).
    pub uid: String,
    /// Title.
    pub title: String,
}

/// A dashboard managed through Grafana's HTTP API (uploaded like `dashboards push`).
///
/// Its content is compared as digests, one for the dashboard's own settings and one per panel
/// (by title), of the normalised model ([`crate::grafana::normalize`]): a plan names the panel
/// that changes; `dashboards diff` shows the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DashboardSpec {
    /// Uid.
    pub uid: String,
    /// Title.
    pub title: String,
    /// Uid of the folder it is in.
    pub folder_uid: String,
    /// Whether it is the organisation's home dashboard (`grafana.home_dashboard`).
    pub home: bool,
    /// Digest of the dashboard-level fields (everything but the panels), normalised.
    pub settings: String,
    /// Digest of each panel, normalised, by title.
    pub panels: BTreeMap<String, String>,
    /// The generated file holding the model to upload (`grafana/dashboards/<uid>.json`); not
    /// a property of the dashboard in Grafana, so not compared.
    #[serde(skip)]
    pub file: String,
}

/// The cloud target's services and the variables holding its credentials (`targets.cloud`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEndpoints {
    /// Grafana Cloud stack URL.
    pub grafana_url: String,
    /// Variable holding a Grafana service-account token.
    pub grafana_token_env: String,
    /// InfluxDB Cloud URL.
    pub influx_url: String,
    /// InfluxDB Cloud organisation.
    pub influx_org: String,
    /// Variable holding the InfluxDB Cloud token that manages the bucket and mints tokens.
    pub influx_token_env: String,
    /// Send `X-Disable-Provenance` with alerting writes (UI-editable alerting).
    pub alerting_editable: bool,
    /// Grafana Cloud Private Data Source Connect network id, for an InfluxDB Grafana Cloud
    /// reaches through a PDC agent.
    pub pdc_network_id: Option<String>,
}
