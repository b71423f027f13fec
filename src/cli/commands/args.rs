//! Arguments several commands share, flattened into their `Args`.
//!
//! Owns: `--target` (for commands that act on a running stack) and `--auto-approve`.
//! May not: read the environment, run anything.

use crate::targets::TargetKind;

/// `--target`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Target {
    /// Where the stack runs.
    #[arg(long, value_enum, default_value_t = TargetKind::Docker)]
    pub target: TargetKind,
}

/// `--auto-approve`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Approve {
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
}
