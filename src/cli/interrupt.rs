//! Ctrl-C during a command that changes the stack (`apply`, `destroy`), as terraform: the first
//! SIGINT (or SIGTERM) asks the command to stop between its steps ([`Interrupt`]) and says so;
//! the steps in flight finish, and the command then fails with exit 130 saying what was done
//! and what was not. A second one quits at once (130), saying what that may leave.
//!
//! Owns: the signal handlers of those commands and their two lines on stderr.
//! May not: decide what stops (the executor does), or exit but on the second signal.

use std::io::Write as _;

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::term::{self, code};
use crate::error::{Error, Result};
use crate::targets::{Interrupt, Progress};

/// From now on, the first SIGINT or SIGTERM requests `interrupt` and writes `first(steps in
/// flight)` on stderr (spinners of `progress` cleared around it); the second writes `again`
/// (what quitting may leave, and the command that finishes it) and exits with
/// [`code::INTERRUPTED`]. Armed once the user approved (Ctrl-C at the question still quits), and
/// the handlers are in place when this returns.
pub fn arm(
    interrupt: &Interrupt,
    progress: &Progress,
    first: impl Fn(usize) -> String + Send + 'static,
    again: &'static str,
) -> Result<()> {
    let (interrupt, progress) = (interrupt.clone(), progress.clone());
    let say = move |line: &str| {
        progress.suspend(|| {
            let _ = writeln!(anstream::stderr(), "{line}");
        });
    };
    // The handlers' runtime lives on their thread (a runtime may not be dropped on the
    // command's, which may be inside its own runtime: `destroy` asks from there).
    let (ready, handlers) = std::sync::mpsc::channel();
    let listen = move || {
        let setup = || -> std::io::Result<_> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let signals = {
                let _in = rt.enter();
                (
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                )
            };
            Ok((rt, signals))
        };
        let (rt, (mut sigint, mut sigterm)) = match setup() {
            Ok(armed) => armed,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        rt.block_on(async move {
            either(&mut sigint, &mut sigterm).await;
            say(&first(interrupt.request()));
            either(&mut sigint, &mut sigterm).await;
            say(&term::suggested(again));
            std::process::exit(i32::from(code::INTERRUPTED));
        });
    };
    let cannot = |e: String| Error::internal(format!("cannot handle Ctrl-C: {e}"));
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(listen)
        .map_err(|e| cannot(e.to_string()))?;
    match handlers.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(cannot(e.to_string())),
        Err(e) => Err(cannot(e.to_string())),
    }
}

/// The next SIGINT or SIGTERM.
async fn either(sigint: &mut Signal, sigterm: &mut Signal) {
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
}

/// The line of an apply interrupted again.
pub const APPLY_AGAIN: &str = "interrupted again: quitting at once; a step in flight may be left half-done: `promo-infra plan` shows what is left, `promo-infra apply` finishes it";

/// The line of a destroy interrupted again (`apply` would make the stack again, not finish it).
pub const DESTROY_AGAIN: &str = "interrupted again: quitting at once; the destroy may be left half-done: `promo-infra destroy` removes what is left";

/// The first line of an interrupted apply: how many steps it lets finish.
pub fn apply_line(in_flight: usize) -> String {
    match in_flight {
        0 => "interrupt received: starting no step (Ctrl-C again to quit at once)".to_string(),
        n => format!(
            "interrupt received: finishing the {n} step(s) in progress, starting no new one (Ctrl-C again to quit at once)"
        ),
    }
}
