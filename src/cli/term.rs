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

/// The process's exit: the command's code, or its error reported on stderr and 1.
pub fn exit(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut err = anstream::stderr();
            let _ = writeln!(err, "{:?}", miette::Report::new(e));
            ExitCode::from(1)
        }
    }
}
