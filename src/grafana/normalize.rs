//! Dashboards made comparable: what Grafana adds or changes when it stores or the UI saves a
//! dashboard, removed from both sides, so a dashboard pushed and read back compares equal (no
//! perpetual diffs, the most repeated complaint of grizzly and terraform-provider users).
//!
//! What is removed: the storage fields (`id`, `version`, `iteration`); each panel's
//! `pluginVersion` (set by the UI on every save); and, at the top and in each panel, fields
//! whose value is the default Grafana 10.2's UI writes when it saves (`editable: true`,
//! `graphTooltip: 0`, `links: []`, `liveNow: false`, …). Keys compare sorted (JSON objects
//! are ordered maps here). `schemaVersion` is compared as a field: no migration between
//! schema versions is made (our dashboards are written at 10.2's latest and Grafana 10.2
//! keeps it on save).

use serde_json::{Value, json};

/// Fields of the dashboard Grafana owns (identity in its database, save counters).
const STORAGE: &[&str] = &["id", "version", "iteration"];

/// Top-level fields with the value the UI writes when a dashboard has none.
fn dashboard_defaults() -> [(&'static str, Value); 9] {
    [
        ("editable", json!(true)),
        ("fiscalYearStartMonth", json!(0)),
        ("graphTooltip", json!(0)),
        ("links", json!([])),
        ("liveNow", json!(false)),
        ("gnetId", Value::Null),
        ("timepicker", json!({})),
        ("weekStart", json!("")),
        ("tags", json!([])),
    ]
}

/// Panel fields with the value the UI writes when a panel has none.
fn panel_defaults() -> [(&'static str, Value); 4] {
    [
        ("links", json!([])),
        ("transparent", json!(false)),
        ("transformations", json!([])),
        ("options", json!({})),
    ]
}

/// `dashboard` as it is compared.
pub fn normalize(dashboard: &Value) -> Value {
    let mut d = dashboard.clone();
    if let Some(map) = d.as_object_mut() {
        for key in STORAGE {
            map.remove(*key);
        }
        for (key, default) in dashboard_defaults() {
            if map.get(key) == Some(&default) {
                map.remove(key);
            }
        }
        if let Some(Value::Array(panels)) = map.get_mut("panels") {
            panels.iter_mut().for_each(normalize_panel);
        }
    }
    d
}

fn normalize_panel(panel: &mut Value) {
    let Some(map) = panel.as_object_mut() else {
        return;
    };
    map.remove("pluginVersion");
    for (key, default) in panel_defaults() {
        if map.get(key) == Some(&default) {
            map.remove(key);
        }
    }
    if let Some(Value::Object(fc)) = map.get_mut("fieldConfig")
        && fc.get("overrides") == Some(&json!([]))
    {
        fc.remove("overrides");
    }
    // A row's panels (collapsed rows keep theirs inside).
    if let Some(Value::Array(inner)) = map.get_mut("panels") {
        inner.iter_mut().for_each(normalize_panel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_grafana_adds_on_save_is_not_a_difference() {
        let ours = json!({
            "uid": "u", "title": "T", "schemaVersion": 39,
            "panels": [{"id": 1, "title": "A", "type": "stat", "fieldConfig": {"defaults": {"unit": "ms"}}}]
        });
        let saved_by_the_ui = json!({
            "id": 42, "uid": "u", "title": "T", "schemaVersion": 39, "version": 7,
            "editable": true, "graphTooltip": 0, "links": [], "liveNow": false, "weekStart": "",
            "fiscalYearStartMonth": 0, "timepicker": {},
            "panels": [{"id": 1, "title": "A", "type": "stat", "pluginVersion": "10.2.3",
                        "links": [], "transparent": false,
                        "fieldConfig": {"defaults": {"unit": "ms"}, "overrides": []}}]
        });
        assert_eq!(normalize(&ours), normalize(&saved_by_the_ui));
    }

    #[test]
    fn a_value_other_than_the_default_stays() {
        let d =
            json!({"uid": "u", "editable": false, "panels": [{"id": 1, "links": [{"url": "x"}]}]});
        assert_eq!(normalize(&d), d);
    }
}
