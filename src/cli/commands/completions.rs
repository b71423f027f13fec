//! Shell completions: `completions SHELL` prints a static script for the whole command line;
//! `COMPLETE=SHELL promo-infra` (clap_complete's dynamic protocol) registers completions that
//! also know the project: stack files (`-f`), dashboard uids (`dashboards render`), backup ids
//! (`backup restore`), service names (`logs`, `restart`). The completers read the project and
//! the stacks the line being completed names (`-C DIR`, `-f FILE`, `PROMO_INFRA_FILE`; every
//! stack of the project without `-f`) and offer nothing when they cannot be read.
//!
//! Owns: the command's flags and the value completers.
//! May not: write anything but stdout, change anything, fail (a completer offers nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate, ValueCompleter};
use clap_complete::{CompleteEnv, PathCompleter};

use super::super::Cli;
use super::super::globals::Globals;
use crate::error::Result;
use crate::manifest::Loaded;
use crate::ops::{self, Selection};
use crate::project::Project;

/// Shown by `completions --help`.
pub const EXAMPLES: &str = "\
Examples:
  promo-infra completions zsh > ~/.zfunc/_promo-infra     # static: commands and flags
  echo 'source <(COMPLETE=bash promo-infra)' >> ~/.bashrc  # dynamic: also stack files, dashboard uids, backup ids, services";

/// `completions` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Shell.
    pub shell: clap_complete::Shell,
}

/// Run `completions`.
pub fn run(_globals: &Globals, args: Args) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "promo-infra", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// When the shell asks for completions (`COMPLETE=SHELL` in the environment): answer and exit.
/// Otherwise return at once.
pub fn answer_shell() {
    CompleteEnv::with_factory(Cli::command).complete();
}

/// The candidates among `values` (value, the stack or file it comes from) that start with what
/// is typed, each once, its help `what (where, where)` (`what` alone without a where).
fn matching(
    current: &OsStr,
    what: &str,
    values: Vec<(String, String)>,
) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (value, from) in values {
        if value.starts_with(typed.as_ref()) {
            found.entry(value).or_default().insert(from);
        }
    }
    found
        .into_iter()
        .map(|(value, from)| {
            let from: Vec<String> = from.into_iter().filter(|f| !f.is_empty()).collect();
            let help = if from.is_empty() {
                what.to_string()
            } else {
                format!("{what} ({})", from.join(", "))
            };
            CompletionCandidate::new(value).help(Some(help.into()))
        })
        .collect()
}

/// The words of the command line being completed: clap_complete runs
/// `promo-infra -- promo-infra WORD…`; what follows `--`, without the program's name.
fn typed_words() -> Vec<OsString> {
    std::env::args_os()
        .skip_while(|w| w != "--")
        .skip(2)
        .collect()
}

/// The project and stacks `words` name with `-C` and `-f` (or `PROMO_INFRA_FILE`), read by
/// clap itself, errors ignored (the line is unfinished); its last word, the one being completed,
/// is left out. Without `-f`: every stack of the project.
fn typed_selection(words: &[OsString]) -> (Project, Option<Vec<std::path::PathBuf>>) {
    let before = &words[..words.len().saturating_sub(1)];
    let args = std::iter::once(OsString::from("promo-infra")).chain(before.iter().cloned());
    let globals = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok()
        .and_then(|m| Globals::from_arg_matches(&m).ok())
        .map(Globals::without_empty_files);
    match globals {
        Some(g) => {
            let files = (!g.files.is_empty()).then(|| g.files.clone());
            (g.project(), files)
        }
        None => (Project::new("."), None),
    }
}

/// Every stack the line names that loads, one at a time (a broken one is skipped).
fn each_stack(mut f: impl FnMut(&Project, &crate::compile::Templates, &Loaded)) {
    let (project, files) = typed_selection(&typed_words());
    let paths = match files {
        Some(files) => files,
        None => match project.all_manifests() {
            Ok(paths) => paths,
            Err(_) => return,
        },
    };
    for path in paths {
        // Writing nothing: a completer may not fill the render cache.
        let selection = Selection::Files(vec![path]);
        if let Ok((templates, loaded)) = ops::load_all_writing_nothing(&project, &selection) {
            for l in &loaded {
                f(&project, &templates, l);
            }
        }
    }
}

fn stack_files(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut files = Vec::new();
    let (project, _) = typed_selection(&typed_words());
    if let Ok(paths) = project.all_manifests() {
        for p in paths {
            let shown = p.display().to_string();
            files.push((shown, String::new()));
        }
    }
    let found = matching(current, "stack manifest", files);
    if found.is_empty() {
        PathCompleter::file().complete(current)
    } else {
        found
    }
}

fn dashboard_uids(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut uids = Vec::new();
    each_stack(|_, _, l| {
        for d in &l.manifest.dashboards {
            uids.push((d.uid.to_string(), l.stack().to_string()));
        }
    });
    matching(current, "dashboard of stack", uids)
}

fn backup_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut ids = Vec::new();
    each_stack(|project, _, l| {
        // Only promo-infra's own backups (not foreign or half-written entries).
        for e in ops::backup_list(project, l).unwrap_or_default() {
            if e.backup.is_some() {
                ids.push((e.id, l.stack().to_string()));
            }
        }
    });
    matching(current, "backup of stack", ids)
}

fn service_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut names = Vec::new();
    each_stack(|project, templates, l| {
        if let Ok(desired) = ops::compile(project, templates, l) {
            for name in ops::services::service_names(&desired) {
                names.push((name, l.stack().to_string()));
            }
        }
    });
    matching(current, "service of stack", names)
}

/// Completer of `-f`: the project's stack manifests (any file when none matches).
pub fn stack_files_completer() -> ArgValueCompleter {
    ArgValueCompleter::new(stack_files)
}

/// Completer of `dashboards render UID`.
pub fn dashboards() -> ArgValueCompleter {
    ArgValueCompleter::new(dashboard_uids)
}

/// Completer of `backup restore ID`.
pub fn backups() -> ArgValueCompleter {
    ArgValueCompleter::new(backup_ids)
}

/// Completer of the services of `logs` and `restart`.
pub fn services() -> ArgValueCompleter {
    ArgValueCompleter::new(service_names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_values_starting_with_what_is_typed_are_offered_once_with_every_source() {
        let values = [
            ("influxdb", "a"),
            ("grafana", "b"),
            ("grafana", "a"),
            ("gra", "a"),
        ]
        .map(|(v, from)| (v.to_string(), from.to_string()))
        .to_vec();
        let got: Vec<(String, String)> = matching(OsStr::new("gr"), "service of stack", values)
            .iter()
            .map(|c| {
                let help = c.get_help().map(ToString::to_string).unwrap_or_default();
                (c.get_value().to_string_lossy().into_owned(), help)
            })
            .collect();
        let want = [
            ("gra", "service of stack (a)"),
            ("grafana", "service of stack (a, b)"),
        ]
        .map(|(v, h)| (v.to_string(), h.to_string()));
        assert_eq!(got, want);
    }
}
