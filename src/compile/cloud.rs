//! The cloud target's resources: what a stack is on Grafana Cloud and InfluxDB Cloud, built
//! from the same manifest and the same generated dashboards as the other targets.
//!
//! - InfluxDB Cloud: the bucket with its retention and a DBRP mapping (InfluxQL through the v1
//!   API: Cloud Serverless has no Flux), a write-only token for k6 and a read-only one for
//!   Grafana (least privilege; minted by InfluxDB, kept in `.env`).
//! - Grafana Cloud: the InfluxDB datasource (its token a secure field), the stack's folder and
//!   dashboards (as on docker/native), and alerting through the provisioning API: the message
//!   template, the Slack contact point, the notification policy and the rule group, with the
//!   same rules as the provisioning files of the other targets.
//!
//! Owns: those resources and their API bodies. May not: do IO.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::grafana::{alerting_doc, datasource_uid, folder_uid};
use super::influx::{grafana_token, k6_token};
use crate::desired::{
    AlertingSpec, CloudEndpoints, DatabaseSpec, DatasourceSpec, EnvValue, Resource, ResourceId,
    ResourceKind, ResourceSpec, SecureField,
};
use crate::manifest::Manifest;
use crate::manifest::duration;

/// `.env` variable of k6's write-only InfluxDB Cloud token (minted by apply).
pub const K6_TOKEN: &str = crate::secrets::INFLUX_CLOUD_K6_TOKEN;
/// `.env` variable of Grafana's read-only InfluxDB Cloud token (minted by apply).
pub const GRAFANA_TOKEN: &str = crate::secrets::INFLUX_CLOUD_GRAFANA_TOKEN;

/// Where the cloud target works, or `None` when the manifest has no `targets.cloud`.
pub fn endpoints(m: &Manifest) -> Option<CloudEndpoints> {
    let c = m.targets.cloud.as_ref()?;
    Some(CloudEndpoints {
        grafana_url: c.grafana_url.trim_end_matches('/').to_string(),
        grafana_token_env: c.grafana_token_env.to_string(),
        influx_url: c.influx_url.trim_end_matches('/').to_string(),
        influx_org: c
            .influx_org
            .as_ref()
            .map_or_else(|| m.influxdb.org.to_string(), |o| o.to_string()),
        influx_token_env: c.influx_token_env.to_string(),
        alerting_editable: c.alerting_editable,
        pdc_network_id: c.pdc_network_id.as_ref().map(|p| p.to_string()),
    })
}

/// The cloud resources besides the folder and dashboards (built by
/// [`super::grafana_api::resources`]).
pub fn resources(
    m: &Manifest,
    cloud: &CloudEndpoints,
    fingerprints: &BTreeMap<String, String>,
) -> Vec<Resource> {
    let bucket = m.influxdb.bucket.to_string();
    let retention =
        duration::parse(&m.influxdb.retention).unwrap_or(duration::Retention { seconds: None });
    let db_id = ResourceId::new(ResourceKind::Database, bucket.as_str());
    let mut out = vec![Resource::new(
        db_id.clone(),
        Vec::new(),
        ResourceSpec::Database(DatabaseSpec {
            version: 2,
            name: bucket.clone(),
            org: Some(cloud.influx_org.clone()),
            retention: retention.influxql(),
            shard_duration: String::new(),
            users: Vec::new(),
            dbrp: Some(bucket.clone()),
        }),
        fingerprints,
    )];
    out.push(k6_token(m, K6_TOKEN, fingerprints));
    out.push(grafana_token(m, GRAFANA_TOKEN, fingerprints));
    out.push(datasource(m, cloud, fingerprints));
    out.extend(alerting(m, fingerprints));
    out
}

/// The InfluxDB datasource: InfluxQL through the bucket's DBRP mapping for an `influxdb.version:
/// 1` stack (every InfluxDB Cloud account), Flux for a version 2 stack (Cloud TSM accounts
/// only; Serverless has no Flux). Grafana's token is read-only.
fn datasource(
    m: &Manifest,
    cloud: &CloudEndpoints,
    fingerprints: &BTreeMap<String, String>,
) -> Resource {
    let bucket = m.influxdb.bucket.to_string();
    let secret = |prefix: &str| SecureField {
        prefix: prefix.to_string(),
        value: EnvValue::Secret(GRAFANA_TOKEN.into()),
    };
    let (mut json_data, secure): (Vec<(&str, Value)>, _) = if *m.influxdb.version == 2 {
        (
            vec![
                ("version", json!("Flux")),
                ("organization", json!(cloud.influx_org)),
                ("defaultBucket", json!(bucket)),
                ("timeInterval", json!("1s")),
            ],
            BTreeMap::from([("token".to_string(), secret(""))]),
        )
    } else {
        (
            vec![
                ("version", json!("InfluxQL")),
                ("dbName", json!(bucket)),
                ("httpMode", json!("POST")),
                ("timeInterval", json!("1s")),
                ("httpHeaderName1", json!("Authorization")),
            ],
            BTreeMap::from([("httpHeaderValue1".to_string(), secret("Token "))]),
        )
    };
    // A private InfluxDB: through the PDC agent's secure SOCKS proxy (what Terraform's
    // `private_data_source_connect_network_id` sets).
    if let Some(network) = &cloud.pdc_network_id {
        json_data.push(("enableSecureSocksProxy", json!(true)));
        json_data.push(("secureSocksProxyUsername", json!(network)));
    }
    Resource::new(
        ResourceId::new(ResourceKind::Datasource, datasource_uid(m)),
        vec![ResourceId::new(
            ResourceKind::Token,
            super::influx::GRAFANA_TOKEN_ID,
        )],
        ResourceSpec::Datasource(DatasourceSpec {
            uid: datasource_uid(m),
            name: format!("InfluxDB ({})", *m.stack),
            kind: "influxdb".into(),
            url: cloud.influx_url.clone(),
            json_data: json_data
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            secure,
        }),
        fingerprints,
    )
}

/// Alerting object ids: `alerting.<object>.<name>` (`alerting.policy.<stack>`: the stack's
/// route in the notification policy tree).
pub fn alerting_id(object: &str, name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::Alerting, format!("{object}.{name}"))
}

/// The alerting objects, as the provisioning API takes them; none without `alerting:`.
fn alerting(m: &Manifest, fingerprints: &BTreeMap<String, String>) -> Vec<Resource> {
    let Some(doc) = alerting_doc(m, true) else {
        return Vec::new();
    };
    let folder = folder_uid(m);
    let mut out = Vec::new();
    let mut add = |object: &str, name: String, deps: Vec<ResourceId>, content: Value| {
        out.push(Resource::new(
            alerting_id(object, &name),
            deps,
            ResourceSpec::Alerting(AlertingSpec {
                object: object.to_string(),
                name,
                content,
            }),
            fingerprints,
        ));
    };
    let mut template_ids = Vec::new();
    for t in doc["templates"].as_array().into_iter().flatten() {
        let name = t["name"].as_str().unwrap_or_default().to_string();
        template_ids.push(alerting_id("template", &name));
        add(
            "template",
            name.clone(),
            Vec::new(),
            json!({ "name": name, "template": t["template"] }),
        );
    }
    let mut contact_ids = Vec::new();
    for cp in doc["contactPoints"].as_array().into_iter().flatten() {
        for r in cp["receivers"].as_array().into_iter().flatten() {
            let uid = r["uid"].as_str().unwrap_or_default().to_string();
            let mut settings = r["settings"].clone();
            // The file form names the webhook's variable (`$SLACK_WEBHOOK_URL`) for Grafana to
            // expand; the API takes the value, sent by apply from `.env` / the environment.
            if let Some(var) = settings["url"].as_str().and_then(|u| u.strip_prefix('$')) {
                settings["url"] = json!({ "secret": var });
            }
            contact_ids.push(alerting_id("contact_point", &uid));
            add(
                "contact_point",
                uid.clone(),
                template_ids.clone(),
                json!({
                    "uid": uid,
                    "name": cp["name"],
                    "type": r["type"],
                    "settings": settings,
                    "disableResolveMessage": r["disableResolveMessage"],
                }),
            );
        }
    }
    // The instance's policy tree is shared: the stack owns one route of it, for its rules.
    if let Some(policy) = doc["policies"].as_array().and_then(|p| p.first()) {
        let mut route = policy.clone();
        if let Some(o) = route.as_object_mut() {
            o.remove("orgId");
            o.insert(
                "object_matchers".into(),
                json!([["stack", "=", m.stack.as_str()]]),
            );
        }
        add("policy", m.stack.to_string(), contact_ids.clone(), route);
    }
    for g in doc["groups"].as_array().into_iter().flatten() {
        let group = g["name"].as_str().unwrap_or_default().to_string();
        // The file's `30s`; the API takes seconds.
        let interval = g["interval"]
            .as_str()
            .and_then(|i| i.strip_suffix('s')?.parse::<u64>().ok())
            .unwrap_or(60);
        let rules: Vec<Value> = g["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| rule_for_api(r, &folder, &group))
            .collect();
        add(
            "rule_group",
            group.clone(),
            vec![
                ResourceId::new(ResourceKind::Folder, folder.clone()),
                ResourceId::new(ResourceKind::Datasource, datasource_uid(m)),
            ],
            json!({ "title": group, "folderUid": folder, "interval": interval, "rules": rules }),
        );
    }
    out
}

/// A rule of the provisioning file as the API takes it: in the stack's folder and group, the
/// file's `dashboardUid` as the `__dashboardUid__` annotation.
fn rule_for_api(rule: &Value, folder: &str, group: &str) -> Value {
    let mut r = rule.clone();
    if let Some(o) = r.as_object_mut() {
        if let Some(uid) = o.remove("dashboardUid") {
            let annotations = o.entry("annotations").or_insert_with(|| json!({}));
            annotations["__dashboardUid__"] = uid;
        }
        o.insert("folderUID".into(), json!(folder));
        o.insert("ruleGroup".into(), json!(group));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(cloud_extra: &str) -> Manifest {
        let text = include_str!("../../stacks/promo-v1.yaml").replace(
            "targets:\n  docker: { network: monitoring-net }\n",
            &format!(
                "targets:\n  cloud:\n    grafana_url: https://s.grafana.net\n    grafana_token_env: G_TOKEN\n    influx_url: https://i.example\n    influx_token_env: I_TOKEN\n{cloud_extra}"
            ),
        );
        crate::manifest::parse("stacks/promo-v1.yaml", &text).expect("manifest")
    }

    fn json_data(m: &Manifest) -> BTreeMap<String, Value> {
        let cloud = endpoints(m).expect("cloud");
        let r = datasource(m, &cloud, &BTreeMap::new());
        let ResourceSpec::Datasource(d) = r.spec else {
            panic!("a datasource");
        };
        d.json_data
    }

    #[test]
    fn a_private_influxdb_is_reached_through_the_pdc_network() {
        let direct = json_data(&manifest(""));
        assert!(!direct.contains_key("enableSecureSocksProxy"), "{direct:?}");
        let private = json_data(&manifest("    pdc_network_id: net-123\n"));
        assert_eq!(private["enableSecureSocksProxy"], json!(true));
        assert_eq!(private["secureSocksProxyUsername"], json!("net-123"));
        assert_eq!(private["version"], json!("InfluxQL"));
    }

    #[test]
    fn a_rule_moves_its_dashboard_into_an_annotation_and_names_its_folder_and_group() {
        let r = rule_for_api(
            &json!({ "uid": "u", "dashboardUid": "home", "annotations": { "summary": "s" } }),
            "promo",
            "promo-k6",
        );
        assert_eq!(
            r,
            json!({
                "uid": "u",
                "annotations": { "summary": "s", "__dashboardUid__": "home" },
                "folderUID": "promo",
                "ruleGroup": "promo-k6",
            })
        );
    }
}
