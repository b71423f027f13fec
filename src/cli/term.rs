//! The terminal around a command: colour choice, the error report's style (miette), logs on
//! stderr (tracing), and the report that ends a failed command.
//!
//! Owns: what is set up once per process before a command runs, and how an error is shown.
//! May not: run a command, write to stdout, read the environment other than through
//! [`crate::settings`] (via [`Globals::color`]).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use super::globals::Globals;
use crate::error::Result;

/// How the user called promo-infra: `promo-infra -C DIR -f FILE` (when with `-C` or `-f`) and
/// the `--target` given to the command (when not the default): the commands an error's help
/// suggests then carry the same flags, so they act on the same stack where it runs.
static INVOCATION: std::sync::OnceLock<Invocation> = std::sync::OnceLock::new();

/// See [`INVOCATION`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Invocation {
    /// `promo-infra` with the user's `-C`/`-f`.
    prefix: String,
    /// `promo-infra` with the user's `-C` only: for a suggestion that names its own `-f` (the
    /// stack a plan file was made for).
    project: String,
    /// `--target` of the command, when another than docker.
    target: Option<String>,
}

/// `help` with every suggested `` `promo-infra <command>…` `` given the user's `-C`/`-f` (a
/// suggestion that already names `-C` is left so; one that names its own `-f` gets the user's
/// `-C` only) and, when the suggested command takes `--target` and names none, the user's
/// `--target`.
fn with_invocation(help: &str, invocation: &Invocation) -> String {
    let mut out = String::with_capacity(help.len());
    let mut rest = help;
    while let Some(i) = rest.find("`promo-infra ") {
        let after = &rest[i + "`promo-infra ".len()..];
        out.push_str(&rest[..i]);
        let end = after.find('`').unwrap_or(after.len());
        let (words, tail) = after.split_at(end);
        if words.starts_with("-C ") {
            out.push_str("`promo-infra ");
        } else if words.starts_with("-f ") {
            out.push('`');
            out.push_str(&invocation.project);
            out.push(' ');
        } else {
            out.push('`');
            out.push_str(&invocation.prefix);
            out.push(' ');
        }
        out.push_str(words);
        if let Some(target) = &invocation.target
            && !words.contains("--target")
            && takes_target(words)
        {
            out.push_str(" --target ");
            out.push_str(target);
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// `text` with the commands it suggests carrying the user's `-C`/`-f`/`--target` (see
/// [`INVOCATION`]): for suggestions printed outside an error, such as doctor's fixes.
pub fn suggested(text: &str) -> String {
    match INVOCATION.get() {
        Some(invocation) => with_invocation(text, invocation),
        None => text.to_string(),
    }
}

/// Whether the command `words` names (after `promo-infra`, global flags skipped) takes
/// `--target`, by clap's own definition of the command line.
fn takes_target(words: &str) -> bool {
    use clap::CommandFactory;
    let root = super::Cli::command();
    let mut cmd = &root;
    let mut words = words.split_whitespace();
    while let Some(word) = words.next() {
        if matches!(word, "-C" | "-f" | "--file" | "--project-dir") {
            words.next();
            continue;
        }
        match cmd.find_subcommand(word) {
            Some(sub) => cmd = sub,
            None => break,
        }
    }
    cmd.get_arguments().any(|a| a.get_long() == Some("target"))
}

/// The `--target` the command line gave its command, when another than the default; for a
/// command that takes none (`generate`) or was given none where it is optional (`runs`), the
/// one target the stack was applied to ([`crate::ops::applied_target`]): a suggested `status`
/// or `apply` then names where the stack runs, not docker.
fn target_given(globals: &Globals) -> Option<String> {
    use clap::CommandFactory;
    let matches = super::Cli::command().try_get_matches().ok()?;
    let mut m = &matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    let given = match m.try_get_one::<crate::targets::TargetKind>("target") {
        Ok(Some(given)) => *given,
        Ok(None) | Err(_) => {
            crate::ops::applied_target(&globals.project(), &globals.selection(false))?
        }
    };
    (given != crate::targets::TargetKind::Docker).then(|| given.as_str().to_string())
}

/// Colour, error style and logs, from the global flags.
pub fn init(globals: &Globals) {
    let project = globals.project();
    let invocation = Invocation {
        prefix: super::commands::k6::cli_prefix(&project, &globals.selection(false)),
        project: super::commands::k6::cli_prefix(&project, &crate::ops::Selection::Default),
        target: target_given(globals),
    };
    if invocation.prefix != "promo-infra" || invocation.target.is_some() {
        let _ = INVOCATION.set(invocation);
    }
    let color = globals.color();
    if !color {
        anstream::ColorChoice::Never.write_global();
    }
    let terminal = std::io::stderr().is_terminal();
    let _ = STYLE.set(Style {
        fancy: color && terminal,
        wrap: terminal,
    });
    init_logs(globals.verbose, color && terminal);
}

/// How errors look: set once by [`init`] (plain when it did not run, as in unit tests).
static STYLE: std::sync::OnceLock<Style> = std::sync::OnceLock::new();

#[derive(Debug, Clone, Copy, Default)]
struct Style {
    /// Colour and unicode box drawing (a terminal that wants colour).
    fancy: bool,
    /// Wrap long lines (a terminal).
    wrap: bool,
}

/// An error as people read it: the error, then each of its related problems (a manifest's
/// every mistake) as a report of its own. The diagnostic code (`promo_infra::manifest`) is not
/// shown: miette would print it alone as a header line, and before each related problem an
/// empty `Error:` header — noise above what the reader needs.
fn render(e: &dyn miette::Diagnostic) -> String {
    let style = STYLE.get().copied().unwrap_or_default();
    let theme = if style.fancy {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::none()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_wrap_lines(style.wrap)
        .with_width(110);
    let mut out = String::new();
    let _ = handler.render_report(&mut out, &Shown(e));
    for related in e.related().into_iter().flatten() {
        out.push('\n');
        let _ = handler.render_report(&mut out, &Shown(related));
    }
    out
}

/// A diagnostic shown without its code and without its related problems (rendered apart).
struct Shown<'a>(&'a dyn miette::Diagnostic);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.0, f)
    }
}

impl std::error::Error for Shown<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl miette::Diagnostic for Shown<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        self.0.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help = self.0.help()?;
        Some(Box::new(suggested(&help.to_string())))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        self.0.diagnostic_source()
    }
}

fn init_logs(verbose: u8, ansi: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "promo_infra=debug,info",
        _ => "trace",
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time();
    // Without -v, a warning reads like the tool's other messages (`warning: …`); with -v,
    // tracing's own lines (level and module) for whoever debugs.
    let _ = if verbose == 0 {
        logs.event_format(Plain).try_init()
    } else {
        logs.try_init()
    };
}

/// `warning: <message>` (`error:`, `info:` …): an event as a person reads it.
struct Plain;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Plain
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(writer, "{level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Exit codes every command shares (README, "Exit codes"). `2` is only ever "there are
/// changes" (`plan --detailed-exitcode`), so a command line clap refuses exits 1, not clap's 2.
pub mod code {
    /// Done; nothing to report.
    pub const OK: u8 = 0;
    /// An error: bad input, a refused command line, a failure while running.
    pub const ERROR: u8 = 1;
    /// `plan --detailed-exitcode`: the plan has changes.
    pub const CHANGES: u8 = 2;
    /// `status --exit-code`: at least one declared service is not running and healthy.
    pub const NOT_HEALTHY: u8 = 3;
    /// `apply`, `destroy`: interrupted (Ctrl-C, SIGTERM; 128 + SIGINT, as shells say it).
    pub const INTERRUPTED: u8 = 130;
}

/// A command line clap refused (exit 1), or `--help`/`--version` (printed on stdout, exit 0).
pub fn usage(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(if e.use_stderr() {
        code::ERROR
    } else {
        code::OK
    })
}

/// The process's exit: the command's code, or its error reported on stderr and 1 (130 for an
/// interrupted command).
pub fn exit(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut err = anstream::stderr();
            let _ = write!(err, "{}", render(&e));
            ExitCode::from(match e {
                crate::error::Error::Interrupted { .. } => code::INTERRUPTED,
                _ => code::ERROR,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Invocation, with_invocation};

    fn invocation(prefix: &str, target: Option<&str>) -> Invocation {
        Invocation {
            prefix: prefix.into(),
            project: prefix.split(" -f ").next().unwrap_or(prefix).into(),
            target: target.map(Into::into),
        }
    }

    /// A suggestion naming its own stack (a plan file's) keeps it and gets the user's `-C`: the
    /// stack's file is relative to the project. Fails without the fix: the `-C` was dropped.
    #[test]
    fn a_suggestion_naming_its_own_stack_gets_the_users_project_dir() {
        let p = invocation("promo-infra -C /srv/shop", Some("native"));
        assert_eq!(
            with_invocation(
                "run `promo-infra -f stacks/qa.yaml plan --out p.plan` again",
                &p
            ),
            "run `promo-infra -C /srv/shop -f stacks/qa.yaml plan --out p.plan --target native` again"
        );
        let plain = invocation("promo-infra", None);
        let own = "run `promo-infra -f stacks/qa.yaml plan --out p.plan` again";
        assert_eq!(with_invocation(own, &plain), own);
    }

    #[test]
    fn suggested_commands_carry_the_users_flags_once() {
        let p = invocation("promo-infra -f stacks/local.yaml", None);
        assert_eq!(
            with_invocation(
                "see it with `promo-infra dashboards diff x`, or `promo-infra apply`",
                &p
            ),
            "see it with `promo-infra -f stacks/local.yaml dashboards diff x`, or `promo-infra -f stacks/local.yaml apply`"
        );
        // Already with its flags (k6 hints): unchanged; no suggestion: unchanged.
        let own = "run `promo-infra -f a.yaml k6 run x.js`";
        assert_eq!(with_invocation(own, &p), own);
        assert_eq!(
            with_invocation("promo-infra is fine", &p),
            "promo-infra is fine"
        );
    }

    #[test]
    fn suggested_commands_that_take_target_carry_the_users_target() {
        let p = invocation("promo-infra", Some("cloud"));
        assert_eq!(
            with_invocation(
                "see `promo-infra dashboards diff promo-marketing`, overwrite with \
                 `promo-infra -f s.yaml dashboards push x --force`, then `promo-infra apply`; \
                 `promo-infra secrets list` has no target; `promo-infra apply --target native` \
                 keeps its own",
                &p
            ),
            "see `promo-infra dashboards diff promo-marketing --target cloud`, overwrite with \
             `promo-infra -f s.yaml dashboards push x --force --target cloud`, then \
             `promo-infra apply --target cloud`; `promo-infra secrets list` has no target; \
             `promo-infra apply --target native` keeps its own"
        );
        // `backup list` reads the backup directory on this host whatever the target, and takes
        // no `--target` (clap would refuse it): it gets the user's `-f`, and no `--target`.
        let other = invocation("promo-infra -f stacks/other.yaml", Some("native"));
        assert_eq!(
            with_invocation(
                "take a new backup with `promo-infra backup run` (`promo-infra backup list` marks the corrupt ones)",
                &other
            ),
            "take a new backup with `promo-infra -f stacks/other.yaml backup run --target native` \
             (`promo-infra -f stacks/other.yaml backup list` marks the corrupt ones)"
        );
        // An unclosed suggestion is completed as far as it goes.
        assert_eq!(
            with_invocation("try `promo-infra status", &p),
            "try `promo-infra status --target cloud"
        );
    }
}
