//! The Grafana objects the docker and native targets manage through Grafana's HTTP API, not
//! through provisioning files: the stack's folder (stable uid) and its dashboards, uploaded as
//! generated (overlays applied), the home dashboard set as the organisation's preference. So a
//! dashboard can be edited in the UI, diffed, pulled into an overlay and pushed back, on every
//! target (file-provisioned dashboards cannot be saved from the UI or the API).
//!
//! Owns: building those resources from the generated files. May not: do IO.

use std::collections::BTreeMap;

use super::grafana::{folder_title, folder_uid};
use crate::desired::{
    DashboardSpec, FolderSpec, GeneratedFile, Resource, ResourceId, ResourceKind, ResourceSpec,
};
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Where the generated model of dashboard `uid` is, under `generated/<stack>/`.
pub fn dashboard_file(uid: &str) -> String {
    format!("grafana/dashboards/{uid}.json")
}

/// The folder (after the Grafana service) and one dashboard per declared dashboard (after the
/// folder), from the generated files; none when the stack declares no dashboard.
pub fn resources(
    m: &Manifest,
    files: &BTreeMap<String, GeneratedFile>,
    fingerprints: &BTreeMap<String, String>,
) -> Result<Vec<Resource>> {
    if m.dashboards.is_empty() {
        return Ok(Vec::new());
    }
    let folder = folder_uid(m);
    let folder_id = ResourceId::new(ResourceKind::Folder, folder.clone());
    let mut out = vec![Resource::new(
        folder_id.clone(),
        vec![ResourceId::new(ResourceKind::Service, "grafana")],
        ResourceSpec::Folder(FolderSpec {
            uid: folder.clone(),
            title: folder_title(m),
        }),
        fingerprints,
    )];
    let home = m.grafana.home_dashboard.as_ref().map(|h| h.as_str());
    for d in &m.dashboards {
        let uid = d.uid.as_str();
        let file = dashboard_file(uid);
        let model: serde_json::Value = files
            .get(&file)
            .and_then(|f| serde_json::from_slice(f.bytes()).ok())
            .ok_or_else(|| {
                Error::internal(format!("dashboard `{uid}`: {file} was not compiled"))
            })?;
        let (settings, panels) = crate::grafana::digest::digest(&model);
        out.push(Resource::new(
            ResourceId::new(ResourceKind::Dashboard, uid),
            vec![folder_id.clone()],
            ResourceSpec::Dashboard(DashboardSpec {
                uid: uid.to_string(),
                title: model["title"].as_str().unwrap_or(uid).to_string(),
                folder_uid: folder.clone(),
                home: home == Some(uid),
                settings,
                panels,
                file,
            }),
            fingerprints,
        ));
    }
    Ok(out)
}
