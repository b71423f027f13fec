//! The stack manifest: load (parse with positions) → validate (semantic checks).

pub mod cron;
pub mod duration;
mod load;
mod model;
mod span;
mod validate;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use model::*;
pub use span::{Pos, Sp};
pub use validate::LOCALES;

use crate::error::{Error, Result, Source};

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
    let text = fs_err::read_to_string(&full).map_err(|e| {
        Error::usage(
            e.to_string(),
            format!(
                "pass the manifest with -f, e.g. `-f stacks/promo.yaml` (looked in {})",
                project_root.display()
            ),
        )
    })?;
    let rel_path = relative_to(project_root, &full);
    let source = Source::new(rel_path.clone(), text);
    let manifest = load::parse(&source)?;
    validate::validate(&manifest, &source, templates)?;
    Ok(Loaded {
        manifest,
        source,
        rel_path,
    })
}

/// `path` relative to `root` with `/` separators when it lies inside, else as given.
fn relative_to(root: &Path, path: &Path) -> String {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (root, full) = (canon(root), canon(path));
    let rel: PathBuf = full
        .strip_prefix(&root)
        .map_or(full.clone(), Path::to_path_buf);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
