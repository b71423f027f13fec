//! The stack manifest: load (parse with positions) → validate (semantic checks), every
//! problem reported at once.
//!
//! Owns: reading a manifest file and turning it into a [`Loaded`] or every problem in it.
//! May not: write anything, read the environment, print.

pub mod cron;
pub mod duration;
mod load;
mod model;
mod node;
mod recover;
mod schema;
mod span;
mod validate;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use model::*;
pub use schema::json_schema;
pub use span::{Pos, Sp};
pub use validate::LOCALES;

use crate::error::{Error, Problems, Result, Source};

/// A manifest read from disk and validated.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The typed manifest.
    pub manifest: Manifest,
    /// Its text and display name.
    pub source: Source,
    /// Path relative to the project directory (`stacks/promo.yaml`), as used in generated
    /// files and commands.
    pub rel_path: String,
}

impl Loaded {
    /// The stack name.
    pub fn stack(&self) -> &str {
        &self.manifest.stack
    }
}

/// Parse manifest text (no IO). `name` is used in diagnostics.
pub fn parse(name: &str, text: &str) -> Result<Manifest> {
    Ok(load::parse(&Source::new(name, text))?)
}

/// Read, parse and validate a manifest. `templates` lists the dashboard templates available.
pub fn load(project_root: &Path, path: &Path, templates: &BTreeSet<String>) -> Result<Loaded> {
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        project_root.join(path)
    };
    let bytes = fs_err::read(&full).map_err(|e| {
        Error::usage(
            e.to_string(),
            format!(
                "pass the manifest with -f, e.g. `-f stacks/promo.yaml` (looked in {})",
                project_root.display()
            ),
        )
    })?;
    let rel_path = relative_to(project_root, &full);
    from_bytes(&rel_path, bytes, templates)
}

/// Parse and validate manifest bytes read from `rel_path` (no IO). The path must be plain
/// (it reaches the cron line and the systemd units); text that is not UTF-8 is an error at the
/// line and column of the first bad byte.
pub fn from_bytes(rel_path: &str, bytes: Vec<u8>, templates: &BTreeSet<String>) -> Result<Loaded> {
    check_manifest_path(rel_path)?;
    let source = match String::from_utf8(bytes) {
        Ok(text) => Source::new(rel_path, text),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bad = e.as_bytes().get(valid).copied().unwrap_or(0);
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let source = Source::new(rel_path, text);
            let mut problems = Problems::new(&source);
            problems.push(
                Some(Pos::at_offset(&source.text, valid)),
                format!("the manifest is not valid UTF-8 (byte 0x{bad:02x})"),
                "not UTF-8",
                Some("save the file as UTF-8".to_string()),
            );
            return Err(problems
                .finish()
                .expect_err("a problem was pushed, so finish reports it")
                .into());
        }
    };
    let manifest = recover::parse_all(&source, templates)?;
    Ok(Loaded {
        manifest,
        source,
        rel_path: rel_path.to_string(),
    })
}

/// The manifest's path reaches generated files (the cron line, systemd units): every component
/// must be plain, `[A-Za-z0-9._-]`, and the file must end with `.yaml` or `.yml`.
fn check_manifest_path(rel_path: &str) -> Result<()> {
    let plain = |c: &str| {
        !c.is_empty()
            && !c.starts_with('-')
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
    };
    let trimmed = rel_path.strip_prefix('/').unwrap_or(rel_path);
    let components: Vec<&str> = trimmed.split('/').collect();
    let file = components.last().copied().unwrap_or("");
    let bad = components.iter().find(|c| !plain(c));
    if bad.is_some() || !(file.ends_with(".yaml") || file.ends_with(".yml")) {
        let what = match bad {
            Some(c) => format!("`{}` is not a plain name", c.escape_debug()),
            None => "it does not end with `.yaml` or `.yml`".to_string(),
        };
        return Err(Error::usage(
            format!(
                "manifest path `{}`: {what}; nothing was read or written",
                rel_path.escape_debug()
            ),
            "rename it (and the directories it is in) with letters, digits, `.`, `_` and `-` only, ending in `.yaml` (e.g. `stacks/promo.yaml`): the path is written into the backup cron line and systemd units",
        ));
    }
    Ok(())
}

/// `path` relative to `root` with `/` separators when it lies inside, else as given.
pub fn relative_to(root: &Path, path: &Path) -> String {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (root, full) = (canon(root), canon(path));
    let rel: PathBuf = full
        .strip_prefix(&root)
        .map_or(full.clone(), Path::to_path_buf);
    if rel.is_absolute() {
        // Outside the project: the absolute path, as written (not `//tmp/…`).
        return rel.to_string_lossy().into_owned();
    }
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
