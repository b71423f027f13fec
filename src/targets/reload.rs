//! In-place updates of a running Grafana: the provisioning reload API re-reads the generated
//! files a plan's `reload_digest` changes name (they are already written by apply), so a
//! dashboard or provisioning change needs no new container or process.
//!
//! Owns: which reload endpoints a change needs and calling them (bounded retries).
//! May not: print, read the environment (credentials are given), or know a target's engine.

use std::time::Duration;

use crate::compile::grafana::reload_kind;
use crate::desired::RELOAD_DIGEST;
use crate::error::{Error, Result};
use crate::plan::FieldChange;

/// The reload endpoints (`dashboards`, `datasources`, `alerting`) the changed fields need,
/// sorted, without duplicates.
pub fn kinds(changes: &[FieldChange]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = changes
        .iter()
        .filter_map(|c| c.path.strip_prefix(RELOAD_DIGEST)?.strip_prefix('.'))
        .filter_map(reload_kind)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Grafana's admin login from a service's or process's environment (`GF_SECURITY_ADMIN_USER`,
/// Grafana's default `admin` when unset).
pub fn admin_user(env: &std::collections::BTreeMap<String, crate::desired::EnvValue>) -> String {
    match env.get("GF_SECURITY_ADMIN_USER") {
        Some(crate::desired::EnvValue::Plain(u)) => u.clone(),
        _ => "admin".to_string(),
    }
}

/// What Grafana answers when it re-read `kind` (`Dashboards config reloaded`).
fn reloaded_message(kind: &str) -> String {
    let mut chars = kind.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    format!(
        "{}{} config reloaded",
        first.unwrap_or_default(),
        chars.as_str()
    )
}

/// `POST <url>/api/admin/provisioning/<kind>/reload` for each kind, as the admin user, and
/// check Grafana's confirmation; a Grafana that does not answer (yet) is retried.
pub async fn grafana(url: &str, user: &str, password: &str, kinds: &[&str]) -> Result<()> {
    let http = crate::net::client_for(url)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))?;
    for kind in kinds {
        let endpoint = format!("{url}/api/admin/provisioning/{kind}/reload");
        let what = format!("reloading Grafana's {kind} provisioning at {endpoint}");
        crate::targets::retry(&what, 5, || {
            reload_once(&http, &endpoint, kind, user, password)
        })
        .await?;
    }
    Ok(())
}

async fn reload_once(
    http: &reqwest::Client,
    endpoint: &str,
    kind: &str,
    user: &str,
    password: &str,
) -> Result<()> {
    let resp = http
        .post(endpoint)
        .basic_auth(user, Some(password))
        .send()
        .await
        .map_err(|e| Error::transient(format!("Grafana at {endpoint}: {}", e.without_url())))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect());
    if status.is_success() && message == reloaded_message(kind) {
        return Ok(());
    }
    if status.is_server_error() {
        return Err(Error::transient(format!(
            "Grafana at {endpoint}: HTTP {status} {message}"
        )));
    }
    let help = if matches!(status.as_u16(), 401 | 403) {
        format!(
            "Grafana refused the admin login `{user}` (GRAFANA_ADMIN_PASSWORD in .env): set it back, or run `promo-infra secrets rotate GRAFANA_ADMIN_PASSWORD`; the files are written, so `promo-infra apply` retries the reload"
        )
    } else {
        "check Grafana's log (`docker logs`, or the native log file); `promo-infra apply` retries the reload".to_string()
    };
    Err(Error::grafana(format!(
        "Grafana at {endpoint} did not reload its {kind} provisioning: HTTP {status} {}",
        message.trim()
    ))
    .with_help(help))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str) -> FieldChange {
        FieldChange {
            path: path.into(),
            before: Some("\"a\"".into()),
            after: Some("\"b\"".into()),
            sensitive: false,
            forces_replacement: false,
        }
    }

    #[test]
    fn each_changed_directory_names_its_endpoint_once() {
        let changes = [
            change("reload_digest.grafana/dashboards"),
            change("reload_digest.grafana/provisioning/dashboards"),
            change("reload_digest.grafana/provisioning/datasources"),
            change("reload_digest.native/grafana/provisioning/alerting"),
            change("config_digest.grafana/provisioning"),
        ];
        assert_eq!(
            kinds(&changes),
            vec!["alerting", "dashboards", "datasources"]
        );
        assert_eq!(reloaded_message("dashboards"), "Dashboards config reloaded");
    }
}
