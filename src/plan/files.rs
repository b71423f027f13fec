//! The generated files behind a plan's digest changes: for each changed `config_digest.<src>` /
//! `reload_digest.<src>` field, the unified diff of every file under `<src>` between what the
//! last apply put there (the [`Applied`] record) and what apply will write now.
//!
//! Owns: the applied record's content ([`Applied::record`]) and the file diffs of a plan.
//! May not: do IO (ops reads and writes the record), print, or know any target's engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Action, Plan};
use crate::desired::{Desired, RELOAD_DIGEST};

/// The prefix of a digest field that holds no reloadable files.
const CONFIG_DIGEST: &str = "config_digest";

/// What the last successful apply of a stack on a target put in place: each resource's digest
/// fields, and the generated files they were computed from. With it, a plan can show the
/// files' diffs instead of two hashes; a field whose recorded digest is not the one observed
/// (changed by another apply, another checkout) gets no diff, only a note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// By resource id (`service.grafana`), field path → value as the plan shows it.
    pub digests: BTreeMap<String, BTreeMap<String, String>>,
    /// Generated file (relative to `generated/<stack>/`) → contents.
    pub files: BTreeMap<String, String>,
}

impl Applied {
    /// The record of `desired` once it is applied: the digest fields of every resource, and
    /// the files under any digest's source (other generated files feed no resource).
    pub fn record(desired: &Desired) -> Self {
        let mut applied = Self::default();
        let mut sources = Vec::new();
        for (id, resource) in &desired.resources {
            let fields: BTreeMap<String, String> = super::attributes(&resource.canonical)
                .into_iter()
                .filter_map(|c| Some((c.path.clone(), c.after?)))
                .filter(|(path, _)| digest_source(path).is_some())
                .collect();
            sources.extend(
                fields
                    .keys()
                    .filter_map(|p| digest_source(p))
                    .map(String::from),
            );
            if !fields.is_empty() {
                applied.digests.insert(id.to_string(), fields);
            }
        }
        for (path, file) in &desired.files {
            if sources.iter().any(|s| under(path, s)) {
                applied.files.insert(
                    path.clone(),
                    String::from_utf8_lossy(file.bytes()).into_owned(),
                );
            }
        }
        applied
    }
}

/// A changed generated file under a resource's changed digest field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The field it explains (`reload_digest.grafana/dashboards`).
    pub field: String,
    /// The file, relative to `generated/<stack>/` (for an unrecorded field: the source).
    pub path: String,
    /// Unified diff, applied → new; `None` when what was applied is not on record.
    pub diff: Option<String>,
}

/// The source of a digest field (`reload_digest.grafana/dashboards` → `grafana/dashboards`).
fn digest_source(path: &str) -> Option<&str> {
    [CONFIG_DIGEST, RELOAD_DIGEST]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix)?.strip_prefix('.'))
}

/// Whether generated file `path` is `source` or under it.
fn under(path: &str, source: &str) -> bool {
    path == source
        || path
            .strip_prefix(source)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `plan` with, on each replace and update, the diffs of the generated files behind its changed
/// digest fields. `applied` is the last apply's record (`None`: there is none). `stack` names
/// the directory in the diffs' headers.
pub fn with_files(mut plan: Plan, desired: &Desired, applied: Option<&Applied>) -> Plan {
    for step in &mut plan.steps {
        let (Action::Replace { changes } | Action::Update { changes }) = &step.action else {
            continue;
        };
        let recorded = applied.and_then(|a| a.digests.get(&step.id.to_string()));
        // Every digest source of the resource: a file under a more specific one belongs there.
        let sources: Vec<&str> = changes
            .iter()
            .filter_map(|c| digest_source(&c.path))
            .chain(
                recorded
                    .into_iter()
                    .flat_map(|r| r.keys().filter_map(|p| digest_source(p))),
            )
            .collect();
        let none = BTreeMap::new();
        for c in changes {
            let Some(source) = digest_source(&c.path) else {
                continue;
            };
            let owns = |path: &str| {
                under(path, source)
                    && !sources
                        .iter()
                        .any(|s| s.len() > source.len() && under(s, source) && under(path, s))
            };
            let before = match (applied, recorded.and_then(|r| r.get(&c.path))) {
                // A new source: every file under it is added.
                _ if c.before.is_none() => &none,
                (Some(a), Some(value)) if c.before.as_ref() == Some(value) => &a.files,
                _ => {
                    step.files.push(FileDiff {
                        field: c.path.clone(),
                        path: source.to_string(),
                        diff: None,
                    });
                    continue;
                }
            };
            let new: BTreeMap<&str, String> = desired
                .files
                .iter()
                .filter(|(p, _)| owns(p))
                .map(|(p, f)| (p.as_str(), String::from_utf8_lossy(f.bytes()).into_owned()))
                .collect();
            let old: BTreeMap<&str, &String> = before
                .iter()
                .filter(|(p, _)| owns(p))
                .map(|(p, text)| (p.as_str(), text))
                .collect();
            let paths: std::collections::BTreeSet<&str> =
                old.keys().chain(new.keys()).copied().collect();
            for path in paths {
                let (a, b) = (old.get(path).map(|s| s.as_str()), new.get(path));
                if a == b.map(String::as_str) {
                    continue;
                }
                step.files.push(FileDiff {
                    field: c.path.clone(),
                    path: path.to_string(),
                    diff: Some(unified(&plan.stack, path, a, b.map(String::as_str))),
                });
            }
        }
    }
    plan
}

/// The unified diff of one generated file (`/dev/null` for a side where it does not exist).
fn unified(stack: &str, path: &str, before: Option<&str>, after: Option<&str>) -> String {
    let name = format!("generated/{stack}/{path}");
    let header = |side: Option<&str>, prefix: &str| match side {
        Some(_) => format!("{prefix}/{name}"),
        None => "/dev/null".to_string(),
    };
    similar::TextDiff::from_lines(before.unwrap_or(""), after.unwrap_or(""))
        .unified_diff()
        .context_radius(3)
        .header(&header(before, "a"), &header(after, "b"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::desired::{GeneratedFile, ProcessSpec, Resource, ResourceId, ResourceKind};
    use crate::desired::{ResourceSpec, sha256_hex};
    use crate::plan::{Plan, observed_as_applied, plan};

    /// A stack of one process reading `conf/app.ini` with these contents.
    fn stack(ini: &str) -> Desired {
        let mut d = Desired::of([Resource::new(
            ResourceId::new(ResourceKind::Service, "app"),
            Vec::new(),
            ResourceSpec::Process(Box::new(ProcessSpec {
                config_digest: BTreeMap::from([(
                    "conf/app.ini".into(),
                    sha256_hex(ini.as_bytes()),
                )]),
                ..ProcessSpec::named("app")
            })),
            &BTreeMap::new(),
        )]);
        d.files
            .insert("conf/app.ini".into(), GeneratedFile::text(ini));
        d
    }

    /// The file diffs of planning `desired` where `running` runs and the record is of `recorded`.
    fn files(recorded: &Desired, running: &Desired, desired: &Desired) -> Plan {
        with_files(
            plan(desired, &observed_as_applied(running), "native", false),
            desired,
            Some(&Applied::record(recorded)),
        )
    }

    #[test]
    fn a_changed_file_shows_its_diff_against_the_record() {
        let (old, new) = (stack("port = 1\nname = a\n"), stack("port = 2\nname = a\n"));
        let p = files(&old, &old, &new);
        assert_eq!(
            p.steps[0].files,
            vec![FileDiff {
                field: "config_digest.conf/app.ini".into(),
                path: "conf/app.ini".into(),
                diff: Some(
                    "--- a/generated/s/conf/app.ini\n+++ b/generated/s/conf/app.ini\n\
                     @@ -1,2 +1,2 @@\n-port = 1\n+port = 2\n name = a\n"
                        .into()
                ),
            }]
        );
    }

    #[test]
    fn a_record_of_another_apply_gives_no_diff_only_a_note() {
        // What runs was applied from `v2`, but the record is of `v1` (applied from another
        // checkout since): its contents would be a false "before".
        let (v1, v2, v3) = (
            stack("port = 1\n"),
            stack("port = 2\n"),
            stack("port = 3\n"),
        );
        let p = files(&v1, &v2, &v3);
        assert_eq!(
            p.steps[0].files,
            vec![FileDiff {
                field: "config_digest.conf/app.ini".into(),
                path: "conf/app.ini".into(),
                diff: None,
            }]
        );
        assert!(
            super::super::render(&p).contains(
                "(no diff: what the last apply put in conf/app.ini is not on record here"
            )
        );
    }

    #[test]
    fn the_record_keeps_only_files_some_resource_reads() {
        let mut d = stack("port = 1\n");
        d.files.insert(
            "cron/backup.cron".into(),
            GeneratedFile::text("0 3 * * *\n"),
        );
        let record = Applied::record(&d);
        assert_eq!(
            record.files.keys().collect::<Vec<_>>(),
            vec!["conf/app.ini"]
        );
        assert_eq!(
            record.digests["service.app"].keys().collect::<Vec<_>>(),
            vec!["config_digest.conf/app.ini"]
        );
    }
}
