//! Targets: where a stack runs, behind one small contract ([`Target`]).
//!
//! Owns: the [`Target`] trait, the [`TargetKind`] names, [`for_kind`] (the one place that maps a
//! kind to its implementation), and what every target shares ([`common`], [`progress`], the
//! executor in [`apply`]: ordering, concurrency, retries).
//! May not: print, read the environment (ask [`crate::settings`]), diff (that is
//! [`crate::plan`]), or decide anything a [`Plan`] did not decide.
//!
//! Adding a target = one module implementing [`Target`] + one match arm in [`for_kind`].

mod announced;
mod apply;
pub mod cloud;
pub mod common;
pub mod docker;
pub mod fake;
pub mod grafana_api;
pub mod native;
pub mod progress;
pub mod record;
pub mod reload;
pub mod tokens;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use announced::Announced;
pub use apply::{
    Did, Done, Interrupt, apply, apply_until, done_summary, is_transient, retry, waves,
};
pub use progress::Progress;

use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::plan::{Observed, Plan, Step};
use crate::secrets::SecretValues;

/// The places a stack can run (`--target`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Docker Engine API.
    #[default]
    Docker,
    /// Supervised native processes on this host.
    Native,
    /// Grafana Cloud and InfluxDB Cloud HTTP APIs.
    Cloud,
}

impl TargetKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [Self; 3] = [Self::Docker, Self::Native, Self::Cloud];

    /// The name (`docker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Native => "native",
            Self::Cloud => "cloud",
        }
    }

    /// One line saying what runs the stack (help texts).
    pub fn description(self) -> &'static str {
        match self {
            Self::Docker => "Docker Engine API",
            Self::Native => "Supervised native processes on this host",
            Self::Cloud => "Grafana Cloud and InfluxDB Cloud HTTP APIs",
        }
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TargetKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                Error::usage(
                    format!("unknown target `{s}`"),
                    format!("use one of: {}", names.join(", ")),
                )
            })
    }
}

/// What a target needs to know about the stack besides `Desired`.
#[derive(Debug, Clone)]
pub struct Context {
    /// Stack name.
    pub stack: String,
    /// Absolute `generated/<stack>/` (bind-mount sources, the compose file).
    pub generated_dir: PathBuf,
    /// Manifest path as the user gave it (for labels and messages).
    pub manifest_path: String,
    /// Secret values from `.env` and the environment.
    pub secrets: SecretValues,
    /// How long to wait for a service to become healthy.
    pub health_timeout: Duration,
}

/// Where on this host a target works, besides the stack's [`Context`].
#[derive(Debug, Clone)]
pub struct Place {
    /// Absolute project directory (native: working directory of the processes).
    pub project_dir: PathBuf,
    /// `targets.native.data_dir/<stack>`, relative to the project directory.
    pub native_data_dir: String,
    /// Progress display for waits (hidden for read-only commands).
    pub progress: Progress,
}

/// Health and whereabouts of one service, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub service: String,
    /// `running`, `exited`, `missing`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `-`.
    pub health: String,
    /// Image or binary.
    pub image: String,
    /// Version (image tag, or the binary's).
    pub version: String,
    /// Where people reach it.
    pub url: String,
    /// How long it has been up (`3m 12s`), or `-`.
    pub uptime: String,
    /// Whether its configuration matches the manifest.
    pub up_to_date: bool,
}

#[cfg(test)]
impl ServiceStatus {
    /// A row for tests: `service` in `state` with `health`, every other column `-`, its
    /// configuration current.
    pub fn row(service: &str, state: &str, health: &str) -> Self {
        Self {
            service: service.into(),
            state: state.into(),
            health: health.into(),
            image: "-".into(),
            version: "-".into(),
            url: "-".into(),
            uptime: "-".into(),
            up_to_date: true,
        }
    }
}

/// What [`Target::destroy`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Destroyed {
    /// What was removed (`container promo-grafana-1`, ...), in order.
    pub removed: Vec<String>,
    /// The stack's networks left in place because containers that are not the stack's are
    /// attached to them (left untouched): `destroy` is not done until they are gone.
    pub kept: Vec<crate::plan::InUse>,
}

impl From<Vec<String>> for Destroyed {
    /// Everything removed, nothing kept.
    fn from(removed: Vec<String>) -> Self {
        Self {
            removed,
            kept: Vec::new(),
        }
    }
}

/// One line of a service's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Service name (`grafana`).
    pub service: String,
    /// The line, without its newline.
    pub text: String,
}

/// The lines of `bytes` completed so far; the unfinished rest stays in `pending`.
pub fn split_lines(pending: &mut String, bytes: &[u8]) -> Vec<String> {
    pending.push_str(&String::from_utf8_lossy(bytes));
    let mut lines = Vec::new();
    while let Some(i) = pending.find('\n') {
        let line: String = pending.drain(..=i).collect();
        lines.push(line.trim_end_matches(['\n', '\r']).to_string());
    }
    lines
}

/// What `logs` asks a target for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Services, in the order to show them; never empty (the caller fills in every service).
    pub services: Vec<String>,
    /// At most this many of the last lines per service (all when `None`).
    pub tail: Option<usize>,
    /// Keep streaming new lines until the future is dropped (Ctrl-C).
    pub follow: bool,
}

/// The contract of a target: read what exists, execute one decided step, report, remove.
///
/// Object safe (`Box<dyn Target>`, see [`for_kind`]); the futures are not `Send`: commands run
/// them on a current-thread runtime. The core ([`apply`]) orders, parallelises and retries the
/// steps; a target never diffs and never decides.
#[async_trait::async_trait(?Send)]
pub trait Target {
    /// Name (`docker`), as messages say it.
    fn name(&self) -> &'static str;
    /// Checks before any change (secrets set, images present). Default: nothing to check.
    async fn preflight(&self, plan: &Plan, desired: &Desired) -> Result<()> {
        let _ = (plan, desired);
        Ok(())
    }
    /// Read what exists now for this stack (the only read IO of planning).
    async fn observe(&self, desired: &Desired) -> Result<Observed>;
    /// [`Self::observe`] for `destroy`: what another stack owns is left out, not refused
    /// (`destroy` leaves it alone). Default: [`Self::observe`].
    async fn observe_to_destroy(&self, desired: &Desired) -> Result<Observed> {
        self.observe(desired).await
    }
    /// Execute one step; waits until the resource is healthy where that applies. Idempotent.
    async fn execute(&self, step: &Step, desired: &Desired) -> Result<()>;
    /// Per-service status.
    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>>;
    /// Whether [`Self::destroy`] removes the observed resource `id` (what `destroy` previews).
    /// Default: services and networks, volumes only with `volumes`.
    fn destroys(&self, id: &crate::desired::ResourceId, volumes: bool) -> bool {
        use crate::desired::ResourceKind;
        match id.kind {
            ResourceKind::Network | ResourceKind::Service => true,
            ResourceKind::Volume => volumes,
            _ => false,
        }
    }
    /// Remove the stack; data (volumes, data dirs) only when `volumes`. Returns what was removed,
    /// and what was kept because something that is not the stack's uses it.
    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<Destroyed>;
    /// The services' logs, line by line to `sink`: without `follow`, service by service in the
    /// query's order; with it, the tails then new lines as they come, until dropped.
    async fn logs(
        &self,
        desired: &Desired,
        query: &LogQuery,
        sink: &mut dyn FnMut(LogLine),
    ) -> Result<()> {
        let _ = (desired, query, sink);
        Err(not_supported(self.name(), "logs"))
    }
    /// Restart one running service in place (same container or program, same configuration)
    /// and wait until it is healthy again.
    async fn restart(&self, desired: &Desired, service: &str) -> Result<()> {
        let _ = (desired, service);
        Err(not_supported(self.name(), "restart"))
    }
}

fn not_supported(target: &str, verb: &str) -> Error {
    Error::usage(
        format!("the {target} target cannot {verb} services"),
        "use --target docker or --target native",
    )
}

/// The target of `kind` for one stack.
pub fn for_kind(kind: TargetKind, ctx: Context, place: &Place) -> Result<Box<dyn Target>> {
    let target: Box<dyn Target> = match kind {
        TargetKind::Docker => {
            Box::new(docker::DockerTarget::connect(ctx)?.with_progress(place.progress.clone()))
        }
        TargetKind::Native => Box::new(
            native::NativeTarget::new(ctx, &place.project_dir, &place.native_data_dir)
                .with_progress(place.progress.clone()),
        ),
        TargetKind::Cloud => Box::new(cloud::CloudTarget::new(ctx)),
    };
    Ok(if place.progress.announces() {
        Box::new(Announced::new(target, place.progress.clone()))
    } else {
        target
    })
}

/// A target whose data can be on this machine, for a command without `--target` that must
/// look at every one (`generate`'s lost-`.env` guard).
#[derive(Debug)]
pub enum Local {
    /// To ask: its data is where this machine keeps it.
    Ask(TargetKind),
    /// Configured here but not answering: why, for people.
    Unasked(TargetKind, String),
}

/// The targets with data on this machine: native (its data directories) always; docker when
/// an engine is configured here ([`docker::engine_here`]: a ping bounded to a few seconds).
/// The cloud target keeps nothing here.
pub fn on_this_machine() -> Vec<Local> {
    let docker = match docker::engine_here() {
        docker::EngineHere::None => None,
        docker::EngineHere::Answers => Some(Local::Ask(TargetKind::Docker)),
        docker::EngineHere::Silent(why) => Some(Local::Unasked(TargetKind::Docker, why)),
    };
    std::iter::once(Local::Ask(TargetKind::Native))
        .chain(docker)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names_and_unknown_names_say_which_exist() {
        for k in TargetKind::ALL {
            assert_eq!(k.as_str().parse::<TargetKind>().expect("parses"), k);
            assert_eq!(k.to_string(), k.as_str());
        }
        let err = "podman".parse::<TargetKind>().expect_err("unknown");
        assert_eq!(err.to_string(), "unknown target `podman`");
        assert!(matches!(
            err,
            Error::Usage { help: Some(h), .. } if h == "use one of: docker, native, cloud"
        ));
    }

    #[test]
    fn every_kind_has_its_target() {
        let place = Place {
            project_dir: PathBuf::from("/nonexistent"),
            native_data_dir: "data/s".into(),
            progress: Progress::hidden(),
        };
        let ctx = Context {
            stack: "s".into(),
            generated_dir: PathBuf::from("/nonexistent/generated/s"),
            manifest_path: "stacks/s.yaml".into(),
            secrets: SecretValues::default(),
            health_timeout: Duration::from_secs(1),
        };
        for kind in [TargetKind::Native, TargetKind::Cloud] {
            let t = for_kind(kind, ctx.clone(), &place).expect("target");
            assert_eq!(t.name(), kind.as_str());
        }
    }

    #[test]
    fn lines_split_across_chunks_are_joined_and_the_rest_waits() {
        let mut pending = String::new();
        assert_eq!(split_lines(&mut pending, b"a\nb"), ["a"]);
        assert_eq!(split_lines(&mut pending, b"c\r\nd\n\n"), ["bc", "d", ""]);
        assert!(pending.is_empty());
        assert!(split_lines(&mut pending, b"e").is_empty());
        assert_eq!(pending, "e");
    }
}
