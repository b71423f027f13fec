//! Backups of a stack's InfluxDB: `backup run | list | rotate | restore`.
//!
//! # Layout
//!
//! ```text
//! <backup.dir>/<stack>/
//!   20261124T030000Z/                 one backup; the id is its UTC start time
//!     20261124T030000Z.manifest       influxd's / influx's own files, untouched
//!     20261124T030000Z.meta
//!     20261124T030000Z.s1.tar.gz
//!     promo-infra-backup.json         ours, written last: files, sizes, sha256, database,
//!                                     InfluxDB version, server version, stack, start/end
//!   .tmp-20261125T030000Z/            a backup being written (or interrupted): holds the
//!     .promo-infra-partial            marker; renamed to its id only once complete
//! ```
//!
//! A backup is written into `.tmp-<id>/` and renamed to `<id>/` once every file is hashed and
//! the manifest is written, so an interrupted backup is never listed as valid. Two backups
//! started in the same second get ids `<ts>` and `<ts>-2`.
//!
//! # Statuses (`backup list`)
//!
//! - `ok`: our manifest is present and every file exists with its recorded size and sha256,
//!   with no unexpected file beside them;
//! - `incomplete`: a `.tmp-<id>` directory (interrupted or still running) holding our marker
//!   naming this stack, or our manifest of this stack and id (marker already removed, not yet
//!   renamed), or, named with a real id, nothing (killed as it started) — whatever instant `backup run` was killed at
//!   ([`run`]); or a `.del-<id>` directory (a removal that was interrupted; the next rotate
//!   finishes it);
//! - `corrupt`: our manifest is unreadable, or a file is missing, has another size or another
//!   sha256, or an unexpected file, a symbolic link, a device or an empty directory is inside —
//!   the message names the path;
//! - `foreign`: anything promo-infra cannot prove it created for THIS stack (no manifest of
//!   ours, another stack's, a renamed copy, a plain file or link, a `.tmp-*` whose marker names
//!   another stack, a `.del-<id>` without our manifest of this stack and id). Foreign entries
//!   are never modified or removed.
//!
//! # Rotation (`backup rotate`)
//!
//! The policy is restic's `forget` with UTC buckets, documented in [`rotate`]. Around it:
//! only `ok` backups count, and rotation verifies every sha256 of every backup (no stat-keyed
//! cache: bit rot keeps size and mtime), so a corrupt backup never fills a bucket in place of a
//! valid one and rotation can only lose what the policy drops; the newest valid backup is never
//! removed; `corrupt` backups are reported and left for a human to inspect; `.tmp-*` directories
//! proven ours (as for `incomplete` above) older than [`STALE_AFTER_HOURS`] hours are removed
//! (younger ones may be a backup still running and are only reported), `.del-<id>` leftovers
//! holding our manifest of this stack and id are removed; the proof is re-checked right before
//! each removal, and our manifest is deleted last; a backup a running restore holds (a lock on
//! its directory) is left for a later rotation; `--dry-run` prints the same decisions and
//! removes nothing.
//!
//! # Targets (`--target`, default docker)
//!
//! [`Runtime::Docker`]: 1.x backups and restores run `influxd` inside the stack's InfluxDB
//! container and move the files through the Engine API ([`docker`]): no RPC port to publish,
//! any absolute `backup.dir`. Their copies in the container's `/tmp` are removed by the command
//! that made them or, when it was killed, by a later `backup run`, `restore` or `rotate`
//! ([`leftovers`]: never the copy of a command still running). 2.x uses the host's `influx` against the published port.
//! [`Runtime::Host`] (native): the tools run on this host. Every network step starts with a
//! pre-flight (container running, InfluxDB answering) and reports a progress line ([`Progress`];
//! the CLI prints it on stderr).
//!
//! # Restore (`backup restore ID`)
//!
//! Only a real directory inside the backup directory is restored (a symlink is refused). The
//! restore holds a lock on it until it ends (docker 1.x: exclusive, one restore of a backup at
//! a time; another waits up to 60 s, then is refused), so rotation leaves it meanwhile.
//! Every sha256 is verified first: a corrupted backup is refused with the file at fault, as is
//! a backup without InfluxDB's `*.manifest` (1.x: and `*.meta`). If the tool fails anyway, the
//! database it restored into (absent before) is dropped, so a failed restore creates nothing.
//! After restoring the stack's own 1.x database, its users are converged as `apply` does
//! (dropping a database drops the READ/WRITE grants on it).
//! InfluxDB 1.x: `influxd restore -portable -host <backup.influx_rpc> -db <db> <dir>`. influxd
//! 1.6 refuses to restore into a database that exists ("DB metadata not changed. database may
//! already exist"), so promo-infra checks first (`SHOW DATABASES`) and refuses with what to do:
//! drop the database and restore again, or `--as NEWNAME` to restore beside it
//! (`-newdb NEWNAME`). The restored shards are reopened in the background after `influxd
//! restore` returns (queries answer "shard is disabled" meanwhile), so promo-infra waits, bounded,
//! until `SHOW MEASUREMENTS` answers twice in a row before reporting success. InfluxDB 2.x: `influx restore --host <url> --org <org> --bucket
//! <bucket> [--new-bucket NEWNAME] <dir>` with the token in `INFLUX_TOKEN` (the server refuses
//! an existing bucket the same way).
//!
//! Secrets (the 1.x admin password, the 2.x token) go only into HTTP headers and the child's
//! environment: never into argv, output, errors, logs or the backup manifest.
//!
//! # Modules
//!
//! [`id`] ids and the clock · [`mod@scan`] classifying the directory (`backup list`) ·
//! [`mod@run`] `backup run` · [`mod@restore`] `backup restore` · [`rotate`] the retention policy (pure) ·
//! [`prune`] applying it to the directory (`backup rotate`) · [`tool`] the `influxd`/`influx`
//! command lines · [`manifest`] our manifest and checksums · [`docker`] the container's side
//! through the Engine API · [`leftovers`] the container copies of killed commands, and the lock
//! a restore holds on its backup · [`config`] the settings and the pre-flight.
//!
//! May not (any module here): print (progress goes to the caller's [`Progress`]), or read the
//! environment except through [`crate::settings`].

pub mod config;
pub mod docker;
pub mod id;
pub(crate) mod leftovers;
pub mod manifest;
pub mod prune;
pub mod restore;
pub mod rotate;
pub mod run;
pub mod scan;
pub(crate) mod tool;

pub use config::{Progress, Runtime, Settings};
pub use id::{CLOCK_ENV, ID_FORMAT, clock, format_id, parse_id};
pub use prune::{Decision, RotateReport, STALE_AFTER_HOURS, rotate_dir};
pub use restore::{RestoreReport, restore};
pub use run::{RunReport, run};
pub use scan::{Backed, DEL_PREFIX, Entry, PARTIAL_MARKER, Status, TMP_PREFIX, list, scan};
