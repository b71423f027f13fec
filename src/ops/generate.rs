//! `generate` and `generate --check`: compile every selected stack and write (or compare) its
//! files, under each stack's lock.
//!
//! Owns: the all-or-nothing order of `generate` (every stack prepared before the first write).
//! May not: print, read the environment, or talk to a target, except to look for data made with
//! secrets it would generate again (`deploy::env_guard::refuse_generating_over_data`).

use super::{Selection, env_path, load_all};
use crate::desired::Desired;
use crate::error::Result;
use crate::lock::StackLock;
use crate::manifest::Loaded;
use crate::project::Project;
use crate::secrets::{self, EnvOutcome};
use crate::writer::{self, Stale, WriteReport};

/// Result of generating one stack.
#[derive(Debug)]
pub struct Generated {
    /// Stack name.
    pub stack: String,
    /// `generated/<stack>` as displayed.
    pub dir: String,
    /// Files written, unchanged, removed, kept.
    pub report: WriteReport,
    /// What happened to `.env`.
    pub env: EnvOutcome,
    /// What the user should know: each secret they provide that is missing, and what follows.
    pub warnings: Vec<String>,
}

/// `generate`: compile every selected stack, then write. Nothing is written unless every
/// manifest is valid and compiles, every `.env` is usable, every stack's lock is free and every
/// ledger is readable: all stacks are prepared (read and decided) before the first is written.
/// Each stack's lock is held while its files are written, so `generate` and `apply` never
/// interleave on one directory.
pub fn generate(project: &Project, selection: &Selection, force: bool) -> Result<Vec<Generated>> {
    let (templates, loaded) = load_all(project, selection)?;
    let compiled = loaded
        .iter()
        .map(|l| Ok((l, crate::compile::generated_files(l, &templates)?)))
        .collect::<Result<Vec<_>>>()?;
    // Every refusal happens before the first write (and before any lock file is created).
    let check_stack = |l: &Loaded, desired: &Desired| -> Result<writer::Prepared> {
        let path = env_path(project, &l.manifest);
        let values = secrets::read_env(&path)?.unwrap_or_default();
        secrets::check_defaults(&path, &values, *l.manifest.environment)?;
        writer::prepare(
            &project.generated_dir(&desired.stack),
            &desired.files,
            force,
        )
    };
    // A secret some data is made with is never generated over that data (a lost `.env`):
    // looked for once, before the locks (another command completing `.env` meanwhile only
    // makes generate add less).
    let mut engine_warnings = std::collections::BTreeMap::new();
    // Asked once, and only when a stack would have secrets generated.
    let local = std::cell::LazyCell::new(crate::targets::on_this_machine as fn() -> _);
    for (l, desired) in &compiled {
        check_stack(l, desired)?;
        // What `.env` holds, and what generate would add to it (decided by reading only).
        let path = env_path(project, &l.manifest);
        let on_disk = secrets::read_env(&path)?.unwrap_or_default();
        let catalog = secrets::catalog(&l.manifest);
        let env = secrets::prepare_env(
            &path,
            &catalog,
            *l.manifest.environment,
            secrets::os_random_hex,
        )?;
        let adding = (on_disk, env.outcome().added.as_slice());
        let guard = super::deploy::env_guard::refuse_generating_over_data;
        if let Some(w) = guard(project, &templates, l, adding, &local)? {
            engine_warnings.insert(desired.stack.clone(), w);
        }
    }
    let mut locks = Vec::new();
    for (_, desired) in &compiled {
        let dir = project.generated_dir(&desired.stack);
        locks.push(StackLock::acquire(&dir, &desired.stack, "generate")?.0);
    }
    // Decided again under the locks: what another process did meanwhile counts.
    let prepared = compiled
        .iter()
        .map(|(l, desired)| check_stack(l, desired))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for ((l, desired), prepared) in compiled.into_iter().zip(prepared) {
        let dir = project.generated_dir(&desired.stack);
        let report = prepared.commit()?;
        let env = secrets::ensure_env(
            &dir.join(".env"),
            &secrets::catalog(&l.manifest),
            *l.manifest.environment,
            secrets::os_random_hex,
        )?;
        let shown = format!("generated/{}", desired.stack);
        let warnings = env
            .missing_external
            .iter()
            .map(|name| {
                let env_file = std::path::Path::new(&shown).join(".env");
                secrets::missing_external_note(name, &env_file, *l.manifest.environment)
            })
            .chain(engine_warnings.remove(&desired.stack))
            .collect();
        out.push(Generated {
            stack: desired.stack.clone(),
            dir: shown,
            report,
            env,
            warnings,
        });
    }
    drop(locks);
    Ok(out)
}

/// `generate --check`: every stale file of every selected stack, with diffs. Writes nothing.
pub fn check(project: &Project, selection: &Selection) -> Result<Vec<(String, Vec<Stale>)>> {
    let (templates, loaded) = super::load_all_writing_nothing(project, selection)?;
    let mut out = Vec::new();
    for l in &loaded {
        let desired = crate::compile::generated_files(l, &templates)?;
        let display = format!("generated/{}", desired.stack);
        let stale = writer::check(
            &project.generated_dir(&desired.stack),
            &desired.files,
            &display,
        )?;
        out.push((display, stale));
    }
    Ok(out)
}
