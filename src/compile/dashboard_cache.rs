//! On-disk cache of rendered dashboards: `<project>/.promo-infra/cache/dashboards/<key>.json`,
//! where `<key>` is the sha256 of everything a render reads (this binary's version, the renderer
//! version and code, the handlebars crate's version, the template, every partial, the template
//! context with its i18n strings). Compiling the handlebars templates dominates `generate` and
//! `plan`; a re-run with unchanged inputs reads the rendered text instead. The cache holds only
//! rendered dashboards (never secrets: the context has none), is deterministic, safe to delete,
//! and git-ignored by its own `.gitignore`. Each entry starts with the sha256 of its body: an
//! entry that cannot be read, is truncated or was edited is ignored (the dashboard is rendered
//! again and the entry rewritten), never an error. It is a cache like terraform's `.terraform/`:
//! `apply` may write it before approval (tests/it/apply_approval.rs excludes it). `validate` and
//! `generate --check`, which promise to write nothing, render without it.
//!
//! Owns: the cache directory, its keys and entries.
//! May not: print, read the environment, talk to Docker, hold anything but rendered dashboards,
//! or fail a command (every IO error is a miss or a skipped write, logged with `tracing`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::dashboards::{Template, canonical_json};

/// Bump when the rendered text changes for the same inputs in a way [`RENDER_CODE`] cannot
/// see (for example a change in how build.rs embeds the built-in templates).
const RENDERER_VERSION: &str = "2";

/// The rendering code, hashed into every key so that a changed renderer invalidates the cache
/// even when the version number stays the same: the renderer, its helpers and the query
/// formulas the `influxql` / `flux` helpers write.
const RENDER_CODE: [&str; 3] = [
    include_str!("dashboards.rs"),
    include_str!("dashboard_helpers.rs"),
    include_str!("../influx/formulas.rs"),
];

/// The lock file this binary was built with: the source of the handlebars crate's version.
const CARGO_LOCK: &str = include_str!("../../Cargo.lock");

/// The first line of every entry: this tag, then the hex sha256 of the body that follows.
const ENTRY_TAG: &str = "promo-infra dashboard render";

/// The version of the handlebars crate this binary renders with (from Cargo.lock), so a
/// handlebars upgrade invalidates every entry.
pub fn handlebars_version() -> Option<&'static str> {
    let mut lines = CARGO_LOCK.lines();
    lines.find(|l| l.trim() == "name = \"handlebars\"")?;
    lines
        .next()?
        .trim()
        .strip_prefix("version = \"")?
        .strip_suffix('"')
}

/// Where a project's rendered dashboards are cached.
pub fn dir(project_root: &Path) -> PathBuf {
    project_root
        .join(".promo-infra")
        .join("cache")
        .join("dashboards")
}

/// The cache key of one render: hex sha256 over every input, each length-prefixed. `ctx` is
/// the template context without its strings (`t`); `strings` is the text of the locale's
/// strings file, so a hit needs no YAML parsed.
pub fn key<'a>(
    name: &str,
    template: &Template,
    partials: impl IntoIterator<Item = (&'a String, &'a Template)>,
    ctx: &Value,
    strings: &str,
) -> String {
    // What every key of this binary starts with, hashed once per process.
    static BINARY: std::sync::OnceLock<Sha256> = std::sync::OnceLock::new();
    let mut h = BINARY
        .get_or_init(|| {
            let mut h = Sha256::new();
            field(&mut h, env!("CARGO_PKG_VERSION").as_bytes());
            field(&mut h, RENDERER_VERSION.as_bytes());
            for code in RENDER_CODE {
                field(&mut h, code.as_bytes());
            }
            field(&mut h, handlebars_version().unwrap_or("unknown").as_bytes());
            h
        })
        .clone();
    field(&mut h, name.as_bytes());
    field(&mut h, template.text.as_bytes());
    for (pname, partial) in partials {
        field(&mut h, pname.as_bytes());
        field(&mut h, partial.text.as_bytes());
    }
    field(&mut h, canonical_json(ctx).as_bytes());
    field(&mut h, strings.as_bytes());
    hex::encode(h.finalize())
}

/// One input of a key, length-prefixed so that no two input lists hash alike.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The cached render of `key`, if any. An entry that cannot be read, or whose body does not
/// match the sha256 on its first line (truncated, edited, another format), is a miss.
pub fn get(dir: &Path, key: &str) -> Option<String> {
    let path = dir.join(format!("{key}.json"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "dashboard cache entry unreadable; rendering");
            return None;
        }
    };
    let body = verified_body(&text);
    if body.is_none() {
        tracing::debug!(path = %path.display(), "dashboard cache entry corrupt; rendering");
    }
    body.map(str::to_string)
}

/// An entry's text: the tag and the body's sha256 on the first line, then the body.
fn entry(body: &str) -> String {
    format!("{ENTRY_TAG} {}\n{body}", hex::encode(Sha256::digest(body)))
}

/// The body of an entry, if its first line is the tag and the body's sha256.
fn verified_body(text: &str) -> Option<&str> {
    let (head, body) = text.split_once('\n')?;
    let digest = head.strip_prefix(ENTRY_TAG)?.strip_prefix(' ')?;
    (digest == hex::encode(Sha256::digest(body))).then_some(body)
}

/// Remove the temporary files a run killed between writing and renaming a cache entry left in
/// `dir` (a leftover is never read: entries are `<key>.json`).
pub fn remove_leftovers(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with(crate::writer::TMP_PREFIX)
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Store a render under `key` (atomically: a temporary file renamed into place).
pub fn put(dir: &Path, key: &str, rendered: &str) {
    if let Err(e) = try_put(dir, key, rendered) {
        tracing::debug!(dir = %dir.display(), error = %e, "cannot write the dashboard cache; skipped");
    }
}

fn try_put(dir: &Path, key: &str, rendered: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(
            &ignore,
            "# promo-infra's render cache: safe to delete.\n*\n",
        )?;
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{}-", crate::writer::TMP_PREFIX))
        .tempfile_in(dir)?;
    tmp.write_all(entry(rendered).as_bytes())?;
    tmp.persist(dir.join(format!("{key}.json")))
        .map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn t(text: &str) -> Template {
        Template {
            origin: "o".into(),
            text: text.into(),
        }
    }

    /// Every input of a render changes the key: template name and text, a partial's name and
    /// text, the context (manifest values), the strings file's text; the same inputs give the
    /// same key.
    #[test]
    fn every_input_changes_the_key() {
        let partials = BTreeMap::from([("g/p".to_string(), t("P"))]);
        let ctx = json!({ "title": "A", "t": null });
        let base = key("m", &t("T"), &partials, &ctx, "x: y\n");
        assert_eq!(base, key("m", &t("T"), &partials, &ctx, "x: y\n"));
        let other_partials = BTreeMap::from([("g/p".to_string(), t("P2"))]);
        let renamed_partial = BTreeMap::from([("g/q".to_string(), t("P"))]);
        let other_ctx = json!({ "title": "B", "t": null });
        let variants = [
            key("n", &t("T"), &partials, &ctx, "x: y\n"),
            key("m", &t("T2"), &partials, &ctx, "x: y\n"),
            key("m", &t("T"), &other_partials, &ctx, "x: y\n"),
            key("m", &t("T"), &renamed_partial, &ctx, "x: y\n"),
            key("m", &t("T"), &BTreeMap::new(), &ctx, "x: y\n"),
            key("m", &t("T"), &partials, &other_ctx, "x: y\n"),
            key("m", &t("T"), &partials, &ctx, "x: z\n"),
            key("m", &t("T"), &partials, &ctx, ""),
        ];
        for v in &variants {
            assert_ne!(v, &base);
        }
    }

    /// A stored render is read back; a missing one is a miss; the directory git-ignores itself.
    #[test]
    fn put_then_get() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = dir(tmp.path());
        assert_eq!(get(&d, "k"), None);
        put(&d, "k", "{\"a\":1}");
        assert_eq!(get(&d, "k").as_deref(), Some("{\"a\":1}"));
        assert_eq!(
            std::fs::read_to_string(d.join(".gitignore")).expect("gitignore"),
            "# promo-infra's render cache: safe to delete.\n*\n"
        );
    }

    /// Fails on the first cache (no digest line, raw text returned as is): a truncated, edited,
    /// old-format or binary entry is a miss, never an error.
    #[test]
    fn a_corrupt_entry_is_a_miss() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = dir(tmp.path());
        put(&d, "k", "{\"a\":1}\n");
        let path = d.join("k.json");
        let good = std::fs::read_to_string(&path).expect("entry");
        for bad in [
            &good.as_bytes()[..good.len() - 2],
            good.replace("\"a\":1", "\"a\":2").as_bytes(),
            b"{\"a\":1}\n",
            b"",
            b"\xff\xfe\x00",
        ] {
            std::fs::write(&path, bad).expect("write");
            assert_eq!(get(&d, "k"), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// The key depends on the handlebars version this binary was built with.
    #[test]
    fn the_handlebars_version_comes_from_the_lock_file() {
        let v = handlebars_version().expect("handlebars is in Cargo.lock");
        assert!(
            v.split('.').count() == 3 && v.split('.').all(|n| n.parse::<u32>().is_ok()),
            "{v}"
        );
    }

    /// Renders through the cache of a project whose `dashboards-src/marketing.json.hbs` is `text`.
    fn render_with(project: &Path, text: &str) -> String {
        render_in(project, text, None).0
    }

    /// [`render_with`], with every `dashboards-src/i18n/<locale>.yaml` written as `strings` is given; also
    /// how many strings files the render parsed.
    fn render_in(project: &Path, text: &str, strings: Option<&str>) -> (String, usize) {
        let src = project.join("dashboards-src");
        std::fs::create_dir_all(src.join("i18n")).expect("mkdir");
        std::fs::write(src.join("marketing.json.hbs"), text).expect("write");
        if let Some(strings) = strings {
            for locale in ["en", "fr"] {
                std::fs::write(src.join(format!("i18n/{locale}.yaml")), strings).expect("write");
            }
        }
        let m = crate::manifest::parse("promo.yaml", include_str!("../../stacks/promo.yaml"))
            .expect("the default stack parses");
        let d = m
            .dashboards
            .iter()
            .find(|d| d.template.as_str() == "marketing")
            .expect("a marketing dashboard");
        let templates = super::super::dashboards::Templates::load(&src, "dashboards-src")
            .expect("templates")
            .with_render_cache(dir(project));
        let text = super::super::dashboards::render(&templates, &m, d).expect("renders");
        (text, templates.parsed_strings())
    }

    /// The marketing template `{"title": "{{t.greeting}}"}` rendered with `greeting`.
    fn rendered(greeting: &str) -> String {
        format!("{{\n  \"title\": \"{greeting}\",\n  \"uid\": \"promo-marketing\"\n}}\n")
    }

    /// Fails on the first cache (its key hashed the parsed strings, so every run parsed the
    /// YAML): a hit parses no strings file, and a changed strings file is a new key, rendered.
    #[test]
    fn a_hit_parses_no_strings_and_a_strings_change_renders_again() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path();
        let template = r#"{"title": "{{t.greeting}}"}"#;
        let (first, parsed) = render_in(p, template, Some("greeting: \"Hello\"\n"));
        assert_eq!((first.as_str(), parsed), (rendered("Hello").as_str(), 1));
        assert_eq!(render_in(p, template, None), (first, 0));
        let (second, parsed) = render_in(p, template, Some("greeting: \"Bonjour\"\n"));
        assert_eq!((second.as_str(), parsed), (rendered("Bonjour").as_str(), 1));
        assert_eq!(entries(p).len(), 2);
    }

    fn entries(project: &Path) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(dir(project))
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        out.sort();
        out
    }

    /// A hit is served from the cache; a corrupt entry is rendered again and rewritten; a
    /// template change renders under a new key (the stale entry is never served).
    #[test]
    fn render_uses_the_cache_ignores_a_corrupt_entry_and_sees_a_template_change() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path();
        let first = render_with(p, r#"{"title": "v1"}"#);
        assert!(first.contains("\"title\": \"v1\""), "{first}");
        let [entry_path] = &entries(p)[..] else {
            panic!("one entry: {:?}", entries(p));
        };
        // A valid entry is what render returns: the template is not rendered again.
        std::fs::write(entry_path, entry("from the cache\n")).expect("write");
        assert_eq!(render_with(p, r#"{"title": "v1"}"#), "from the cache\n");
        // A corrupt one is ignored, rendered again and repaired.
        std::fs::write(entry_path, "{\"title\": \"poisoned\"}").expect("write");
        assert_eq!(render_with(p, r#"{"title": "v1"}"#), first);
        let repaired = std::fs::read_to_string(entry_path).expect("entry");
        assert_eq!(verified_body(&repaired), Some(first.as_str()));
        // A changed template is a new key: the old entry is not served.
        let second = render_with(p, r#"{"title": "v2"}"#);
        assert!(second.contains("\"title\": \"v2\""), "{second}");
        assert_eq!(entries(p).len(), 2);
    }
}
