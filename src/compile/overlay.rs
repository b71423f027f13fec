//! Dashboard overlays: the UI edits `dashboards pull` brought back, kept as an RFC 6902 JSON
//! Patch in `dashboards-src/overrides/<stack>/<uid>.json` (one stack's; `overrides/<uid>.json`:
//! every stack's) that `generate` applies after rendering the
//! template — so templates stay templates and a UI edit survives every regeneration.
//!
//! Each change is guarded by `test` operations: the panel is still the one the edit was made on
//! (its `id` at that index) and the field still holds what the edit changed. When a template
//! change moved either, `generate` refuses and names the panel and the field (a conflict),
//! instead of applying the edit somewhere else or silently dropping it.
//!
//! Owns: making an overlay from two dashboards and applying one. May not: do IO.

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The overlay that turns `template` (the dashboard as its template renders it) into `live`
/// (Grafana's, normalised by the caller): `[]` when they are the same.
pub fn make(template: &Value, live: &Value) -> Vec<Value> {
    let ops = serde_json::to_value(json_patch::diff(template, live)).unwrap_or(json!([]));
    let mut out = Vec::new();
    for op in ops.as_array().into_iter().flatten() {
        let path = op["path"].as_str().unwrap_or_default();
        // Pin the panel: the edit applies to the panel with this id, at this index.
        if let Some(panel) = panel_pointer(path)
            && let Some(id) = template.pointer(&format!("{panel}/id"))
        {
            let pin = json!({"op": "test", "path": format!("{panel}/id"), "value": id});
            if !out.contains(&pin) {
                out.push(pin);
            }
        }
        // What the edit changed must still be there.
        if matches!(op["op"].as_str(), Some("replace" | "remove"))
            && let Some(old) = template.pointer(path)
        {
            out.push(json!({"op": "test", "path": path, "value": old}));
        }
        out.push(op.clone());
    }
    out
}

/// `/panels/3` (or `/panels/3/panels/1` for a panel in a row) of a pointer into a panel.
fn panel_pointer(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let mut end = None;
    let mut i = 1;
    while i + 1 < parts.len() && parts[i] == "panels" && parts[i + 1].parse::<usize>().is_ok() {
        end = Some(i + 1);
        i += 2;
    }
    end.map(|e| parts[..=e].join("/"))
}

/// Apply the overlay `patch` (from `origin`, e.g. `dashboards-src/overrides/promo-marketing.json`)
/// to the rendered dashboard `text`; canonical JSON text back.
pub fn apply(text: &str, patch_text: &str, origin: &str) -> Result<String> {
    let mut doc: Value = serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("a rendered dashboard is not JSON: {e}")))?;
    let uid = doc["uid"].clone();
    let remake = remake_help(&uid, origin);
    let not_a_patch = |e: serde_json::Error| {
        Error::usage(
            format!("{origin}: not a JSON Patch (RFC 6902) array: {e}"),
            format!("fix the file, or {remake}"),
        )
    };
    let ops: Vec<Value> = serde_json::from_str(patch_text).map_err(not_a_patch)?;
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops.clone())).map_err(not_a_patch)?;
    if let Err(e) = json_patch::patch(&mut doc, &patch) {
        let op = ops.get(e.operation).cloned().unwrap_or_default();
        let path = op["path"].as_str().unwrap_or_default().to_string();
        return Err(Error::usage(
            format!(
                "{origin}: the UI edit no longer applies to the template: {} ({})",
                describe(&doc, &path, &op),
                e.kind
            ),
            format!(
                "the template changed where the edit was made; keep one side, then run `promo-infra generate`. \
                 To keep the UI edit on top of the new template, run `promo-infra dashboards pull {uid}` \
                 (it makes the overlay again from what Grafana has). To keep the template's value, delete \
                 {origin} (the next apply or `promo-infra dashboards push {uid}` puts it into Grafana)",
                uid = uid_text(&uid)
            ),
        ));
    }
    check_patched(&doc, &uid, origin, &remake)?;
    let mut out = serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::internal(format!("cannot serialise a dashboard: {e}")))?;
    out.push('\n');
    Ok(out)
}

/// What an overlay may not do, since a UI edit cannot: make the dashboard something else than a
/// dashboard object, change its uid (the manifest's; another dashboard's would overwrite that
/// one in Grafana), or give two panels one id (rows' panels included).
fn check_patched(doc: &Value, uid: &Value, origin: &str, remake: &str) -> Result<()> {
    let refuse = |what: String| {
        Err(Error::usage(
            format!("{origin}: {what}"),
            format!("an overlay holds UI edits of panels and settings; fix the file, or {remake}"),
        ))
    };
    if !doc.is_object() {
        return refuse("the edited dashboard is no longer a JSON object".into());
    }
    if doc["uid"] != *uid {
        return refuse(format!(
            "the edit changes the dashboard's uid ({uid} → {}): the uid is the manifest's",
            doc["uid"]
        ));
    }
    let top = doc["panels"].as_array().into_iter().flatten();
    let nested = top.clone().filter_map(|p| p["panels"].as_array()).flatten();
    let mut seen = std::collections::BTreeSet::new();
    for id in top.chain(nested).filter_map(|p| p.get("id")) {
        if !seen.insert(id.to_string()) {
            return refuse(format!("the edit gives two panels the id {id}"));
        }
    }
    Ok(())
}

/// The dashboard's uid as the user types it (`promo-marketing`, not `"promo-marketing"`).
fn uid_text(uid: &Value) -> String {
    uid.as_str().map_or_else(|| uid.to_string(), str::to_string)
}

/// The ways out of an overlay that cannot be read or applied as it is: make it again from
/// Grafana, or drop it.
fn remake_help(uid: &Value, origin: &str) -> String {
    format!(
        "make it again from what Grafana has with `promo-infra dashboards pull {}`, or delete {origin} to drop the edit",
        uid_text(uid)
    )
}

/// `panel "Response time" › fieldConfig.defaults.unit: the template has "ns", the edit was
/// made against "ms"` for the operation `op` at `path` in the rendered `doc`.
fn describe(doc: &Value, path: &str, op: &Value) -> String {
    let (place, field) = match panel_pointer(path) {
        Some(panel) => {
            let title = doc
                .pointer(&format!("{panel}/title"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let field = path[panel.len()..]
                .trim_start_matches('/')
                .replace('/', ".");
            (format!("panel {title:?}"), field)
        }
        None => (
            "dashboard".to_string(),
            path.trim_start_matches('/').replace('/', "."),
        ),
    };
    let now = doc
        .pointer(path)
        .map_or_else(|| "nothing".to_string(), Value::to_string);
    match op["op"].as_str() {
        Some("test") if field == "id" => format!(
            "{place}: the panel at this place is no longer the one edited (its id is now {now}, the edit was made on id {})",
            op["value"]
        ),
        Some("test") => format!(
            "{place} › {field}: the template has {now}, the edit was made against {}",
            op["value"]
        ),
        _ => format!(
            "{place} › {field}: cannot apply `{}` here",
            op["op"].as_str().unwrap_or("?")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dash(unit: &str, title: &str) -> Value {
        json!({"uid": "u", "panels": [
            {"id": 1, "title": "Users", "type": "stat"},
            {"id": 2, "title": title, "type": "timeseries", "fieldConfig": {"defaults": {"unit": unit}}}
        ]})
    }

    fn text(v: &Value) -> String {
        format!("{}\n", serde_json::to_string_pretty(v).expect("json"))
    }

    #[test]
    fn an_overlay_replays_the_edit_on_the_template() {
        let (template, live) = (dash("ms", "Response time"), dash("s", "Response time"));
        let overlay = make(&template, &live);
        assert_eq!(
            overlay,
            vec![
                json!({"op": "test", "path": "/panels/1/id", "value": 2}),
                json!({"op": "test", "path": "/panels/1/fieldConfig/defaults/unit", "value": "ms"}),
                json!({"op": "replace", "path": "/panels/1/fieldConfig/defaults/unit", "value": "s"}),
            ]
        );
        let patch = serde_json::to_string(&overlay).expect("json");
        assert_eq!(
            apply(&text(&template), &patch, "o.json").expect("applies"),
            text(&live)
        );
        // A template change elsewhere (the panel's title) keeps the edit.
        let moved_on = dash("ms", "Temps de réponse");
        assert_eq!(
            apply(&text(&moved_on), &patch, "o.json").expect("applies"),
            text(&dash("s", "Temps de réponse"))
        );
        assert!(make(&template, &template).is_empty());
    }

    #[test]
    fn an_overlay_cannot_replace_the_dashboard_change_its_uid_or_duplicate_a_panel_id() {
        let template = text(&dash("ms", "Response time"));
        let refused = |patch: &str| {
            apply(&template, patch, "dashboards-src/overrides/u.json")
                .expect_err(patch)
                .to_string()
        };
        assert_eq!(
            refused(r#"[{"op":"replace","path":"","value":"not a dashboard"}]"#),
            "dashboards-src/overrides/u.json: the edited dashboard is no longer a JSON object"
        );
        assert_eq!(
            refused(r#"[{"op":"replace","path":"/uid","value":"k6-technical"}]"#),
            "dashboards-src/overrides/u.json: the edit changes the dashboard's uid (\"u\" → \"k6-technical\"): the uid is the manifest's"
        );
        assert_eq!(
            refused(r#"[{"op":"remove","path":"/uid"}]"#),
            "dashboards-src/overrides/u.json: the edit changes the dashboard's uid (\"u\" → null): the uid is the manifest's"
        );
        assert_eq!(
            refused(r#"[{"op":"add","path":"/panels/-","value":{"id":1}}]"#),
            "dashboards-src/overrides/u.json: the edit gives two panels the id 1"
        );
        assert_eq!(
            refused(
                r#"[{"op":"add","path":"/panels/-","value":{"id":9,"type":"row","panels":[{"id":2}]}}]"#
            ),
            "dashboards-src/overrides/u.json: the edit gives two panels the id 2"
        );
        // A title edit (the UI can rename a dashboard) is an edit like any other.
        apply(
            &template,
            r#"[{"op":"add","path":"/title","value":"Promo"}]"#,
            "o.json",
        )
        .expect("a title is the user's");
    }

    #[test]
    fn a_template_change_of_the_edited_field_is_a_conflict_naming_panel_and_field() {
        let overlay = make(&dash("ms", "Response time"), &dash("s", "Response time"));
        let patch = serde_json::to_string(&overlay).expect("json");
        let err = apply(
            &text(&dash("ns", "Response time")),
            &patch,
            "dashboards-src/overrides/u.json",
        )
        .expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "dashboards-src/overrides/u.json: the UI edit no longer applies to the template: panel \"Response time\" › fieldConfig.defaults.unit: the template has \"ns\", the edit was made against \"ms\" (value did not match)"
        );
    }

    #[test]
    fn the_help_of_a_bad_overlay_names_the_dashboard_and_the_file_not_a_placeholder() {
        use miette::Diagnostic;
        let template = text(&dash("ms", "Response time"));
        let help = |patch: &str| {
            apply(&template, patch, "dashboards-src/overrides/s/u.json")
                .expect_err(patch)
                .help()
                .map(|h| h.to_string())
                .unwrap_or_default()
        };
        let ways_out = "make it again from what Grafana has with `promo-infra dashboards pull u`, \
                        or delete dashboards-src/overrides/s/u.json to drop the edit";
        assert_eq!(help("{"), format!("fix the file, or {ways_out}"));
        assert_eq!(
            help(r#"[{"op":"remove","path":"/uid"}]"#),
            format!(
                "an overlay holds UI edits of panels and settings; fix the file, or {ways_out}"
            )
        );
    }

    #[test]
    fn a_panel_moved_by_the_template_is_a_conflict_not_an_edit_of_another_panel() {
        let overlay = make(&dash("ms", "Response time"), &dash("s", "Response time"));
        let patch = serde_json::to_string(&overlay).expect("json");
        let mut swapped = dash("ms", "Response time");
        swapped["panels"].as_array_mut().expect("panels").swap(0, 1);
        let err = apply(&text(&swapped), &patch, "o.json").expect_err("conflict");
        assert!(
            err.to_string().contains("panel \"Users\": the panel at this place is no longer the one edited (its id is now 1, the edit was made on id 2)"),
            "{err}"
        );
    }
}
