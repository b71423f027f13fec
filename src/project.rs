//! The project directory: where stacks, templates and generated files live.
//!
//! Owns: the project's paths. May not: read the environment, print, or write files.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Conventional layout of a promo-infra project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Project root (the directory holding `stacks/`).
    pub root: PathBuf,
}

/// The default manifest of commands that act on one stack (see [`Project::default_manifest`]).
pub const DEFAULT_MANIFEST: &str = "stacks/promo.yaml";

impl Project {
    /// A project rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `generated/<stack>/`.
    pub fn generated_dir(&self, stack: &str) -> PathBuf {
        self.root.join("generated").join(stack)
    }

    /// `dashboards-src/`.
    pub fn templates_dir(&self) -> PathBuf {
        self.root.join("dashboards-src")
    }

    /// The manifest a command that acts on one stack takes without `-f`: `stacks/promo.yaml`
    /// when it exists, else the only `stacks/*.yaml` there is; several and no `promo.yaml` is
    /// an error listing them (which one is meant is the user's to say).
    pub fn default_manifest(&self) -> Result<PathBuf> {
        if self.root.join(DEFAULT_MANIFEST).is_file() {
            return Ok(PathBuf::from(DEFAULT_MANIFEST));
        }
        let mut all = self.all_manifests()?;
        if all.len() == 1 {
            return Ok(all.remove(0));
        }
        let listed: Vec<String> = all.iter().map(|p| p.display().to_string()).collect();
        Err(Error::usage(
            format!(
                "which stack? {} has no promo.yaml (the default) but {} stack files: {}; this command acts on one",
                self.root.join("stacks").display(),
                all.len(),
                listed.join(", ")
            ),
            format!(
                "pass the one to act on with -f, e.g. `-f {}` (or set PROMO_INFRA_FILE)",
                listed[0]
            ),
        ))
    }

    /// Every `stacks/*.yaml` (sorted), for commands that act on all stacks.
    pub fn all_manifests(&self) -> Result<Vec<PathBuf>> {
        let dir = self.root.join("stacks");
        let entries = fs_err::read_dir(&dir).map_err(|e| {
            Error::usage(
                e.to_string(),
                "run from the project directory (the one holding stacks/), use -C DIR, or pass -f FILE",
            )
        })?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list", &dir, e))?;
            let path = entry.path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(Path::new("stacks").join(entry.file_name()));
            }
        }
        out.sort();
        if out.is_empty() {
            return Err(Error::usage(
                format!("no stack manifests in {}", dir.display()),
                "create stacks/promo.yaml (see README) or pass -f FILE",
            ));
        }
        Ok(out)
    }
}
