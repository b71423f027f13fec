//! On-disk cache of rendered dashboards: `<project>/.promo-infra/cache/dashboards/<key>.json`,
//! where `<key>` is the sha256 of everything a render reads (this binary's version and rendering
//! code, the template, every partial, the template context with its i18n strings). Compiling the
//! handlebars templates dominates `generate` and `plan`; a re-run with unchanged inputs reads the
//! rendered text instead. The cache holds only rendered dashboards (never secrets: the context has
//! none), is deterministic, safe to delete, and git-ignored by its own `.gitignore`. A cache that
//! cannot be read or written is skipped (logged with `tracing`), never an error.
//! May not: print, read the environment, talk to Docker, hold anything but rendered dashboards.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::dashboards::{Template, canonical_json};

/// The rendering code, hashed into every key so that a changed renderer invalidates the cache
/// even when the version number stays the same.
const RENDER_CODE: &str = include_str!("dashboards.rs");

/// Where a project's rendered dashboards are cached.
pub fn dir(project_root: &Path) -> PathBuf {
    project_root
        .join(".promo-infra")
        .join("cache")
        .join("dashboards")
}

/// The cache key of one render: hex sha256 over every input, each length-prefixed.
pub fn key<'a>(
    name: &str,
    template: &Template,
    partials: impl IntoIterator<Item = (&'a String, &'a Template)>,
    ctx: &Value,
) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(RENDER_CODE.as_bytes());
    field(name.as_bytes());
    field(template.text.as_bytes());
    for (pname, partial) in partials {
        field(pname.as_bytes());
        field(partial.text.as_bytes());
    }
    field(canonical_json(ctx).as_bytes());
    hex::encode(h.finalize())
}

/// The cached render of `key`, if any.
pub fn get(dir: &Path, key: &str) -> Option<String> {
    let path = dir.join(format!("{key}.json"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "dashboard cache unreadable; rendering");
            None
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
        .prefix(".promo-infra-tmp-")
        .tempfile_in(dir)?;
    tmp.write_all(rendered.as_bytes())?;
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
    /// text, the context (manifest values and i18n strings); the same inputs give the same key.
    #[test]
    fn every_input_changes_the_key() {
        let partials = BTreeMap::from([("g/p".to_string(), t("P"))]);
        let ctx = json!({ "title": "A", "t": { "x": "y" } });
        let base = key("m", &t("T"), &partials, &ctx);
        assert_eq!(base, key("m", &t("T"), &partials, &ctx));
        let other_partials = BTreeMap::from([("g/p".to_string(), t("P2"))]);
        let renamed_partial = BTreeMap::from([("g/q".to_string(), t("P"))]);
        let variants = [
            key("n", &t("T"), &partials, &ctx),
            key("m", &t("T2"), &partials, &ctx),
            key("m", &t("T"), &other_partials, &ctx),
            key("m", &t("T"), &renamed_partial, &ctx),
            key("m", &t("T"), &BTreeMap::new(), &ctx),
            key(
                "m",
                &t("T"),
                &partials,
                &json!({ "title": "B", "t": { "x": "y" } }),
            ),
            key(
                "m",
                &t("T"),
                &partials,
                &json!({ "title": "A", "t": { "x": "z" } }),
            ),
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
}
