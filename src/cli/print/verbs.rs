//! Printers of `output`, `logs` and `restart`.
//!
//! Owns: the look of outputs (terraform's `name = "value"`), of log lines (compose's
//! `service | line`), and of a restarted service's line.
//! May not: decide anything, read the environment, talk to a target, print a secret.

use std::io::Write;

use super::super::output::Out;
use crate::ops::Restarted;
use crate::ops::services::{OutputValue, Outputs};
use crate::targets::LogLine;

/// One output as `output` lists it: a value quoted, a secret as where it is.
fn shown(v: &OutputValue) -> String {
    match v {
        OutputValue::Plain { value } => format!("{value:?}"),
        OutputValue::Sensitive { env_key, file, .. } => {
            format!("<sensitive> ({env_key} in {file})")
        }
    }
}

/// `output`: every output, `name = value`, by name.
pub fn outputs(out: &mut Out<impl Write>, o: &Outputs) {
    for (name, v) in &o.outputs {
        out.line(&format!("{name} = {}", shown(v)));
    }
}

/// `output NAME` of a plain value: the value alone (for scripts).
pub fn value(out: &mut Out<impl Write>, value: &str) {
    out.line(value);
}

/// One log line, its service padded to `width` like compose: `grafana   | text`.
pub fn log_line(out: &mut Out<impl Write>, width: usize, l: &LogLine) {
    out.line(&format!("{:<width$} | {}", l.service, l.text));
}

/// `restart`: one line per service once it is healthy again.
pub fn restarted(out: &mut Out<impl Write>, r: &Restarted) {
    out.ok(&format!(
        "service.{}: restarted, healthy ({:.1}s)",
        r.service,
        r.took.as_secs_f64()
    ));
}
