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

/// Colour, error style and logs, from the global flags.
pub fn init(globals: &Globals) {
    let color = globals.color();
    if !color {
        anstream::ColorChoice::Never.write_global();
    }
    let terminal = std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color && terminal)
                .unicode(color && terminal)
                .terminal_links(false)
                .wrap_lines(terminal)
                .width(110)
                .build(),
        )
    }));
    init_logs(globals.verbose, color && terminal);
}

fn init_logs(verbose: u8, ansi: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "promo_infra=debug,info",
        _ => "trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time()
        .try_init();
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
            let _ = writeln!(err, "{:?}", miette::Report::new(e));
            ExitCode::from(code::ERROR)
        }
    }
}
