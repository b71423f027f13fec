//! Saved plans: `plan --out FILE` writes the plan with fingerprints of what it was made from;
//! `apply FILE` applies exactly that plan, and refuses it when the configuration or the stack
//! on the target has moved since (terraform's "saved plan is stale").
//!
//! Owns: the plan file's format and the staleness check. May not: print, read the environment.
//! A plan file holds no secret: plans show secrets as `(sensitive)`, and the fingerprints are
//! digests over resource hashes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::desired::{Desired, sha256_hex};
use crate::error::{Error, Result};
use crate::plan::{Observed, Plan};
use crate::targets::TargetKind;

/// This promo-infra's version, recorded in the plan files it makes.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a plan file says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// [`super::super::FORMAT_VERSION`] of the file.
    pub format_version: String,
    /// The promo-infra that made it: only the same version applies it (another may plan the
    /// same configuration and state differently), as terraform does with its plan files.
    #[serde(default)]
    pub promo_infra: String,
    /// The stack.
    pub stack: String,
    /// Its manifest, relative to the project.
    pub manifest: PathBuf,
    /// The target (`docker`, `native`).
    pub target: String,
    /// Whether undeclared resources are deleted.
    pub prune: bool,
    /// sha256 over every resource's content hash and every generated file: the configuration
    /// (manifest, templates, dashboards-src/, `.env`) the plan was made from.
    pub configuration: String,
    /// sha256 over what the target had (each resource's hash, content and state).
    pub state: String,
    /// The plan, as `plan --json` shows it.
    pub plan: serde_json::Value,
}

/// The fingerprint of a compiled stack.
fn configuration(desired: &Desired) -> String {
    let mut listing = String::new();
    for (id, r) in &desired.resources {
        listing.push_str(&format!("resource {id} {}\n", r.hash));
    }
    for (path, f) in &desired.files {
        listing.push_str(&format!("file {path} {}\n", f.sha256()));
    }
    sha256_hex(listing.as_bytes())
}

/// The fingerprint of what a target observed, as far as a plan of `desired` (with `--prune`
/// or not) depends on it.
fn state(observed: &Observed, desired: &Desired, prune: bool) -> String {
    let mut listing = String::new();
    for (id, o) in &observed.resources {
        listing.push_str(&format!(
            "{id} {} {} {}\n",
            o.hash.as_deref().unwrap_or("-"),
            o.converged,
            o.canonical
        ));
    }
    // Only when some service could not be read: the fingerprints of other states stay as
    // they were.
    for (id, why) in &observed.unread {
        listing.push_str(&format!("unread {id} {why:?}\n"));
    }
    // Likewise only where the plan depends on it: a `--prune` plan keeps a network the stack
    // no longer declares while containers that are not the stack's use it. Which containers,
    // and those on a declared network (k6 runs come and go), change no plan.
    let undeclared = |id: &&crate::desired::ResourceId| !desired.resources.contains_key(*id);
    for id in observed
        .attached
        .keys()
        .filter(undeclared)
        .filter(|_| prune)
    {
        listing.push_str(&format!("attached {id}\n"));
    }
    sha256_hex(listing.as_bytes())
}

/// A plan's steps as compared between `plan --out` and `apply FILE` (the file diffs under
/// them are for reading: they follow from the configuration and the apply record).
fn steps_of(plan: &serde_json::Value) -> serde_json::Value {
    let mut plan = plan.clone();
    if let Some(steps) = plan.get_mut("steps").and_then(|s| s.as_array_mut()) {
        for step in steps {
            if let Some(step) = step.as_object_mut() {
                step.remove("files");
            }
        }
    }
    plan
}

fn to_json(plan: &Plan) -> Result<serde_json::Value> {
    serde_json::to_value(plan).map_err(|e| Error::internal(format!("cannot serialise a plan: {e}")))
}

impl SavedPlan {
    /// The plan file of `plan`, made from `desired` and `observed`.
    pub(crate) fn new(
        desired: &Desired,
        observed: &Observed,
        manifest: &Path,
        target: TargetKind,
        prune: bool,
        plan: &Plan,
    ) -> Result<Self> {
        Ok(Self {
            format_version: super::super::FORMAT_VERSION.to_string(),
            promo_infra: VERSION.to_string(),
            stack: desired.stack.clone(),
            manifest: manifest.to_path_buf(),
            target: target.as_str().to_string(),
            prune,
            configuration: configuration(desired),
            state: state(observed, desired, prune),
            plan: to_json(plan)?,
        })
    }

    /// Read a plan file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = fs_err::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        let saved: Self = serde_json::from_str(&text).map_err(|e| {
            Error::usage(
                format!("`{}` is not a promo-infra plan file: {e}", path.display()),
                "make one with `promo-infra plan --out FILE`, then `promo-infra apply FILE`",
            )
        })?;
        if saved.format_version != super::super::FORMAT_VERSION {
            return Err(Error::usage(
                format!(
                    "`{}` is a plan file of format {}; this promo-infra reads format {}",
                    path.display(),
                    saved.format_version,
                    super::super::FORMAT_VERSION
                ),
                "make the plan again with this promo-infra: `promo-infra plan --out FILE`",
            ));
        }
        if saved.promo_infra != VERSION {
            let made_by = if saved.promo_infra.is_empty() {
                "an earlier promo-infra".to_string()
            } else {
                format!("promo-infra {}", saved.promo_infra)
            };
            return Err(Error::usage(
                format!(
                    "`{}` was made by {made_by}; this is promo-infra {VERSION}, which may plan the same configuration differently",
                    path.display()
                ),
                "make the plan again with this promo-infra: `promo-infra plan --out FILE`",
            ));
        }
        Ok(saved)
    }

    /// Write the plan file (atomically).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal(format!("cannot serialise a plan: {e}")))?;
        crate::writer::write_atomic(path, format!("{text}\n").as_bytes(), Some(0o644))
    }

    /// The target the plan was made for.
    pub fn target(&self) -> Result<TargetKind> {
        self.target.parse().map_err(|_| {
            Error::usage(
                format!("the plan file names an unknown target `{}`", self.target),
                "make the plan again: `promo-infra plan --out FILE`",
            )
        })
    }

    /// The command that makes this plan again into `file`: its stack's manifest, its target and
    /// `--prune` (without `-f`, `plan` plans the default stack, maybe another one).
    fn plan_command(&self, file: &Path) -> String {
        let quote = |p: &Path| {
            let p = p.to_string_lossy();
            shlex::try_quote(&p).map_or_else(|_| format!("'{p}'"), |q| q.into_owned())
        };
        let mut words = format!("promo-infra -f {} plan", quote(&self.manifest));
        if self.target != TargetKind::Docker.as_str() {
            words.push_str(&format!(" --target {}", self.target));
        }
        if self.prune {
            words.push_str(" --prune");
        }
        words.push_str(&format!(" --out {}", quote(file)));
        words
    }

    /// Whether `plan`, made now from `desired` and `observed`, is the saved one: refused, with
    /// what moved, when the configuration or the stack changed since `plan --out`.
    pub(crate) fn check(
        &self,
        file: &Path,
        desired: &Desired,
        observed: &Observed,
        plan: &Plan,
    ) -> Result<()> {
        let stale = |what: String| {
            Error::usage(
                format!(
                    "the saved plan `{}` is stale: {what} changed since it was made",
                    file.display()
                ),
                format!(
                    "run `{}` again, review it, then apply it",
                    self.plan_command(file)
                ),
            )
        };
        if configuration(desired) != self.configuration {
            return Err(stale(format!(
                "the configuration of stack `{}` (the manifest, a template in dashboards-src/, or generated/{}/.env)",
                self.stack, self.stack
            )));
        }
        if state(observed, desired, self.prune) != self.state {
            return Err(stale(format!(
                "stack `{}` on target {} (another apply, or a change outside promo-infra)",
                self.stack, self.target
            )));
        }
        if steps_of(&to_json(plan)?) != steps_of(&self.plan) {
            // Same version, same configuration and state, another plan: another build of this
            // version (a development build) plans differently. It cannot be told from a bug of
            // this binary, so the user is told both, and nothing is applied.
            return Err(Error::usage(
                format!(
                    "the saved plan `{}` is not the plan this promo-infra {VERSION} makes of the same configuration and state: was it made by another build of {VERSION}?",
                    file.display()
                ),
                format!(
                    "run `{}` again with this promo-infra, review it, then apply it (if this very binary made the saved plan, that is a bug: please report it)",
                    self.plan_command(file)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan file whose steps differ from the plan made now of the same configuration and
    /// state (another build of this version made it) is refused as the user's to redo, never
    /// applied, and not reported as an internal error.
    #[test]
    fn a_plan_file_of_another_build_is_refused() {
        let file = Path::new("p.plan");
        let mut saved = SavedPlan::new(
            &Desired::default(),
            &Observed::default(),
            Path::new("stacks/promo.yaml"),
            TargetKind::Native,
            false,
            &Plan::default(),
        )
        .expect("plan");
        let made_now = Plan::default();
        saved
            .check(file, &Desired::default(), &Observed::default(), &made_now)
            .expect("the same plan");
        saved.plan["steps"] = serde_json::json!([{"id": "service/grafana", "action": "start"}]);
        let err = saved
            .check(file, &Desired::default(), &Observed::default(), &made_now)
            .expect_err("another plan");
        assert!(matches!(err, Error::Usage { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "the saved plan `p.plan` is not the plan this promo-infra {VERSION} makes of the same configuration and state: was it made by another build of {VERSION}?"
            )
        );
        let Error::Usage { help, .. } = &err else {
            unreachable!("checked above")
        };
        assert_eq!(
            help.as_deref(),
            Some(
                "run `promo-infra -f stacks/promo.yaml plan --target native --out p.plan` again with this promo-infra, review it, then apply it (if this very binary made the saved plan, that is a bug: please report it)"
            )
        );
    }

    /// Containers that are not the stack's on its networks change the saved state only where
    /// a plan depends on them: a `--prune` plan and a network the stack no longer declares
    /// (kept while they use it). k6 runs coming and going (other names, or none) do not make
    /// a saved plan stale.
    #[test]
    fn foreign_containers_count_only_where_the_plan_depends_on_them() {
        use crate::desired::{ResourceId, ResourceKind};
        let desired = Desired::default();
        let empty = Observed::default();
        let with = |names: &[&str]| {
            let id = ResourceId::new(ResourceKind::Network, "old-net");
            let mut o = Observed::default();
            o.attached.insert(
                id.clone(),
                crate::plan::InUse {
                    id,
                    network: "promo_old-net".into(),
                    containers: names.iter().map(|n| n.to_string()).collect(),
                },
            );
            o
        };
        let (one, other) = (with(&["k6-a"]), with(&["k6-b", "k6-c"]));
        assert_eq!(state(&one, &desired, false), state(&empty, &desired, false));
        assert_ne!(state(&one, &desired, true), state(&empty, &desired, true));
        assert_eq!(state(&one, &desired, true), state(&other, &desired, true));
    }

    /// A plan file made by another promo-infra (or one from before the field) is refused
    /// naming both versions, never applied or reported as a bug.
    #[test]
    fn a_plan_file_of_another_version_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let saved = SavedPlan::new(
            &Desired::default(),
            &Observed::default(),
            Path::new("stacks/promo.yaml"),
            TargetKind::Docker,
            false,
            &Plan::default(),
        )
        .expect("plan");
        let file = dir.path().join("p.plan");
        saved.write(&file).expect("write");
        assert_eq!(SavedPlan::read(&file).expect("read").promo_infra, VERSION);
        let text = fs_err::read_to_string(&file).expect("text");
        for (made_by, named) in [
            (r#""promo_infra": "0.0.1","#, "promo-infra 0.0.1"),
            ("", "an earlier promo-infra"),
        ] {
            let other = text.replace(&format!(r#""promo_infra": "{VERSION}","#), made_by);
            assert_ne!(other, text);
            fs_err::write(&file, other).expect("write");
            let err = SavedPlan::read(&file).expect_err("another version");
            assert!(matches!(err, Error::Usage { .. }), "{err:?}");
            assert_eq!(
                err.to_string(),
                format!(
                    "`{}` was made by {named}; this is promo-infra {VERSION}, which may plan the same configuration differently",
                    file.display()
                )
            );
        }
    }
}
