//! The cloud target's Grafana objects besides folder and dashboards (those are
//! [`crate::targets::grafana_api`]'s): the InfluxDB datasource and the alerting objects, read
//! and written through Grafana's HTTP API with the stack's service-account token.
//!
//! - A secret Grafana never shows back (the datasource's token, the Slack webhook) is compared
//!   through the fingerprint of the value last sent ([`super::record`]).
//! - Alerting goes through the provisioning API. `X-Disable-Provenance` is sent only when the
//!   manifest sets `targets.cloud.alerting_editable` (Grafana honours the header's mere
//!   presence): by default the objects are locked in the UI, so the manifest stays their only
//!   source and a plan never has to undo a UI edit.
//! - The notification policy tree is the instance's, shared: the stack owns one route of it
//!   (matching `stack=<stack>`), inserted first; the root and the other routes are never
//!   touched.
//!
//! May not: print, read the environment, decide (plan decides).

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::desired::{AlertingSpec, DatasourceSpec, EnvValue, Resource, ResourceSpec};
use crate::error::{Error, Result};
use crate::grafana::Client;
use crate::plan::ObservedResource;
use crate::targets::Context;
use crate::targets::record;

const PROVISIONING: &str = "/api/v1/provisioning";

fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The value of secret `name` now: `.env` as it is on disk (a token minted earlier in this
/// apply is there), else the values the command started with (the environment).
fn secret_value(ctx: &Context, name: &str) -> Result<String> {
    crate::targets::common::secret(ctx, name).ok_or_else(|| {
        Error::usage(
            format!("{name} is not set"),
            format!(
                "export {name} or add it to generated/{}/.env, then apply again",
                ctx.stack
            ),
        )
    })
}

/// `content` with every `{"secret": NAME}` replaced by the secret's value, and the
/// fingerprints of the values used, by name.
fn resolve(ctx: &Context, content: &Value, used: &mut BTreeMap<String, String>) -> Result<Value> {
    Ok(match content {
        Value::Object(map) => {
            if let (1, Some(Value::String(name))) = (map.len(), map.get("secret")) {
                let value = secret_value(ctx, name)?;
                used.insert(name.clone(), crate::secrets::fingerprint(&value));
                return Ok(Value::String(value));
            }
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), resolve(ctx, v, used)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(ctx, v, used))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

/// `live` as far as `shape` (what this tool sends) reaches: the fields Grafana adds are left
/// out, a secret (never shown back) stands as its `{"secret": NAME}` reference.
fn project(live: &Value, shape: &Value) -> Value {
    match (live, shape) {
        (_, Value::Object(s)) if s.len() == 1 && s.contains_key("secret") => shape.clone(),
        (Value::Object(l), Value::Object(s)) => Value::Object(
            s.iter()
                .filter_map(|(k, sv)| l.get(k).map(|lv| (k.clone(), project(lv, sv))))
                .collect(),
        ),
        (Value::Array(l), Value::Array(s)) => Value::Array(
            l.iter()
                .enumerate()
                .map(|(i, lv)| s.get(i).map_or_else(|| lv.clone(), |sv| project(lv, sv)))
                .collect(),
        ),
        _ => live.clone(),
    }
}

fn found(r: &Resource, spec: ResourceSpec, record: &record::Record) -> ObservedResource {
    let sent = record
        .sent
        .get(&r.id.to_string())
        .cloned()
        .unwrap_or_default();
    ObservedResource::found_with(&r.id, spec, &sent)
}

// ---------------------------------------------------------------------------------------------
// Datasource

/// The datasource as Grafana has it, in `want`'s terms; `None` when absent.
pub async fn observe_datasource(
    grafana: &Client,
    r: &Resource,
    want: &DatasourceSpec,
    record: &record::Record,
) -> Result<Option<ObservedResource>> {
    let path = format!("/api/datasources/uid/{}", seg(&want.uid));
    let (status, live) = grafana.request(Method::GET, &path, None).await?;
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(grafana.refused(&Method::GET, &path, status, &live));
    }
    let json_data = want
        .json_data
        .keys()
        .filter_map(|k| live["jsonData"].get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    let secure = want
        .secure
        .iter()
        .filter(|(k, _)| live["secureJsonFields"][k.as_str()].as_bool() == Some(true))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let spec = DatasourceSpec {
        uid: live["uid"].as_str().unwrap_or(&want.uid).to_string(),
        name: live["name"].as_str().unwrap_or_default().to_string(),
        kind: live["type"].as_str().unwrap_or_default().to_string(),
        url: live["url"].as_str().unwrap_or_default().to_string(),
        json_data,
        secure,
    };
    Ok(Some(found(r, ResourceSpec::Datasource(spec), record)))
}

/// Whether Grafana has the datasource `uid`.
pub async fn datasource_exists(grafana: &Client, uid: &str) -> Result<bool> {
    let path = format!("/api/datasources/uid/{}", seg(uid));
    Ok(get_opt(grafana, &path).await?.is_some())
}

/// Create or replace the datasource, its secure fields sent from `.env`.
pub async fn apply_datasource(
    grafana: &Client,
    ctx: &Context,
    r: &Resource,
    want: &DatasourceSpec,
) -> Result<()> {
    let mut used = BTreeMap::new();
    let mut secure = serde_json::Map::new();
    for (k, f) in &want.secure {
        let EnvValue::Secret(name) = &f.value else {
            continue;
        };
        let value = secret_value(ctx, name)?;
        used.insert(name.clone(), crate::secrets::fingerprint(&value));
        secure.insert(k.clone(), json!(format!("{}{value}", f.prefix)));
    }
    let body = json!({
        "uid": want.uid,
        "name": want.name,
        "type": want.kind,
        "access": "proxy",
        "url": want.url,
        "jsonData": want.json_data,
        "secureJsonData": secure,
    });
    let path = format!("/api/datasources/uid/{}", seg(&want.uid));
    let (status, _) = grafana.request(Method::GET, &path, None).await?;
    if status == StatusCode::NOT_FOUND {
        grafana
            .ok(Method::POST, "/api/datasources", Some(&body))
            .await?;
    } else {
        grafana.ok(Method::PUT, &path, Some(&body)).await?;
    }
    remember_sent(ctx, r, used)
}

fn remember_sent(ctx: &Context, r: &Resource, used: BTreeMap<String, String>) -> Result<()> {
    record::update(ctx, record::CLOUD, |rec| {
        if used.is_empty() {
            rec.sent.remove(&r.id.to_string());
        } else {
            rec.sent.insert(r.id.to_string(), used);
        }
    })
}

/// Delete the datasource `uid`. Already gone: `false`.
pub async fn delete_datasource(grafana: &Client, uid: &str) -> Result<bool> {
    let path = format!("/api/datasources/uid/{}", seg(uid));
    let (status, live) = grafana.request(Method::DELETE, &path, None).await?;
    match status {
        StatusCode::NOT_FOUND => Ok(false),
        s if s.is_success() => Ok(true),
        s => Err(grafana.refused(&Method::DELETE, &path, s, &live)),
    }
}

// ---------------------------------------------------------------------------------------------
// Alerting

/// The stack's route in the instance's policy tree: the first child route matching its label.
fn our_route<'a>(tree: &'a Value, want: &Value) -> Option<(usize, &'a Value)> {
    tree["routes"]
        .as_array()?
        .iter()
        .enumerate()
        .find(|(_, r)| r["object_matchers"] == want["object_matchers"])
}

fn editable(grafana: &Client, editable: bool) -> Client {
    if editable {
        // Grafana tests only whether the header is present (`determineProvenance`).
        grafana.with_header("X-Disable-Provenance", "true")
    } else {
        grafana.clone()
    }
}

/// The alerting object as Grafana has it, in `want`'s terms; `None` when absent.
pub async fn observe_alerting(
    grafana: &Client,
    r: &Resource,
    want: &AlertingSpec,
    record: &record::Record,
) -> Result<Option<ObservedResource>> {
    let live = live_alerting(grafana, want).await?;
    Ok(live.map(|live| {
        let spec = AlertingSpec {
            object: want.object.clone(),
            name: want.name.clone(),
            content: project(&live, &want.content),
        };
        found(r, ResourceSpec::Alerting(spec), record)
    }))
}

/// The alerting object `want` names as Grafana shows it (the stack's: its uid, name or route);
/// `None` when absent.
async fn live_alerting(grafana: &Client, want: &AlertingSpec) -> Result<Option<Value>> {
    Ok(match want.object.as_str() {
        "template" => {
            get_opt(
                grafana,
                &format!("{PROVISIONING}/templates/{}", seg(&want.name)),
            )
            .await?
        }
        "contact_point" => {
            let path = format!(
                "{PROVISIONING}/contact-points?name={}",
                seg(want.content["name"].as_str().unwrap_or_default())
            );
            let list = grafana.ok(Method::GET, &path, None).await?;
            list.as_array()
                .into_iter()
                .flatten()
                .find(|c| c["uid"].as_str() == Some(&want.name))
                .cloned()
        }
        "policy" => {
            let tree = grafana
                .ok(Method::GET, &format!("{PROVISIONING}/policies"), None)
                .await?;
            our_route(&tree, &want.content).map(|(_, r)| r.clone())
        }
        "rule_group" => {
            let folder = want.content["folderUid"].as_str().unwrap_or_default();
            get_opt(
                grafana,
                &format!(
                    "{PROVISIONING}/folder/{}/rule-groups/{}",
                    seg(folder),
                    seg(&want.name)
                ),
            )
            .await?
            .filter(|g| g["rules"].as_array().is_some_and(|r| !r.is_empty()))
        }
        other => {
            return Err(Error::internal(format!(
                "alerting.{other}.{}: unknown alerting object `{other}`",
                want.name
            )));
        }
    })
}

async fn get_opt(grafana: &Client, path: &str) -> Result<Option<Value>> {
    let (status, live) = grafana.request(Method::GET, path, None).await?;
    match status {
        StatusCode::NOT_FOUND => Ok(None),
        s if s.is_success() => Ok(Some(live)),
        s => Err(grafana.refused(&Method::GET, path, s, &live)),
    }
}

/// Create or converge the alerting object.
pub async fn apply_alerting(
    grafana: &Client,
    ctx: &Context,
    r: &Resource,
    want: &AlertingSpec,
    alerting_editable: bool,
) -> Result<()> {
    let g = editable(grafana, alerting_editable);
    let mut used = BTreeMap::new();
    let body = resolve(ctx, &want.content, &mut used)?;
    match want.object.as_str() {
        "template" => {
            let path = format!("{PROVISIONING}/templates/{}", seg(&want.name));
            g.ok(
                Method::PUT,
                &path,
                Some(&json!({ "template": body["template"] })),
            )
            .await?;
        }
        "contact_point" => {
            let path = format!(
                "{PROVISIONING}/contact-points?name={}",
                seg(body["name"].as_str().unwrap_or_default())
            );
            let exists = g
                .ok(Method::GET, &path, None)
                .await?
                .as_array()
                .is_some_and(|l| l.iter().any(|c| c["uid"].as_str() == Some(&want.name)));
            if exists {
                let path = format!("{PROVISIONING}/contact-points/{}", seg(&want.name));
                g.ok(Method::PUT, &path, Some(&body)).await?;
            } else {
                let path = format!("{PROVISIONING}/contact-points");
                g.ok(Method::POST, &path, Some(&body)).await?;
            }
        }
        "policy" => {
            let path = format!("{PROVISIONING}/policies");
            let mut tree = g.ok(Method::GET, &path, None).await?;
            let at = our_route(&tree, &body).map(|(i, _)| i);
            let routes = tree["routes"].as_array().cloned().unwrap_or_default();
            let mut routes: Vec<Value> = routes
                .into_iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != at)
                .map(|(_, r)| r)
                .collect();
            routes.insert(0, body.clone());
            tree["routes"] = Value::Array(routes);
            g.ok(Method::PUT, &path, Some(&tree)).await?;
        }
        "rule_group" => {
            let folder = body["folderUid"].as_str().unwrap_or_default();
            let path = format!(
                "{PROVISIONING}/folder/{}/rule-groups/{}",
                seg(folder),
                seg(&want.name)
            );
            g.ok(Method::PUT, &path, Some(&body)).await?;
        }
        other => {
            return Err(Error::internal(format!(
                "{}: unknown alerting object `{other}`",
                r.id
            )));
        }
    }
    remember_sent(ctx, r, used)
}

/// Remove the alerting object (only ever the stack's own: its uid, name or route), read first:
/// Grafana answers a delete of an unknown template, contact point or rule with success (204,
/// 202), so only what was there is removed and counted. Returns whether something was.
pub async fn delete_alerting(
    grafana: &Client,
    want: &AlertingSpec,
    alerting_editable: bool,
) -> Result<bool> {
    let g = editable(grafana, alerting_editable);
    let Some(live) = live_alerting(&g, want).await? else {
        return Ok(false);
    };
    match want.object.as_str() {
        "template" => {
            let path = format!("{PROVISIONING}/templates/{}", seg(&want.name));
            g.ok(Method::DELETE, &path, None).await?;
        }
        "contact_point" => {
            let path = format!("{PROVISIONING}/contact-points/{}", seg(&want.name));
            g.ok(Method::DELETE, &path, None).await?;
        }
        "policy" => {
            let path = format!("{PROVISIONING}/policies");
            let mut tree = g.ok(Method::GET, &path, None).await?;
            let Some((at, _)) = our_route(&tree, &want.content) else {
                return Ok(false);
            };
            if let Some(routes) = tree["routes"].as_array_mut() {
                routes.remove(at);
            }
            g.ok(Method::PUT, &path, Some(&tree)).await?;
        }
        "rule_group" => {
            // Grafana 10.2 has no DELETE of a whole group: its rules, one by one — the declared
            // ones the group has.
            let there: Vec<&str> = live["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["uid"].as_str())
                .collect();
            let mut removed = false;
            for rule in want.content["rules"].as_array().into_iter().flatten() {
                let uid = rule["uid"].as_str().unwrap_or_default();
                if !there.contains(&uid) {
                    continue;
                }
                let path = format!("{PROVISIONING}/alert-rules/{}", seg(uid));
                let (s, v) = g.request(Method::DELETE, &path, None).await?;
                if s.is_success() {
                    removed = true;
                } else if s != StatusCode::NOT_FOUND {
                    return Err(g.refused(&Method::DELETE, &path, s, &v));
                }
            }
            return Ok(removed);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_grafana_adds_is_left_out_and_a_secret_stays_a_reference() {
        let shape = json!({ "uid": "u", "settings": { "url": { "secret": "HOOK" }, "title": "t" }, "rules": [{ "a": 1 }] });
        let live = json!({
            "uid": "u", "provenance": "api",
            "settings": { "url": "[REDACTED]", "title": "t2", "extra": true },
            "rules": [{ "a": 1, "id": 7 }, { "a": 2 }],
        });
        assert_eq!(
            project(&live, &shape),
            json!({ "uid": "u", "settings": { "url": { "secret": "HOOK" }, "title": "t2" }, "rules": [{ "a": 1 }, { "a": 2 }] })
        );
    }
}
