//! A dashboard as plans compare it: one digest of its own settings and one per panel, by title,
//! over the normalised model ([`super::normalize`]). Equal digests mean `dashboards diff` finds
//! nothing; a changed panel digest names the panel a plan updates.
//!
//! Owns: those digests. May not: do IO.

use std::collections::BTreeMap;

use serde_json::Value;

use sha2::{Digest, Sha256};

use super::diff::into_panels;
use super::normalize::normalize;

/// Hex characters of a digest shown in plans.
const SHOWN: usize = 12;

/// Digests of a dashboard model: `(settings, panels by title)`.
///
/// A title used by two panels is told apart by the panel's id (`Errors (id 7)`); a panel
/// without a title is `(untitled, id 7)`.
pub fn digest(model: &Value) -> (String, BTreeMap<String, String>) {
    let mut settings = normalize(model);
    let list = settings
        .as_object_mut()
        .and_then(|map| map.remove("panels"))
        .unwrap_or(Value::Null);
    let all = into_panels(list);
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (title, _) in all.values() {
        *count.entry(title.as_str()).or_default() += 1;
    }
    let by_title = all
        .iter()
        .map(|(key, (title, body))| {
            let id = key.strip_prefix("id ").unwrap_or(key);
            let name = match (title.is_empty(), count.get(title.as_str()) > Some(&1)) {
                (true, _) => format!("(untitled, id {id})"),
                (false, true) => format!("{title} (id {id})"),
                (false, false) => title.clone(),
            };
            (name, short(body))
        })
        .collect();
    (short(&settings), by_title)
}

/// The first [`SHOWN`] hex characters of the sha256 of `v`'s compact JSON, serialised straight
/// into the hash.
fn short(v: &Value) -> String {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(Sha256::new());
    // Writing a `Value` into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut h, v);
    let mut hex = hex::encode(h.0.finalize());
    hex.truncate(SHOWN);
    hex
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn what_grafana_adds_on_save_changes_no_digest_and_an_edit_changes_only_its_panel() {
        let ours = json!({"uid": "u", "title": "T", "panels": [
            {"id": 1, "title": "Users", "type": "stat"},
            {"id": 2, "title": "Errors", "type": "stat", "fieldConfig": {"defaults": {"unit": "%"}}},
        ]});
        let saved = json!({"id": 9, "version": 4, "uid": "u", "title": "T", "editable": true,
            "panels": [
            {"id": 1, "title": "Users", "type": "stat", "pluginVersion": "10.2.3"},
            {"id": 2, "title": "Errors", "type": "stat", "fieldConfig": {"defaults": {"unit": "%"}, "overrides": []}},
        ]});
        assert_eq!(digest(&ours), digest(&saved));
        let mut edited = saved.clone();
        edited["panels"][1]["fieldConfig"]["defaults"]["unit"] = json!("percentunit");
        let (s0, p0) = digest(&ours);
        let (s1, p1) = digest(&edited);
        assert_eq!(s0, s1);
        assert_eq!(p0["Users"], p1["Users"]);
        assert_ne!(p0["Errors"], p1["Errors"]);
        assert_eq!(p0["Errors"].len(), SHOWN);
    }

    #[test]
    fn twin_and_missing_titles_are_told_apart_by_id() {
        let d = json!({"panels": [
            {"id": 1, "title": "A"}, {"id": 2, "title": "A"}, {"id": 3},
            {"id": 4, "title": "Row", "type": "row", "panels": [{"id": 5, "title": "Inner"}]},
        ]});
        let names: Vec<String> = digest(&d).1.into_keys().collect();
        assert_eq!(
            names,
            ["(untitled, id 3)", "A (id 1)", "A (id 2)", "Inner", "Row"]
        );
    }
}
