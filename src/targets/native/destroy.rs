//! `destroy` on the native target: every process a pidfile of the stack names is stopped —
//! declared or left over from an older manifest (a service disabled since, kept until
//! `--prune`), exactly what observe reads and the destroy plan lists — dependents first. The
//! data directory goes only with `--volumes`, and never while a pidfile in it names a live
//! process (removing it would leave that process running untracked).
//!
//! Owns: the order of the stops and the guard of the data directory.
//! May not: print, read the environment, signal a process whose identity does not match its
//! pidfile (every stop goes through [`NativeTarget::live`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::NativeTarget;
use crate::desired::{Desired, Order, dependency_order};
use crate::error::{Error, Result};

impl NativeTarget {
    /// The services a pidfile under `run/` is kept for, sorted (what observe reads and destroy
    /// stops).
    pub(super) fn recorded(&self) -> Vec<String> {
        let mut names: Vec<String> = fs_err::read_dir(self.data_dir.join("run"))
            .into_iter()
            .flat_map(|entries| entries.flatten())
            .filter_map(|e| {
                let name = e.file_name();
                Some(name.to_str()?.strip_suffix(".pid")?.to_string())
            })
            .collect();
        names.sort();
        names
    }

    /// Stop every process of the stack (dependents first); with `volumes`, then remove its data
    /// directory. Returns what was removed.
    pub(super) async fn destroy_all(
        &self,
        desired: &Desired,
        volumes: bool,
    ) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let deps = self.dependencies(desired);
        for name in dependency_order(&deps, deps.keys().cloned(), Order::DependentsFirst) {
            // One that stopped by itself (its pidfile left, listed by observe) goes too.
            let stopped = self.live(&name).is_none() && self.recorded_as(&name).is_some();
            if self.stop(&name, Duration::from_secs(10)).await? {
                removed.push(format!("process {name}"));
            } else if stopped {
                removed.push(format!("process {name} (already stopped: its pidfile)"));
            }
        }
        if volumes && self.data_dir.exists() {
            let still: Vec<String> = self
                .recorded()
                .into_iter()
                .filter_map(|n| self.live(&n).map(|rec| format!("{n} (pid {})", rec.pid)))
                .collect();
            if !still.is_empty() {
                return Err(Error::native(format!(
                    "not removing {}: {} still running, and its pidfile is there",
                    self.data_dir.display(),
                    still.join(", ")
                ))
                .with_help("stop it, then run `destroy --volumes` again"));
            }
            fs_err::remove_dir_all(&self.data_dir)
                .map_err(|e| Error::io("cannot remove", &self.data_dir, e))?;
            removed.push(format!("data {}", self.data_dir.display()));
        }
        Ok(removed)
    }

    /// Each service to stop and what it depends on: the manifest's processes, and every one a
    /// pidfile names, with the dependencies it was started with (its recorded canonical form).
    fn dependencies(&self, desired: &Desired) -> BTreeMap<String, Vec<String>> {
        let mut out = desired.service_dependencies();
        for name in self.recorded() {
            if out.contains_key(&name) {
                continue;
            }
            let deps = self
                .live(&name)
                .and_then(|rec| {
                    let list = rec.canonical.get("depends_on")?.as_array()?.clone();
                    Some(
                        list.iter()
                            .filter_map(|d| d.as_str().map(str::to_string))
                            .collect(),
                    )
                })
                .unwrap_or_default();
            out.insert(name, deps);
        }
        out
    }
}
