//! The command line: the [`Cli`] struct, the [`Command`] enum and [`run`], which parses, sets up
//! the terminal and hands each command to its module under `commands/`. Printers are in `print/`, the look of a line in `output.rs`.
//!
//! Owns: every byte the tool prints, and the only reads of the environment outside
//! [`crate::settings`] (clap's `env = ...`).
//! May not: hold the logic of a command (that is `ops`, `deploy` and the domain modules).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod commands;
mod globals;
mod interrupt;
mod output;
mod print;
mod prompt;
mod term;

pub use commands::control_api::ControlApiArgs;
pub use commands::k6::{K6Command, LabelArgs, TestLabelArgs};
pub use globals::Globals;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::Result;
use commands::{
    apply, backup, completions, dashboards, destroy, generate, plan, schema, secrets, status,
    validate,
};
use commands::{logs, output as outputs, restart, runs};

const EXAMPLES: &str = "\
Examples:
  promo-infra validate                          # check every stacks/*.yaml
  promo-infra generate                          # compile every stack into generated/<stack>/
  promo-infra generate --check                  # CI: fail with a diff if generated/ is stale
  promo-infra -f stacks/promo-v1.yaml generate  # one stack only
  promo-infra secrets list                      # names and where they are used, never values
  promo-infra dashboards render promo-marketing # the final JSON of one dashboard
  promo-infra backup run                        # back up InfluxDB into backups/<stack>/<UTC time>/
  promo-infra backup rotate --dry-run           # what rotation would keep and remove, and why
  promo-infra schema -o stacks/stack.schema.json
  promo-infra plan --detailed-exitcode          # docker: what apply would change (0 none, 2 changes)
  promo-infra apply                             # bring the stack up on the Docker engine
  promo-infra status                            # per service: state, health, version, URL, uptime
  promo-infra destroy                           # containers and network; data volumes kept
  promo-infra logs --follow grafana             # a service's log, followed until Ctrl-C
  promo-infra restart grafana                   # in place, waited for until healthy
  promo-infra output grafana_url                # URLs, user names, where the secrets are
  promo-infra k6 run examples/checkout.js --promo black-friday
  promo-infra runs compare TESTID --baseline BASELINE_TESTID   # the promo's extra cost, verdict
  promo-infra control-api -f stacks/promo.yaml
  promo-infra completions bash > /etc/bash_completion.d/promo-infra";

const CONTROL_API_EXAMPLES: &str = "Examples:\n  promo-infra control-api -f stacks/promo.yaml            # on the host, from the manifest and .env\n  promo-infra control-api --listen 0.0.0.0:5000           # in the container (settings from the environment)\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:5000/api/tests/current";

/// Infrastructure-as-code for the monitoring stack around k6 load tests: one manifest compiled
/// into reviewable files (compose, Grafana provisioning, dashboards, cron/systemd, .env).
#[derive(Debug, Parser)]
#[command(name = "promo-infra", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub globals: Globals,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests: syntax, types, unknown keys, and every semantic rule. Writes nothing.
    #[command(after_help = validate::EXAMPLES)]
    Validate(validate::Args),
    /// Compile manifests into generated/<stack>/ (and create or complete .env).
    #[command(after_help = generate::EXAMPLES)]
    Generate(generate::Args),
    /// Secrets of a stack (names only; values are never printed).
    #[command(subcommand)]
    Secrets(secrets::Command),
    /// Dashboards of a stack.
    #[command(subcommand)]
    Dashboards(dashboards::Command),
    /// Backups of the stack's InfluxDB: run, list, rotate, restore.
    #[command(subcommand)]
    Backup(backup::Command),
    /// Print (or write with -o, or check with --check) the manifest's JSON Schema.
    #[command(after_help = schema::EXAMPLES)]
    Schema(schema::Args),
    /// Show what `apply` would change on the target (terraform-style), changing nothing.
    #[command(after_help = plan::EXAMPLES)]
    Plan(plan::Args),
    /// Bring the stack to the manifest on the target: plan, confirm, execute.
    #[command(after_help = apply::EXAMPLES)]
    Apply(apply::Args),
    /// Per service: state, health, image and version, URL, uptime.
    #[command(after_help = status::EXAMPLES)]
    Status(status::Args),
    /// Check a stack: .env, secrets, services; ok / warn / fail and what to do (exit 1 on fail).
    #[command(after_help = commands::doctor::EXAMPLES)]
    Doctor(commands::doctor::Args),
    /// Remove the stack's containers and network (data volumes only with --volumes).
    #[command(after_help = destroy::EXAMPLES)]
    Destroy(destroy::Args),
    /// The services' logs, prefixed with the service (`--follow` until Ctrl-C).
    #[command(after_help = logs::EXAMPLES)]
    Logs(logs::Args),
    /// Restart services in place (no recreate) and wait until they are healthy.
    #[command(after_help = restart::EXAMPLES)]
    Restart(restart::Args),
    /// URLs, user names and where the secrets are (values never), from the manifest.
    #[command(after_help = outputs::EXAMPLES)]
    Output(outputs::Args),
    /// k6: build the custom binary, print or inject a run's variables, run a tracked test.
    #[command(subcommand)]
    K6(K6Command),
    /// After the test: recorded runs, their numbers from InfluxDB, promo vs baseline, CSV.
    #[command(subcommand)]
    Runs(runs::Command),
    /// The emergency-stop HTTP API (health, current test, stop; STOP page for people).
    #[command(after_help = CONTROL_API_EXAMPLES)]
    ControlApi(ControlApiArgs),
    /// Print shell completions.
    #[command(after_help = completions::EXAMPLES)]
    Completions(completions::Args),
}

/// The binary: parse the command line, set up the terminal, run the command, report.
pub fn run() -> ExitCode {
    completions::answer_shell();
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return term::usage(&e),
    };
    cli.globals = cli.globals.without_empty_files();
    term::init(&cli.globals);
    term::exit(dispatch(cli))
}

/// Run a parsed command line.
pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    let g = &cli.globals;
    match cli.command {
        Command::Validate(args) => validate::run(g, args),
        Command::Generate(args) => generate::run(g, args),
        Command::Secrets(cmd) => secrets::run(g, cmd),
        Command::Dashboards(cmd) => dashboards::run(g, cmd),
        Command::Backup(cmd) => backup::run(g, cmd),
        Command::Schema(args) => schema::run(g, args),
        Command::Plan(args) => plan::run(g, args),
        Command::Apply(args) => apply::run(g, args),
        Command::Status(args) => status::run(g, args),
        Command::Doctor(args) => commands::doctor::run(g, args),
        Command::Destroy(args) => destroy::run(g, args),
        Command::Logs(args) => logs::run(g, args),
        Command::Restart(args) => restart::run(g, args),
        Command::Output(args) => outputs::run(g, args),
        Command::K6(cmd) => commands::k6::run(&g.project(), &g.selection(false), cmd),
        Command::Runs(cmd) => runs::run(g, cmd),
        Command::ControlApi(args) => commands::control_api::run(&g.project(), &g.files, args),
        Command::Completions(args) => completions::run(g, args),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// The `promo-infra …` commands of `text` (an `Examples:` section, or the code of a README
    /// cell), each as the words a shell would pass: comments, `VAR=…` prefixes and redirections
    /// dropped, `a && b` split, `$(promo-infra …)` taken out, `[--flag]` / `[ARG…]` taken as
    /// given and the placeholder `N` as a number.
    fn commands_in(text: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.split(" # ").next().unwrap_or_default();
            for part in line.split(" && ") {
                let Some(at) = part.find("promo-infra ") else {
                    continue;
                };
                let mut command = part[at..].split(" > ").next().unwrap_or_default();
                if part[..at].ends_with("$(") {
                    command = command.split(')').next().unwrap_or_default();
                }
                let command = command.replace(['[', ']', '…'], "");
                let words =
                    shlex::split(&command).unwrap_or_else(|| panic!("not shell words: {command}"));
                // README shorthands: `--follow/-F` names one flag two ways.
                let words = words.iter().map(|w| match w.split('/').next() {
                    Some("N") => "2".to_string(),
                    Some(w) if w.starts_with('-') => w.to_string(),
                    _ => w.clone(),
                });
                out.push(words.collect());
            }
        }
        out
    }

    /// Every `Examples:` line of every command's `--help`, and every example of the README's
    /// command table, is a command line this CLI accepts: the examples people copy work.
    #[test]
    fn every_example_in_help_and_readme_parses() {
        fn walk(cmd: &clap::Command, found: &mut Vec<(String, Vec<String>)>) {
            if let Some(help) = cmd.get_after_help() {
                for words in commands_in(&help.to_string()) {
                    found.push((cmd.get_name().to_string(), words));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, found);
            }
        }
        let mut found = Vec::new();
        walk(&super::Cli::command(), &mut found);
        // The command table: `| command | example | what it does |`, the example in code spans
        // (`a` / `b` gives two).
        let readme = include_str!("../../README.md");
        let examples = readme
            .lines()
            .filter(|l| l.starts_with("| `"))
            .filter_map(|l| l.split(" | ").nth(1))
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .filter(|code| {
                let first = code.split_whitespace().find(|w| !w.contains('='));
                first == Some("promo-infra")
            });
        for code in examples {
            for words in commands_in(code) {
                found.push(("README".into(), words));
            }
        }
        // And the command lines of its code blocks (a line that starts with the command, after
        // `VAR=…` prefixes; output shown in a block is not one).
        let (mut in_block, mut line) = (false, String::new());
        for next in readme.lines() {
            if next.starts_with("```") {
                in_block = !in_block;
                continue;
            }
            // A line continued with `\` is one command.
            line.push_str(next.trim_end_matches('\\'));
            if next.ends_with('\\') {
                continue;
            }
            let first = line.split_whitespace().find(|w| !w.contains('='));
            if in_block && first == Some("promo-infra") {
                for words in commands_in(&line) {
                    found.push(("README block".into(), words));
                }
            }
            line.clear();
        }
        assert!(found.len() > 60, "{} examples found", found.len());
        let refused: Vec<String> = found
            .iter()
            .filter_map(|(from, words)| {
                let e = super::Cli::try_parse_from(words).err()?;
                (!matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ))
                .then(|| format!("{from}: `{}`: {}", words.join(" "), e.kind()))
            })
            .collect();
        assert!(refused.is_empty(), "{}", refused.join("\n"));
    }
}
