//! The options every command takes (`-f` / `PROMO_INFRA_FILE`, `-C`, `-v`, `--no-color`) and
//! what they name: the project and the manifests a command acts on.
//!
//! Owns: the global flags and their meaning.
//! May not: print, read the environment other than through [`crate::settings`], run a command.

use std::path::PathBuf;

use clap::builder::TypedValueParser;

use crate::ops::Selection;
use crate::project::Project;

/// Options accepted before or after any command.
#[derive(Debug, clap::Args)]
pub struct Globals {
    /// Stack manifest(s). Default: PROMO_INFRA_FILE (a `:`-separated list, like COMPOSE_FILE),
    /// else every stacks/*.yaml for validate/generate; for commands that act on one stack,
    /// stacks/promo.yaml, or the only stacks/*.yaml when there is no promo.yaml. `-f` wins over
    /// PROMO_INFRA_FILE.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        value_name = "FILE",
        env = "PROMO_INFRA_FILE",
        value_delimiter = ':',
        value_parser = clap::builder::OsStringValueParser::new().map(PathBuf::from),
        add = super::commands::completions::stack_files_completer()
    )]
    pub files: Vec<PathBuf>,
    /// Project directory (holding stacks/, dashboards-src/, generated/).
    #[arg(
        short = 'C',
        long = "project-dir",
        global = true,
        default_value = ".",
        value_name = "DIR"
    )]
    pub project_dir: PathBuf,
    /// More logs on stderr (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No colours (also: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
}

impl Globals {
    /// Empty entries of `-f` / `PROMO_INFRA_FILE` dropped (`PROMO_INFRA_FILE=` means unset, as
    /// for COMPOSE_FILE; `a.yaml::b.yaml` is two files).
    pub fn without_empty_files(mut self) -> Self {
        self.files.retain(|f| !f.as_os_str().is_empty());
        self
    }

    /// The project under `-C`.
    pub fn project(&self) -> Project {
        Project::new(&self.project_dir)
    }

    /// The manifests `-f` names; without `-f`, every stack (`all_by_default`, for validate and
    /// generate) or the default one (`stacks/promo.yaml`, else the only stack).
    pub fn selection(&self, all_by_default: bool) -> Selection {
        if !self.files.is_empty() {
            Selection::Files(self.files.clone())
        } else if all_by_default {
            Selection::AllStacks
        } else {
            Selection::Default
        }
    }

    /// Whether colour is wanted: no `--no-color`, and `NO_COLOR` unset or empty
    /// (<https://no-color.org>).
    pub fn color(&self) -> bool {
        !self.no_color && crate::settings::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globals(files: &[&str]) -> Globals {
        Globals {
            files: files.iter().map(PathBuf::from).collect(),
            project_dir: PathBuf::from("."),
            verbose: 0,
            no_color: false,
        }
    }

    #[test]
    fn selection_follows_files_then_the_command_default() {
        assert!(matches!(globals(&[]).selection(true), Selection::AllStacks));
        assert!(matches!(globals(&[]).selection(false), Selection::Default));
        match globals(&["a.yaml"]).selection(true) {
            Selection::Files(f) => assert_eq!(f, [PathBuf::from("a.yaml")]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_file_entries_mean_unset() {
        let g = globals(&["", "a.yaml", ""]).without_empty_files();
        assert_eq!(g.files, [PathBuf::from("a.yaml")]);
        assert!(globals(&[""]).without_empty_files().files.is_empty());
    }

    #[test]
    fn no_color_flag_wins() {
        let mut g = globals(&[]);
        g.no_color = true;
        assert!(!g.color());
    }
}
