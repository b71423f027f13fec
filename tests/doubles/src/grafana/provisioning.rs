//! File provisioning: `datasources/*.yaml`, `dashboards/*.yaml` (file providers) and
//! `alerting/*.yaml`, with Grafana's `$VAR` / `${VAR}` / `$$` interpolation in values.
//!
//! Interpolation follows Grafana: every string value of the YAML is expanded, except alert rule
//! `annotations`, alert query `model`s and message templates; dashboard JSON files are never
//! expanded.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::alerting::{AlertRule, ContactPoint, PROVENANCE_FILE, Template, validate_query};
use super::model::{DashProvisioning, Datasource, SaveDashboard, Store, blank_datasource};
use crate::common::{IdGen, grafana_interpolate, now_ms, parse_duration_secs};

/// A part of the provisioning directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Datasources,
    Dashboards,
    Alerting,
}

impl Kind {
    /// Grafana 10.2's order (`pkg/services/provisioning/provisioning.go`): `RunInitProvisioners`
    /// does datasources then alerting; dashboards come later, in `Run()`.
    pub const ALL: [Kind; 3] = [Kind::Datasources, Kind::Alerting, Kind::Dashboards];
}

/// Applies the provisioning directory to `store`, all or nothing.
pub fn apply(store: &mut Store, ids: &IdGen, kinds: &[Kind]) -> Result<(), String> {
    let Some(dir) = store.provisioning_dir.clone() else {
        return Ok(());
    };
    let mut draft = store.clone();
    draft.warnings.clear();
    for kind in kinds {
        match kind {
            Kind::Datasources => datasources(&mut draft, &dir.join("datasources"), ids)?,
            Kind::Dashboards => dashboards(&mut draft, &dir.join("dashboards"), ids)?,
            Kind::Alerting => alerting(&mut draft, &dir.join("alerting"), ids)?,
        }
    }
    *store = draft;
    Ok(())
}

/// Config files of a provisioning subdirectory, sorted. A missing directory is empty.
fn config_files(dir: &Path, with_json: bool) -> Result<Vec<PathBuf>, String> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("failed to read directory {}: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                || (with_json && p.extension().is_some_and(|e| e == "json"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read_yaml(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read file {}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let parsed: Result<Value, String> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_saphyr::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| format!("failure to parse file {}: {e}", file_name(path)))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Interpolates every string in `v`, skipping object keys listed in `skip` (at any depth).
fn interpolate(store: &Store, v: &Value, skip: &[&str]) -> Result<Value, String> {
    let lookup = store.env_lookup();
    fn walk(
        v: &Value,
        skip: &[&str],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(grafana_interpolate(s, lookup)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| walk(x, skip, lookup))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    let val = if skip.contains(&k.as_str()) {
                        x.clone()
                    } else {
                        walk(x, skip, lookup)?
                    };
                    out.insert(k.clone(), val);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    walk(v, skip, &lookup)
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A boolean that may have been written as a string (after interpolation).
fn b(v: &Value, key: &str, file: &str) -> Result<Option<bool>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(x)) => Ok(Some(*x)),
        Some(Value::String(t)) => match t.trim() {
            "" => Ok(None),
            "true" | "True" | "TRUE" | "1" | "t" | "T" => Ok(Some(true)),
            "false" | "False" | "FALSE" | "0" | "f" | "F" => Ok(Some(false)),
            other => Err(format!(
                "failure to parse file {file}: strconv.ParseBool: parsing \"{other}\": invalid syntax"
            )),
        },
        Some(_) => Err(format!(
            "failure to parse file {file}: {key} must be a boolean"
        )),
    }
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

// -------------------------------------------------------------------------------- datasources

fn datasources(store: &mut Store, dir: &Path, ids: &IdGen) -> Result<(), String> {
    let mut wanted: Vec<Datasource> = Vec::new();
    let mut deletes: Vec<String> = Vec::new();
    let mut prune = false;
    for path in config_files(dir, false)? {
        let file = file_name(&path);
        let doc = read_yaml(&path)?;
        if doc.is_null() {
            continue;
        }
        for d in list(&doc, "deleteDatasources") {
            deletes.push(s(d, "name"));
        }
        // `prune` exists from Grafana 10.4 on; 10.2's non-strict YAML reader drops the key.
        prune |= b(&doc, "prune", &file)?.unwrap_or(false) && store.version_at_least(10, 4);
        let mut defaults = 0;
        for raw in list(&doc, "datasources") {
            let d = interpolate(store, raw, &[])?;
            let name = s(&d, "name");
            if name.trim().is_empty() {
                return Err(format!(
                    "datasource provisioning: failure to parse file {file}: datasource has no name"
                ));
            }
            let kind = s(&d, "type");
            if kind.trim().is_empty() {
                return Err(format!(
                    "datasource provisioning: failure to parse file {file}: datasource '{name}' has no type"
                ));
            }
            let is_default = b(&d, "isDefault", &file)?.unwrap_or(false);
            if is_default {
                defaults += 1;
            }
            let editable = b(&d, "editable", &file)?.unwrap_or(false);
            let secure = d
                .get("secureJsonData")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            wanted.push(Datasource {
                uid: s(&d, "uid"),
                name,
                kind,
                access: Some(s(&d, "access"))
                    .filter(|a| !a.is_empty())
                    .unwrap_or_else(|| "proxy".into()),
                url: s(&d, "url"),
                user: s(&d, "user"),
                database: s(&d, "database"),
                basic_auth: b(&d, "basicAuth", &file)?.unwrap_or(false),
                basic_auth_user: s(&d, "basicAuthUser"),
                with_credentials: b(&d, "withCredentials", &file)?.unwrap_or(false),
                is_default,
                json_data: d.get("jsonData").cloned().unwrap_or_else(|| json!({})),
                secure_json_data: secure,
                read_only: !editable,
                provisioned: true,
                ..blank_datasource()
            });
        }
        if defaults > 1 {
            return Err(format!(
                "datasource provisioning: {file} config is invalid. Only one datasource per organization can be marked as default"
            ));
        }
    }
    for name in deletes {
        if let Some(uid) = store
            .datasources
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.uid.clone())
        {
            store
                .delete_datasource(&uid, true)
                .map_err(|e| e.message())?;
        }
    }
    let names: BTreeSet<String> = wanted.iter().map(|d| d.name.clone()).collect();
    for ds in wanted {
        let existing = store
            .datasources
            .iter()
            .find(|d| d.name == ds.name)
            .map(|d| d.uid.clone());
        let result = match existing {
            Some(uid) => store.update_datasource(&uid, ds.clone(), None, true),
            None => store.add_datasource(ids, ds.clone()),
        };
        result.map_err(|e| format!("datasource provisioning: '{}': {}", ds.name, e.message()))?;
    }
    if prune {
        let doomed: Vec<String> = store
            .datasources
            .iter()
            .filter(|d| d.provisioned && !names.contains(&d.name))
            .map(|d| d.uid.clone())
            .collect();
        for uid in doomed {
            store
                .delete_datasource(&uid, true)
                .map_err(|e| e.message())?;
        }
    }
    Ok(())
}

// -------------------------------------------------------------------------------- dashboards

struct Provider {
    name: String,
    folder: String,
    folder_uid: String,
    disable_deletion: bool,
    allow_ui_updates: bool,
    path: PathBuf,
    folders_from_files: bool,
}

fn json_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    // Bounded walk: provisioning trees are small; stop at 100k entries.
    let mut budget = 100_000usize;
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                return out;
            }
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Dashboard JSON without the fields provisioning ignores, for change detection.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("version");
    }
    v
}

fn dashboards(store: &mut Store, dir: &Path, ids: &IdGen) -> Result<(), String> {
    let mut providers = Vec::new();
    for path in config_files(dir, false)? {
        let file = file_name(&path);
        let doc = read_yaml(&path)?;
        if doc.is_null() {
            continue;
        }
        for raw in list(&doc, "providers") {
            let p = interpolate(store, raw, &[])?;
            let name = s(&p, "name");
            if name.trim().is_empty() {
                return Err(format!(
                    "dashboard provisioning: failure to parse file {file}: provider has no name"
                ));
            }
            let kind = s(&p, "type");
            if !kind.is_empty() && kind != "file" {
                return Err(format!(
                    "dashboard provisioning: provider '{name}': type '{kind}' is not supported"
                ));
            }
            let options = p.get("options").cloned().unwrap_or(Value::Null);
            let path_s = s(&options, "path");
            if path_s.is_empty() {
                return Err(format!(
                    "dashboard provisioning: failed to create file reader for config '{name}': path is required"
                ));
            }
            let folders_from_files =
                b(&options, "foldersFromFilesStructure", &file)?.unwrap_or(false);
            let folder = s(&p, "folder");
            let folder_uid = s(&p, "folderUid");
            if folders_from_files && (!folder.is_empty() || !folder_uid.is_empty()) {
                return Err(format!(
                    "dashboard provisioning: provider '{name}': 'folder' and 'folderUid' should be empty using 'foldersFromFilesStructure' option"
                ));
            }
            if providers.iter().any(|x: &Provider| x.name == name) {
                return Err(format!(
                    "dashboard provisioning: dashboard name '{name}' is not unique"
                ));
            }
            providers.push(Provider {
                name,
                folder,
                folder_uid,
                disable_deletion: b(&p, "disableDeletion", &file)?.unwrap_or(false),
                allow_ui_updates: b(&p, "allowUiUpdates", &file)?.unwrap_or(false),
                path: PathBuf::from(path_s),
                folders_from_files,
            });
        }
    }

    // Dashboards of providers that no longer exist are deleted.
    let names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    store.dashboards.retain(|d| {
        d.provisioning
            .as_ref()
            .is_none_or(|p| names.contains(&p.provider))
    });

    let mut seen_uids: BTreeSet<String> = BTreeSet::new();
    for p in providers {
        if !p.path.is_dir() {
            store.warnings.push(format!(
                "dashboard provisioning: provider '{}': cannot read directory {}",
                p.name,
                p.path.display()
            ));
            continue;
        }
        let root_folder = if p.folder.is_empty() {
            String::new()
        } else {
            store
                .ensure_folder(ids, &p.folder, Some(&p.folder_uid))
                .map_err(|e| {
                    format!(
                        "dashboard provisioning: provider '{}': {}",
                        p.name,
                        e.message()
                    )
                })?
        };
        let mut seen_files: BTreeSet<String> = BTreeSet::new();
        for file in json_files(&p.path) {
            let rel = file
                .strip_prefix(&p.path)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_else(|_| file.to_string_lossy().into_owned());
            let data: Value = match std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
            {
                Ok(v) if v.is_object() => v,
                Ok(_) => {
                    store.warnings.push(format!(
                        "failed to load dashboard from {rel}: not a JSON object"
                    ));
                    continue;
                }
                Err(e) => {
                    store
                        .warnings
                        .push(format!("failed to load dashboard from {rel}: {e}"));
                    continue;
                }
            };
            let uid = data
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if !uid.is_empty() && !seen_uids.insert(uid.clone()) {
                store.warnings.push(format!(
                    "dashboard provisioning: the same UID is used more than once (uid {uid}, file {rel}); skipped"
                ));
                continue;
            }
            let folder_uid = if p.folders_from_files {
                match Path::new(&rel).parent().and_then(|d| d.components().next()) {
                    Some(first) => {
                        let title = first.as_os_str().to_string_lossy().into_owned();
                        store
                            .ensure_folder(ids, &title, None)
                            .map_err(|e| format!("dashboard provisioning: {}", e.message()))?
                    }
                    None => String::new(),
                }
            } else {
                root_folder.clone()
            };
            seen_files.insert(rel.clone());
            let existing = store.dashboards.iter().find(|d| {
                d.provisioning
                    .as_ref()
                    .is_some_and(|x| x.provider == p.name && x.external_id == rel)
            });
            if let Some(d) = existing
                && comparable(&d.data) == comparable(&data)
                && d.folder_uid == folder_uid
            {
                continue;
            }
            let mut data = data;
            if let Some(o) = data.as_object_mut() {
                o.remove("id");
                if let Some(d) = existing {
                    if uid.is_empty() {
                        o.insert("uid".into(), json!(d.uid));
                    }
                    o.insert("id".into(), json!(d.id));
                }
            }
            let res = store.save_dashboard(
                ids,
                SaveDashboard {
                    dashboard: data,
                    folder_uid: Some(folder_uid),
                    folder_id: None,
                    message: String::new(),
                    overwrite: true,
                    restored_from: 0,
                    actor: "provisioning".into(),
                    provisioning: Some(DashProvisioning {
                        provider: p.name.clone(),
                        external_id: rel.clone(),
                        allow_ui_updates: p.allow_ui_updates,
                    }),
                },
            );
            if let Err(e) = res {
                store.warnings.push(format!(
                    "failed to save dashboard from {rel}: {}",
                    e.message()
                ));
            }
        }
        // Files that disappeared: delete, or with disableDeletion keep as normal dashboards.
        let gone = |d: &super::model::Dashboard| {
            d.provisioning
                .as_ref()
                .is_some_and(|x| x.provider == p.name && !seen_files.contains(&x.external_id))
        };
        if p.disable_deletion {
            for d in store.dashboards.iter_mut().filter(|d| gone(d)) {
                d.provisioning = None;
            }
        } else {
            store.dashboards.retain(|d| !gone(d));
        }
    }
    Ok(())
}

// -------------------------------------------------------------------------------- alerting

/// Slack's chat API, where Grafana sends when a Slack integration has no `url`.
const SLACK_CHAT_API: &str = "https://slack.com/api/chat.postMessage";

/// The per-integration checks Grafana 10.2 runs on provisioned receivers (`grafana/alerting`
/// `receivers/slack` `NewConfig`), for the integration types the double knows; the reasons are
/// Grafana's. Other types are accepted as given.
fn validate_integration(kind: &str, settings: &Value) -> Result<(), String> {
    if kind != "slack" {
        return Ok(());
    }
    let field = |k: &str| s(settings, k).trim().to_owned();
    let url = Some(field("url"))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| SLACK_CHAT_API.into());
    if url == SLACK_CHAT_API {
        if field("recipient").is_empty() {
            return Err("recipient must be specified when using the Slack chat API".into());
        }
        if field("token").is_empty() {
            return Err("token must be specified when using the Slack chat API".into());
        }
    }
    Ok(())
}

fn alerting(store: &mut Store, dir: &Path, ids: &IdGen) -> Result<(), String> {
    let mut docs = Vec::new();
    for path in config_files(dir, true)? {
        let doc = read_yaml(&path)?;
        if !doc.is_null() {
            docs.push((file_name(&path), doc));
        }
    }
    let fail =
        |file: &str, e: String| format!("alerting provisioning: failure to parse file {file}: {e}");

    // Templates are not interpolated (their text is Go template syntax).
    for (file, doc) in &docs {
        for t in list(doc, "templates") {
            let name = s(t, "name");
            if name.trim().is_empty() {
                return Err(fail(file, "template has no name".into()));
            }
            let tpl = Template {
                name: name.clone(),
                template: s(t, "template"),
                provenance: PROVENANCE_FILE.into(),
            };
            match store.templates.iter_mut().find(|x| x.name == name) {
                Some(x) => *x = tpl,
                None => store.templates.push(tpl),
            }
        }
    }
    // Contact points.
    for (file, doc) in &docs {
        for raw in list(doc, "contactPoints") {
            let cp = interpolate(store, raw, &[])?;
            let name = s(&cp, "name");
            if name.trim().is_empty() {
                return Err(fail(file, "no name is set".into()));
            }
            for r in list(&cp, "receivers") {
                let uid = s(r, "uid");
                if uid.trim().is_empty() {
                    return Err(fail(file, format!("{name}: no uid is set")));
                }
                let kind = s(r, "type");
                if kind.trim().is_empty() {
                    return Err(fail(file, format!("{name}: no type is set")));
                }
                let settings = match r.get("settings") {
                    Some(v @ Value::Object(o)) if !o.is_empty() => v.clone(),
                    _ => return Err(fail(file, format!("{name}: no settings are set"))),
                };
                validate_integration(kind.trim(), &settings)
                    .map_err(|e| fail(file, format!("{name}: {e}")))?;
                let contact = ContactPoint {
                    uid: uid.trim().to_owned(),
                    name: name.trim().to_owned(),
                    kind: kind.trim().to_owned(),
                    settings,
                    disable_resolve_message: b(r, "disableResolveMessage", file)?.unwrap_or(false),
                    provenance: PROVENANCE_FILE.into(),
                };
                match store
                    .contact_points
                    .iter_mut()
                    .find(|c| c.uid == contact.uid)
                {
                    Some(c) if c.provenance == PROVENANCE_FILE || c.provenance.is_empty() => {
                        *c = contact
                    }
                    Some(c) => {
                        return Err(format!(
                            "alerting provisioning: contact point '{}': cannot change provenance from '{}' to 'file'",
                            c.uid, c.provenance
                        ));
                    }
                    None => store.contact_points.push(contact),
                }
            }
        }
    }
    // Mute timings are kept as given.
    for (_, doc) in &docs {
        for mt in list(doc, "muteTimes") {
            let mt = interpolate(store, mt, &[])?;
            let name = s(&mt, "name");
            store.mute_timings.retain(|x| s(x, "name") != name);
            store.mute_timings.push(mt);
        }
    }
    // Notification policies (one tree per org).
    for (file, doc) in &docs {
        if !list(doc, "resetPolicies").is_empty() {
            store.policy = super::alerting::default_policy();
            store.policy_provenance = String::new();
        }
        for raw in list(doc, "policies") {
            let mut p = interpolate(store, raw, &[])?;
            if let Some(o) = p.as_object_mut() {
                o.remove("orgId");
            }
            for key in ["group_wait", "group_interval", "repeat_interval"] {
                let v = s(&p, key);
                if !v.is_empty() {
                    parse_duration_secs(&v).map_err(|e| fail(file, e))?;
                }
            }
            store.validate_policy(&p).map_err(|e| fail(file, e))?;
            store.policy = p;
            store.policy_provenance = PROVENANCE_FILE.into();
        }
    }
    for (_, doc) in &docs {
        for d in list(doc, "deleteContactPoints") {
            let uid = s(d, "uid");
            store.contact_points.retain(|c| c.uid != uid);
        }
        for d in list(doc, "deleteTemplates") {
            let name = s(d, "name");
            store.templates.retain(|t| t.name != name);
        }
    }
    // Alert rules.
    for (_, doc) in &docs {
        for d in list(doc, "deleteRules") {
            let uid = s(d, "uid");
            store.rules.retain(|r| r.uid != uid);
        }
    }
    for (file, doc) in &docs {
        for raw in list(doc, "groups") {
            let g = interpolate(store, raw, &["rules"])?;
            let name = s(&g, "name");
            if name.trim().is_empty() {
                return Err(fail(file, "rule group has no name set".into()));
            }
            let folder = s(&g, "folder");
            if folder.trim().is_empty() {
                return Err(fail(file, "rule group has no folder set".into()));
            }
            let interval =
                parse_duration_secs(&s(&g, "interval")).map_err(|e| fail(file, e))? as i64;
            if interval <= 0 || interval % 10 != 0 {
                return Err(fail(
                    file,
                    format!(
                        "rule group '{name}': interval ({interval}s) should be non-zero and divided exactly by scheduler interval: 10s"
                    ),
                ));
            }
            let folder_uid = store
                .ensure_folder(ids, &folder, None)
                .map_err(|e| fail(file, e.message()))?;
            for raw_rule in list(raw, "rules") {
                let rule =
                    file_rule(store, raw_rule, &folder_uid, &name).map_err(|e| fail(file, e))?;
                store
                    .upsert_rule(ids, rule)
                    .map_err(|e| format!("alerting provisioning: {}", e.message()))?;
            }
            store.rule_groups.insert((folder_uid, name), interval);
        }
    }
    store.prune_groups();
    Ok(())
}

/// Maps a rule of an alerting file; annotations and query models are taken raw.
fn file_rule(
    store: &Store,
    raw: &Value,
    folder_uid: &str,
    group: &str,
) -> Result<AlertRule, String> {
    let r = interpolate(store, raw, &["annotations", "model"])?;
    let title = s(&r, "title");
    if title.is_empty() {
        return Err("rule has no title set".into());
    }
    let uid = s(&r, "uid");
    if uid.is_empty() {
        return Err(format!("rule '{title}' failed to parse: no UID set"));
    }
    let for_secs = match s(&r, "for") {
        f if f.is_empty() => 0,
        f => parse_duration_secs(&f)
            .map_err(|e| format!("rule '{title}' failed to parse 'for' field: {e}"))?
            as i64,
    };
    let exec_err_state = match s(&r, "execErrState").trim() {
        "" => "Alerting".to_owned(),
        x @ ("Error" | "Alerting" | "OK") => x.to_owned(),
        x => {
            return Err(format!(
                "rule '{title}' failed to parse: unknown Exec Error state option {x}"
            ));
        }
    };
    let no_data_state = match s(&r, "noDataState").trim() {
        "" => "NoData".to_owned(),
        x @ ("NoData" | "Alerting" | "OK") => x.to_owned(),
        x => {
            return Err(format!(
                "rule '{title}' failed to parse: unknown NoData state option {x}"
            ));
        }
    };
    let mut data = Vec::new();
    for q in list(&r, "data") {
        let mut q = q.clone();
        if let Some(o) = q.as_object_mut()
            && !o.contains_key("relativeTimeRange")
        {
            o.insert("relativeTimeRange".into(), json!({ "from": 0, "to": 0 }));
        }
        validate_query(&q).map_err(|e| format!("rule '{title}' failed to parse: {e}"))?;
        data.push(q);
    }
    if data.is_empty() {
        return Err(format!("rule '{title}' failed to parse: no data set"));
    }
    let condition = s(&r, "condition");
    if condition.is_empty() {
        return Err(format!("rule '{title}' failed to parse: no condition set"));
    }
    let dashboard_uid = Some(s(&r, "dashboardUid"))
        .filter(|d| !d.is_empty())
        .or_else(|| Some(s(&r, "dasboardUid")).filter(|d| !d.is_empty()));
    let panel_id = match r.get("panelId") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(t)) if !t.is_empty() => Some(
            t.parse()
                .map_err(|_| format!("rule '{title}' failed to parse: panelId is not a number"))?,
        ),
        _ => None,
    };
    let string_map = |key: &str| -> Map<String, Value> {
        r.get(key)
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(x) => Value::String(x.clone()),
                            other => Value::String(other.to_string()),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(AlertRule {
        id: 0,
        uid,
        org_id: 1,
        folder_uid: folder_uid.to_owned(),
        rule_group: group.to_owned(),
        title,
        condition,
        data,
        no_data_state,
        exec_err_state,
        for_secs,
        annotations: string_map("annotations"),
        labels: string_map("labels"),
        is_paused: b(&r, "isPaused", "")?.unwrap_or(false),
        provenance: PROVENANCE_FILE.into(),
        updated_ms: now_ms(),
        dashboard_uid,
        panel_id,
        notification_settings: r.get("notification_settings").cloned(),
    })
}
