//! The manifest's JSON Schema: the schemars derive of the model, plus what depends on the
//! project (the dashboard templates that exist).
//!
//! Owns: the schema's content. May not: read files or the environment, print.

use std::collections::BTreeSet;

use super::Manifest;

/// The JSON Schema of a manifest whose dashboards may use `templates`.
pub fn json_schema(templates: &BTreeSet<String>) -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default();
    if let Some(template) = schema.pointer_mut("/$defs/Dashboard/properties/template")
        && let Some(obj) = template.as_object_mut()
    {
        obj.insert("enum".into(), templates.iter().cloned().collect());
    }
    schema
}
