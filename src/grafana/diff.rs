//! The semantic diff of two dashboards: by panel (named by its title) and field, after
//! [`super::normalize`]: `~ panel "Response time" › fieldConfig.defaults.unit: "ms" → "s"`.
//!
//! Panels are matched by `id` (Grafana keeps a panel's id when it is edited or moved), by
//! title when a panel has no id. Row panels' inner panels count as panels.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::normalize::normalize;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The panel it is in (its title), `None` for a dashboard-level field.
    pub panel: Option<String>,
    /// Dotted field path inside the panel or dashboard (`fieldConfig.defaults.unit`); empty
    /// when a whole panel is added or removed.
    pub path: String,
    /// Value on the first side (`None`: absent).
    pub before: Option<String>,
    /// Value on the second side (`None`: absent).
    pub after: Option<String>,
}

impl Change {
    /// `~ panel "Response time" › fieldConfig.defaults.unit: "ms" → "s"`.
    pub fn line(&self) -> String {
        let mark = match (&self.before, &self.after) {
            (None, Some(_)) => '+',
            (Some(_), None) => '-',
            _ => '~',
        };
        let place = match (&self.panel, self.path.is_empty()) {
            (Some(p), true) => format!("panel {p:?}"),
            (Some(p), false) => format!("panel {p:?} › {}", self.path),
            (None, _) => self.path.clone(),
        };
        if self.path.is_empty() {
            return format!("{mark} {place}");
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        match mark {
            '+' => format!("+ {place}: {}", show(&self.after)),
            '-' => format!("- {place}: {}", show(&self.before)),
            _ => format!("~ {place}: {} → {}", show(&self.before), show(&self.after)),
        }
    }
}

/// Every panel, rows' inner panels included, by id (or title), with its title.
pub(super) fn panels(d: &Value) -> BTreeMap<String, (String, Value)> {
    into_panels(d["panels"].clone())
}

/// [`panels`] of a dashboard's `panels` list, taken (no copy of any panel).
pub(super) fn into_panels(list: Value) -> BTreeMap<String, (String, Value)> {
    fn walk(list: Value, out: &mut BTreeMap<String, (String, Value)>) {
        let Value::Array(list) = list else {
            return;
        };
        for mut p in list {
            let title = p["title"].as_str().unwrap_or("").to_string();
            let key = match &p["id"] {
                Value::Number(n) => format!("id {n}"),
                _ => format!("title {title}"),
            };
            if let Some(inner) = p.as_object_mut().and_then(|map| map.remove("panels")) {
                walk(inner, out);
            }
            out.insert(key, (title, p));
        }
    }
    let mut out = BTreeMap::new();
    walk(list, &mut out);
    out
}

/// What differs from `before` to `after` (both normalised first), dashboard-level fields
/// first, then panel by panel in `before`'s order of ids.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let (b, a) = (normalize(before), normalize(after));
    let strip = |d: &Value| {
        let mut d = d.clone();
        if let Some(map) = d.as_object_mut() {
            map.remove("panels");
        }
        d
    };
    let mut out: Vec<Change> = crate::plan::diff(&strip(&b), &strip(&a))
        .into_iter()
        .map(|c| Change {
            panel: None,
            path: c.path,
            before: c.before,
            after: c.after,
        })
        .collect();
    let (pb, pa) = (panels(&b), panels(&a));
    let keys: std::collections::BTreeSet<&String> = pb.keys().chain(pa.keys()).collect();
    for key in keys {
        match (pb.get(key), pa.get(key)) {
            (Some((title, _)), None) => out.push(Change {
                panel: Some(title.clone()),
                path: String::new(),
                before: Some(key.clone()),
                after: None,
            }),
            (None, Some((title, _))) => out.push(Change {
                panel: Some(title.clone()),
                path: String::new(),
                before: None,
                after: Some(key.clone()),
            }),
            (Some((tb, vb)), Some((ta, va))) => {
                let title = if ta.is_empty() { tb } else { ta };
                out.extend(crate::plan::diff(vb, va).into_iter().map(|c| Change {
                    panel: Some(title.clone()),
                    path: c.path,
                    before: c.before,
                    after: c.after,
                }));
            }
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dash(unit: &str, extra_panel: bool) -> Value {
        let mut panels = vec![
            json!({"id": 1, "title": "Response time", "type": "timeseries",
                   "fieldConfig": {"defaults": {"unit": unit}}}),
            json!({"id": 2, "title": "Row", "type": "row", "collapsed": true,
                   "panels": [{"id": 3, "title": "Errors", "type": "stat"}]}),
        ];
        if extra_panel {
            panels.push(json!({"id": 9, "title": "Notes", "type": "text"}));
        }
        json!({"uid": "u", "title": "T", "panels": panels})
    }

    #[test]
    fn a_ui_edit_is_one_field_of_one_panel() {
        let changes = diff(&dash("ms", false), &dash("s", false));
        assert_eq!(
            changes.iter().map(Change::line).collect::<Vec<_>>(),
            vec![r#"~ panel "Response time" › fieldConfig.defaults.unit: "ms" → "s""#]
        );
    }

    #[test]
    fn added_and_removed_panels_and_dashboard_fields() {
        let mut after = dash("ms", true);
        after["title"] = json!("Black Friday");
        let lines: Vec<String> = diff(&dash("ms", false), &after)
            .iter()
            .map(Change::line)
            .collect();
        assert_eq!(
            lines,
            vec![
                r#"~ title: "T" → "Black Friday""#.to_string(),
                r#"+ panel "Notes""#.to_string()
            ]
        );
        let back: Vec<String> = diff(&after, &dash("ms", false))
            .iter()
            .map(Change::line)
            .collect();
        assert_eq!(back[1], r#"- panel "Notes""#);
    }

    #[test]
    fn a_panel_inside_a_collapsed_row_is_named() {
        let mut after = dash("ms", false);
        after["panels"][1]["panels"][0]["type"] = json!("gauge");
        assert_eq!(
            diff(&dash("ms", false), &after)
                .iter()
                .map(Change::line)
                .collect::<Vec<_>>(),
            vec![r#"~ panel "Errors" › type: "stat" → "gauge""#]
        );
    }

    #[test]
    fn the_same_dashboard_read_back_from_grafana_has_no_diff() {
        let mut stored = dash("ms", false);
        stored["id"] = json!(12);
        stored["version"] = json!(3);
        stored["panels"][0]["pluginVersion"] = json!("10.2.3");
        assert!(diff(&dash("ms", false), &stored).is_empty());
    }
}
