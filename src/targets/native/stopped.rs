//! What a service that does not run holds: its data directory is kept (a stopped process, or
//! one `destroy` stopped without `--volumes`), so its database or dashboards are unknown to a
//! plan, not absent.
//!
//! Owns: telling which services the plan cannot read. May not: start or signal anything,
//! print, or read the environment.

use std::collections::BTreeMap;

use crate::desired::{Desired, ResourceId};
use crate::plan::{Observed, Unread};

impl super::NativeTarget {
    /// The services holding a resource the plan compares whose process does not run while
    /// their data directory holds something (stopped: its pidfile is left; not running: it
    /// was stopped by promo-infra), so what they hold is unknown, not absent.
    pub(super) fn unread(
        &self,
        desired: &Desired,
        observed: &Observed,
    ) -> BTreeMap<ResourceId, Unread> {
        let mut out = BTreeMap::new();
        for host in crate::plan::hosts(desired) {
            if observed.resources.contains_key(&host) {
                continue;
            }
            let data = self.data_dir.join(&host.name);
            let holds_data = fs_err::read_dir(&data).is_ok_and(|mut d| d.next().is_some());
            if !holds_data {
                continue;
            }
            let why = if self.pidfile(&host.name).exists() {
                Unread::Stopped
            } else {
                Unread::NotRunning
            };
            out.insert(host, why);
        }
        out
    }
}
