//! Dashboards: handlebars templates from `dashboards-src/` (strict mode, no HTML escaping),
//! rendered, parsed back as JSON and re-emitted canonically.
//!
//! Owns: dashboard templates, their strings and rendering.
//! May not: write files (but the render cache, through `dashboard_cache`), read the environment,
//! or talk to Grafana.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use handlebars::Handlebars;
use miette::{NamedSource, SourceSpan};
use serde_json::{Value, json};

use super::services::{control_api_url, grafana_url};
use super::source_files::{read_sorted, read_sorted_if_dir, sorted_paths, sorted_paths_if_dir};
use super::{dashboard_cache, grafana::datasource_uid};
use crate::error::{Error, Result, TemplateError};
use crate::manifest::{Dashboard, LOCALES, Manifest};

// Built-in templates, panel partials and strings, embedded from this repository's
// `dashboards-src/` by build.rs: BUILTIN_TEMPLATES, BUILTIN_PARTIALS, BUILTIN_I18N.
include!(concat!(env!("OUT_DIR"), "/builtin_dashboards.rs"));

/// One template: its text and where it came from.
#[derive(Debug, Clone)]
pub struct Template {
    /// Display path (`dashboards-src/marketing.json.hbs` or `(built in) marketing`).
    pub origin: String,
    /// Handlebars source.
    pub text: String,
}

/// The dashboard templates and strings available to a project: the project's
/// `dashboards-src/` overrides the built-in ones file by file.
#[derive(Debug, Clone)]
pub struct Templates {
    templates: BTreeMap<String, Template>,
    /// Partials (`{{> marketing/01-health}}`): `dashboards-src/partials/<group>/<name>.hbs`.
    /// Big dashboards are split into one partial per panel: handlebars' compile time grows with
    /// the square of a template's size, so small files compile much faster.
    partials: BTreeMap<String, Template>,
    i18n: BTreeMap<String, (String, String)>,
    /// Overlays of UI edits (RFC 6902; the text is the patch, [`super::overlay`]): by uid from
    /// `dashboards-src/overrides/<uid>.json` (every stack's), by `<stack>/<uid>` from
    /// `overrides/<stack>/<uid>.json` (that stack's, first).
    overlays: BTreeMap<String, Template>,
    cache: Arc<Cache>,
    /// Where rendered dashboards are cached across runs (see `dashboard_cache`); none: no cache.
    render_cache: Option<PathBuf>,
}

/// Compiled templates and parsed strings, shared by every dashboard rendered in this process:
/// compiling a large template is by far the most expensive step, so each is compiled once.
#[derive(Default)]
struct Cache {
    registry: std::sync::Mutex<Option<Handlebars<'static>>>,
    strings: std::sync::Mutex<BTreeMap<String, Value>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}

/// Built-in `(name, text)` pairs as templates, each with the origin `origin(name)` shows.
fn builtin_templates(
    items: &[(&str, &str)],
    origin: impl Fn(&str) -> String,
) -> BTreeMap<String, Template> {
    items
        .iter()
        .map(|(name, text)| {
            let template = Template {
                origin: origin(name),
                text: (*text).to_string(),
            };
            ((*name).to_string(), template)
        })
        .collect()
}

impl Templates {
    /// Only the templates compiled into the binary.
    pub fn builtin() -> Self {
        Self {
            templates: builtin_templates(BUILTIN_TEMPLATES, |name| {
                format!("(built in) {name}.json.hbs")
            }),
            partials: builtin_templates(BUILTIN_PARTIALS, |name| {
                format!("(built in) partials/{name}.hbs")
            }),
            i18n: BUILTIN_I18N
                .iter()
                .map(|(l, t)| {
                    (
                        (*l).to_string(),
                        (format!("(built in) i18n/{l}.yaml"), (*t).to_string()),
                    )
                })
                .collect(),
            overlays: BTreeMap::new(),
            cache: Arc::default(),
            render_cache: None,
        }
    }

    /// Cache rendered dashboards under `dir` (`dashboard_cache::dir(project root)`), first
    /// removing what a killed run left there.
    #[must_use]
    pub fn with_render_cache(mut self, dir: PathBuf) -> Self {
        dashboard_cache::remove_leftovers(&dir);
        self.render_cache = Some(dir);
        self
    }

    /// Built-ins overridden by `<dir>/*.json.hbs` and `<dir>/i18n/<locale>.yaml`.
    pub fn load(dir: &Path, display_prefix: &str) -> Result<Self> {
        let mut out = Self::builtin();
        if !dir.is_dir() {
            return Ok(out);
        }
        for (file, stem, text) in read_sorted(dir, ".json.hbs")? {
            let origin = format!("{display_prefix}/{file}");
            out.templates.insert(stem, Template { origin, text });
        }
        let partials_dir = dir.join("partials");
        if partials_dir.is_dir() {
            for group_dir in sorted_paths(&partials_dir)?
                .into_iter()
                .filter(|p| p.is_dir())
            {
                let group = group_dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                for (file, stem, text) in read_sorted(&group_dir, ".hbs")? {
                    let origin = format!("{display_prefix}/partials/{group}/{file}");
                    out.partials
                        .insert(format!("{group}/{stem}"), Template { origin, text });
                }
            }
        }
        let overrides = dir.join(OVERRIDES_DIR);
        // `overrides/<uid>.json` for every stack; `overrides/<stack>/<uid>.json` for one, first.
        for (sub, key) in std::iter::once((overrides.clone(), String::new())).chain(
            sorted_paths_if_dir(&overrides)?
                .into_iter()
                .filter(|p| p.is_dir())
                .filter_map(|p| {
                    let stack = p.file_name()?.to_str()?.to_string();
                    Some((p, format!("{stack}/")))
                }),
        ) {
            for (file, uid, text) in read_sorted_if_dir(&sub, ".json")? {
                let origin = format!("{display_prefix}/{OVERRIDES_DIR}/{key}{file}");
                out.overlays
                    .insert(format!("{key}{uid}"), Template { origin, text });
            }
        }
        for locale in LOCALES {
            let path = dir.join("i18n").join(format!("{locale}.yaml"));
            if path.is_file() {
                let text = fs_err::read_to_string(&path)
                    .map_err(|e| Error::io("cannot read", &path, e))?;
                out.i18n.insert(
                    locale.to_string(),
                    (format!("{display_prefix}/i18n/{locale}.yaml"), text),
                );
            }
        }
        Ok(out)
    }

    /// The same templates without any overlay of UI edits: what `dashboards pull` compiles the
    /// stack with, since it makes the overlays again from Grafana (an overlay that no longer
    /// applies must not stop the command that replaces it).
    #[must_use]
    pub fn without_overlays(mut self) -> Self {
        self.overlays.clear();
        self
    }

    /// Template names.
    pub fn names(&self) -> BTreeSet<String> {
        self.templates.keys().cloned().collect()
    }

    fn strings(&self, locale: &str) -> Result<Value> {
        if let Some(v) = self
            .cache
            .strings
            .lock()
            .ok()
            .and_then(|c| c.get(locale).cloned())
        {
            return Ok(v);
        }
        let v = self.parse_strings(locale)?;
        if let Ok(mut c) = self.cache.strings.lock() {
            c.insert(locale.to_string(), v.clone());
        }
        Ok(v)
    }

    /// How many strings files this process parsed so far (tests of the render cache).
    #[cfg(test)]
    pub(super) fn parsed_strings(&self) -> usize {
        self.cache.strings.lock().map_or(0, |c| c.len())
    }

    /// The strings file of `locale`: where it comes from and its text.
    fn strings_file(&self, locale: &str) -> Result<&(String, String)> {
        self.i18n.get(locale).ok_or_else(|| {
            Error::usage(
                format!("no strings for language `{locale}`"),
                "add dashboards-src/i18n/<locale>.yaml",
            )
        })
    }

    fn parse_strings(&self, locale: &str) -> Result<Value> {
        let (origin, text) = self.strings_file(locale)?;
        let map: BTreeMap<String, String> = serde_saphyr::from_str(text).map_err(|e| {
            Error::from(TemplateError {
                template: origin.clone(),
                message: format!("invalid strings file: {e}"),
                src: None,
                span: None,
                help: Some("it must be a flat map of `key: \"text\"`".into()),
            })
        })?;
        Ok(json!(map))
    }
}

/// Whole numbers as integers (`1000`, not `1000.0`) so texts read naturally.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// The values a dashboard template sees (documented in dashboards-src/README.md).
pub fn context(m: &Manifest, d: &Dashboard, strings: Value) -> Value {
    let locale = d.locale.as_ref().map_or(m.locale.as_str(), |l| l.as_str());
    let t = &d.thresholds;
    json!({
        "stack": m.stack.as_str(),
        "environment": m.environment.as_str(),
        "uid": d.uid.as_str(),
        "title": d.title.as_ref().map(|t| t.as_str()),
        "locale": locale,
        "influxdb": {
            "version": *m.influxdb.version,
            "v1": *m.influxdb.version == 1,
            "v2": *m.influxdb.version == 2,
            "bucket": m.influxdb.bucket.as_str(),
            "org": m.influxdb.org.as_str(),
        },
        "datasource": { "type": "influxdb", "uid": datasource_uid(m) },
        "thresholds": {
            "p95_ok_ms": number(*t.p95_ok_ms), "p95_warn_ms": number(*t.p95_warn_ms),
            "error_ok_pct": number(*t.error_ok_pct), "error_warn_pct": number(*t.error_warn_pct),
        },
        "capacity_vus": d.capacity_vus.as_ref().map(|v| **v),
        "alerting": m.alerting.as_ref().map_or_else(
            || json!({ "error_rate_critical_pct": null, "p95_warning_ms": null }),
            |a| json!({
                "error_rate_critical_pct": number(*a.rules.error_rate_critical_pct),
                "p95_warning_ms": number(*a.rules.p95_warning_ms),
            }),
        ),
        "control_api": { "enabled": *m.control_api.enabled, "url": control_api_url(m) },
        "grafana_url": grafana_url(m),
        "t": strings,
    })
}

/// Where `dashboards pull` keeps the UI edits of each dashboard, under `dashboards-src/`.
pub const OVERRIDES_DIR: &str = "overrides";

/// Render one dashboard as `generate` writes it: its template, then its overlay of UI edits
/// (`dashboards-src/overrides/<uid>.json`) when it has one.
pub fn render_final(templates: &Templates, m: &Manifest, d: &Dashboard) -> Result<String> {
    let text = render(templates, m, d)?;
    let overlays = &templates.overlays;
    match (overlays.get(&format!("{}/{}", *m.stack, *d.uid))).or(overlays.get(d.uid.as_str())) {
        Some(o) => super::overlay::apply(&text, &o.text, &o.origin),
        None => Ok(text),
    }
}

/// Render one dashboard's template to canonical JSON text (without its overlay).
pub fn render(templates: &Templates, m: &Manifest, d: &Dashboard) -> Result<String> {
    let name = d.template.as_str();
    let template = templates.templates.get(name).ok_or_else(|| {
        Error::usage(
            format!("no dashboard template `{name}`"),
            "templates are dashboards-src/<name>.json.hbs",
        )
    })?;
    let locale = d.locale.as_ref().map_or(m.locale.as_str(), |l| l.as_str());
    let Some(dir) = &templates.render_cache else {
        let ctx = context(m, d, templates.strings(locale)?);
        return render_uncached(templates, template, &ctx, d);
    };
    // The key hashes the strings file's text, not its parsed form: a hit parses no YAML.
    let (_, strings_text) = templates.strings_file(locale)?;
    let key = dashboard_cache::key(
        name,
        template,
        &templates.partials,
        &context(m, d, Value::Null),
        strings_text,
    );
    if let Some(text) = dashboard_cache::get(dir, &key) {
        return Ok(text);
    }
    let ctx = context(m, d, templates.strings(locale)?);
    let text = render_uncached(templates, template, &ctx, d)?;
    dashboard_cache::put(dir, &key, &text);
    Ok(text)
}

fn render_uncached(
    templates: &Templates,
    template: &Template,
    ctx: &Value,
    d: &Dashboard,
) -> Result<String> {
    let name = d.template.as_str();
    let mut guard = templates.cache.registry.lock().map_err(|_| {
        Error::internal("the template cache was poisoned by a panic while rendering")
    })?;
    if guard.is_none() {
        let mut hb = super::dashboard_helpers::new_registry();
        for (pname, partial) in &templates.partials {
            hb.register_partial(pname, &partial.text)
                .map_err(|e| syntax_error(partial, &e))?;
        }
        *guard = Some(hb);
    }
    let hb = guard.as_mut().expect("registry was just created");
    if !hb.has_template(name) {
        hb.register_template_string(name, &template.text)
            .map_err(|e| syntax_error(template, &e))?;
    }
    let rendered = hb.render(name, ctx).map_err(|e| {
        // An error inside a partial points into the partial's own file.
        let at = e
            .template_name
            .as_ref()
            .and_then(|n| templates.partials.get(n))
            .unwrap_or(template);
        let span = e
            .line_no
            .zip(e.column_no)
            .and_then(|(l, c)| offset_of(&at.text, l, c))
            .map(|o| SourceSpan::new(o.into(), 1));
        let source = |text: &str| NamedSource::new(at.origin.clone(), Arc::<str>::from(text));
        Error::from(TemplateError {
            template: at.origin.clone(),
            message: format!("cannot render dashboard `{}`: {}", *d.uid, e.reason()),
            src: Some(source(&at.text)),
            span,
            help: Some("strict mode: every variable must exist in the context (see dashboards-src/README.md)".into()),
        })
    })?;
    drop(guard);
    let mut value: Value = serde_json::from_str(&rendered).map_err(|e| {
        let offset = offset_of(&rendered, e.line(), e.column().max(1));
        Error::from(TemplateError {
            template: template.origin.clone(),
            message: format!(
                "dashboard `{}` is not valid JSON after rendering: {e}",
                *d.uid
            ),
            src: Some(NamedSource::new(
                format!("{} (rendered for {})", template.origin, *d.uid),
                Arc::<str>::from(rendered.as_str()),
            )),
            span: offset.map(|o| SourceSpan::new(o.into(), 1)),
            help: Some("look for a missing comma or quote near this point in the template; use {{json value}} for strings".into()),
        })
    })?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("uid".into(), json!(d.uid.as_str()));
        obj.remove("id");
    } else {
        return Err(Error::from(TemplateError {
            template: template.origin.clone(),
            message: format!("dashboard `{}` must render to a JSON object", *d.uid),
            src: None,
            span: None,
            help: None,
        }));
    }
    Ok(canonical_json(&value))
}

fn syntax_error(template: &Template, e: &handlebars::TemplateError) -> Error {
    let span = e
        .pos()
        .and_then(|(l, c)| offset_of(&template.text, l, c))
        .map(|o| SourceSpan::new(o.into(), 1));
    Error::from(TemplateError {
        template: template.origin.clone(),
        message: format!("template syntax error: {}", e.reason()),
        src: Some(NamedSource::new(
            template.origin.clone(),
            Arc::<str>::from(template.text.as_str()),
        )),
        span,
        help: Some(
            "fix the handlebars syntax; a literal `{{` in the output is written `\\{{`".into(),
        ),
    })
}

/// Keys sorted at every level, 2-space indent, trailing newline.
pub fn canonical_json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Byte offset of a 1-based line and column.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return Some(offset + (column.saturating_sub(1)).min(l.len()));
        }
        offset += l.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<dir>/*.json.hbs` and `<dir>/partials/<group>/*.hbs` override the built-ins with their
    /// own origin; other files, and files directly in `partials/`, are ignored.
    #[test]
    fn overrides_are_read_with_their_origin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("partials/zz")).expect("mkdir");
        std::fs::write(d.join("mine.json.hbs"), "{}").expect("write");
        std::fs::write(d.join("notes.txt"), "x").expect("write");
        std::fs::write(d.join("partials/zz/panel.hbs"), "p").expect("write");
        std::fs::write(d.join("partials/zz/readme.md"), "x").expect("write");
        std::fs::write(d.join("partials/loose.hbs"), "x").expect("write");
        let t = Templates::load(d, "src").expect("load");
        let builtin = Templates::builtin();
        assert_eq!(t.templates.len(), builtin.templates.len() + 1);
        assert_eq!(t.partials.len(), builtin.partials.len() + 1);
        let mine = &t.templates["mine"];
        assert_eq!(
            (mine.origin.as_str(), mine.text.as_str()),
            ("src/mine.json.hbs", "{}")
        );
        let panel = &t.partials["zz/panel"];
        assert_eq!(
            (panel.origin.as_str(), panel.text.as_str()),
            ("src/partials/zz/panel.hbs", "p")
        );
        let (name, _) = BUILTIN_PARTIALS[0];
        assert_eq!(
            builtin.partials[name].origin,
            format!("(built in) partials/{name}.hbs")
        );
    }
    #[test]
    fn flux_string_escapes_for_flux_then_for_json() {
        let got = super::super::dashboard_helpers::flux_string_in_json(&json!(r#"a "b" \ ${c}"#));
        assert_eq!(got, r#"\"a \\\"b\\\" \\\\ \\${c}\""#);
    }
}
