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

/// How the user called promo-infra (`promo-infra -C DIR -f FILE`), when with `-C` or `-f`: the
/// commands an error's help suggests then carry the same flags, so they act on the same stack.
static INVOCATION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `help` with every suggested `` `promo-infra <command>`…`` given the user's `-C`/`-f`
/// (`invocation`); a suggestion that already names its flags is left as it is.
fn with_invocation(help: &str, invocation: &str) -> String {
    let mut out = String::with_capacity(help.len());
    let mut rest = help;
    while let Some(i) = rest.find("`promo-infra ") {
        let after = &rest[i + "`promo-infra ".len()..];
        out.push_str(&rest[..i]);
        if after.starts_with("-f ") || after.starts_with("-C ") {
            out.push_str("`promo-infra ");
        } else {
            out.push('`');
            out.push_str(invocation);
            out.push(' ');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Colour, error style and logs, from the global flags.
pub fn init(globals: &Globals) {
    let invocation = super::commands::k6::cli_prefix(&globals.project(), &globals.selection(false));
    if invocation != "promo-infra" {
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
        match INVOCATION.get() {
            Some(invocation) => Some(Box::new(with_invocation(&help.to_string(), invocation))),
            None => Some(help),
        }
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

/// The process's exit: the command's code, or its error reported on stderr and 1.
pub fn exit(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut err = anstream::stderr();
            let _ = write!(err, "{}", render(&e));
            ExitCode::from(code::ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_invocation;

    #[test]
    fn suggested_commands_carry_the_users_flags_once() {
        let p = "promo-infra -f stacks/local.yaml";
        assert_eq!(
            with_invocation(
                "see it with `promo-infra dashboards diff x`, or `promo-infra apply`",
                p
            ),
            "see it with `promo-infra -f stacks/local.yaml dashboards diff x`, or `promo-infra -f stacks/local.yaml apply`"
        );
        // Already with its flags (k6 hints): unchanged; no suggestion: unchanged.
        let own = "run `promo-infra -f a.yaml k6 run x.js`";
        assert_eq!(with_invocation(own, p), own);
        assert_eq!(
            with_invocation("promo-infra is fine", p),
            "promo-infra is fine"
        );
    }
}
