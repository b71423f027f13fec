//! Arguments several commands share, flattened into their `Args`.
//!
//! Owns: `--target` (for commands that act on a running stack) and `--auto-approve`.
//! May not: read the environment, run anything.

use crate::targets::TargetKind;

/// `--target`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Target {
    /// Where the stack runs.
    #[arg(long, value_parser = crate::cli::commands::args::target_parser(), default_value_t = TargetKind::Docker)]
    pub target: TargetKind,
}

/// `--target` and `--json` (commands that report on a running stack).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct TargetJson {
    /// Where the stack runs.
    #[command(flatten)]
    pub target: Target,
    /// Machine-readable output (README "JSON output").
    #[arg(long)]
    pub json: bool,
}

/// `--auto-approve`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Approve {
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
}

/// `--target`: the names of [`TargetKind::ALL`], parsed by its `FromStr`.
pub(crate) fn target_parser() -> impl clap::builder::TypedValueParser<Value = TargetKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(
        TargetKind::ALL
            .map(|k| clap::builder::PossibleValue::new(k.as_str()).help(k.description())),
    )
    .try_map(|s| s.parse::<TargetKind>().map_err(|e| e.to_string()))
}
